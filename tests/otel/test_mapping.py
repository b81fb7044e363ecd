"""The event <-> attributes mapping: pure, portable types only, and its own inverse."""

from __future__ import annotations

import ast
from pathlib import Path

import weespin_instrument.otel._mapping as mapping_module
from weespin_instrument import Event
from weespin_instrument.otel import (
    ORIGIN_KEY,
    ORIGIN_VALUE,
    attributes_to_event,
    event_to_attributes,
)


def full_event() -> Event:
    return Event(
        "purchase",
        {"amount": 19.99, "currency": "EUR", "order.total": 3, "gift": False},
        user_id="u_42",
        link_id="lnk_9f3",
        device_id="ws_device_1",
        timestamp=1_700_000_000.25,
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
    )


def test_every_field_becomes_a_namespaced_portable_attribute() -> None:
    event = full_event()
    assert event_to_attributes(event) == {
        "weespin.origin": "weespin-instrument",
        "weespin.event_name": "purchase",
        "weespin.event_id": event.event_id,
        "weespin.user_id": "u_42",
        "weespin.link_id": "lnk_9f3",
        "weespin.device_id": "ws_device_1",
        "weespin.trace_id": "0af7651916cd43dd8448eb211c80319c",
        "weespin.span_id": "b7ad6b7169203331",
        "weespin.payload.amount": 19.99,
        "weespin.payload.currency": "EUR",
        "weespin.payload.order.total": 3,
        "weespin.payload.gift": False,
    }


def test_identity_and_trace_ids_appear_only_when_set() -> None:
    attributes = event_to_attributes(Event("signup", {"plan": "pro"}))
    assert set(attributes) == {
        ORIGIN_KEY,
        "weespin.event_name",
        "weespin.event_id",
        "weespin.payload.plan",
    }


def test_attributes_to_event_is_the_inverse() -> None:
    event = full_event()
    back = attributes_to_event("purchase", event_to_attributes(event), timestamp=event.timestamp)
    assert back is not None
    assert back == event  # same event_id and the same wire body
    assert (back.trace_id, back.span_id) == (event.trace_id, event.span_id)
    assert back.payload == event.payload
    assert back.payload["order.total"] == 3  # dotted keys survive


def test_records_without_the_origin_marker_are_not_ours() -> None:
    assert attributes_to_event("purchase", None) is None
    assert attributes_to_event("purchase", {"weespin.event_name": "purchase"}) is None
    assert attributes_to_event("x", {ORIGIN_KEY: "someone-else"}) is None


def test_the_name_attribute_wins_and_the_record_name_is_the_fallback() -> None:
    named = attributes_to_event("other", {ORIGIN_KEY: ORIGIN_VALUE, "weespin.event_name": "a"})
    assert named is not None and named.name == "a"
    unnamed = attributes_to_event("b", {ORIGIN_KEY: ORIGIN_VALUE})
    assert unnamed is not None and unnamed.name == "b"
    assert attributes_to_event("", {ORIGIN_KEY: ORIGIN_VALUE}) is None


def test_values_an_event_cannot_hold_are_left_out() -> None:
    event = attributes_to_event(
        "x",
        {
            ORIGIN_KEY: ORIGIN_VALUE,
            "weespin.payload.ok": 1,
            "weespin.payload.list": ("a", "b"),
            "weespin.user_id": 42,
        },
    )
    assert event is not None
    assert event.payload == {"ok": 1}
    assert event.user_id is None


def test_the_mapping_module_imports_nothing_from_opentelemetry() -> None:
    tree = ast.parse(Path(mapping_module.__file__).read_text())
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.append(node.module or "")
        elif isinstance(node, ast.Import):
            imported.extend(alias.name for alias in node.names)
    assert not [name for name in imported if name.startswith("opentelemetry")]
