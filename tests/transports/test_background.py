"""The background transport: the caller only enqueues; flush and close account for everything."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _faults import wait_until

from weespin_instrument import Client, DroppedEvent, Event, FileDeviceStore
from weespin_instrument.collector import Collector
from weespin_instrument.transports import BackgroundTransport
from weespin_instrument.transports._async_api import ssl_context

KEY = "background-test-key"


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def client_to(url: str, *, on_error: Any = None, **options: Any) -> Client:
    """A client whose background transport sends to ``url`` with a known device (no init)."""
    transport = BackgroundTransport(api_key=KEY, base_url=url, device_id="ws_device_1", **options)
    return Client(transport=transport, on_error=on_error)


def test_it_is_the_default_and_delivers_after_flush(collector: Collector) -> None:
    client = Client(api_key=KEY, base_url=collector.url)
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


# -- overflow ----------------------------------------------------------------------------------


def test_drop_oldest_keeps_the_newest_events(collector: Collector) -> None:
    collector.set_latency(300)
    client = client_to(collector.url, max_queue=5, overflow="drop_oldest")
    for n in range(50):
        client.track("open_app", {"n": n})
    collector.set_latency(0)
    assert client.flush(timeout=10.0)
    stats = client.stats()
    assert stats.sent + stats.dropped["queue_full"] == 50
    assert 49 in {row["payload"]["n"] for row in collector.events()}
    client.shutdown()


def test_block_waits_for_room_then_queues(collector: Collector) -> None:
    collector.set_latency(100)
    client = client_to(
        collector.url, max_queue=2, max_in_flight=2, overflow="block", block_timeout=30.0
    )
    for n in range(8):
        client.track("open_app", {"n": n})
    assert client.flush(timeout=10.0)
    assert client.stats().dropped == {}
    assert len(collector.events()) == 8
    client.shutdown()


def test_block_gives_up_after_its_timeout(collector: Collector) -> None:
    collector.set_latency(5000)
    client = client_to(collector.url, max_queue=1, overflow="block", block_timeout=0.2)
    client.track("open_app")
    started = time.monotonic()
    client.track("open_app")  # the queue is full until the first request ends, in 5 s
    waited = time.monotonic() - started
    assert client.stats().dropped == {"queue_full": 1}
    assert waited >= 0.2 * 0.9, "it blocked for its timeout (timers may round down a little)"
    assert collector.events() == [], "it gave up before room appeared (the first send is on)"
    client.shutdown(timeout=0.0)


def test_block_never_blocks_a_running_event_loop(collector: Collector) -> None:
    collector.set_latency(5000)
    client = client_to(collector.url, max_queue=1, overflow="block", block_timeout=60.0)

    async def handler() -> None:
        for _ in range(3):
            client.track("open_app")

    asyncio.run(asyncio.wait_for(handler(), timeout=10.0))  # fails if a call blocked
    assert client.stats().dropped == {"queue_full": 2}
    client.shutdown(timeout=0.0)


# -- retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 422])
def test_a_refused_event_is_not_retried(collector: Collector, status: int) -> None:
    collector.fail_next(1, status=status)
    client = Client(api_key=KEY, base_url=collector.url, device_id="ws_device_1")
    client.track("open_app")
    assert client.flush(timeout=10.0)
    stats = client.stats()
    assert stats.dropped == {"rejected": 1} and stats.failed == 1 and stats.retried == 0
    assert [r["status"] for r in collector.request_log] == [status]
    client.shutdown()


def test_a_server_error_is_retried_with_the_same_event_id(collector: Collector) -> None:
    collector.fail_next(2, status=500)
    client = Client(api_key=KEY, base_url=collector.url, device_id="ws_device_1")
    event = client.track("open_app")
    assert event is not None and client.flush(timeout=10.0)
    attempts = collector.request_log
    assert [r["status"] for r in attempts] == [500, 500, 200]
    assert {r["event_id"] for r in attempts} == {event.event_id}
    assert client.stats().retried == 2 and client.stats().sent == 1
    client.shutdown()


def test_retry_after_is_honoured(collector: Collector) -> None:
    collector.fail_next(1, status=429, retry_after=1)
    client = Client(api_key=KEY, base_url=collector.url, device_id="ws_device_1")
    client.track("open_app")
    assert client.flush(timeout=10.0)
    first, second = collector.request_log
    assert (first["status"], second["status"]) == (429, 200)
    assert second["monotonic"] - first["monotonic"] >= 1.0
    client.shutdown()


def test_retry_after_is_capped_by_max_backoff(collector: Collector) -> None:
    collector.fail_next(1, status=503, retry_after=3600)
    client = client_to(collector.url, max_backoff=0.2)
    client.track("open_app")
    assert client.flush(timeout=10.0)  # not an hour
    assert [r["status"] for r in collector.request_log] == [503, 200]
    client.shutdown()


def test_the_retry_budget_is_bounded(collector: Collector) -> None:
    collector.fail_next(3, status=500)
    reports: list[DroppedEvent] = []
    client = Client(
        api_key=KEY,
        base_url=collector.url,
        device_id="ws_device_1",
        max_attempts=2,
        on_error=reports.append,
    )
    client.track("open_app")
    assert client.flush(timeout=10.0)
    assert client.stats().dropped == {"delivery_failed": 1}
    assert [r.reason for r in reports] == ["delivery_failed"]
    assert len(collector.request_log) == 2
    client.shutdown()


# -- the device --------------------------------------------------------------------------------


def test_events_wait_for_a_failing_device_initialization(collector: Collector) -> None:
    collector.fail_next(2, status=503, path="init")
    client = Client(api_key=KEY, base_url=collector.url)
    for n in range(10):
        client.track("open_app", {"n": n})
    assert client.flush(timeout=20.0)
    assert len(collector.events()) == 10
    assert len(collector.devices()) == 1
    assert collector.stats()["init_requests"] == 3
    assert client.stats().dropped == {}
    client.shutdown()


def test_a_given_device_id_skips_initialization(collector: Collector) -> None:
    client = Client(api_key=KEY, base_url=collector.url, device_id="ws_device_given")
    client.track("open_app")
    assert client.flush(timeout=10.0)
    assert collector.devices() == []
    assert collector.events()[0]["device_id"] == "ws_device_given"
    client.shutdown()


def test_a_stored_device_is_reused(collector: Collector, tmp_path: Path) -> None:
    store = FileDeviceStore(tmp_path / "device")
    for _ in range(2):
        client = Client(api_key=KEY, base_url=collector.url, device_store=store)
        client.track("open_app")
        assert client.flush(timeout=10.0)
        client.shutdown()
    assert collector.stats()["init_requests"] == 1
    assert {row["device_id"] for row in collector.events()} == {store.load()}


# -- a refused key -----------------------------------------------------------------------------


@pytest.mark.parametrize("device_id", [None, "ws_device_1"], ids=["on-init", "on-events"])
def test_a_refused_key_stops_delivery_with_one_error(
    caplog: pytest.LogCaptureFixture, device_id: str | None
) -> None:
    caplog.set_level(logging.DEBUG, logger="weespin_instrument")
    key = "wsk_wrong_key_LAST"
    with Collector(api_key="the-right-key") as collector:
        client = Client(api_key=key, base_url=collector.url, device_id=device_id)
        for n in range(30):
            client.track("open_app", {"n": n})
        assert client.flush(timeout=10.0)
        requests_then = len(collector.request_log)
        for n in range(30):
            client.track("open_app", {"n": n})
        assert client.flush(timeout=10.0)
        assert len(collector.request_log) == requests_then  # nothing more was sent
        client.shutdown()
    assert requests_then <= 1 + 64
    assert client.stats().dropped == {"unauthorized": 60}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "WEESPIN_API_KEY" in errors[0].getMessage() and "…LAST" in errors[0].getMessage()
    assert key not in caplog.text and key[:-4] not in caplog.text


# -- flush, close, stats -----------------------------------------------------------------------


def test_every_tracked_event_is_accounted_for(collector: Collector) -> None:
    collector.fail_next(3, status=400)
    client = Client(api_key=KEY, base_url=collector.url)
    for n in range(200):
        client.track("open_app", {"n": n})
    assert client.flush(timeout=10.0)
    stats = client.stats()
    assert stats.tracked == 200
    assert stats.sent + stats.dropped_total == 200
    assert (stats.sent, stats.dropped) == (197, {"rejected": 3})
    assert (stats.queued, stats.in_flight) == (0, 0)
    client.shutdown()


def test_stats_show_what_waits_during_an_outage(collector: Collector) -> None:
    collector.fail_next(1_000, status=503)
    client = Client(api_key=KEY, base_url=collector.url, device_id="ws_device_1")
    for n in range(100):
        client.track("open_app", {"n": n})
    assert client.flush(timeout=0.5) is False
    stats = client.stats()
    assert stats.queued + stats.in_flight == 100 and stats.dropped == {}
    assert stats.last_error is not None and "503" in stats.last_error
    client.shutdown(timeout=0.0)
    assert client.stats().dropped == {"shutdown": 100}


def test_events_expire_after_max_event_age_during_an_outage() -> None:
    client = client_to(f"http://127.0.0.1:{free_port()}", max_event_age=0.3)
    for n in range(20):
        client.track("open_app", {"n": n})
    assert client.flush(timeout=20.0)
    assert client.stats().dropped == {"delivery_failed": 20}
    client.shutdown()


def test_flush_from_the_sender_thread_does_not_deadlock(collector: Collector) -> None:
    results: list[bool] = []
    collector.fail_next(1, status=400)
    client: Client

    def on_error(dropped: DroppedEvent) -> None:
        results.append(client.flush(timeout=60.0))

    client = client_to(collector.url, max_in_flight=1, on_error=on_error)
    client.track("open_app")
    client.track("open_app")  # still queued when the first one's hook runs
    assert client.flush(timeout=10.0)  # False if the hook had blocked the sender for 60 s
    # The hook runs off the sender's thread, so its own flush can wait for the second event.
    assert results == [True]
    client.shutdown()


def test_close_is_idempotent_and_later_events_are_closed(collector: Collector) -> None:
    transport = BackgroundTransport(api_key=KEY, base_url=collector.url)
    transport.attach(Client(transport=transport).reporter)
    transport.close(timeout=1.0)
    transport.close(timeout=1.0)
    transport.send(Event("open_app"))
    assert transport.reporter.snapshot().dropped == {"closed": 1}
    assert transport.flush(timeout=1.0)


def test_our_requests_create_no_spans(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry import context

    from weespin_instrument.transports._async_api import AsyncAPI

    seen: list[object] = []
    original = AsyncAPI.send_event

    async def send_event(self: AsyncAPI, body: bytes) -> None:
        seen.append(context.get_value(context._SUPPRESS_INSTRUMENTATION_KEY))
        await original(self, body)

    monkeypatch.setattr(AsyncAPI, "send_event", send_event)
    client = Client(api_key=KEY, base_url=collector.url, device_id="ws_device_1")
    client.track("open_app")
    assert client.flush(timeout=10.0)
    assert seen == [True]
    client.shutdown()


def test_proxies_come_from_the_environment(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The collector serves absolute-form requests too, so it can stand in for a proxy.
    monkeypatch.setenv("HTTP_PROXY", collector.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = Client(
        api_key=KEY,
        base_url="http://weespin.invalid",
        allow_insecure_http=True,  # a stand-in host: the collector answers as the proxy
        device_id="ws_device_1",
    )
    client.track("open_app")
    assert client.flush(timeout=10.0)
    assert [row["event_name"] for row in collector.events()] == ["open_app"]
    client.shutdown()


def test_tls_is_verified_by_default() -> None:
    context = ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_sender_that_does_not_stop_in_time_is_warned_about_with_the_events_it_holds(
    collector: Collector, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from weespin_instrument.transports import _background, _engine

    collector.set_latency(3000)  # the sender holds its requests for 3 s
    client = client_to(collector.url, max_in_flight=3)
    for n in range(3):
        client.track("open_app", {"n": n})
    assert wait_until(lambda: client.stats().in_flight == 3)
    stop = _engine.Sender.stop
    monkeypatch.setattr(_engine.Sender, "stop", lambda self: None)  # the stop never arrives
    monkeypatch.setattr(_background, "_STOP_GRACE", 0.1)
    with caplog.at_level(logging.WARNING, logger="weespin_instrument"):
        client.shutdown(timeout=0.1)
    assert re.search(
        r"the sender did not stop within [\d.]+ s; the 3 event\(s\) it holds", caplog.text
    )
    assert client.stats().in_flight == 3, "not counted as dropped: their outcome is unknown"
    sender = client.transport._sender  # type: ignore[attr-defined]
    stop(sender)  # let it go now
    collector.set_latency(0)
