"""track() checks a payload against a plan per (event name, key set): the name and each key's
sensitivity verdict are worked out once, a call only tests its values. Whatever the values,
the policy or the mode, the event (and the error, and the counts) are the full pipeline's."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

import weespin_instrument as weespin
from weespin_instrument import Client, InvalidEventError
from weespin_instrument._plans import MAX_PLANS, PayloadPlans
from weespin_instrument._scrub import Scrubber
from weespin_instrument.transports import MemoryTransport

VALUES: list[Any] = [
    "SKU-1234",
    "a note that is long enough to be scanned",
    "4111 1111 1111 1111",
    "123-45-6789",
    "é",
    "lone \udc80 surrogate",
    0,
    -(2**63),
    2**63,
    4111111111111111,
    10**12,
    19.99,
    4111111111111111.0,
    math.nan,
    math.inf,
    True,
    None,
    Decimal("1.5"),
    [1, 2],
    {"nested": 1},
]


def memory_client(**options: Any) -> tuple[Client, MemoryTransport]:
    transport = MemoryTransport()
    return Client(transport=transport, **options), transport


def outcome(client: Client, transport: MemoryTransport, payload: Any) -> object:
    """What track() made of ``payload``: the event on the wire and the counts, or the error."""
    before = len(transport.events)
    try:
        event = client.track("add_to_cart", payload)
    except InvalidEventError as exc:
        return ("raised", str(exc), exc.reason, exc.key)
    stats = client.stats()
    sent = [e.to_wire(metadata=False) for e in transport.events[before:]]
    return (event is not None, sent, stats.redacted, dict(stats.dropped))


def full_pipeline(client: Client, payload: Any) -> object:
    """What the full pipeline makes of ``payload`` (prepare() has no plan)."""
    try:
        return client.prepare("add_to_cart", payload).to_wire(metadata=False)
    except InvalidEventError as exc:
        return ("raised", str(exc), exc.reason, exc.key)


@pytest.mark.parametrize("value", VALUES, ids=repr)
@pytest.mark.parametrize("key", ["note", "order_id", "password"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"strict": True},
        {"sensitive_data": "drop_event"},
        {"sensitive_data": "off"},
        {"sensitive_keys": ["note"]},
        {"sensitive_patterns": [r"SKU-\d+"]},
    ],
    ids=repr,
)
def test_a_planned_key_set_makes_the_event_the_full_pipeline_makes(
    options: dict[str, Any], key: str, value: Any
) -> None:
    client, transport = memory_client(**options)
    outcome(client, transport, {"sku": "SKU-1", key: 1})  # the plan is built here
    dropped_before, redacted_before = dict(client.stats().dropped), client.stats().redacted
    expected = full_pipeline(client, {"sku": "SKU-1", key: value})
    got = outcome(client, transport, {"sku": "SKU-1", key: value})
    if isinstance(expected, tuple):  # refused: the same error, or the same drop
        if client.settings.strict or options.get("sensitive_data") == "raise":
            assert got == expected
        else:
            assert got[:2] == (False, [])  # type: ignore[index]
            dropped = got[3].get(expected[2], 0) - dropped_before.get(expected[2], 0)  # type: ignore[index]
            assert dropped == 1
    else:
        assert got[:2] == (True, [expected])  # type: ignore[index]
        redacted = got[2] > redacted_before  # type: ignore[index,operator]
        assert redacted == ("[REDACTED]" in str(expected))


def test_the_plan_of_a_key_set_is_built_once_and_a_call_only_tests_its_values() -> None:
    plans = PayloadPlans(Scrubber())
    check = plans.check_for("add_to_cart", {"sku": "S", "note": "gift"})
    assert check is not None
    assert plans.check_for("add_to_cart", {"sku": "T", "note": "other"}) is check
    assert plans.first["add_to_cart"]({"sku": "S", "note": "gift"})
    assert check({"sku": "S", "note": "gift"})
    assert not check({"sku": "S", "note": "4111 1111 1111 1111"})  # the guard must look
    assert not check({"sku": "S", "note": 2**70})  # out of the API's range
    assert not check({"note": "gift", "sku": "S"})  # another order: another key set


def test_names_and_keys_that_always_need_the_guard_have_no_plan() -> None:
    plans = PayloadPlans(Scrubber())
    assert plans.check_for("signup", {"password": "hunter2"}) is None
    assert plans.check_for("  ", {"sku": "S"}) is None
    assert plans.check_for("card 4111 1111 1111 1111", {"sku": "S"}) is None
    assert plans.check_for("add_to_cart", {"": 1}) is None
    with_patterns = PayloadPlans(Scrubber(sensitive_patterns=[r"S\d"]))
    assert with_patterns.check_for("add_to_cart", {"sku": "S1"}) is None


def test_callers_with_unbounded_key_sets_do_not_grow_the_plans() -> None:
    client, transport = memory_client()
    for i in range(3 * MAX_PLANS):
        client.track("search", {f"filter_{i}": i})
    assert len(transport.events) == 3 * MAX_PLANS
    assert len(client._plans) <= MAX_PLANS
    assert len(client._plans.first) <= MAX_PLANS


def test_str_subclass_keys_are_sent_as_plain_str_like_the_full_pipeline() -> None:
    class Key(str):
        pass

    client, transport = memory_client()
    client.track("add_to_cart", {"sku": 1})
    client.track("add_to_cart", {Key("sku"): 2})
    assert [type(key) for event in transport.events for key in event.payload] == [str, str]
    assert [event.payload for event in transport.events] == [{"sku": 1}, {"sku": 2}]


def test_a_key_whose_hash_raises_is_dropped_as_an_invalid_payload() -> None:
    class Hostile:
        def __hash__(self) -> int:
            return 1

        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no comparing me")

    client, transport = memory_client()
    client.track("add_to_cart", {"sku": 1})
    assert client.track("add_to_cart", {Hostile(): 1}) is None  # type: ignore[dict-item]
    assert client.stats().dropped == {"invalid_payload": 1}
    assert len(transport.events) == 1


def test_ids_from_identify_are_scrubbed_on_a_planned_key_set() -> None:
    client, transport = memory_client()
    client.track("add_to_cart", {"sku": 1})
    with weespin.identify(user_id="4111 1111 1111 1111"):
        client.track("add_to_cart", {"sku": 2})
    assert transport.events[-1].user_id == "[REDACTED]"
    assert client.stats().redacted == 1


def test_a_disabled_client_tracks_nothing_on_a_planned_key_set() -> None:
    client, transport = memory_client(disabled=True)
    assert client.track("add_to_cart", {"sku": 1}) is None
    assert client.track("add_to_cart", {"sku": 1}) is None
    assert transport.events == []
    assert client.stats().tracked == 0


def test_the_module_function_takes_the_same_plans() -> None:
    transport = MemoryTransport()
    weespin.configure(transport=transport)
    try:
        for sku in ("S1", "S2"):
            weespin.track("add_to_cart", {"sku": sku, "quantity": 2, "price": 19.99})
        weespin.track("add_to_cart", {"sku": "S3", "note": "4111 1111 1111 1111"})
        assert [event.payload for event in transport.events] == [
            {"sku": "S1", "quantity": 2, "price": 19.99},
            {"sku": "S2", "quantity": 2, "price": 19.99},
            {"sku": "S3", "note": "[REDACTED]"},
        ]
    finally:
        weespin.shutdown()


def test_a_value_whose_type_changes_between_calls_gets_the_full_pipelines_result() -> None:
    client, transport = memory_client()
    payloads: list[dict[str, Any]] = [
        {"sku": "S1", "quantity": 2, "price": 19.99},  # the name's first plan: these types
        {"sku": 5, "quantity": 2.5, "price": 3},
        {"sku": "S2", "quantity": "4111 1111 1111 1111", "price": 19.99},
        {"sku": "S3", "quantity": 2**70, "price": math.nan},
        {"sku": "S4", "quantity": True, "price": 4111111111111111.0},
        {"sku": "S5", "quantity": 2, "price": 19.99},
    ]
    reference, _ = memory_client()
    expected = [full_pipeline(reference, payload) for payload in payloads]
    for payload in payloads:
        client.track("add_to_cart", payload)
    sent = [event.to_wire(metadata=False) for event in transport.events]
    assert sent == [wire for wire in expected if not isinstance(wire, tuple)]
    assert client.stats().dropped == {"invalid_payload": 1}  # the NaN
    assert client.stats().redacted == 2  # the card in a string, and the card as a float


def test_the_same_keys_in_another_order_are_sent_in_the_callers_order() -> None:
    client, transport = memory_client()
    client.track("add_to_cart", {"sku": "S1", "quantity": 2, "price": 19.99})
    client.track("add_to_cart", {"price": 4111111111111111, "sku": "S2", "quantity": 3})
    assert [list(event.payload) for event in transport.events] == [
        ["sku", "quantity", "price"],
        ["price", "sku", "quantity"],
    ]
    assert transport.events[1].payload["price"] == "[REDACTED]"  # a card under a plain key


def test_a_dict_changed_after_track_returns_leaves_the_event_as_it_was() -> None:
    client, transport = memory_client()
    payload: dict[str, Any] = {"sku": "S1", "quantity": 2}
    for _ in range(2):  # the first call builds the plan, the second takes it
        event = client.track("add_to_cart", payload)
        assert event is not None and event.payload is not payload
        payload["quantity"] = 4111111111111111
        payload["extra"] = "x"
        assert event.payload == {"sku": "S1", "quantity": 2}
        del payload["extra"]
        payload["quantity"] = 2
    assert [event.payload for event in transport.events] == [{"sku": "S1", "quantity": 2}] * 2


@pytest.mark.parametrize(
    "price",
    [1e12, math.nextafter(1e12, 0), 1e19, math.nextafter(1e19, 0), -1e12, -1e19, -math.inf],
    ids=repr,
)
def test_floats_at_the_card_range_bounds_get_the_full_pipelines_result(price: float) -> None:
    client, _ = memory_client()
    client.track("add_to_cart", {"sku": "S1", "price": 19.99})  # the plan is built here
    expected = full_pipeline(memory_client()[0], {"sku": "S1", "price": price})
    event = client.track("add_to_cart", {"sku": "S1", "price": price})
    if isinstance(expected, tuple):
        assert event is None and client.stats().dropped == {expected[2]: 1}
    else:
        assert event is not None and event.to_wire(metadata=False) == expected


def test_a_device_from_identify_is_kept_on_a_planned_key_set() -> None:
    client, transport = memory_client()
    client.track("add_to_cart", {"sku": 1})
    with weespin.identify(device_id="ws_device_7"):
        client.track("add_to_cart", {"sku": 2})
    client.track("add_to_cart", {"sku": 3})
    assert [event.device_id for event in transport.events] == [None, "ws_device_7", None]
    assert [event.user_id for event in transport.events] == [None] * 3


def test_key_sets_past_the_bound_still_make_the_full_pipelines_events() -> None:
    client, transport = memory_client()
    card = "4111 1111 1111 1111"
    payloads = [{f"filter_{i}": card if i % 7 == 0 else i} for i in range(2 * MAX_PLANS)]
    for payload in payloads:
        client.track("search", payload)
    reference, _ = memory_client()
    expected = [reference.prepare("search", payload).payload for payload in payloads]
    assert [event.payload for event in transport.events] == expected
