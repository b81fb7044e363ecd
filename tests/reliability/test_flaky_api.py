"""A flaky API (503 on a random share of requests): the default retry budget outlasts it."""

from __future__ import annotations

import random
import threading

import pytest
from _faults import FaultServer, Request, Status

from weespin_instrument import Client
from weespin_instrument.transports import BackgroundTransport

pytestmark = pytest.mark.reliability

KEY = "flaky-test-key"


@pytest.mark.parametrize(
    ("failure_rate", "events", "max_lost"),
    [(0.5, 1000, 1), (0.7, 500, 10)],  # at most 0.1 % and 2 %
    ids=["50-percent", "70-percent"],
)
def test_default_retries_lose_almost_nothing_to_random_503s(
    failure_rate: float, events: int, max_lost: int
) -> None:
    rng = random.Random(8)
    lock = threading.Lock()

    def rule(request: Request) -> Status | None:
        with lock:
            return Status(503) if rng.random() < failure_rate else None

    with FaultServer(rule) as server:
        transport = BackgroundTransport(api_key=KEY, base_url=server.url, device_id="ws_device_1")
        client = Client(transport=transport)
        for n in range(events):
            client.track("open_app", {"n": n})
        assert client.flush(timeout=90.0)  # the budget is 30 s per event, outages left out
        stats = client.stats()
        assert stats.sent + stats.dropped.get("delivery_failed", 0) == events, stats
        assert stats.sent >= events - max_lost, stats
        assert len(server.accepted) == stats.sent
        client.shutdown()
