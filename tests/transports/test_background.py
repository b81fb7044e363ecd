"""The background transport: the caller only enqueues; flush and close account for everything."""

from __future__ import annotations

import threading

from weespin_instrument import Client
from weespin_instrument.collector import Collector
from weespin_instrument.transports import BackgroundTransport

KEY = "background-test-key"


def test_it_is_the_default_and_delivers_after_flush(collector: Collector) -> None:
    client = Client(api_key=KEY, base_url=collector.url)
    assert threading.active_count() >= 1
    for n in range(20):
        client.track("open_app", {"n": n})
    assert client.flush(timeout=10.0) is True
    assert isinstance(client.transport, BackgroundTransport)
    assert sorted(row["payload"]["n"] for row in collector.events()) == list(range(20))
    stats = client.stats()
    assert (stats.sent, stats.queued, stats.in_flight) == (20, 0, 0)
    client.shutdown()


def test_no_thread_starts_before_the_first_event(collector: Collector) -> None:
    before = {t.name for t in threading.enumerate()}
    client = Client(api_key=KEY, base_url=collector.url)
    assert {t.name for t in threading.enumerate()} == before
    client.track("open_app")
    assert "weespin-sender" in {t.name for t in threading.enumerate()}
    client.shutdown()


def test_a_full_queue_drops_newest_and_counts_without_blocking(collector: Collector) -> None:
    collector.set_latency(200)
    transport = BackgroundTransport(api_key=KEY, base_url=collector.url, max_queue=5)
    client = Client(transport=transport)
    for n in range(50):
        client.track("open_app", {"n": n})
    dropped = client.stats().dropped.get("queue_full", 0)
    assert dropped >= 50 - 5 - 1  # the queue, plus at most one already taken by the sender
    collector.set_latency(0)
    assert client.flush(timeout=10.0)
    assert client.stats().sent + dropped == 50


def test_close_with_a_dead_api_counts_what_was_left(collector: Collector) -> None:
    collector.set_latency(1000)
    client = Client(api_key=KEY, base_url=collector.url, timeout=5.0)
    for n in range(10):
        client.track("open_app", {"n": n})
    assert client.shutdown(timeout=0.2) is False
    assert client.stats().dropped.get("shutdown", 0) >= 8  # all but the one being sent
