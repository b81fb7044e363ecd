"""Real traffic shapes: a trickle of events, a cold burst, a distant API."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests._faults import wait_until
from weespin_instrument import Client
from weespin_instrument.collector import Collector
from weespin_instrument.transports import BackgroundTransport, _engine
from weespin_instrument.transports._engine import LINGER, Sender, worker_goes_on
from weespin_instrument.transports._loop import SenderLoop

KEY = "wake-up-test-key"


def client_to(url: str, **options: Any) -> Client:
    transport = BackgroundTransport(api_key=KEY, base_url=url, device_id="ws_device_1", **options)
    return Client(transport=transport)


def established_connections(port: int) -> int:
    """TCP connections to ``port`` on 127.0.0.1 in ESTABLISHED state (``/proc/net/tcp``)."""
    count = 0
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            if remote_port == port and fields[3] == "01":
                count += 1
    return count


def sender_of(client: Client) -> Sender:
    transport = client.transport
    assert isinstance(transport, BackgroundTransport) and transport._sender is not None
    return transport._sender


# -- cheap wake-ups ------------------------------------------------------------------------------


def test_a_caller_waking_the_sender_schedules_no_loop_callback(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waking an idle sender is a flag and one byte on a socket: no ``call_soon_threadsafe``."""
    callers: list[str] = []
    original = SenderLoop.call_soon_threadsafe

    def counting(self: SenderLoop, *args: Any, **kwargs: Any) -> Any:
        callers.append(threading.current_thread().name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SenderLoop, "call_soon_threadsafe", counting)
    client = client_to(collector.url)
    for n in range(20):
        client.track("open_app", {"n": n})
        time.sleep(LINGER + 0.03)  # longer than the sender lingers: each call finds it idle
    assert client.flush(timeout=10.0)
    assert client.stats().sent == 20
    assert [name for name in callers if name == threading.current_thread().name] == []
    client.shutdown()


def test_a_trickle_of_events_coalesces_instead_of_waking_the_sender_per_event(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    wakes: list[float] = []
    original = Sender.wake

    def counting(self: Sender) -> None:
        wakes.append(time.monotonic())
        original(self)

    monkeypatch.setattr(Sender, "wake", counting)
    client = client_to(collector.url)
    client.track("warm_up")
    assert client.flush(timeout=10.0)
    wakes.clear()
    events = 100
    for n in range(events):
        client.track("open_app", {"n": n})
        time.sleep(0.001)  # one event a millisecond: the sender lingers between them
    assert client.flush(timeout=10.0)
    assert client.stats().sent == events + 1
    assert len(wakes) < events / 2, len(wakes)  # one wake-up per event before
    client.shutdown()


def test_a_worker_goes_on_with_the_next_job_unless_the_sender_lingers_or_has_too_many() -> None:
    assert worker_goes_on(4, 16, lingering=False)  # busy: the answer's worker sends the next
    assert not worker_goes_on(4, 16, lingering=True)  # what trickled in waits for the look
    assert not worker_goes_on(17, 16, lingering=False)  # the limit went down: one fewer


def test_what_trickles_in_while_the_sender_lingers_goes_out_together_at_its_next_look(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each event comes while the one before is out (300 ms round trips). A worker that got
    its answer used to take the next at once: one request on the wire at a time. While the
    sender lingers it stops instead, and the linger's look sends what came, together."""
    client = client_to(collector.url)
    client.track("warm_up")
    assert client.flush(timeout=10.0)
    assert wait_until(lambda: sender_of(client).jobs.inbox.idle, timeout=10.0)
    monkeypatch.setattr(_engine, "LINGER", 2.0)  # it looks again 2 s after the first is sent
    collector.set_latency(300)
    before = collector.stats()["event_requests"]
    client.track("open_app", {"n": 0})  # wakes the idle sender: sent at once, then it lingers
    for n in range(1, 4):
        time.sleep(0.1 if n == 1 else 0.3)  # each during the previous one's round trip
        client.track("open_app", {"n": n})
    assert wait_until(lambda: client.stats().in_flight == 3, timeout=10.0), client.stats()
    assert wait_until(lambda: client.stats().sent == 5, timeout=10.0)
    assert collector.stats()["event_requests"] - before == 4
    assert sorted(event["payload"]["n"] for event in collector.events("open_app")) == [0, 1, 2, 3]
    client.shutdown()


def test_a_flush_does_not_wait_for_the_sender_to_stop_lingering(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_engine, "LINGER", 60.0)  # far longer than the flush may wait
    client = client_to(collector.url)
    client.track("warm_up")
    assert client.flush(timeout=10.0)  # the sender now lingers: callers do not wake it
    client.track("open_app")
    assert client.flush(timeout=10.0)  # the flush wakes it: it looks now
    assert client.stats().sent == 2
    client.shutdown()


def test_after_shutdown_a_late_wake_up_is_harmless(collector: Collector) -> None:
    client = client_to(collector.url)
    client.track("open_app")
    assert client.flush(timeout=10.0)
    transport = client.transport
    assert isinstance(transport, BackgroundTransport)
    sender = transport._sender
    assert sender is not None
    client.shutdown()
    sender.wake()  # the socket is closed: nothing is written anywhere, nothing raises


# -- no loss in a cold burst ---------------------------------------------------------------------


def test_a_cold_burst_of_20000_events_loses_nothing_with_default_settings(
    collector: Collector,
) -> None:
    client = Client(api_key=KEY, base_url=collector.url)  # defaults: no max_queue given
    for n in range(20_000):  # right after start-up: the sender is still importing aiohttp
        client.track("open_app", {"n": n})
    stats = client.stats()
    assert stats.dropped == {}
    assert stats.tracked == stats.sent + stats.queued + stats.in_flight == 20_000
    client.shutdown(timeout=0.0)


# -- concurrency that follows the round trip ------------------------------------------------------


def test_at_200_ms_round_trips_more_requests_go_at_once_than_the_old_fixed_64(
    collector: Collector,
) -> None:
    collector.set_latency(200)
    client = client_to(collector.url)
    for n in range(600):
        client.track("open_app", {"n": n})
    assert wait_until(lambda: client.stats().in_flight > 100, timeout=10.0), client.stats()
    assert client.flush(timeout=30.0)
    assert client.stats().sent == 600
    client.shutdown()


def test_a_near_api_gets_few_connections(collector: Collector) -> None:
    client = client_to(collector.url)
    for n in range(2_000):
        client.track("open_app", {"n": n})
    assert client.flush(timeout=60.0)
    assert client.stats().sent == 2_000
    assert 0 < established_connections(collector.port) < 64  # the old fixed limit: 64
    client.shutdown()


def test_an_explicit_max_in_flight_is_kept_exactly(collector: Collector) -> None:
    collector.set_latency(1000)
    client = client_to(collector.url, max_in_flight=40)
    for n in range(100):
        client.track("open_app", {"n": n})
    assert wait_until(lambda: client.stats().in_flight == 40, timeout=10.0)
    assert client.stats().in_flight == 40
    client.shutdown(timeout=0.0)
