"""The wire format of ``POST /events``, as pydantic models: the API's rules, checked server-side.

Only the local collector imports this module (the library validates events its own way), so
pydantic is not loaded when ``weespin_instrument`` is imported. The models and the adapter are
built once, at import.

Example::

    from weespin_instrument._wire import WireFormatError, parse_event_json

    event = parse_event_json(b'{"event_name": "purchase", "device_id": "ws_device_1"}')
    event.payload  # {}
    try:
        parse_event_json(b'{"event_name": "", "device_id": "d"}')
    except WireFormatError as exc:
        exc.message  # "'event_name' must be a non-empty string (not blank)."
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "WIRE_EVENT_ADAPTER",
    "WireError",
    "WireEvent",
    "WireFormatError",
    "parse_event_json",
]

#: What a JSON number the API can hold as an integer spans (signed 64 bits).
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_KINDS: dict[type, str] = {list: "an array", dict: "an object", type(None): "null"}


def _check_name(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank_string", "must be a non-empty string (not blank)")
    return value


def _check_payload_value(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is bool:
        return value
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        raise PydanticCustomError(
            "integer_range",
            "must be an integer within the signed 64-bit range (got {digits} digits)",
            {"digits": len(str(abs(value)))},
        )
    if kind is float:
        if math.isfinite(value):
            return value
        raise PydanticCustomError(
            "non_finite_number",
            "must be a finite number (got {value})",
            {"value": "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")},
        )
    got = _KINDS.get(kind, kind.__name__)
    hint = "; flatten nested objects to dotted keys" if kind is dict else ""
    raise PydanticCustomError(
        "payload_value_type",
        "must be a string, number or boolean (got {got}{hint})",
        {"got": got, "hint": hint},
    )


def _check_iso8601(value: str) -> str:
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise PydanticCustomError(
            "iso8601", "must be an ISO 8601 date-time such as 2024-05-01T12:00:00.000Z"
        ) from None
    return value


NonEmptyStr = Annotated[StrictStr, StringConstraints(min_length=1)]
PayloadKey = Annotated[str, StringConstraints(min_length=1)]
PayloadValue = Annotated[Any, AfterValidator(_check_payload_value)]


class WireEvent(BaseModel):
    """One event as ``POST /events`` receives it, with the API's rules.

    ``event_name`` and ``device_id`` are required non-empty strings; ``payload`` is a flat
    object of ``str``, ``int`` (signed 64-bit), ``float`` (finite) and ``bool``; unknown
    fields are refused.
    Types are strict: ``1`` is not a valid ``event_name``, ``"1"`` stays a string.

    Example::

        WireEvent.model_validate({"event_name": "signup", "device_id": "ws_device_1",
                                  "payload": {"plan": "pro", "seats": 3}})
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    event_name: Annotated[StrictStr, AfterValidator(_check_name)]
    device_id: NonEmptyStr
    user_id: StrictStr | None = None
    link_id: StrictStr | None = None
    payload: dict[PayloadKey, PayloadValue] = Field(default_factory=dict)
    #: Client metadata: a de-duplication key that stays the same across retries.
    event_id: NonEmptyStr | None = None
    #: Client metadata: when the event happened, ISO 8601.
    timestamp: Annotated[StrictStr, AfterValidator(_check_iso8601)] | None = None
    trace_id: StrictStr | None = None
    span_id: StrictStr | None = None


WIRE_EVENT_ADAPTER: TypeAdapter[WireEvent] = TypeAdapter(WireEvent)
"""The adapter used to validate request bodies, built once."""

_FIELDS = tuple(WireEvent.model_fields)
_NULLABLE = frozenset({"user_id", "link_id", "event_id", "timestamp", "trace_id", "span_id"})


class WireError(dict[str, Any]):
    """One rule violation, as the collector reports it: ``{"loc": [...], "msg": "..."}``.

    Example::

        WireError(loc=["payload", "items"], msg="must be a string, number or boolean")
    """


class WireFormatError(ValueError):
    """A request body that breaks the wire rules.

    ``message`` is one human sentence naming the field; ``errors`` lists every violation.

    Example::

        try:
            parse_event_json(b"[]")
        except WireFormatError as exc:
            print(exc.message)  # The request body must be a JSON object.
    """

    def __init__(self, message: str, errors: list[WireError]) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


def parse_event_json(body: bytes | str) -> WireEvent:
    """Validate a raw ``POST /events`` body, or raise :class:`WireFormatError`.

    Example::

        parse_event_json('{"event_name": "login", "device_id": "d", "user_id": "u_1"}')
    """
    try:
        return WIRE_EVENT_ADAPTER.validate_json(body)
    except ValidationError as exc:
        errors = [_describe(error) for error in exc.errors(include_url=False)]
        raise WireFormatError(_sentence(errors[0]), errors) from None


def _describe(error: Any) -> WireError:
    kind: str = error["type"]
    loc = [part for part in error["loc"] if part != "[key]"]
    field = str(loc[0]) if loc else ""
    if kind == "json_invalid":
        msg = f"the request body is not valid JSON ({error['ctx']['error']})"
    elif kind in ("model_type", "model_attributes_type"):
        msg = "the request body must be a JSON object"
    elif kind == "missing":
        msg = "is required"
    elif kind == "extra_forbidden":
        msg = "is not a known field (known fields: " + ", ".join(_FIELDS) + ")"
    elif "[key]" in error["loc"]:
        msg = "payload keys must be non-empty strings"
    elif kind == "dict_type":
        msg = "must be a JSON object"
    elif kind == "string_type":
        msg = "must be a string or null" if field in _NULLABLE else "must be a string"
    elif kind == "string_too_short":
        msg = "must be a non-empty string"
    else:
        msg = str(error["msg"])
    return WireError(loc=loc, msg=msg)


def _sentence(error: WireError) -> str:
    loc: list[Any] = error["loc"]
    msg: str = error["msg"]
    if not loc or msg.startswith("payload keys"):
        text = msg
    else:
        text = "'" + ".".join(str(part) for part in loc) + "' " + msg
    return text[0].upper() + text[1:] + "."
