"""``Authorization``: every POST needs one; with ``api_key=`` set, only that exact value."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from weespin_instrument.collector import Collector

EVENT = {"event_name": "login", "device_id": "ws_device_1"}
POSTS = ["/events", "/initialize-device", "/events/initialize"]
MISSING = {"error": "unauthorized", "message": "missing Authorization header"}
INVALID = {"error": "unauthorized", "message": "invalid API key"}


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Collector]:
    with Collector(db=tmp_path / "keyed.sqlite", api_key="the-right-key-1234") as running:
        yield running


@pytest.mark.parametrize("path", POSTS)
def test_a_post_without_authorization_is_refused(collector: Collector, path: str) -> None:
    response = httpx.post(collector.url + path, json=EVENT)

    assert response.status_code == 401
    assert response.json() == MISSING
    assert collector.events() == []
    assert collector.devices() == []
    assert collector.stats()["unauthorized"] == 1


def test_an_empty_authorization_counts_as_missing(collector: Collector) -> None:
    response = httpx.post(collector.url + "/events", json=EVENT, headers={"Authorization": ""})

    assert response.status_code == 401
    assert response.json() == MISSING


def test_without_api_key_any_non_empty_value_is_accepted(collector: Collector) -> None:
    for key in ["anything", "Bearer whatever", "x"]:
        response = httpx.post(collector.url + "/events", json=EVENT, headers={"Authorization": key})
        assert response.status_code == 200
    assert len(collector.events()) == 3


@pytest.mark.parametrize("path", POSTS)
def test_with_api_key_a_different_value_is_refused(keyed: Collector, path: str) -> None:
    response = httpx.post(keyed.url + path, json=EVENT, headers={"Authorization": "wrong"})

    assert response.status_code == 401
    assert response.json() == INVALID
    assert keyed.stats()["unauthorized"] == 1


def test_with_api_key_the_raw_value_is_the_key_without_a_scheme(keyed: Collector) -> None:
    def post(key: str) -> int:
        return httpx.post(
            keyed.url + "/events", json=EVENT, headers={"Authorization": key}
        ).status_code

    assert post("the-right-key-1234") == 200
    assert post("Bearer the-right-key-1234") == 401
    assert post("the-right-key-123") == 401


def test_with_api_key_a_missing_header_is_still_reported_as_missing(keyed: Collector) -> None:
    assert httpx.post(keyed.url + "/events", json=EVENT).json() == MISSING


def test_authorization_is_checked_before_the_body(keyed: Collector) -> None:
    response = httpx.post(keyed.url + "/events", content=b"not json")

    assert response.status_code == 401
    assert keyed.stats()["rejected"] == 0


def test_reading_needs_no_key(keyed: Collector) -> None:
    for path in ["/api/events", "/healthz", "/"]:
        assert httpx.get(keyed.url + path).status_code == 200
