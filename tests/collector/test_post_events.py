"""``POST /events``: what the collector accepts, what it refuses (400), and what it stores."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from weespin_instrument.collector import Collector


def event(device_id: Any = "ws_device_test", **fields: Any) -> dict[str, Any]:
    return {"event_name": "purchase", "device_id": device_id, **fields}


def test_a_minimal_event_is_stored_with_a_generated_event_id(
    http: httpx.Client, collector: Collector
) -> None:
    response = http.post("/events", json=event())

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["duplicate"] is False
    [stored] = collector.events()
    assert stored["event_id"] == body["event_id"] != ""
    assert stored["event_name"] == "purchase"
    assert stored["payload"] == {}
    assert stored["user_id"] is stored["link_id"] is stored["timestamp"] is None


def test_every_field_is_stored_as_sent(http: httpx.Client, collector: Collector) -> None:
    sent = event(
        user_id="u_42",
        link_id="lnk_9f3",
        payload={"amount": 19.99, "currency": "EUR", "quantity": 2, "gift": False},
        event_id="0f8fad5b-d9cb-469f-a165-70867728950e",
        timestamp="2024-05-01T12:00:00.123Z",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
    )

    response = http.post("/events", json=sent)

    assert response.json() == {"status": "ok", "event_id": sent["event_id"], "duplicate": False}
    [stored] = collector.events()
    assert {key: stored[key] for key in sent} == sent
    assert isinstance(stored["seq"], int)
    assert stored["received_at"].endswith("Z")


def test_what_event_to_wire_produces_is_accepted(http: httpx.Client, collector: Collector) -> None:
    from weespin_instrument import Event

    tracked = Event(name="signup", payload={"plan": "pro"}, user_id="u_1", event_id="abc123")

    response = http.post("/events", json=tracked.to_wire(device_id="ws_device_1"))

    assert response.status_code == 200
    assert collector.events()[0]["timestamp"] == tracked.timestamp_iso


@pytest.mark.parametrize(
    "payload",
    [
        {"text": "hello"},
        {"empty_text": ""},
        {"unicode": "crème brûlée ☕"},
        {"int": 42, "negative": -7, "zero": 0},
        {"big_int": 9223372036854775807},  # the largest the API holds (signed 64 bits)
        {"float": 19.99, "tiny": 1e-300},
        {"yes": True, "no": False},
        {"dotted.key": "flattened by the client", "key with spaces": 1},
    ],
    ids=lambda payload: "+".join(payload),
)
def test_payload_values_may_be_strings_ints_floats_and_bools(
    http: httpx.Client, collector: Collector, payload: dict[str, Any]
) -> None:
    assert http.post("/events", json=event(payload=payload)).status_code == 200
    assert collector.events()[0]["payload"] == payload


def test_types_are_kept_exactly(http: httpx.Client, collector: Collector) -> None:
    http.post("/events", json=event(payload={"s": "1", "i": 1, "f": 1.0, "b": True}))

    stored = collector.events()[0]["payload"]
    assert [type(stored[key]) for key in "sifb"] == [str, int, float, bool]


def test_user_and_link_may_be_null(http: httpx.Client, collector: Collector) -> None:
    assert http.post("/events", json=event(user_id=None, link_id=None)).status_code == 200


def assert_refused(response: httpx.Response, loc: list[Any], *words: str) -> None:
    """A 400 ``invalid_event`` whose message names the field and whose errors locate it."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_event"
    assert set(body) == {"error", "message", "errors"}
    assert body["message"].endswith(".")
    assert loc in [error["loc"] for error in body["errors"]]
    for word in words:
        assert word in body["message"], body["message"]
    assert all(set(error) == {"loc", "msg"} for error in body["errors"])


