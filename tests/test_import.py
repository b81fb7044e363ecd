"""Importing the package has no side effect and loads nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, logging, sys, threading
import weespin_instrument as weespin
weespin.configure(api_key="k", base_url="http://127.0.0.1:9")
print(json.dumps({
    "threads": threading.active_count(),
    "root_handlers": len(logging.getLogger().handlers),
    "loaded": sorted(m for m in ("httpx", "pydantic", "wrapt", "aiohttp", "starlette",
                                 "opentelemetry", "asyncio") if m in sys.modules),
}))
"""


def test_import_and_configure_start_nothing_and_load_nothing_heavy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    probe = json.loads(result.stdout)
    assert probe == {"threads": 1, "root_handlers": 0, "loaded": []}


def test_the_decorator_loads_on_first_use() -> None:
    code = (
        "import sys, weespin_instrument as w\n"
        "assert 'wrapt' not in sys.modules\n"
        "w.track_event('x')(lambda: None)\n"
        "assert 'wrapt' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
