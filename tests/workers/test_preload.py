"""web.preload(): the HTTP engine is imported before forking, and nothing is started."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import os, sys, threading
import weespin_instrument.web
assert "httptools" not in sys.modules, "importing the library must stay cheap"
weespin_instrument.web.preload()
engines = {"httptools", "aiohttp", "weespin_instrument.transports._engine"} & set(sys.modules)
assert threading.active_count() == 1, threading.enumerate()  # no sender, no connection
print(" ".join(sorted(engines)))
"""


def preloaded(**proxy: str) -> list[str]:
    """What ``preload()`` imported, with only ``proxy`` of the proxy variables set."""
    environment = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**environment, **proxy},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_preload_imports_the_engine_and_starts_nothing() -> None:
    assert preloaded() == ["httptools", "weespin_instrument.transports._engine"]


def test_preload_imports_aiohttp_too_when_a_proxy_will_carry_the_events() -> None:
    assert preloaded(HTTPS_PROXY="http://127.0.0.1:3128") == [
        "aiohttp",
        "httptools",
        "weespin_instrument.transports._engine",
    ]
