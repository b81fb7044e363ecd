"""Delivery against a hostile API: poison events, lone 429s, redirects, trickles, huge bodies,
broken init answers. Each test talks HTTP over loopback to the raw-socket fault server."""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from typing import Any

import pytest
from _faults import FaultServer, Hang, Huge, Request, Reset, Status, Trickle, wait_until

from weespin_instrument import Client, DroppedEvent, Stats
from weespin_instrument.collector import Collector
from weespin_instrument.transports import BackgroundTransport, HttpTransport

KEY = "hostile-test-key"


def background(url: str, **options: Any) -> Client:
    """A client whose background transport sends to ``url`` with a known device (no init)."""
    on_error = options.pop("on_error", None)
    transport = BackgroundTransport(api_key=KEY, base_url=url, device_id="ws_device_1", **options)
    return Client(transport=transport, on_error=on_error)


def accounted(stats: Stats) -> bool:
    return stats.tracked == stats.sent + stats.dropped_total + stats.queued + stats.in_flight


def poison(request: Request) -> Status | None:
    """The API fails on one payload (a server bug), answers every other event."""
    return Status(500) if request.payload.get("poison") else None


# -- poison events never block the line ---------------------------------------------------------


def test_poison_events_do_not_hold_up_good_ones_and_are_dropped_when_their_budget_ends() -> None:
    with FaultServer(poison) as server:
        reports: list[DroppedEvent] = []
        client = background(server.url, max_retry_time=3.0, on_error=reports.append)
        for n in range(8):
            client.track("checkout", {"poison": True, "n": n})
        for n in range(200):
            client.track("open_app", {"n": n})
        assert wait_until(lambda: len(server.accepted) == 200), client.stats()
        # The good ones went through while the poison ones still had budget left.
        assert client.stats().dropped == {}
        assert client.flush(timeout=30.0)
        stats = client.stats()
        assert (stats.sent, stats.dropped) == (200, {"delivery_failed": 8})
        assert {r.event_name for r in reports} == {"checkout"}
        assert accounted(stats)
        client.shutdown()


def test_probes_rotate_so_an_outage_ends_even_when_poison_events_wait_first() -> None:
    broken = threading.Event()
    broken.set()

    def rule(request: Request) -> Status | None:
        if broken.is_set() or request.payload.get("poison"):
            return Status(503)
        return None

    with FaultServer(rule) as server:
        client = background(server.url, max_retry_time=60.0, max_in_flight=12)
        for n in range(12):  # more fresh failures in a row than the breaker's threshold
            client.track("checkout", {"poison": True, "n": n})
        assert wait_until(lambda: server.count() >= 12)  # they failed: the breaker opened
        for n in range(100):
            client.track("open_app", {"n": n})
        broken.clear()  # the API is back; the poison events still fail
        assert wait_until(lambda: len(server.accepted) == 100), client.stats()
        assert client.stats().dropped == {}
        client.shutdown(timeout=0.0)


def test_one_event_drawing_429_does_not_pause_the_others() -> None:
    def rule(request: Request) -> Status | None:
        if request.payload.get("limited"):
            return Status(429, {"Retry-After": "2"})
        return None

    with FaultServer(rule) as server:
        client = background(server.url, max_retry_time=3.0)
        limited = client.track("share_link", {"limited": True})
        assert limited is not None
        assert wait_until(lambda: server.count() >= 1)
        for n in range(300):
            client.track("open_app", {"n": n})
        assert wait_until(lambda: len(server.accepted) == 300)
        # All 300 went while the limited event waited out its first Retry-After (2 s).
        attempts = [path for path, event_id, _ in server.requests if event_id == limited.event_id]
        assert len(attempts) == 1, attempts
        assert client.flush(timeout=20.0)
        assert client.stats().dropped == {"delivery_failed": 1}
        client.shutdown()


def test_a_rate_limit_of_the_whole_client_pauses_everything() -> None:
    limited_until: list[float] = []

    def rule(request: Request) -> Status | None:
        if not limited_until:
            limited_until.append(time.monotonic() + 1.5)
        if time.monotonic() < limited_until[0]:
            return Status(429, {"Retry-After": "1"})
        return None

    with FaultServer(rule) as server:
        client = background(server.url, max_in_flight=4)
        for n in range(20):
            client.track("open_app", {"n": n})
        assert client.flush(timeout=30.0)
        stats = client.stats()
        assert (stats.sent, stats.dropped) == (20, {})
        refused = [kind for _, _, kind in server.requests].count("Status") - 20
        # Each event retrying on its own would be 20 requests a second; the client paused
        # as a whole, sending only the requests in flight when each pause began.
        assert refused < 20, server.requests
        client.shutdown()


