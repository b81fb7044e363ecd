"""The service's own device: events outside requests use the process device, and forked
workers honour a shared device store (one device for the service, not one per worker)."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

import weespin_instrument as weespin
from weespin_instrument import Client, FileDeviceStore
from weespin_instrument.collector import Collector

KEY = "service-device-key"

pytestmark = [
    pytest.mark.fork,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]


def _track_in_child(client: Client, name: str) -> None:
    client.track(name, {"pid": os.getpid()})
    assert client.flush(10.0)


def run_forked(client: Client, name: str, count: int) -> None:
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_track_in_child, args=(client, name)) for _ in range(count)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
        assert child.exitcode == 0


def test_forked_workers_share_the_device_of_a_file_store(
    collector: Collector, tmp_path: Path
) -> None:
    store = FileDeviceStore(tmp_path / "device")
    client = Client(api_key=KEY, base_url=collector.url, device_store=store)
    client.track("boot")  # the master's device, initialized before forking
    assert client.flush(10.0)
    run_forked(client, "job_done", 3)
    devices = {e["device_id"] for e in collector.events()}
    assert devices == {store.load()}
    assert collector.stats()["init_requests"] == 1
    client.shutdown()


def test_workers_starting_together_on_an_empty_file_store_initialize_one_device(
    collector: Collector, tmp_path: Path
) -> None:
    store = FileDeviceStore(tmp_path / "device")
    client = Client(api_key=KEY, base_url=collector.url, device_store=store)
    run_forked(client, "job_done", 4)  # nothing tracked before forking: they race for it
    assert len({e["device_id"] for e in collector.wait_for(4)}) == 1
    assert collector.stats()["init_requests"] == 1
    client.shutdown()


def test_with_the_default_memory_store_each_forked_worker_has_its_own_device(
    collector: Collector,
) -> None:
    client = Client(api_key=KEY, base_url=collector.url)
    client.track("boot")
    assert client.flush(10.0)
    run_forked(client, "job_done", 2)
    assert len({e["device_id"] for e in collector.events()}) == 3


def test_events_outside_requests_use_the_process_device(
    collector: Collector, tmp_path: Path
) -> None:
    client = Client(api_key=KEY, base_url=collector.url)
    with weespin.identify(user_id="cron"):
        client.track("nightly_report")
    client.track("cleanup")
    assert client.flush(10.0)
    assert len({e["device_id"] for e in collector.events()}) == 1
    client.shutdown()
