"""An outage, then recovery: events wait (not one by one), then all arrive exactly once."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from weespin_instrument import Client
from weespin_instrument.collector import Collector

from ._support import KEY, free_port

pytestmark = pytest.mark.reliability


def assert_exactly_once(collector: Collector, count: int) -> None:
    rows = collector.events()
    assert sorted(row["payload"]["n"] for row in rows) == list(range(count))
    accepted = Counter(r["event_id"] for r in collector.request_log if r["status"] == 200)
    accepted.pop(None, None)
    assert set(accepted.values()) == {1}, "an accepted event was sent again"
    assert collector.stats()["duplicates"] == 0


@pytest.mark.parametrize("device_id", [None, "ws_device_1"], ids=["device-init", "events"])
def test_2000_events_tracked_while_nothing_listens_arrive_once(
    tmp_path: Path, device_id: str | None
) -> None:
    port = free_port()
    client = Client(api_key=KEY, base_url=f"http://127.0.0.1:{port}", device_id=device_id)
    for n in range(2000):
        client.track("open_app", {"n": n})
    for _ in range(100):  # until the sender has met the outage (bounded: 10 s)
        if client.stats().last_error is not None:
            break
        time.sleep(0.1)
    stats = client.stats()
    assert "failed" in (stats.last_error or ""), stats
    assert stats.queued + stats.in_flight == 2000 and stats.dropped == {}
    with Collector(port=port, db=tmp_path / "collector.sqlite") as collector:
        assert client.flush(timeout=60.0)
        assert_exactly_once(collector, 2000)
        stats = client.stats()
        assert (stats.sent, stats.dropped, stats.queued, stats.in_flight) == (2000, {}, 0, 0)
        client.shutdown()


def test_an_outage_is_waited_out_as_a_whole_not_hammered(tmp_path: Path) -> None:
    db = tmp_path / "collector.sqlite"
    down = Collector(port=0, db=db).start()
    port = down.port
    down.fail_next(1_000_000, status=503)
    client = Client(api_key=KEY, base_url=down.url, device_id="ws_device_1")
    for n in range(500):
        client.track("open_app", {"n": n})
    time.sleep(4.0)  # a measurement window, not an assertion on time
    attempts = down.stats()["event_requests"]
    down.stop()
    # One request per event would be 500, and each event's own retry budget four times
    # that; the breaker lets through the first wave (64 in flight) and a few probes.
    assert attempts < 150, attempts
    assert client.stats().dropped == {}
    with Collector(port=port, db=db) as up:  # the API comes back on the same address
        assert client.flush(timeout=60.0)
        assert_exactly_once(up, 500)
    client.shutdown()
