"""Fork: a child delivers its own events with its own device; 20 forks under load never hang."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from weespin_instrument import Client
from weespin_instrument.collector import Collector

from ._support import KEY

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.fork,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]


def child_main(client: Client, index: int, events: int) -> int:
    """What a forked child runs; its exit code says whether its events left."""
    for n in range(events):
        client.track("child", {"child": index, "n": n})
    return 0 if client.flush(timeout=20.0) else 1


def fork_child(client: Client, index: int, events: int) -> int:
    pid = os.fork()
    if pid == 0:  # never return into pytest from the child
        code = 2
        try:
            code = child_main(client, index, events)
        finally:
            os._exit(code)
    return pid


def wait_bounded(pid: int, timeout: float) -> int:
    """The child's exit code; kill it and fail if it is still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"child {pid} hung: killed after {timeout} s")


def test_a_child_delivers_its_events_with_its_own_device(collector: Collector) -> None:
    collector.set_latency(30)  # the parent's sender is busy when it forks
    client = Client(api_key=KEY, base_url=collector.url)
    for n in range(200):
        client.track("parent", {"n": n})
    pid = fork_child(client, 0, 20)
    assert wait_bounded(pid, 60.0) == 0
    assert client.flush(timeout=30.0)
    assert sorted(r["payload"]["n"] for r in collector.events("parent")) == list(range(200))
    child_rows = collector.events("child")
    assert sorted(r["payload"]["n"] for r in child_rows) == list(range(20))
    parent_device = {r["device_id"] for r in collector.events("parent")}
    child_device = {r["device_id"] for r in child_rows}
    assert len(parent_device) == len(child_device) == 1 and parent_device != child_device
    assert collector.stats()["duplicates"] == 0
    client.shutdown()


def test_20_forks_under_load_never_hang(collector: Collector) -> None:
    collector.set_latency(5)
    client = Client(api_key=KEY, base_url=collector.url)
    stop = threading.Event()
    tracked = 0

    def load() -> None:  # keeps the sender busy while the main thread forks
        nonlocal tracked
        while not stop.is_set() and tracked < 10_000:  # about 2,000 a second: no overflow
            client.track("parent", {"n": tracked})
            tracked += 1
            if tracked % 20 == 0:
                time.sleep(0.01)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        for index in range(20):
            pid = fork_child(client, index, 5)
            assert wait_bounded(pid, 30.0) == 0, f"child {index} could not deliver"
    finally:
        stop.set()
        loader.join(10)
    assert client.flush(timeout=60.0)
    assert client.stats().dropped == {}
    children = {(r["payload"]["child"], r["payload"]["n"]) for r in collector.events("child")}
    assert children == {(i, n) for i in range(20) for n in range(5)}
    parent = sorted(r["payload"]["n"] for r in collector.events("parent"))
    assert parent == list(range(tracked))
    assert collector.stats()["duplicates"] == 0
    client.shutdown()
