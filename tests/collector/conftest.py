"""Fixtures of the collector's tests: an HTTP client pointed at the running collector."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from weespin_instrument.collector import Collector

KEY = "test-key-0001"


@pytest.fixture
def http(collector: Collector) -> Iterator[httpx.Client]:
    """An ``httpx.Client`` on the collector's URL that sends ``Authorization: test-key-0001``."""
    with httpx.Client(base_url=collector.url, headers={"Authorization": KEY}, timeout=10) as client:
        yield client


@pytest.fixture
def device_id(http: httpx.Client) -> str:
    """A device initialized on the collector."""
    response = http.post("/initialize-device")
    device: str = response.json()["event"]["device_info"]["device_id"]
    return device
