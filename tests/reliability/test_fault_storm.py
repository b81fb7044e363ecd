"""A storm of 500 and 429 (with Retry-After) on 30% of requests: everything arrives, once."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest

from weespin_instrument import Client
from weespin_instrument.collector import Collector

from ._support import KEY, FaultStorm

pytestmark = pytest.mark.reliability

EVENTS = 600


def test_all_events_arrive_once_and_retry_after_is_respected(collector: Collector) -> None:
    # Each event may meet a long run of injected 500s: a retry budget sized for a 30% storm
    # (429s and outage pauses are not charged to it).
    client = Client(
        api_key=KEY,
        base_url=collector.url,
        device_id="ws_device_1",
        max_attempts=12,
        max_retry_time=300.0,
    )
    with FaultStorm(collector, rate=0.3, retry_after=1) as storm:
        for n in range(EVENTS):
            client.track("open_app", {"n": n})
        assert client.flush(timeout=120.0)
    stats = client.stats()
    assert (stats.sent, stats.dropped) == (EVENTS, {})

    rows = collector.events()
    assert sorted(row["payload"]["n"] for row in rows) == list(range(EVENTS))
    assert collector.stats()["duplicates"] == 0

    log = [r for r in collector.request_log if r["path"] == "/events"]
    failed = sum(1 for r in log if r["status"] != 200)
    assert failed / len(log) >= 0.2, (failed, len(log), storm.pushed)  # the storm happened
    assert storm.pushed[429] > 10

    by_event = defaultdict(list)
    for record in log:
        by_event[record["event_id"]].append(record)
    retried_after_429 = 0
    for attempts in by_event.values():
        assert [a["status"] for a in attempts].count(200) == 1
        for before, after in itertools.pairwise(attempts):
            if before["status"] == 429:
                retried_after_429 += 1
                assert after["monotonic"] - before["monotonic"] >= 1.0, (before, after)
    assert retried_after_429 > 10
    client.shutdown()
