"""What loses data reaches stderr, once each, when the application configured no logging.

Every test runs a real script (or server) in a child process: what is printed depends on the
process's logging set-up, which the test run itself has changed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from weespin_instrument.collector import Collector

RunPython = Callable[..., Any]
KEY = "wsk_test_DO_NOT_LEAK_abcdef123456_LAST"

#: A port nothing listens on: the API is unreachable there.
DEAD_URL = "http://127.0.0.1:9"


@pytest.fixture
def keyed_collector(tmp_path: Path) -> Any:
    with Collector(port=0, db=tmp_path / "c.sqlite", api_key=KEY) as running:
        yield running


def test_a_healthy_run_prints_nothing(run_python: RunPython, keyed_collector: Collector) -> None:
    code = """
    import weespin_instrument as weespin
    for n in range(20):
        weespin.track("signup", {"n": n})
    assert weespin.flush(10)
    """
    done = run_python(code, env={"WEESPIN_API_KEY": KEY, "WEESPIN_BASE_URL": keyed_collector.url})
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert len(keyed_collector.events()) == 20


def test_a_refused_key_is_printed_once_without_the_key(
    run_python: RunPython, keyed_collector: Collector
) -> None:
    code = """
    import weespin_instrument as weespin
    for n in range(20):
        weespin.track("signup")
    weespin.flush(10)
    """
    wrong = "wsk_live_WRONG_key_0123456789_wxyz"
    done = run_python(code, env={"WEESPIN_API_KEY": wrong, "WEESPIN_BASE_URL": keyed_collector.url})
    lines = done.stderr.splitlines()
    assert len([line for line in lines if "refused the API key" in line]) == 1, done.stderr
    assert "WRONG" not in done.stderr and "…wxyz" in done.stderr


def test_an_unreachable_api_is_printed_once_and_the_loss_at_exit_with_its_count(
    run_python: RunPython,
) -> None:
    code = """
    import weespin_instrument as weespin
    weespin.configure(device_id="ws_device_1", exit_timeout=0.5)
    for n in range(2000):
        weespin.track("signup")
    """
    done = run_python(code, env={"WEESPIN_API_KEY": KEY, "WEESPIN_BASE_URL": DEAD_URL})
    lines = done.stderr.splitlines()
    assert len(lines) <= 3, done.stderr
    [exiting] = [line for line in lines if "exiting with" in line]
    assert "2000 event(s) not delivered" in exiting


def test_a_device_init_that_keeps_failing_is_printed_once(run_python: RunPython) -> None:
    code = """
    import weespin_instrument as weespin
    weespin.configure(transport="sync", max_attempts=1)
    for n in range(10):
        weespin.track("signup")
    """
    done = run_python(code, env={"WEESPIN_API_KEY": KEY, "WEESPIN_BASE_URL": DEAD_URL})
    assert done.stderr.count("device_init_failed") == 1, done.stderr
    assert done.stderr.count("\n") == 1


def test_the_first_invalid_event_of_each_origin_and_reason_is_printed(
    run_python: RunPython,
) -> None:
    code = """
    import weespin_instrument as weespin
    weespin.configure(transport="none")

    @weespin.track_event("checkout", payload_from="items")
    def checkout(items):
        return len(items)

    for n in range(10):
        weespin.track("purchase", {"items": ["a"]})
        weespin.track("purchase", {"password": "x"}, user_id=1.5)
        checkout(["a"])
    """
    done = run_python(code, env={"WEESPIN_API_KEY": KEY})
    lines = done.stderr.splitlines()
    assert len(lines) == 3, done.stderr
    assert "reason invalid_payload" in lines[0] and "reason invalid_identity" in lines[1]
    assert "(from checkout)" in lines[2]


def test_an_app_that_configures_logging_gets_the_same_records(run_python: RunPython) -> None:
    code = """
    import logging
    import weespin_instrument as weespin
    logging.basicConfig(format="APP %(levelname)s %(name)s: %(message)s")
    weespin.configure(transport="none")
    weespin.track("purchase", {"items": ["a"]})
    """
    done = run_python(code, env={"WEESPIN_API_KEY": KEY})
    [line] = done.stderr.splitlines()
    assert line.startswith("APP WARNING weespin_instrument: weespin: dropped event 'purchase'")


def test_uvicorns_default_logging_shows_it(
    run_python: RunPython, keyed_collector: Collector
) -> None:
    # What uvicorn.run() does before serving: its default dictConfig (no root handler).
    code = """
    import logging.config
    import uvicorn.config
    import weespin_instrument as weespin
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    weespin.configure(api_key="wsk_live_WRONG_key_0123456789_wxyz", transport="sync")
    weespin.track("signup")
    """
    done = run_python(code, env={"WEESPIN_BASE_URL": keyed_collector.url})
    assert done.stderr.count("refused the API key") == 1, done.stderr


APP = """
import weespin_instrument as weespin

weespin.configure(device_id="ws_device_1", exit_timeout=0.5)


def app(environ, start_response):
    for n in range(2000):
        weespin.track("page_view", {"n": n})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn runs on Unix only")
def test_a_loss_at_a_gunicorn_shutdown_is_in_its_log(tmp_path: Path) -> None:
    pytest.importorskip("gunicorn", reason="gunicorn is in the dev extra")
    (tmp_path / "lossy_app.py").write_text(textwrap.dedent(APP))
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEESPIN_")}
    env.update(WEESPIN_API_KEY=KEY, WEESPIN_BASE_URL=DEAD_URL)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "lossy_app:app"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(300):  # until it serves, at most 30 s
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=5.0)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not start")
        assert answer.text == "ok"
        server.send_signal(signal.SIGTERM)
        _, log = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    [line] = [line for line in log.splitlines() if "not delivered" in line]
    assert "exiting with 2000 event(s) not delivered" in line
