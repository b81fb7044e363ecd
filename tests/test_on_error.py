"""The ``on_error`` hook is safe: it never re-enters itself, never runs on the sender's
thread, and may call ``shutdown()`` or ``flush()``."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from weespin_instrument import Client, DroppedEvent
from weespin_instrument.collector import Collector

KEY = "wsk_test_DO_NOT_LEAK_abcdef123456_LAST"


@pytest.fixture
def keyed_collector(tmp_path: Path) -> Collector:
    with Collector(port=0, db=tmp_path / "c.sqlite", api_key=KEY) as running:
        yield running  # type: ignore[misc]


def test_a_hook_that_tracks_with_a_full_queue_is_called_once_per_dropped_event(
    collector: Collector,
) -> None:
    collector.set_latency(200)  # the queue stays full while the test tracks
    calls: list[DroppedEvent] = []
    client: Client

    def on_error(dropped: DroppedEvent) -> None:
        calls.append(dropped)
        client.track("hook_saw_a_drop", {"reason": dropped.reason})

    client = Client(
        api_key=KEY,
        base_url=collector.url,
        device_id="ws_device_1",
        max_queue=1,
        max_in_flight=1,
        on_error=on_error,
    )
    for n in range(20):
        client.track("page_view", {"n": n})
    # Each call tracked one more event, dropped too, without calling the hook again.
    assert 1 <= len(calls) <= 20
    assert {c.event_name for c in calls} == {"page_view"}
    assert client.stats().dropped["queue_full"] == 2 * len(calls)
    client.shutdown(timeout=0.0)


def test_a_hook_tracking_an_event_the_sender_drops_causes_no_storm(
    keyed_collector: Collector,
) -> None:
    calls: list[DroppedEvent] = []
    client: Client

    def on_error(dropped: DroppedEvent) -> None:
        calls.append(dropped)
        client.track("hook_saw_a_drop")  # refused too, by the same wrong key

    client = Client(
        api_key="wsk_wrong_key_0123456789",
        base_url=keyed_collector.url,
        device_id="ws_device_1",
        on_error=on_error,
    )
    for _ in range(5):
        client.track("page_view")
    assert client.flush(timeout=10.0)
    assert [c.event_name for c in calls] == ["page_view"] * 5
    assert client.stats().dropped == {"unauthorized": 10}
    client.shutdown()


def test_a_hook_for_a_drop_in_the_sender_runs_on_neither_the_callers_nor_the_senders_thread(
    keyed_collector: Collector,
) -> None:
    threads: list[str] = []
    client = Client(
        api_key="wsk_wrong_key_0123456789",
        base_url=keyed_collector.url,
        device_id="ws_device_1",
        on_error=lambda dropped: threads.append(threading.current_thread().name),
    )
    client.track("page_view")
    assert client.flush(timeout=10.0)
    assert threads == ["weespin-on-error"]
    client.shutdown()


def test_a_hook_may_shut_the_client_down(keyed_collector: Collector) -> None:
    outcomes: list[object] = []
    client: Client

    def on_error(dropped: DroppedEvent) -> None:
        try:
            outcomes.append(client.shutdown(timeout=5.0))
        except Exception as exc:  # what used to happen: cannot join current thread
            outcomes.append(exc)

    client = Client(
        api_key="wsk_wrong_key_0123456789",
        base_url=keyed_collector.url,
        device_id="ws_device_1",
        on_error=on_error,
    )
    client.track("page_view")
    for _ in range(1000):  # bounded wait for the hook
        if outcomes:
            break
        threading.Event().wait(0.01)
    assert outcomes == [True]
    assert client.closed


def test_a_hook_may_flush_the_sync_client_from_the_callers_thread(
    keyed_collector: Collector,
) -> None:
    flushed: list[bool] = []
    client: Client

    def on_error(dropped: DroppedEvent) -> None:
        flushed.append(client.flush(timeout=5.0))

    client = Client(
        api_key="wsk_wrong_key_0123456789",
        base_url=keyed_collector.url,
        transport="sync",
        on_error=on_error,
    )
    client.track("page_view")
    assert flushed == [True]