REFUSED: list[tuple[str, dict[str, Any], list[Any], tuple[str, ...]]] = [
    ("no event_name", {"device_id": "d"}, ["event_name"], ("event_name", "required")),
    ("empty event_name", event(event_name=""), ["event_name"], ("event_name", "non-empty")),
    ("blank event_name", event(event_name="   "), ["event_name"], ("event_name", "blank")),
    ("int event_name", event(event_name=1), ["event_name"], ("event_name", "string")),
    ("null event_name", event(event_name=None), ["event_name"], ("event_name", "string")),
    ("no device_id", {"event_name": "x"}, ["device_id"], ("device_id", "required")),
    ("empty device_id", event(device_id=""), ["device_id"], ("device_id", "non-empty")),
    ("int device_id", event(device_id=7), ["device_id"], ("device_id", "string")),
    ("int user_id", event(user_id=42), ["user_id"], ("user_id", "string or null")),
    ("bool link_id", event(link_id=True), ["link_id"], ("link_id", "string or null")),
    ("list payload", event(payload=[1]), ["payload"], ("payload", "JSON object")),
    ("string payload", event(payload="x=1"), ["payload"], ("payload", "JSON object")),
    ("null payload", event(payload=None), ["payload"], ("payload", "JSON object")),
    ("null value", event(payload={"a": None}), ["payload", "a"], ("payload.a", "got null")),
    ("list value", event(payload={"a": [1]}), ["payload", "a"], ("payload.a", "got an array")),
    (
        "nested object",
        event(payload={"order": {"total": 1}}),
        ["payload", "order"],
        ("payload.order", "got an object", "dotted keys"),
    ),
    ("empty key", event(payload={"": 1}), ["payload", ""], ("Payload keys", "non-empty")),
    ("unknown field", event(colour="red"), ["colour"], ("colour", "not a known field")),
    ("empty event_id", event(event_id=""), ["event_id"], ("event_id", "non-empty")),
    ("int event_id", event(event_id=5), ["event_id"], ("event_id", "string")),
    ("bad timestamp", event(timestamp="yesterday"), ["timestamp"], ("timestamp", "ISO 8601")),
    ("epoch timestamp", event(timestamp=1714564800), ["timestamp"], ("timestamp", "string")),
    ("int trace_id", event(trace_id=1), ["trace_id"], ("trace_id", "string")),
]


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_rule_violations_are_refused_with_a_400_naming_the_field(
    http: httpx.Client,
    collector: Collector,
    body: dict[str, Any],
    loc: list[Any],
    words: tuple[str],
) -> None:
    assert_refused(http.post("/events", json=body), loc, *words)
    assert collector.events() == []
    assert collector.stats()["rejected"] == 1


@pytest.mark.parametrize(
    ("literal", "shown"), [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity")]
)
def test_non_finite_numbers_are_refused(http: httpx.Client, literal: str, shown: str) -> None:
    body = '{"event_name": "x", "device_id": "d", "payload": {"ratio": ' + literal + "}}"

    response = http.post("/events", content=body)

    assert_refused(response, ["payload", "ratio"], "payload.ratio", "finite", shown)


def test_a_number_too_big_for_a_float_is_refused(http: httpx.Client) -> None:
    body = '{"event_name": "x", "device_id": "d", "payload": {"huge": 1e400}}'

    assert_refused(http.post("/events", content=body), ["payload", "huge"], "finite")


@pytest.mark.parametrize("digits", [20, 401])
def test_an_integer_beyond_64_bits_is_refused(http: httpx.Client, digits: int) -> None:
    body = '{"event_name": "x", "device_id": "d", "payload": {"n": ' + "9" * digits + "}}"

    assert_refused(http.post("/events", content=body), ["payload", "n"], "64-bit")


def test_the_64_bit_bounds_themselves_are_stored(http: httpx.Client, collector: Collector) -> None:
    response = http.post("/events", json=event(payload={"low": -(2**63), "high": 2**63 - 1}))

    assert response.status_code == 200
    assert collector.events()[0]["payload"] == {"low": -(2**63), "high": 2**63 - 1}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ("not valid JSON",)),
        (b"{not json", ("not valid JSON",)),
        (b"[]", ("must be a JSON object",)),
        (b'"purchase"', ("must be a JSON object",)),
        (b"null", ("must be a JSON object",)),
    ],
    ids=["empty", "garbage", "array", "string", "null"],
)
def test_bodies_that_are_not_json_objects_are_refused(
    http: httpx.Client, content: bytes, words: tuple[str]
) -> None:
    assert_refused(http.post("/events", content=content), [], *words)


def test_every_violation_is_listed_and_the_message_names_the_first(http: httpx.Client) -> None:
    body = {"event_name": "", "device_id": "d", "payload": {"a": None, "b": [2]}, "x": 1}

    errors = http.post("/events", json=body).json()

    assert errors["message"].startswith("'event_name'")
    locs = [error["loc"] for error in errors["errors"]]
    assert ["payload", "a"] in locs
    assert ["payload", "b"] in locs
    assert ["x"] in locs
