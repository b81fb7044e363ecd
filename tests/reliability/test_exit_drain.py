"""Exit without flush(): the atexit drain delivers, or says how many it could not."""

from __future__ import annotations

import pytest

from weespin_instrument.collector import Collector

from ._support import KEY, PythonRunner, free_port

pytestmark = pytest.mark.reliability


def test_events_queued_at_exit_are_delivered(collector: Collector, python: PythonRunner) -> None:
    collector.set_latency(20)  # plenty still queued when the script ends
    process = python(
        f"""
        import weespin_instrument as weespin
        weespin.configure(api_key={KEY!r}, base_url={collector.url!r})
        for n in range(300):
            weespin.track("open_app", {{"n": n}})
        print(weespin.stats().queued, flush=True)
        """
    )
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert int(out) > 0, "the test needs events still queued at exit"
    assert sorted(row["payload"]["n"] for row in collector.events()) == list(range(300))


def test_a_client_dropped_without_shutdown_still_delivers_at_exit(
    collector: Collector, python: PythonRunner
) -> None:
    collector.set_latency(20)
    process = python(
        f"""
        import gc
        import weespin_instrument as weespin
        client = weespin.Client(api_key={KEY!r}, base_url={collector.url!r})
        for n in range(100):
            client.track("open_app", {{"n": n}})
        del client
        gc.collect()
        """
    )
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert sorted(row["payload"]["n"] for row in collector.events()) == list(range(100))


def test_a_dead_api_at_exit_is_reported_within_the_deadline(python: PythonRunner) -> None:
    process = python(
        f"""
        import logging
        logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(message)s")
        import weespin_instrument as weespin
        weespin.configure(
            api_key={KEY!r}, base_url="http://127.0.0.1:{free_port()}", exit_timeout=0.5
        )
        for n in range(50):
            weespin.track("open_app", {{"n": n}})
        """
    )
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "ERROR weespin: exiting with 50 event(s) not delivered after 0.5 s" in err, err
    assert KEY not in err


#: Makes the sender thread's first import of aiohttp take 1.8 s: a busy machine, a slow disk.
SLOW_ENGINE_IMPORT = """
import importlib.abc, sys, time

class SlowAiohttp(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "aiohttp":
            time.sleep(1.8)
        return None

sys.meta_path.insert(0, SlowAiohttp())
"""


def test_events_of_a_sender_still_starting_at_exit_are_reported_not_lost_silently(
    python: PythonRunner,
) -> None:
    # The exit drain waits exit_timeout plus a grace for the sender to start; a sender that
    # starts after that must not take the events the drain is about to report.
    process = python(
        SLOW_ENGINE_IMPORT
        + f"""
import weespin_instrument as weespin
weespin.configure(
    api_key={KEY!r}, base_url="http://127.0.0.1:{free_port()}", device_id="ws_1", exit_timeout=0.5
)
for n in range(5):
    weespin.track("open_app", {{"n": n}})
"""
    )
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "weespin: exiting with 5 event(s) not delivered after 0.5 s" in err, err


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_that_exits_normally_delivers_its_own_events(
    collector: Collector, python: PythonRunner
) -> None:
    collector.set_latency(20)
    process = python(
        f"""
        import os, sys
        import weespin_instrument as weespin
        weespin.configure(api_key={KEY!r}, base_url={collector.url!r})
        for n in range(50):
            weespin.track("parent", {{"n": n}})
        pid = os.fork()
        if pid == 0:
            for n in range(50):
                weespin.track("child", {{"n": n}})
            sys.exit(0)  # no flush: the child's own exit drain delivers
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    for name in ("parent", "child"):
        assert sorted(r["payload"]["n"] for r in collector.events(name)) == list(range(50))
    assert collector.stats()["duplicates"] == 0