def test_a_rate_limit_longer_than_the_retry_budget_loses_nothing() -> None:
    limited_until: list[float] = []

    def rule(request: Request) -> Status | None:
        if not limited_until:
            limited_until.append(time.monotonic() + 2.5)
        if time.monotonic() < limited_until[0]:
            return Status(429, {"Retry-After": "1"})
        return None

    with FaultServer(rule) as server:
        # The first answers cannot tell a rate limit yet: those events are charged one wait.
        client = background(server.url, max_in_flight=8, max_retry_time=1.5)
        for n in range(40):
            client.track("open_app", {"n": n})
        assert client.flush(timeout=30.0)
        stats = client.stats()
        assert (stats.sent, stats.dropped) == (40, {})  # pauses are not charged to budgets
        client.shutdown()


def test_an_event_drawing_429_alone_is_dropped_when_its_budget_ends() -> None:
    with FaultServer(lambda request: Status(429, {"Retry-After": "0.2"})) as server:
        client = background(server.url, max_retry_time=2.0)
        client.track("share_link")
        assert client.flush(timeout=20.0)  # not paused for ever
        assert client.stats().dropped == {"delivery_failed": 1}
        assert server.count() > 2
        client.shutdown()


# -- honest HTTP ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_nor_counted_sent(status: int) -> None:
    location = "https://api.example.test/events"
    with FaultServer(lambda request: Status(status, {"Location": location})) as server:
        reports: list[DroppedEvent] = []
        client = background(server.url, on_error=reports.append)
        client.track("purchase")
        assert client.flush(timeout=10.0)
        stats = client.stats()
        assert (stats.sent, stats.dropped, stats.failed) == (0, {"redirected": 1}, 1)
        assert server.count() == 1 and not server.accepted  # no second request, no GET
        assert "set base_url to https://api.example.test" in str(reports[0].error)
        assert location in str(reports[0].error)
        client.shutdown()


def test_the_sync_transport_does_not_follow_redirects_either() -> None:
    location = "https://api.example.test/events"
    with FaultServer(lambda request: Status(302, {"Location": location})) as server:
        reports: list[DroppedEvent] = []
        transport = HttpTransport(api_key=KEY, base_url=server.url, device_id="ws_device_1")
        client = Client(transport=transport, on_error=reports.append)
        client.track("purchase")
        assert client.stats().dropped == {"redirected": 1} and client.stats().sent == 0
        assert "set base_url to https://api.example.test" in str(reports[0].error)
        assert server.count() == 1
        client.shutdown()


def test_a_trickling_answer_is_a_timeout_that_is_retried() -> None:
    attempts = itertools.count()

    def rule(request: Request) -> Trickle | None:
        return Trickle(b'{"status": "ok"}', interval=0.3) if next(attempts) == 0 else None

    with FaultServer(rule) as server:
        client = background(server.url, timeout=1.0)
        client.track("open_app")
        assert client.flush(timeout=15.0)
        stats = client.stats()
        assert (stats.sent, stats.retried, stats.dropped) == (1, 1, {})
        assert "timed out" in (stats.last_error or "")
        client.shutdown()


def test_the_sync_transport_times_out_a_trickling_answer_too() -> None:
    attempts = itertools.count()

    def rule(request: Request) -> Trickle | None:
        return Trickle(b'{"status": "ok"}', interval=0.3) if next(attempts) == 0 else None

    with FaultServer(rule) as server:
        transport = HttpTransport(
            api_key=KEY, base_url=server.url, device_id="ws_device_1", timeout=1.0
        )
        client = Client(transport=transport)
        client.track("open_app")
        stats = client.stats()
        assert (stats.sent, stats.retried) == (1, 1)
        client.shutdown()


def test_a_hung_request_is_a_retried_timeout() -> None:
    attempts = itertools.count()
    with FaultServer(lambda request: Hang() if next(attempts) == 0 else None) as server:
        client = background(server.url, timeout=0.5)
        client.track("open_app")
        assert client.flush(timeout=15.0)
        assert (client.stats().sent, client.stats().retried) == (1, 1)
        client.shutdown()


def test_a_reset_connection_is_retried() -> None:
    attempts = itertools.count()
    with FaultServer(lambda request: Reset() if next(attempts) < 2 else None) as server:
        client = background(server.url)
        client.track("open_app")
        assert client.flush(timeout=15.0)
        assert (client.stats().sent, client.stats().retried) == (1, 2)
        client.shutdown()


def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0  # pragma: no cover


