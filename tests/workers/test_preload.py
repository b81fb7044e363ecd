"""web.preload(): the HTTP engine is imported before forking, and nothing is started."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys, threading
import weespin_instrument.web
assert "aiohttp" not in sys.modules, "importing the library must stay cheap"
weespin_instrument.web.preload()
assert "aiohttp" in sys.modules and "weespin_instrument.transports._engine" in sys.modules
assert threading.active_count() == 1, threading.enumerate()  # no sender, no connection
print("ok")
"""


def test_preload_imports_the_engine_and_starts_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr
