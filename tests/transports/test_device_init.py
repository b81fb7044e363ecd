"""The background sender initializes the device on its loop; the store is touched in a thread."""

from __future__ import annotations

import threading
from pathlib import Path

from weespin_instrument import Client, FileDeviceStore
from weespin_instrument.collector import Collector

KEY = "device-init-test-key"


class RecordingStore:
    """A device store (the public protocol) that notes which thread each call came from."""

    def __init__(self) -> None:
        self.device_id: str | None = None
        self.calls: list[tuple[str, str]] = []

    def load(self) -> str | None:
        self.calls.append(("load", threading.current_thread().name))
        return self.device_id

    def save(self, device_id: str) -> None:
        self.calls.append(("save", threading.current_thread().name))
        self.device_id = device_id


def test_the_store_is_read_and_written_off_the_sender_loop_and_the_callers_thread(
    collector: Collector,
) -> None:
    store = RecordingStore()
    client = Client(api_key=KEY, base_url=collector.url, device_store=store)
    for n in range(5):
        client.track("open_app", {"n": n})
    assert client.flush(timeout=10.0)
    assert [call for call, _ in store.calls] == ["load", "save"]
    threads = {thread for _, thread in store.calls}
    assert "weespin-sender" not in threads  # the loop never waits on the store
    assert threading.current_thread().name not in threads  # nor does the caller
    assert collector.stats()["init_requests"] == 1
    assert {event["device_id"] for event in collector.events()} == {store.device_id}
    client.shutdown()


def test_a_stored_device_is_used_without_an_init_request(collector: Collector) -> None:
    store = RecordingStore()
    store.device_id = "ws_device_stored"
    client = Client(api_key=KEY, base_url=collector.url, device_store=store)
    client.track("open_app")
    assert client.flush(timeout=10.0)
    assert [call for call, _ in store.calls] == ["load"]
    assert collector.stats()["init_requests"] == 0
    assert collector.events()[0]["device_id"] == "ws_device_stored"
    client.shutdown()


def test_a_failed_initialization_lets_go_of_a_locked_file_store_and_tries_again(
    collector: Collector, tmp_path: Path
) -> None:
    """The file store is held locked from reading to saving; a failure must release it, or
    the next attempt (and every other process sharing the file) would wait for ever."""
    collector.fail_next(2, status=503, path="init")
    store = FileDeviceStore(tmp_path / "device")
    client = Client(api_key=KEY, base_url=collector.url, device_store=store)
    client.track("open_app")
    assert client.flush(timeout=20.0)
    assert collector.stats()["init_requests"] == 3
    assert collector.events()[0]["device_id"] == store.load()
    with store.lock():  # free again: another process could take it now
        pass
    client.shutdown()
