"""The device is initialized lazily, exactly once per process, and again in a forked child."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from weespin_instrument import FileDeviceStore, MemoryDeviceStore, Settings
from weespin_instrument._device import DeviceManager
from weespin_instrument.collector import Collector
from weespin_instrument.errors import DeliveryError, ServerError
from weespin_instrument.transports._retry import RetryPolicy, retrying
from weespin_instrument.transports._sync_client import SyncAPI


def init_for(collector: Collector, **options: object) -> Callable[[], str]:
    """A device initialization as the sync transport runs it: one request, retried by policy."""
    settings = Settings.resolve({}, api_key="device-test-key", base_url=collector.url, **options)
    api = SyncAPI(settings)
    return lambda: retrying(api.initialize_device, RetryPolicy.from_settings(settings))


def test_nothing_happens_until_a_device_is_needed(collector: Collector) -> None:
    devices = DeviceManager(init_for(collector))
    assert devices.device_id is None
    assert collector.stats()["init_requests"] == 0
    device_id = devices.get()
    assert device_id.startswith("ws_device_")
    assert devices.get() == device_id
    assert collector.stats()["init_requests"] == 1


def test_32_racing_threads_make_exactly_one_init_call(collector: Collector) -> None:
    devices = DeviceManager(init_for(collector))
    start = threading.Barrier(32)
    seen: list[str] = []

    def worker() -> None:
        start.wait(timeout=10)
        seen.append(devices.get())

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 32
    assert len(set(seen)) == 1
    assert collector.stats()["init_requests"] == 1


def test_racing_asyncio_tasks_make_exactly_one_init_call(collector: Collector) -> None:
    devices = DeviceManager(init_for(collector))

    async def main() -> set[str]:
        results = await asyncio.gather(*(asyncio.to_thread(devices.get) for _ in range(50)))
        results += [devices.get() for _ in range(5)]
        return set(results)

    assert len(asyncio.run(main())) == 1
    assert collector.stats()["init_requests"] == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_initializes_its_own_device(collector: Collector) -> None:
    devices = DeviceManager(init_for(collector))
    parent_device = devices.get()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its device id through the pipe, then leave at once
        try:
            os.write(write, devices.get().encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_device = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_device.startswith("ws_device_")
    assert child_device != parent_device
    assert devices.get() == parent_device
    assert collector.stats()["init_requests"] == 2


def test_a_stored_device_skips_initialization(collector: Collector, tmp_path: Path) -> None:
    store = FileDeviceStore(tmp_path / "state" / "device")
    first = DeviceManager(init_for(collector), store=store).get()
    assert store.load() == first
    assert (tmp_path / "state" / "device").read_text() == first + "\n"
    assert list((tmp_path / "state").iterdir()) == [tmp_path / "state" / "device"], (
        "the atomic write leaves no temporary file behind"
    )

    restarted = DeviceManager(init_for(collector), store=store)
    assert restarted.get() == first
    assert collector.stats()["init_requests"] == 1


def test_memory_and_file_stores_round_trip(tmp_path: Path) -> None:
    memory = MemoryDeviceStore()
    assert memory.load() is None
    memory.save("ws_device_a")
    assert memory.load() == "ws_device_a"
    file_store = FileDeviceStore(tmp_path / "device")
    assert file_store.load() is None
    file_store.save("ws_device_b")
    file_store.save("ws_device_c")
    assert FileDeviceStore(tmp_path / "device").load() == "ws_device_c"


def test_a_failed_initialization_is_tried_again_later(collector: Collector) -> None:
    devices = DeviceManager(init_for(collector, max_attempts=2, max_backoff=0.01))
    collector.fail_next(2, status=503, path="init")
    with pytest.raises(ServerError):
        devices.get()
    assert devices.device_id is None
    assert devices.get().startswith("ws_device_")
    assert collector.stats()["init_requests"] == 3


def test_threads_waiting_during_a_failure_share_it_instead_of_stampeding() -> None:
    calls = 0
    release = threading.Event()

    def failing_init() -> str:
        nonlocal calls
        calls += 1
        release.wait(timeout=10)
        raise DeliveryError("connection refused")

    devices = DeviceManager(failing_init)
    errors: list[BaseException] = []
    entered = threading.Semaphore(0)

    def worker() -> None:
        entered.release()
        try:
            devices.get()
        except DeliveryError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert entered.acquire(timeout=10)
    threading.Event().wait(0.2)  # let every thread reach get() before the failure lands
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(errors) == 8
    assert calls == 1


def test_a_load_that_finds_nothing_holds_a_file_store_until_the_save(tmp_path: Path) -> None:
    """The background sender's path: load, initialize on its loop, save. Meanwhile another
    process (here another manager on the same file) waits, then reads the saved device."""
    first = DeviceManager(store=FileDeviceStore(tmp_path / "device"))
    second = DeviceManager(store=FileDeviceStore(tmp_path / "device"))
    assert first.load() is None  # ours to initialize: the file stays locked
    seen: list[str | None] = []
    waiting = threading.Thread(target=lambda: seen.append(second.load()))
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive() and seen == []  # it waits for the lock
    first.save("ws_device_one")
    waiting.join(10)
    assert seen == ["ws_device_one"]
    assert first.device_id == second.device_id == "ws_device_one"


def test_release_after_a_failed_initialization_lets_the_next_one_try(tmp_path: Path) -> None:
    first = DeviceManager(store=FileDeviceStore(tmp_path / "device"))
    second = DeviceManager(store=FileDeviceStore(tmp_path / "device"))
    assert first.load() is None
    first.release()  # its POST failed
    assert second.load() is None  # not blocked: the next one initializes
    second.save("ws_device_two")
    assert first.load() == "ws_device_two"
    first.release()  # nothing held: harmless
