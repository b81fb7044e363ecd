"""Device initialization: both paths the Weespin docs name, and the exact response shape."""

from __future__ import annotations

import re

import httpx
import pytest

from weespin_instrument.collector import Collector

INIT_PATHS = ["/initialize-device", "/events/initialize"]


@pytest.mark.parametrize("path", INIT_PATHS)
def test_the_response_has_exactly_the_documented_shape(http: httpx.Client, path: str) -> None:
    response = http.post(path)

    assert response.status_code == 200
    body = response.json()
    device_id = body["event"]["device_info"]["device_id"]
    assert re.fullmatch(r"ws_device_[0-9a-f]{32}", device_id)
    assert body == {
        "event": {
            "event_name": "app_installed",
            "event_type": "app_installed",
            "device_info": {"device_id": device_id, "platform": "Other", "os": "Linux"},
            "location": {"country": "US", "city": "", "latitude": "0", "longitude": "00.0"},
        }
    }


@pytest.mark.parametrize("path", INIT_PATHS)
@pytest.mark.parametrize(
    "content", [b"", b"{}", b'{"platform": "iOS"}', b"[1, 2]"], ids=["empty", "{}", "obj", "list"]
)
def test_the_body_is_ignored(http: httpx.Client, path: str, content: bytes) -> None:
    assert http.post(path, content=content).status_code == 200


def test_each_call_makes_a_new_device_and_remembers_it(
    http: httpx.Client, collector: Collector
) -> None:
    made = [
        http.post(path).json()["event"]["device_info"]["device_id"]
        for path in INIT_PATHS + INIT_PATHS
    ]

    assert len(set(made)) == 4
    assert collector.devices() == made
    assert collector.stats()["init_requests"] == 4
    assert collector.stats()["devices_created"] == 4


def test_initialization_is_a_post(http: httpx.Client) -> None:
    assert http.get("/initialize-device").status_code == 405