@pytest.mark.parametrize("transport", ["background", "sync"])
def test_huge_error_bodies_are_not_read_whole(transport: str) -> None:
    size = 50 * 1024 * 1024
    seen: set[str] = set()

    def rule(request: Request) -> Huge | None:
        event_id = request.json["event_id"]
        if event_id in seen:
            return None
        seen.add(event_id)
        return Huge(500, size)  # each event's first attempt

    with FaultServer(rule) as server:
        before = _rss()
        options = {"max_in_flight": 16} if transport == "background" else {}
        cls = BackgroundTransport if transport == "background" else HttpTransport
        client = Client(
            transport=cls(api_key=KEY, base_url=server.url, device_id="ws_device_1", **options)
        )
        for n in range(16):
            client.track("open_app", {"n": n})
        assert client.flush(timeout=60.0)
        grown = _rss() - before
        assert client.stats().sent == 16
        assert grown < 64 * 1024 * 1024, grown  # reading 16 x 50 MB would be 800 MB
        assert server.sent_bytes < 16 * size / 4  # the client hung up instead of reading
        client.shutdown()


# -- a broken device initialization is transient -----------------------------------------------

CAPTIVE_PORTAL = Status(200, {"Content-Type": "text/html"}, b"<html>Please log in</html>")


def test_a_200_init_answer_without_a_device_is_retried_and_events_wait() -> None:
    broken = threading.Event()
    broken.set()

    def rule(request: Request) -> Status | None:
        if request.path == "/initialize-device" and broken.is_set():
            return CAPTIVE_PORTAL
        return None

    with FaultServer(rule) as server:
        client = Client(api_key=KEY, base_url=server.url)
        for n in range(20):
            client.track("open_app", {"n": n})
        assert wait_until(lambda: server.count("/initialize-device") >= 2)
        assert client.stats().dropped == {}
        assert "Please log in" in (client.stats().last_error or "")
        broken.clear()
        assert client.flush(timeout=20.0)
        stats = client.stats()
        assert (stats.sent, stats.dropped) == (20, {})
        client.shutdown()


def test_the_sync_transport_backs_off_after_a_broken_init_instead_of_retrying_per_event() -> None:
    with FaultServer(lambda request: CAPTIVE_PORTAL) as server:
        transport = HttpTransport(api_key=KEY, base_url=server.url, max_attempts=2)
        client = Client(transport=transport)
        for n in range(50):
            client.track("open_app", {"n": n})
        stats = client.stats()
        assert stats.dropped == {"device_init_failed": 50}
        assert server.count("/initialize-device") == 2  # one ladder, then remembered
        assert server.count("/events") == 0
        client.shutdown()


# -- counts at shutdown ---------------------------------------------------------------------------


def test_requests_in_flight_at_shutdown_are_their_own_outcome(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    collector.set_latency(1500)
    client = background(collector.url, max_in_flight=64)
    for n in range(64):
        client.track("open_app", {"n": n})
    assert wait_until(lambda: client.stats().in_flight == 64)
    with caplog.at_level(logging.WARNING, logger="weespin_instrument"):
        assert client.shutdown(timeout=0.2) is False
    assert "64 more were cut off in flight (maybe delivered)" in caplog.text
    stats = client.stats()
    assert stats.dropped == {}  # not one counted as lost: the server may store them all
    assert (stats.in_flight_at_exit, stats.in_flight, stats.queued) == (64, 64, 0)
    assert accounted(stats)
    collector.set_latency(0)


def test_requests_still_connecting_at_shutdown_are_counted_not_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as listener:  # a full backlog: connects hang, as to a black hole
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler = socket.create_connection(listener.getsockname())
        try:
            url = f"http://127.0.0.1:{listener.getsockname()[1]}"
            client = background(url, max_in_flight=8, timeout=30.0)
            for n in range(8):
                client.track("open_app", {"n": n})
            assert wait_until(lambda: client.stats().in_flight == 8)
            with caplog.at_level(logging.WARNING, logger="weespin_instrument"):
                assert client.shutdown(timeout=0.2) is False
        finally:
            filler.close()
    stats = client.stats()
    # Nothing was written: certainly not delivered, so dropped and said, not "maybe".
    assert stats.dropped == {"shutdown": 8}
    assert (stats.in_flight_at_exit, stats.in_flight, stats.queued) == (0, 0, 0)
    assert "8 event(s) not delivered" in caplog.text and "maybe" not in caplog.text
    assert accounted(stats)


def test_the_sync_transport_does_not_redo_the_whole_budget_per_call_on_a_dead_api() -> None:
    with FaultServer(lambda request: Status(503)) as server:
        transport = HttpTransport(
            api_key=KEY, base_url=server.url, device_id="ws_device_1", max_retry_time=1.0
        )
        client = Client(transport=transport)
        client.track("open_app", {"n": 0})  # spends its budget: several attempts
        first = server.count()
        assert first > 1
        for n in range(1, 6):
            client.track("open_app", {"n": n})
        assert server.count() == first + 5  # then one attempt per call while it stays down
        assert client.stats().dropped == {"delivery_failed": 6}
        client.shutdown()
