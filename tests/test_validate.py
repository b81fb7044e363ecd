"""The payload rules: what is kept, what is coerced, what is flattened, what is refused and how.

Every refusal is checked with its full message: the messages are part of the interface.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import enum
import math
import re
import types
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from weespin_instrument._validate import (
    MAX_DEPTH,
    normalize_payload,
    validate_event_name,
    validate_identity,
)
from weespin_instrument.errors import InvalidEventError

PLUS_ONE = timezone(timedelta(hours=1))


def refusal(payload: object, *, event: str = "purchase", origin: str | None = None) -> str:
    """Normalize ``payload``, expect a refusal, check its attributes, return its message."""
    with pytest.raises(InvalidEventError) as info:
        normalize_payload(event, payload, origin=origin)  # type: ignore[arg-type]
    assert info.value.reason == "invalid_payload"
    assert info.value.event_name == event
    return str(info.value)


def refused_key(payload: object) -> str | None:
    with pytest.raises(InvalidEventError) as info:
        normalize_payload("purchase", payload)  # type: ignore[arg-type]
    return info.value.key


class Color(enum.Enum):
    RED = "red"
    NOTHING = None
    PALETTE = ["red", "blue"]  # noqa: RUF012 - an enum member, not a mutable class attribute


class Priority(enum.IntEnum):
    HIGH = 1


class Plan(str, enum.Enum):
    PRO = "pro"


class Money(Decimal):
    pass


class Sku(str):
    pass


class Count(int):
    pass


class Ratio(float):
    pass


@dataclasses.dataclass
class Line:
    sku: str
    quantity: int


@dataclasses.dataclass
class Order:
    total: Decimal
    line: Line
    note: str | None = None


class Customer:
    id = 7


class Pair(NamedTuple):
    a: int
    b: int


class Address(BaseModel):
    city: str
    zip: str | None = None


class User(BaseModel):
    id: int
    address: Address
    joined: date


# ----------------------------------------------------------------------------------------------
# Event name
# ----------------------------------------------------------------------------------------------


class TestEventName:
    def test_a_non_empty_string_is_returned(self) -> None:
        assert validate_event_name("purchase") == "purchase"

    def test_a_str_subclass_becomes_a_plain_str(self) -> None:
        name = validate_event_name(Sku("signup"))
        assert name == "signup"
        assert type(name) is str

    @pytest.mark.parametrize(
        ("name", "got"),
        [("", "''"), ("   ", "'   '"), (None, "None"), (42, "int"), (b"purchase", "bytes")],
    )
    def test_anything_else_is_refused(self, name: object, got: str) -> None:
        with pytest.raises(InvalidEventError) as info:
            validate_event_name(name)
        assert str(info.value) == (
            f"event name must be a non-empty string (got {got}). "
            "Name the event, e.g. 'purchase' or 'add_to_cart'."
        )
        assert info.value.reason == "invalid_event"
        assert info.value.event_name is None
        assert info.value.key is None

    def test_the_message_names_the_instrumented_function(self) -> None:
        with pytest.raises(InvalidEventError) as info:
            validate_event_name("", origin="shop.checkout")
        assert str(info.value) == (
            "event name (from shop.checkout) must be a non-empty string (got ''). "
            "Name the event, e.g. 'purchase' or 'add_to_cart'."
        )


# ----------------------------------------------------------------------------------------------
# Identity: user_id, link_id, device_id
# ----------------------------------------------------------------------------------------------


class TestIdentity:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (None, None),
            ("u_42", "u_42"),
            (42, "42"),  # a primary key
            (Priority.HIGH, "1"),  # not 'Priority.HIGH'
            (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
            (Sku("u_7"), "u_7"),
        ],
    )
    def test_accepted_values(self, value: object, expected: str | None) -> None:
        result = validate_identity("user_id", value, event_name="purchase")
        assert result == expected
        assert result is None or type(result) is str

    @pytest.mark.parametrize(
        ("value", "got"),
        [("", "''"), ("  ", "'  '"), (True, "bool"), (4.2, "float"), (Customer(), "Customer")],
    )
    def test_refused_values(self, value: object, got: str) -> None:
        with pytest.raises(InvalidEventError) as info:
            validate_identity("link_id", value, event_name="purchase", origin="shop.checkout")
        assert str(info.value) == (
            "event 'purchase' (from shop.checkout), link_id: must be a non-empty str, an int "
            f"or a UUID (got {got}). Pass the id itself (e.g. str(user.id)), or None to leave "
            "it out."
        )
        assert info.value.key == "link_id"
        assert info.value.event_name == "purchase"
        assert info.value.reason == "invalid_identity"


# ----------------------------------------------------------------------------------------------
# Kept as is
# ----------------------------------------------------------------------------------------------


class TestKept:
    def test_str_int_float_bool_are_kept(self) -> None:
        payload = {"currency": "EUR", "quantity": 2, "amount": 19.99, "gift": True, "zero": -0.0}
        assert normalize_payload("purchase", payload) == payload

    def test_the_result_is_a_new_dict(self) -> None:
        payload = {"amount": 19.99}
        result = normalize_payload("purchase", payload)
        assert result is not payload
        result["extra"] = 1
        assert payload == {"amount": 19.99}

    def test_bool_stays_bool(self) -> None:
        result = normalize_payload("signup", {"newsletter": True, "count": 1})
        assert type(result["newsletter"]) is bool
        assert type(result["count"]) is int

    def test_no_payload_is_an_empty_payload(self) -> None:
        assert normalize_payload("open_app", None) == {}
        assert normalize_payload("open_app", {}) == {}

    def test_any_mapping_is_accepted(self) -> None:
        frozen = types.MappingProxyType({"channel": "email"})
        assert normalize_payload("share_link", frozen) == {"channel": "email"}
        ordered = collections.OrderedDict(channel="sms")
        assert normalize_payload("share_link", ordered) == {"channel": "sms"}

    def test_keys_may_hold_dots(self) -> None:
        assert normalize_payload("purchase", {"order.total": 1}) == {"order.total": 1}

    def test_ints_of_the_signed_64_bit_range_are_kept(self) -> None:
        edges = {"low": -(2**63), "high": 2**63 - 1}
        assert normalize_payload("purchase", edges) == edges


# ----------------------------------------------------------------------------------------------
# Coerced
# ----------------------------------------------------------------------------------------------


class TestCoerced:
    def test_decimal_becomes_float(self) -> None:
        result = normalize_payload("purchase", {"amount": Decimal("19.99")})
        assert result == {"amount": 19.99}
        assert type(result["amount"]) is float

    def test_decimal_subclass_becomes_float(self) -> None:
        assert normalize_payload("purchase", {"amount": Money("2.5")}) == {"amount": 2.5}

    def test_aware_datetime_is_written_in_utc(self) -> None:
        moment = datetime(2026, 11, 27, 9, 10, tzinfo=PLUS_ONE)
        assert normalize_payload("purchase", {"at": moment}) == {"at": "2026-11-27T08:10:00+00:00"}

    def test_microseconds_are_written_only_when_not_zero(self) -> None:
        moment = datetime(2026, 11, 27, 8, 10, 0, 123, tzinfo=timezone.utc)
        assert normalize_payload("purchase", {"at": moment}) == {
            "at": "2026-11-27T08:10:00.000123+00:00"
        }

    def test_naive_datetime_is_written_as_is(self) -> None:
        moment = datetime(2026, 11, 27, 9, 10)
        assert normalize_payload("purchase", {"at": moment}) == {"at": "2026-11-27T09:10:00"}

    def test_an_aware_datetime_with_no_utc_form_keeps_its_offset(self) -> None:
        never = datetime.max.replace(tzinfo=timezone(timedelta(hours=-5)))
        assert normalize_payload("purchase", {"expires": never}) == {
            "expires": "9999-12-31T23:59:59.999999-05:00"
        }

    def test_date_becomes_yyyy_mm_dd(self) -> None:
        assert normalize_payload("signup", {"born": date(1990, 2, 3)}) == {"born": "1990-02-03"}

    def test_time_becomes_isoformat_with_its_offset(self) -> None:
        result = normalize_payload(
            "open_app", {"at": time(8, 5), "utc": time(8, 5, tzinfo=PLUS_ONE)}
        )
        assert result == {"at": "08:05:00", "utc": "08:05:00+01:00"}

    def test_uuid_becomes_str(self) -> None:
        value = uuid.UUID("12345678-1234-5678-1234-567812345678")
        assert normalize_payload("purchase", {"order_id": value}) == {
            "order_id": "12345678-1234-5678-1234-567812345678"
        }

    def test_enum_becomes_its_value(self) -> None:
        result = normalize_payload("signup", {"color": Color.RED, "plan": Plan.PRO})
        assert result == {"color": "red", "plan": "pro"}
        assert type(result["plan"]) is str

    def test_int_enum_becomes_a_plain_int(self) -> None:
        result = normalize_payload("signup", {"priority": Priority.HIGH})
        assert result == {"priority": 1}
        assert type(result["priority"]) is int

    def test_enum_whose_value_is_none_leaves_the_key_out(self) -> None:
        assert normalize_payload("signup", {"color": Color.NOTHING}) == {}

    def test_subclasses_become_the_plain_type(self) -> None:
        result = normalize_payload("purchase", {"sku": Sku("A1"), "n": Count(3), "r": Ratio(0.5)})
        assert result == {"sku": "A1", "n": 3, "r": 0.5}
        assert [type(v) for v in result.values()] == [str, int, float]

    def test_none_leaves_the_key_out(self) -> None:
        assert normalize_payload("purchase", {"coupon": None, "amount": 1}) == {"amount": 1}

    def test_a_str_subclass_key_becomes_a_plain_str(self) -> None:
        result = normalize_payload("purchase", {Sku("amount"): 1})
        assert [type(k) for k in result] == [str]


# ----------------------------------------------------------------------------------------------
# Flattened
# ----------------------------------------------------------------------------------------------


class TestFlattened:
    def test_nested_mappings_become_dotted_keys(self) -> None:
        payload = {"order": {"total": 1, "lines": {"n": 2}}}
        assert normalize_payload("purchase", payload) == {"order.total": 1, "order.lines.n": 2}

    def test_nested_values_are_coerced_too(self) -> None:
        payload = {"order": {"total": Decimal("9.5"), "coupon": None}}
        assert normalize_payload("purchase", payload) == {"order.total": 9.5}

    def test_an_empty_nested_mapping_adds_no_key(self) -> None:
        assert normalize_payload("purchase", {"order": {}, "amount": 1}) == {"amount": 1}

    def test_dataclass_fields_are_flattened(self) -> None:
        order = Order(total=Decimal("19.99"), line=Line(sku="A1", quantity=2))
        assert normalize_payload("purchase", {"order": order}) == {
            "order.total": 19.99,
            "order.line.sku": "A1",
            "order.line.quantity": 2,
        }

    def test_pydantic_models_are_flattened(self) -> None:
        user = User(id=7, address=Address(city="Lyon"), joined=date(2024, 1, 2))
        assert normalize_payload("signup", {"user": user}) == {
            "user.id": 7,
            "user.address.city": "Lyon",
            "user.joined": "2024-01-02",
        }

    def test_keys_may_have_up_to_max_depth_segments(self) -> None:
        payload: dict[str, Any] = {"k": 1}
        for _ in range(MAX_DEPTH - 1):
            payload = {"k": payload}
        assert normalize_payload("deep", payload) == {".".join(["k"] * MAX_DEPTH): 1}

    def test_deeper_nesting_is_refused(self) -> None:
        payload: dict[str, Any] = {"k": 1}
        for _ in range(MAX_DEPTH):
            payload = {"k": payload}
        key = ".".join(["k"] * (MAX_DEPTH + 1))
        assert refusal(payload, event="deep") == (
            f"event 'deep', payload key '{key}': values nested more than 8 levels deep are not "
            "supported (does the value contain itself?). Send only the fields you need."
        )

    def test_a_value_that_contains_itself_is_refused(self) -> None:
        node: dict[str, Any] = {}
        node["parent"] = node
        assert refused_key({"node": node}) == "node" + ".parent" * MAX_DEPTH

    def test_a_dataclass_that_contains_itself_is_refused(self) -> None:
        line = Line(sku="A1", quantity=1)
        line.sku = line  # type: ignore[assignment]
        assert refused_key({"line": line}) == "line" + ".sku" * MAX_DEPTH

    def test_a_flattened_key_that_collides_is_refused(self) -> None:
        assert refusal({"order.total": 1, "order": {"total": 2}}) == (
            "event 'purchase', payload key 'order.total': two values end up under this key "
            "(payload['order.total'] and payload['order']['total']). Rename one of them."
        )

    def test_a_collision_is_found_whatever_the_order(self) -> None:
        assert refusal({"order": {"total": 2}, "order.total": 1}) == (
            "event 'purchase', payload key 'order.total': two values end up under this key "
            "(payload['order']['total'] and payload['order.total']). Rename one of them."
        )

    def test_a_collision_names_dataclass_fields_as_attributes(self) -> None:
        payload = {"order": Line(sku="A1", quantity=2), "order.sku": "B2"}
        assert refusal(payload) == (
            "event 'purchase', payload key 'order.sku': two values end up under this key "
            "(payload['order'].sku and payload['order.sku']). Rename one of them."
        )

    def test_a_none_does_not_collide(self) -> None:
        payload = {"order.total": None, "order": {"total": 2}}
        assert normalize_payload("purchase", payload) == {"order.total": 2}


# ----------------------------------------------------------------------------------------------
# Refused
# ----------------------------------------------------------------------------------------------


class TestRefused:
    @pytest.mark.parametrize(
        ("value", "kind", "type_name"),
        [
            (["a", "b"], "list", "list"),
            (("a", "b"), "tuple", "tuple"),
            (Pair(1, 2), "tuple", "Pair"),
            ({"a"}, "set", "set"),
            (frozenset({"a"}), "set", "frozenset"),
            (range(3), "sequence", "range"),
            (collections.deque(["a"]), "sequence", "deque"),
        ],
    )
    def test_collections(self, value: object, kind: str, type_name: str) -> None:
        assert refusal({"items": value}) == (
            f"event 'purchase', payload key 'items': {kind} values are not supported "
            f"(got {type_name}). Send a scalar instead: a count (items_count=len(items)) "
            'or a joined string (",".join(items)).'
        )

    def test_the_fix_names_the_last_segment_of_a_nested_key(self) -> None:
        assert refusal({"order": {"lines": [1]}}) == (
            "event 'purchase', payload key 'order.lines': list values are not supported "
            "(got list). Send a scalar instead: a count (lines_count=len(lines)) "
            'or a joined string (",".join(lines)).'
        )

    def test_the_fix_says_value_when_the_key_is_no_identifier(self) -> None:
        assert refusal({"my items": [1]}) == (
            "event 'purchase', payload key 'my items': list values are not supported "
            "(got list). Send a scalar instead: a count (value_count=len(value)) "
            'or a joined string (",".join(value)).'
        )

    @pytest.mark.parametrize("value", [b"x", bytearray(b"x"), memoryview(b"x")])
    def test_bytes(self, value: object) -> None:
        assert refusal({"blob": value}, origin="shop.checkout") == (
            "event 'purchase' (from shop.checkout), payload key 'blob': bytes values are not "
            f"supported (got {type(value).__name__}). Decode it to str (blob.decode()) "
            "or leave it out."
        )

    @pytest.mark.parametrize(
        ("value", "what"),
        [
            (math.nan, "float NaN"),
            (math.inf, "float infinity"),
            (-math.inf, "float -infinity"),
            (Ratio("nan"), "float NaN"),
            (Decimal("NaN"), "Decimal NaN"),
            (Decimal("sNaN"), "Decimal NaN"),
            (Decimal("Infinity"), "Decimal Infinity"),
            (Decimal("-Infinity"), "Decimal -Infinity"),
        ],
    )
    def test_nan_and_infinities(self, value: object, what: str) -> None:
        assert refusal({"amount": value}) == (
            f"event 'purchase', payload key 'amount': {what} is not a valid JSON number. "
            "Leave the key out (None) or send a finite number."
        )

    def test_a_decimal_too_large_for_a_float(self) -> None:
        assert refusal({"amount": Decimal("1e400")}) == (
            "event 'purchase', payload key 'amount': Decimal is too large for a float "
            "(it would become infinity). Send it as a str (str(amount)) or in a smaller unit."
        )

    def test_an_enum_whose_value_is_refused(self) -> None:
        assert refusal({"palette": Color.PALETTE}) == (
            "event 'purchase', payload key 'palette': enum member Color.PALETTE has a value of "
            "type list, which is not supported. Give Color str, int, float or bool values, "
            "or send Color.PALETTE.name."
        )

    def test_any_other_object(self) -> None:
        assert refusal({"user": Customer()}) == (
            "event 'purchase', payload key 'user': object of type Customer is not supported. "
            "Pass a field (e.g. 'user.id' in payload_from), or a dict, dataclass or pydantic "
            "model."
        )

    def test_a_generator(self) -> None:
        assert "object of type generator is not supported" in refusal({"g": (i for i in "ab")})

    def test_a_class_is_not_its_instances(self) -> None:
        assert "object of type type is not supported" in refusal({"kind": Line})

    def test_a_non_string_key(self) -> None:
        assert refusal({1: "a"}) == (
            "event 'purchase', payload key 1: payload keys must be strings (got int). "
            "Use a str key instead, e.g. '1'."
        )
        assert refused_key({1: "a"}) == "1"

    def test_a_non_string_key_in_a_nested_mapping(self) -> None:
        assert refusal({"order": {(1, 2): "a"}}) == (
            "event 'purchase', payload key (1, 2) in 'order': payload keys must be strings "
            "(got tuple). Use a str key instead, e.g. 'name'."
        )
        assert refused_key({"order": {2: "a"}}) == "order.2"

    def test_an_empty_key(self) -> None:
        assert refusal({"": 1}) == (
            "event 'purchase', payload key '': payload keys must be non-empty strings. "
            "Name the value, e.g. 'amount'."
        )
        assert refused_key({"order": {"": 1}}) == "order."

    @pytest.mark.parametrize(("payload", "type_name"), [(["a"], "list"), ("amount=1", "str")])
    def test_a_payload_that_is_not_a_mapping(self, payload: object, type_name: str) -> None:
        assert refusal(payload, origin="shop.checkout") == (
            "event 'purchase' (from shop.checkout): payload must be a mapping of str keys to "
            f"values (got {type_name}). Pass a dict, e.g. {{'amount': 19.99}}."
        )
        assert refused_key(payload) is None

    def test_the_key_attribute_is_the_dotted_key(self) -> None:
        assert refused_key({"order": {"lines": {"skus": ["a"]}}}) == "order.lines.skus"

    def test_messages_never_show_the_value(self) -> None:
        message = refusal({"user": {"secret": b"hunter2", "n": 1}})
        assert "hunter2" not in message


# ----------------------------------------------------------------------------------------------
# Never mutated; properties over arbitrary input
# ----------------------------------------------------------------------------------------------


def test_the_input_is_never_mutated() -> None:
    payload = {
        "order": {"total": Decimal("1.5"), "line": Line("A1", 2), "coupon": None},
        "at": datetime(2026, 1, 1, tzinfo=PLUS_ONE),
        "color": Color.RED,
    }
    before = copy.deepcopy(payload)
    normalize_payload("purchase", payload)
    assert payload == before


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.decimals()
    | st.datetimes(timezones=st.sampled_from([None, timezone.utc, PLUS_ONE]))
    | st.uuids()
    | st.binary(max_size=4)
)
keys = st.text(max_size=4) | st.integers(min_value=-2, max_value=2)
json_like = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children)
        | st.dictionaries(keys, children, max_size=3)
    ),
    max_leaves=12,
)


@given(st.dictionaries(keys, json_like, max_size=5))
def test_the_result_is_flat_and_valid_or_the_error_is_invalid_event(
    payload: Mapping[Any, object],
) -> None:
    before = repr(payload)
    try:
        result = normalize_payload("fuzz", payload)
    except InvalidEventError as exc:
        assert exc.reason == "invalid_payload"
        assert exc.event_name == "fuzz"
        assert str(exc).startswith("event 'fuzz', payload key ")
    else:
        assert type(result) is dict
        for key, value in result.items():
            assert type(key) is str
            assert key
            assert type(value) in (str, int, float, bool)
            assert not isinstance(value, float) or math.isfinite(value)
    assert repr(payload) == before


flat_values = (
    st.text()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
)


@given(st.dictionaries(st.text(min_size=1), flat_values))
def test_a_valid_flat_payload_comes_back_equal(payload: dict[str, Any]) -> None:
    result = normalize_payload("fuzz", payload)
    assert result == payload
    assert result is not payload
    assert [type(v) for v in result.values()] == [type(v) for v in payload.values()]


def test_error_messages_follow_one_shape() -> None:
    shape = re.compile(r"^event '[^']+'( \(from [\w.]+\))?, payload key .+: .+\. .+\.$")
    for payload in (
        {"a": [1]},
        {"a": math.nan},
        {"a": b""},
        {"a": Customer()},
        {1: 1},
        {"": 1},
        {"a.b": 1, "a": {"b": 1}},
        {"a": Color.PALETTE},
        {"a": Decimal("1e999")},
    ):
        assert shape.match(refusal(payload, origin="shop.checkout")), payload
