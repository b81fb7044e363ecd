"""A client garbage-collected without shutdown() delivers what it holds, then lets go of its
sender thread and its sockets: creating and dropping clients in a loop stays flat."""

from __future__ import annotations

import gc
import os
import threading

from _faults import wait_until

from weespin_instrument import Client
from weespin_instrument.collector import Collector

KEY = "dropped-client-key"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_200_clients_dropped_without_shutdown_leak_no_thread_nor_socket(
    collector: Collector,
) -> None:
    warm = Client(api_key=KEY, base_url=collector.url, device_id="ws_device_1")
    warm.track("open_app")  # imports and one-time threads happen before the baseline
    assert warm.flush(timeout=10.0)
    warm.shutdown()
    gc.collect()
    threads, fds = threading.active_count(), open_fds()

    for n in range(200):
        client = Client(api_key=KEY, base_url=collector.url, device_id="ws_device_1")
        client.track("open_app", {"n": n})
        assert client.flush(timeout=10.0)
        del client
    gc.collect()

    assert wait_until(lambda: threading.active_count() <= threads + 2, timeout=30.0), (
        threading.active_count(),
        threads,
    )
    assert open_fds() <= fds + 8, (open_fds(), fds)
    assert len(collector.events()) == 201


def test_events_of_a_dropped_client_are_still_delivered(collector: Collector) -> None:
    collector.set_latency(50)
    client = Client(api_key=KEY, base_url=collector.url, device_id="ws_device_1")
    for n in range(50):
        client.track("open_app", {"n": n})
    del client
    gc.collect()
    assert wait_until(lambda: len(collector.events()) == 50, timeout=30.0)
