"""@track_event compiles a plan per decorated function: a plain function gets a generated
wrapper with its exact parameters, and values its plan can clear at a glance skip the rest
of the pipeline. Whatever a value is, the event is the one the full pipeline would make."""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import pytest

import weespin_instrument as weespin
from weespin_instrument import Client, Event, InvalidEventError, track_event
from weespin_instrument.transports import MemoryTransport


def memory_client(**options: Any) -> tuple[Client, MemoryTransport]:
    transport = MemoryTransport()
    return Client(transport=transport, **options), transport


def add_to_cart(
    sku: str, quantity: int = 1, /, price: float = 9.5, *rest: Any, **extra: Any
) -> str:
    """Put an item in the cart."""
    return f"{sku}x{quantity}"


def test_the_generated_wrapper_keeps_the_signature_defaults_name_and_doc() -> None:
    client, _ = memory_client()
    decorated = track_event("add_to_cart", payload_from=["sku", "quantity"], client=client)(
        add_to_cart
    )
    assert inspect.signature(decorated) == inspect.signature(add_to_cart)
    assert decorated.__wrapped__ is add_to_cart  # type: ignore[attr-defined]
    assert (decorated.__name__, decorated.__qualname__, decorated.__doc__) == (
        "add_to_cart",
        "add_to_cart",
        "Put an item in the cart.",
    )
    assert decorated("A") == "Ax1"
    assert decorated("A", 3, 1.0, "more", note="n") == "Ax3"


def test_a_wrong_call_raises_the_functions_own_type_error() -> None:
    client, transport = memory_client()

    def checkout(order: str, user: str) -> None: ...

    decorated = track_event("purchase", payload_from="order", client=client)(checkout)
    with pytest.raises(TypeError) as raised:
        decorated("o")  # type: ignore[call-arg]
    with pytest.raises(TypeError) as original:
        checkout("o")  # type: ignore[call-arg]
    assert str(raised.value) == str(original.value)
    assert transport.events == []


def test_methods_keep_their_binding_and_read_their_parameters() -> None:
    client, transport = memory_client()

    class Cart:
        @track_event("add_to_cart", payload_from=["sku", "self.owner"], client=client)
        def add(self, sku: str) -> str:
            return sku

        owner = "u_1"

    assert Cart().add("A") == "A"
    assert transport.events[0].payload == {"sku": "A", "owner": "u_1"}


def every_kind(sku: Any, quantity: Any, price: Any) -> None: ...


@track_event("add_to_cart", payload_from=["sku", "quantity"])
def picklable(sku: str, quantity: int) -> None: ...


def test_a_decorated_plain_function_pickles_by_reference() -> None:
    assert pickle.loads(pickle.dumps(picklable)) is picklable


@pytest.mark.parametrize(
    ("values", "payload"),
    [
        (("SKU-1", 2, 19.99), {"sku": "SKU-1", "quantity": 2, "price": 19.99}),
        # Past what the plan clears at a glance: the guard looks, as it always did.
        (
            ("4111 1111 1111 1111", 2, 1.0),
            {"sku": "4111 1111 1111 1111", "quantity": 2, "price": 1.0},
        ),
        (("x", 4111111111111111, 1.0), {"sku": "x", "quantity": "[REDACTED]", "price": 1.0}),
        (("x", 1, 4111111111111111.0), {"sku": "x", "quantity": 1, "price": "[REDACTED]"}),
        (("x", True, None), {"sku": "x", "quantity": True}),
        (("café", 1, 2.0), {"sku": "café", "quantity": 1, "price": 2.0}),
    ],
)
def test_values_the_plan_cannot_clear_take_the_full_pipeline(
    values: tuple[Any, ...], payload: dict[str, Any]
) -> None:
    # "sku" names an identifier: its values are never scanned for cards (the guard's rule).
    client, transport = memory_client()
    decorated = track_event(
        "add_to_cart", payload_from=["sku", "quantity", "price"], client=client
    )(every_kind)
    decorated(*values)
    decorated(*values)  # a second call: keys known, caches warm
    assert [event.payload for event in transport.events] == [payload, payload]


