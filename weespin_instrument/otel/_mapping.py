"""The mapping between a Weespin :class:`~weespin_instrument.Event` and OpenTelemetry attributes.

Two pure functions, inverse of each other, with no OpenTelemetry import: the span-event
transport and the span processor use them today, and a log-record based transport (span
events are being deprecated upstream in favour of log-based events) can use them tomorrow.

Example::

    attributes = event_to_attributes(Event("purchase", {"amount": 19.99}, user_id="u_42"))
    attributes["weespin.payload.amount"]  # 19.99
    attributes_to_event("purchase", attributes).payload  # {'amount': 19.99}
"""

from __future__ import annotations

from collections.abc import Mapping

from .._event import Event, Payload

__all__ = [
    "DEVICE_ID_KEY",
    "EVENT_ID_KEY",
    "EVENT_NAME_KEY",
    "LINK_ID_KEY",
    "ORIGIN_KEY",
    "ORIGIN_VALUE",
    "PAYLOAD_PREFIX",
    "SPAN_ID_KEY",
    "TRACE_ID_KEY",
    "USER_ID_KEY",
    "AttributeScalar",
    "attributes_to_event",
    "event_to_attributes",
    "is_weespin_record",
]

#: A value OpenTelemetry exports on every backend (sequences left aside: we never need them).
AttributeScalar = str | bool | int | float

#: The origin marker: a span event (or span) carrying it was recorded by this library.
ORIGIN_KEY = "weespin.origin"
ORIGIN_VALUE = "weespin-instrument"
EVENT_NAME_KEY = "weespin.event_name"
EVENT_ID_KEY = "weespin.event_id"
USER_ID_KEY = "weespin.user_id"
LINK_ID_KEY = "weespin.link_id"
DEVICE_ID_KEY = "weespin.device_id"
TRACE_ID_KEY = "weespin.trace_id"
SPAN_ID_KEY = "weespin.span_id"
#: Each payload key ``k`` becomes the attribute ``weespin.payload.k`` (dots in ``k`` kept).
PAYLOAD_PREFIX = "weespin.payload."

_OPTIONAL = (
    ("user_id", USER_ID_KEY),
    ("link_id", LINK_ID_KEY),
    ("device_id", DEVICE_ID_KEY),
    ("trace_id", TRACE_ID_KEY),
    ("span_id", SPAN_ID_KEY),
)
_SCALARS = (str, bool, int, float)


def event_to_attributes(event: Event) -> dict[str, AttributeScalar]:
    """The attributes that carry ``event``: name, id, identity, trace ids, payload, origin.

    Identity and trace ids appear only when set. The payload is already flat and scalar
    (the pipeline guarantees it), so every value is one of OpenTelemetry's portable types.

    Example::

        event_to_attributes(Event("signup", {"plan": "pro"}))
        # {'weespin.payload.plan': 'pro', 'weespin.event_name': 'signup',
        #  'weespin.event_id': '…', 'weespin.origin': 'weespin-instrument'}
    """
    # Order matters: at its attribute limit the SDK evicts the OLDEST keys, so the payload
    # goes first and the keys that make the record recognisable (origin marker) go last.
    attributes: dict[str, AttributeScalar] = {
        PAYLOAD_PREFIX + key: value for key, value in event.payload.items()
    }
    for field, key in _OPTIONAL:
        value = getattr(event, field)
        if value is not None:
            attributes[key] = value
    attributes[EVENT_NAME_KEY] = event.name
    attributes[EVENT_ID_KEY] = event.event_id
    attributes[ORIGIN_KEY] = ORIGIN_VALUE
    return attributes


def is_weespin_record(attributes: Mapping[str, object] | None) -> bool:
    """Whether ``attributes`` carry the origin marker of :func:`event_to_attributes`.

    Example::

        is_weespin_record({"weespin.origin": "weespin-instrument"})  # True
    """
    return attributes is not None and attributes.get(ORIGIN_KEY) == ORIGIN_VALUE


def attributes_to_event(
    name: str, attributes: Mapping[str, object] | None, *, timestamp: float | None = None
) -> Event | None:
    """The :class:`Event` that :func:`event_to_attributes` turned into ``attributes``.

    ``None`` when the attributes lack the origin marker (someone else's record). The name
    comes from ``weespin.event_name``, else ``name`` (the span event's name). ``timestamp``
    (seconds since the epoch) is the record's time. Values of a type an event cannot hold
    are left out; nothing is validated beyond that (the event was validated when tracked).

    Example::

        event = attributes_to_event("signup", span_event.attributes, timestamp=ts / 1e9)
    """
    if attributes is None or not is_weespin_record(attributes):
        return None
    event_name = attributes.get(EVENT_NAME_KEY, name)
    if not isinstance(event_name, str) or not event_name:
        return None
    payload: Payload = {}
    prefix_length = len(PAYLOAD_PREFIX)
    for key, value in attributes.items():
        if key.startswith(PAYLOAD_PREFIX) and isinstance(value, _SCALARS):
            payload[key[prefix_length:]] = value
    return Event(
        event_name,
        payload,
        user_id=_text(attributes.get(USER_ID_KEY)),
        link_id=_text(attributes.get(LINK_ID_KEY)),
        device_id=_text(attributes.get(DEVICE_ID_KEY)),
        timestamp=timestamp,
        trace_id=_text(attributes.get(TRACE_ID_KEY)),
        span_id=_text(attributes.get(SPAN_ID_KEY)),
        event_id=_text(attributes.get(EVENT_ID_KEY)),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
