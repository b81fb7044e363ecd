"""Importing the package has no side effect and loads nothing heavy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from weespin_instrument.collector import Collector

PROBE = """
import sys, threading
import weespin_instrument as weespin
weespin.configure(api_key="k", base_url="http://127.0.0.1:9")
heavy = ("httpx", "pydantic", "wrapt", "aiohttp", "starlette", "opentelemetry", "asyncio",
         "inspect", "logging", "dataclasses", "json")
loaded = sorted(m for m in heavy if m in sys.modules)
threads = threading.active_count()
import json, logging  # only now: the probe's own needs
print(json.dumps({"threads": threads, "root_handlers": len(logging.getLogger().handlers),
                  "loaded": loaded}))
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
        "assert 'weespin_instrument._decorators' not in sys.modules\n"
        "w.track_event('x')(lambda: None)\n"
        "assert 'weespin_instrument._decorators' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_decorating_a_plain_function_loads_neither_wrapt_nor_asyncio() -> None:
    # A plain function gets a generated wrapper; wrapt (which imports asyncio and
    # importlib.metadata) loads only for what needs a proxy: here, a staticmethod.
    code = (
        "import sys, weespin_instrument as w\n"
        "@w.track_event('x', payload_from='a')\n"
        "def f(a): return a\n"
        "assert f(1) == 1\n"
        "assert not {'wrapt', 'asyncio', 'importlib.metadata'} & set(sys.modules), sys.modules\n"
        "w.track_event('y')(staticmethod(lambda: None))\n"
        "assert 'wrapt' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_delivery_loads_aiohttp_only_to_go_through_a_proxy(collector: Collector) -> None:
    code = (
        "import os, sys\n"
        "import weespin_instrument as weespin\n"
        f"weespin.configure(api_key='k', base_url={collector.url!r}, device_id='ws_device_1')\n"
        "weespin.track('open_app')\n"
        "assert weespin.flush(timeout=20.0)\n"
        "print('aiohttp' in sys.modules, 'httptools' in sys.modules)\n"
    )
    environment = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    direct = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=60
    )
    assert direct.stdout.split() == ["False", "True"], direct.stderr
    proxied = subprocess.run(
        [sys.executable, "-c", code],
        env={**environment, "HTTP_PROXY": collector.url},  # the collector serves as a proxy too
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proxied.stdout.split() == ["True", "False"], proxied.stderr
    assert [event["event_name"] for event in collector.events()] == ["open_app"] * 2