def test_a_card_number_in_a_plainly_named_string_is_redacted() -> None:
    client, transport = memory_client()

    @track_event("share", payload_from=["note"], client=client)
    def share(note: str) -> None: ...

    share("pay 4111 1111 1111 1111 now")
    share("short")
    assert [e.payload for e in transport.events] == [
        {"note": "pay [REDACTED] now"},
        {"note": "short"},
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [(2**63, "invalid_payload"), ("bad\ud800", "invalid_payload"), ([1], "invalid_payload")],
)
def test_values_the_api_refuses_are_still_refused(value: Any, reason: str) -> None:
    client, transport = memory_client()

    @track_event("share", payload_from=["count"], client=client)
    def share(count: Any) -> None: ...

    share(value)
    assert transport.events == []
    assert client.stats().dropped == {reason: 1}
    with pytest.raises(InvalidEventError):
        strict, _ = memory_client(strict=True)
        track_event("share", payload_from=["count"], client=strict)(lambda count: None)(value)


def test_int_and_str_subclasses_are_sent_as_the_plain_type() -> None:
    class Quantity(int):
        def __repr__(self) -> str:
            raise RuntimeError("a hostile repr")

    client, transport = memory_client()

    @track_event("add_to_cart", payload_from=["quantity"], client=client)
    def add(quantity: int) -> None: ...

    add(Quantity(3))
    (event,) = transport.events
    assert event.payload == {"quantity": 3} and type(event.payload["quantity"]) is int


def test_a_sensitive_key_is_redacted_whatever_its_value() -> None:
    client, transport = memory_client()

    @track_event("login", payload_from=["password", "pin"], client=client)
    def login(password: str, pin: str) -> None: ...

    login("hunter2", "75001")
    assert transport.events[0].payload == {"password": "[REDACTED]", "pin": "75001"}


def test_sensitive_keys_and_patterns_of_the_client_apply_to_every_call_site() -> None:
    client, transport = memory_client(sensitive_keys=["coupon"], sensitive_patterns=[r"FR\d{4}"])

    @track_event("checkout", payload_from=["coupon", "ref"], client=client)
    def checkout(coupon: str, ref: str) -> None: ...

    checkout("SPRING", "FR1234")
    assert transport.events[0].payload == {"coupon": "[REDACTED]", "ref": "[REDACTED]"}


def test_an_identified_user_id_is_scrubbed_on_the_fast_path_too() -> None:
    client, transport = memory_client()

    @track_event("open_app", payload_from=["screen"], client=client)
    def open_app(screen: str) -> None: ...

    with weespin.identify(user_id="4111111111111111"):
        open_app("home")
    assert transport.events[0].user_id == "[REDACTED]"
    assert client.stats().redacted == 1


def test_policies_drop_and_off_hold_on_the_fast_path() -> None:
    dropping, dropped_into = memory_client(sensitive_data="drop_event")
    off, sent_into = memory_client(sensitive_data="off")
    for client in (dropping, off):

        @track_event("pay", payload_from=["card_number"], client=client)
        def pay(card_number: int) -> None: ...

        pay(4111111111111111)
    assert dropped_into.events == [] and dropping.stats().dropped == {"sensitive_data": 1}
    assert sent_into.events[0].payload == {"card_number": 4111111111111111}


def test_a_name_the_api_refuses_is_still_reported_per_call() -> None:
    client, transport = memory_client()
    decorated = track_event("bad\ud800", payload_from=["sku"], client=client)(every_kind)
    decorated("x", 1, 2.0)
    assert transport.events == [] and client.stats().dropped == {"invalid_event": 1}


def test_trace_ids_are_formatted_when_read() -> None:
    event = Event("x", {}, trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736, span_id=0x00F067AA0BA902B7)
    assert event.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert event.span_id == "00f067aa0ba902b7"
    assert event.to_wire()["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
