"""The Python-side helpers tests use: ``events``, ``devices``, ``stats``, ``wait_for``."""

from __future__ import annotations

import threading

import httpx
import pytest

from weespin_instrument.collector import Collector


def send(http: httpx.Client, name: str, **fields: object) -> None:
    response = http.post("/events", json={"event_name": name, "device_id": "dev-1", **fields})
    assert response.status_code == 200


def test_events_are_in_insertion_order_with_the_api_shape(
    http: httpx.Client, collector: Collector
) -> None:
    for name in ["a", "b", "c"]:
        send(http, name)

    events = collector.events()

    assert [event["event_name"] for event in events] == ["a", "b", "c"]
    assert events == http.get("/api/events", params={"order": "asc"}).json()["events"]


def test_events_filter_by_name_user_and_device(http: httpx.Client, collector: Collector) -> None:
    send(http, "purchase", user_id="u_1")
    send(http, "purchase", user_id="u_2", device_id="dev-2")
    send(http, "login", user_id="u_1")

    assert len(collector.events("purchase")) == 2
    assert [e["event_name"] for e in collector.events(user_id="u_1")] == ["purchase", "login"]
    assert [e["user_id"] for e in collector.events("purchase", device_id="dev-2")] == ["u_2"]
    assert [e["user_id"] for e in collector.events(limit=1)] == ["u_1"]


def test_stats_count_each_kind_of_request(http: httpx.Client, collector: Collector) -> None:
    http.post("/initialize-device")
    send(http, "a", event_id="same")
    send(http, "a", event_id="same")
    http.post("/events", json={"event_name": ""})
    httpx.post(collector.url + "/events", json={})
    collector.fail_next(1)
    http.post("/events", json={})

    assert collector.stats() == {
        "init_requests": 1,
        "event_requests": 5,
        "events_stored": 1,
        "duplicates": 1,
        "rejected": 1,
        "unauthorized": 1,
        "failed_injected": 1,
        "devices_created": 1,
        "events_total": 1,
    }


def test_wait_for_returns_once_enough_events_arrived(
    http: httpx.Client, collector: Collector
) -> None:
    def send_three() -> None:
        for _ in range(3):
            send(http, "late")

    sender = threading.Timer(0.05, send_three)
    sender.start()
    try:
        arrived = collector.wait_for(3, name="late")
    finally:
        sender.join()

    assert [event["event_name"] for event in arrived] == ["late"] * 3


def test_wait_for_fails_with_what_did_arrive(http: httpx.Client, collector: Collector) -> None:
    send(http, "other")

    with pytest.raises(AssertionError, match=r"at least 1 events named 'missing'.*'other'"):
        collector.wait_for(1, name="missing", timeout=0.1)
