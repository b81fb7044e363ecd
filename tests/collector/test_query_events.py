"""``GET /api/events``: filters, ``after``/``since`` cursors, ``limit`` and ``order``."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from weespin_instrument.collector import Collector

#: (event_name, device_id, user_id, link_id), in the order they are sent.
SENT = [
    ("signup", "dev-a", "u_1", None),
    ("purchase", "dev-a", "u_1", "lnk_1"),
    ("purchase", "dev-b", "u_2", None),
    ("login", "dev-b", None, None),
    ("purchase", "dev-c", "u_1", "lnk_1"),
]


@pytest.fixture
def stored(http: httpx.Client) -> list[dict[str, Any]]:
    for index, (name, device, user, link) in enumerate(SENT):
        body = {"event_name": name, "device_id": device, "payload": {"n": index}}
        if user:
            body["user_id"] = user
        if link:
            body["link_id"] = link
        assert http.post("/events", json=body).status_code == 200
    events: list[dict[str, Any]] = http.get("/api/events", params={"order": "asc"}).json()["events"]
    return events


def ns(http: httpx.Client, **params: Any) -> list[int]:
    response = http.get("/api/events", params=params)
    assert response.status_code == 200, response.text
    return [event["payload"]["n"] for event in response.json()["events"]]


def test_the_default_is_newest_first(http: httpx.Client, stored: list[dict[str, Any]]) -> None:
    assert ns(http) == [4, 3, 2, 1, 0]


def test_order_asc_is_oldest_first(http: httpx.Client, stored: list[dict[str, Any]]) -> None:
    assert ns(http, order="asc") == [0, 1, 2, 3, 4]


def test_each_event_has_the_documented_fields(stored: list[dict[str, Any]]) -> None:
    assert set(stored[0]) == {
        "seq", "event_id", "event_name", "device_id", "user_id", "link_id", "payload",
        "timestamp", "trace_id", "span_id", "received_at",
    }  # fmt: skip
    assert [event["seq"] for event in stored] == sorted(event["seq"] for event in stored)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "purchase"}, [1, 2, 4]),
        ({"user_id": "u_1"}, [0, 1, 4]),
        ({"device_id": "dev-b"}, [2, 3]),
        ({"link_id": "lnk_1"}, [1, 4]),
        ({"name": "purchase", "user_id": "u_1"}, [1, 4]),
        ({"name": "purchase", "device_id": "dev-b", "user_id": "u_1"}, []),
        ({"name": "never_sent"}, []),
        ({"name": ""}, [0, 1, 2, 3, 4]),
    ],
    ids=["name", "user", "device", "link", "name+user", "no-match", "unknown-name", "empty"],
)
def test_filters_combine(
    http: httpx.Client, stored: list[dict[str, Any]], params: dict[str, str], expected: list[int]
) -> None:
    assert ns(http, order="asc", **params) == expected


def test_after_returns_only_greater_seqs(http: httpx.Client, stored: list[dict[str, Any]]) -> None:
    assert ns(http, order="asc", after=stored[2]["seq"]) == [3, 4]
    assert ns(http, after=stored[-1]["seq"]) == []


def test_limit_keeps_the_first_ones_in_the_chosen_order(
    http: httpx.Client, stored: list[dict[str, Any]]
) -> None:
    assert ns(http, limit=2) == [4, 3]
    assert ns(http, limit=2, order="asc") == [0, 1]
    assert ns(http, limit=2, order="asc", after=stored[0]["seq"]) == [1, 2]


def test_the_default_limit_is_100(http: httpx.Client, collector: Collector) -> None:
    for index in range(105):
        http.post("/events", json={"event_name": "tick", "device_id": "d", "payload": {"n": index}})

    assert ns(http)[:2] == [104, 103]
    assert len(ns(http)) == 100
    assert len(ns(http, limit=10_000)) == 105


def test_since_takes_epoch_seconds_or_iso_8601(
    http: httpx.Client, stored: list[dict[str, Any]]
) -> None:
    between = time.time()  # after the first five were answered, before the sixth is sent
    http.post("/events", json={"event_name": "late", "device_id": "d", "payload": {"n": 5}})

    assert ns(http, since=str(between)) == [5]
    assert ns(http, since=datetime.fromtimestamp(between, tz=timezone.utc).isoformat()) == [5]
    naive_utc = datetime.fromtimestamp(between, tz=timezone.utc).replace(tzinfo=None)
    assert ns(http, since=naive_utc.isoformat()) == [5], "no offset means UTC"
    assert ns(http, since="1970-01-01T00:00:00Z", order="asc") == [0, 1, 2, 3, 4, 5]
    assert ns(http, since="2000-01-01T00:00:00+02:00", limit=1) == [5]
    assert ns(http, since=str(between + 3600)) == []
    assert ns(http, since="0") == [5, 4, 3, 2, 1, 0]


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "10001"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"after": "x"}, "after"),
        ({"after": "-1"}, "after"),
        ({"order": "sideways"}, "order"),
        ({"since": "last tuesday"}, "since"),
        ({"since": "nan"}, "since"),
    ],
    ids=lambda value: (
        "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else ""
    ),
)
def test_bad_query_values_are_a_400_naming_the_parameter(
    http: httpx.Client, params: dict[str, str], word: str
) -> None:
    response = http.get("/api/events", params=params)

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_query"
    assert f"'{word}'" in body["message"]


def test_q_finds_text_in_the_name_the_ids_and_the_payload(
    http: httpx.Client, stored: list[dict[str, Any]]
) -> None:
    assert ns(http, q="PURCH") == [4, 2, 1], "case-insensitive, in the name"
    assert ns(http, q="lnk_") == [4, 1], "in the link id; _ is not a wildcard"
    assert ns(http, q='"n":3') == [3], "in the payload's JSON"
    assert ns(http, q="%") == [], "% is not a wildcard either"


def test_total_counts_every_match_whatever_the_limit_and_cursor(
    http: httpx.Client, stored: list[dict[str, Any]]
) -> None:
    body = http.get("/api/events", params={"name": "purchase", "limit": 1}).json()
    assert (len(body["events"]), body["total"]) == (1, 3)
    assert http.get("/api/events", params={"after": 4}).json()["total"] == 5


def test_the_collector_id_changes_when_a_collector_starts(http: httpx.Client) -> None:
    first = http.get("/api/events").json()["collector"]
    assert first == http.get("/api/events").json()["collector"]
    with Collector() as other:
        assert httpx.get(other.url + "/api/events").json()["collector"] != first
