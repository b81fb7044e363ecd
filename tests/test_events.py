"""``weespin_instrument.events``: common names as constants, and ``schema=`` everywhere."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, Field

import weespin_instrument as weespin
from weespin_instrument import events
from weespin_instrument.testing import default_client
from weespin_instrument.transports import MemoryTransport


class Order(BaseModel):
    amount: Decimal
    currency: str = Field(pattern="^[A-Z]{3}$")
    coupon: str | None = None


def lenient() -> tuple[weespin.Client, MemoryTransport]:
    memory = MemoryTransport()
    return weespin.Client(transport=memory, strict=False), memory


def test_the_common_names_are_the_apis() -> None:
    assert (
        events.PURCHASE, events.ADD_TO_CART, events.SIGNUP, events.LOGIN, events.SHARE_LINK,
        events.OPEN_APP,
    ) == ("purchase", "add_to_cart", "signup", "login", "share_link", "open_app")  # fmt: skip
    assert set(events.SCHEMAS) == set(events.COMMON_EVENTS)


def test_track_validates_and_coerces_through_the_schema_then_the_api_rules(
    weespin_events: MemoryTransport,
) -> None:
    weespin.track(events.PURCHASE, {"amount": "19.99", "currency": "EUR"}, schema=Order)

    event = weespin_events.assert_tracked("purchase", currency="EUR")
    assert event.payload == {"amount": 19.99, "currency": "EUR"}, (
        "str -> Decimal by the model, Decimal -> float and None left out by the API rules"
    )


def test_a_rejected_payload_raises_in_strict_mode_naming_event_key_and_model(
    weespin_events: MemoryTransport,
) -> None:
    with pytest.raises(weespin.InvalidEventError) as caught:
        weespin.track("purchase", {"amount": "lots", "currency": "EUR"}, schema=Order)

    error = caught.value
    assert (error.event_name, error.key, error.reason) == ("purchase", "amount", "schema_mismatch")
    assert "does not match Order" in str(error)
    assert weespin_events.events == []


def test_a_rejected_payload_is_dropped_and_counted_outside_strict_mode() -> None:
    client, memory = lenient()

    assert client.track("purchase", {"amount": 5, "currency": "euro"}, schema=Order) is None

    assert memory.events == []
    assert client.stats().dropped == {"schema_mismatch": 1}
    assert "currency" in (client.stats().last_error or "")


def test_schema_on_track_event_and_tracked() -> None:
    client, memory = lenient()

    @weespin.track_event(events.ADD_TO_CART, payload_from=["sku", "quantity"],
                         schema=events.AddToCart, client=client)  # fmt: skip
    def add_to_cart(sku: str, quantity: object = 1) -> str:
        return "cart"

    assert add_to_cart("sku_1", "3") == "cart"
    assert add_to_cart("sku_1", 0) == "cart", "the function's result is untouched by a drop"
    with weespin.tracked(events.SIGNUP, plan="pro", schema=events.Signup, client=client) as ev:
        ev.set(method="google")
    with weespin.tracked("purchase", schema=Order, client=client) as ev:
        ev.set(amount="x", currency="EUR")

    assert [(e.name, e.payload) for e in memory.events] == [
        ("add_to_cart", {"sku": "sku_1", "quantity": 3}),
        ("signup", {"plan": "pro", "method": "google"}),
    ]
    assert client.stats().dropped == {"schema_mismatch": 2}


def test_a_schema_that_is_not_a_model_fails_at_decoration_time() -> None:
    with pytest.raises(TypeError, match=r"@track_event\('purchase'\) on .*: schema= must be a"):

        @weespin.track_event("purchase", schema=dict)  # type: ignore[arg-type]
        def checkout() -> None: ...

    with pytest.raises(TypeError, match=r"tracked\('signup'\): schema= must be a pydantic model"):
        weespin.tracked("signup", schema=object)  # type: ignore[arg-type]


def test_track_with_a_wrong_schema_does_not_raise_outside_strict_mode() -> None:
    client, _ = lenient()
    with default_client(client):
        assert weespin.track("x", {}, schema=int) is None  # type: ignore[arg-type]
    assert client.stats().dropped == {"schema_mismatch": 1}


def test_the_ready_models_keep_extra_fields_and_check_the_ones_they_name(
    weespin_events: MemoryTransport,
) -> None:
    weespin.track(events.SHARE_LINK, {"channel": "email", "campaign": "spring"},
                  schema=events.ShareLink)  # fmt: skip
    weespin_events.assert_tracked("share_link", channel="email", campaign="spring")
    with pytest.raises(weespin.InvalidEventError, match="amount"):
        weespin.track(events.PURCHASE, {"amount": -1, "currency": "EUR"}, schema=events.Purchase)


def test_events_is_reachable_from_the_package_without_slowing_its_import() -> None:
    import subprocess
    import sys

    code = (
        "import sys, weespin_instrument as w; assert 'pydantic' not in sys.modules; "
        "assert w.events.PURCHASE == 'purchase'; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout == "ok\n", done.stderr
