"""The API's common event names as constants, and payload schemas for them.

Typing ``events.PURCHASE`` instead of ``"purchase"`` lets your editor and type checker catch a
typo. Pass any pydantic model as ``schema=`` to ``@track_event``, ``tracked()`` or
``track()``: the payload is validated and coerced through it first, then the API's payload
rules apply. A payload the model rejects raises :class:`~weespin_instrument.InvalidEventError`
in strict mode; otherwise the event is dropped and counted with reason ``schema_mismatch``.

Example::

    import weespin_instrument as weespin
    from weespin_instrument import events

    weespin.track(events.PURCHASE, {"amount": "19.99", "currency": "EUR"},
                  schema=events.Purchase)   # amount arrives as the float 19.99
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidEventError

__all__ = [
    "ADD_TO_CART",
    "COMMON_EVENTS",
    "LOGIN",
    "OPEN_APP",
    "PURCHASE",
    "SCHEMAS",
    "SCHEMA_MISMATCH",
    "SHARE_LINK",
    "SIGNUP",
    "AddToCart",
    "Login",
    "OpenApp",
    "Purchase",
    "ShareLink",
    "Signup",
    "check_schema",
    "validate_payload",
]

PURCHASE: Final = "purchase"
ADD_TO_CART: Final = "add_to_cart"
SIGNUP: Final = "signup"
LOGIN: Final = "login"
SHARE_LINK: Final = "share_link"
OPEN_APP: Final = "open_app"

#: The event names the Weespin documentation lists, in its order.
COMMON_EVENTS: Final = (ADD_TO_CART, PURCHASE, SIGNUP, LOGIN, SHARE_LINK, OPEN_APP)

#: The drop reason (``stats().dropped``) of a payload its schema rejected.
SCHEMA_MISMATCH: Final = "schema_mismatch"


class _Payload(BaseModel):
    # Extra keys pass through to the API's rules: the ready models describe the fields they
    # name without forbidding the ones an application adds.
    model_config = ConfigDict(extra="allow")


class Purchase(_Payload):
    """``purchase``: an order was paid.

    Example::

        weespin.track(events.PURCHASE, {"amount": 19.99, "currency": "EUR"},
                      schema=events.Purchase)
    """

    amount: float = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    order_id: str | None = None


class AddToCart(_Payload):
    """``add_to_cart``: a product went into the cart.

    Example::

        @weespin.track_event(events.ADD_TO_CART, payload_from=["sku", "quantity"],
                             schema=events.AddToCart)
        def add_to_cart(sku: str, quantity: int = 1) -> None: ...
    """

    sku: str = Field(min_length=1)
    quantity: int = Field(default=1, ge=1)
    price: float | None = Field(default=None, ge=0)


class Signup(_Payload):
    """``signup``: an account was created.

    Example::

        with weespin.tracked(events.SIGNUP, plan="pro", schema=events.Signup): ...
    """

    plan: str | None = None
    method: str | None = None


class Login(_Payload):
    """``login``: a user signed in.

    Example::

        weespin.track(events.LOGIN, {"method": "password"}, schema=events.Login)
    """

    method: str | None = None


class ShareLink(_Payload):
    """``share_link``: a generated link was shared.

    Example::

        weespin.track(events.SHARE_LINK, {"channel": "email"}, schema=events.ShareLink)
    """

    channel: str = Field(min_length=1)


class OpenApp(_Payload):
    """``open_app``: the application was opened (``source``: how, e.g. ``push``).

    Example::

        weespin.track(events.OPEN_APP, {"source": "push"}, schema=events.OpenApp)
    """

    source: str | None = None


#: The ready model of each common event name.
SCHEMAS: Final[Mapping[str, type[BaseModel]]] = {
    PURCHASE: Purchase,
    ADD_TO_CART: AddToCart,
    SIGNUP: Signup,
    LOGIN: Login,
    SHARE_LINK: ShareLink,
    OPEN_APP: OpenApp,
}


def check_schema(schema: object, *, where: str) -> type[BaseModel] | None:
    """``schema`` if it is a pydantic model class (or ``None``); a ``TypeError`` otherwise.

    Called when a decorator is applied, so a wrong ``schema=`` fails there and then.

    >>> check_schema(Purchase, where="track()") is Purchase
    True
    """
    if schema is None or (isinstance(schema, type) and issubclass(schema, BaseModel)):
        return schema
    raise TypeError(
        f"{where}: schema= must be a pydantic model class (a subclass of pydantic.BaseModel), "
        f"not {schema!r}."
    )


def validate_payload(
    schema: type[BaseModel], event_name: object, payload: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The payload validated and coerced through ``schema``, as a dict for the API's rules.

    Raises :class:`InvalidEventError` (reason ``schema_mismatch``) naming the event, the key
    and what the model said.

    >>> validate_payload(Purchase, "purchase", {"amount": "19.99", "currency": "EUR"})
    {'amount': 19.99, 'currency': 'EUR', 'order_id': None}
    """
    name = event_name if type(event_name) is str else None  # not isinstance: a faked __class__
    try:
        check_schema(schema, where=f"event {event_name!r}")
        model = schema.model_validate(dict(payload or {}))
    except TypeError as exc:
        raise InvalidEventError(str(exc), event_name=name, reason=SCHEMA_MISMATCH) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(payload)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidEventError(
            f"event {event_name!r}: the payload does not match {schema.__name__}: {problems}. "
            f"Fix the values, or the model.",
            event_name=name,
            key=key,
            reason=SCHEMA_MISMATCH,
        ) from None
    except Exception as exc:  # a validator of the model raised something pydantic let through
        raise InvalidEventError(
            f"event {event_name!r}: {schema.__name__} raised {type(exc).__name__}: {exc}",
            event_name=name,
            reason=SCHEMA_MISMATCH,
        ) from exc
    return model.model_dump()
