"""Fixtures for the web integrations: a default client delivering to the local collector."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from weespin_instrument import Client
from weespin_instrument.collector import Collector
from weespin_instrument.testing import default_client

KEY = "web-test-key"


@pytest.fixture
def client(collector: Collector) -> Iterator[Client]:
    """The default client for the test: background delivery to ``collector``, strict."""
    made = Client(api_key=KEY, base_url=collector.url, strict=True)
    with default_client(made):
        yield made
    made.shutdown(timeout=5.0)


def init_requests(collector: Collector) -> int:
    """How many device initializations the collector answered (its request log)."""
    return sum(1 for r in collector.request_log if r["path"] == "/initialize-device")


def cookie_devices(events: list[dict[str, object]]) -> set[object]:
    """The device ids the collected events carry."""
    return {event["device_id"] for event in events}


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``pytest.mark.anyio``) run on asyncio."""
    return "asyncio"
