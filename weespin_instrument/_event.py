"""The event: what a tracked call produces and what a transport receives."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Any, overload

__all__ = ["Event", "Payload", "PayloadValue", "new_event_id"]

PayloadValue = str | int | float | bool
Payload = dict[str, PayloadValue]

_MISSING = object()


def new_event_id() -> str:
    """A random (version 4) UUID as a string, for de-duplication of retried sends."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _HexId:
    """An id of the span an event was tracked in, ``digits`` hex digits wide.

    A span context gives it as an int; it is formatted when first read (off the caller's
    path) and kept formatted. An event built by ``build_event()`` leaves it unset: it reads
    ``None``.
    """

    def __init__(self, slot: str, digits: int, doc: str) -> None:
        self._slot = slot
        self._format = f"0{digits}x"
        self.__doc__ = doc

    @overload
    def __get__(self, event: None, owner: type[Any]) -> _HexId: ...
    @overload
    def __get__(self, event: Event, owner: type[Any] | None = None) -> str | None: ...
    def __get__(self, event: Event | None, owner: type[Any] | None = None) -> Any:
        if event is None:
            return self
        value = getattr(event, self._slot, None)
        if value.__class__ is int:
            value = format(value, self._format)
            setattr(event, self._slot, value)
        return value

    def __set__(self, event: Event, value: str | None) -> None:
        setattr(event, self._slot, value)


class Event:
    """One Weespin event, validated and ready for a transport.

    The payload is already flat and holds only ``str``, ``int``, ``float`` and ``bool``.
    ``device_id`` is usually ``None`` here: transports that talk to the API attach the
    device at send time, after the lazy device initialization. ``event_id`` is a UUID made
    on first access (by the transport, off the caller's path) and then never changes, so
    every retry of the event carries the same one.

    Example::

        event = Event("purchase", {"amount": 19.99})
        event.to_wire(device_id="ws_device_1")["event_name"]  # 'purchase'
    """

    __slots__ = (
        "_event_id",
        "_span_id",
        "_trace_id",
        "device_id",
        "link_id",
        "name",
        "payload",
        "span",
        "timestamp",
        "user_id",
    )

    def __init__(
        self,
        name: str,
        payload: Payload | None = None,
        user_id: str | None = None,
        link_id: str | None = None,
        device_id: str | None = None,
        timestamp: float | None = None,
        trace_id: str | int | None = None,
        span_id: str | int | None = None,
        span: Any = None,
        event_id: str | None = None,
    ) -> None:
        self.name = name
        self.payload: Payload = {} if payload is None else payload
        self.user_id = user_id
        self.link_id = link_id
        self.device_id = device_id
        #: Seconds since the epoch when the event was tracked.
        self.timestamp = time.time() if timestamp is None else timestamp
        # Ints (from a span context) are formatted as hex when first read, off the caller's path.
        self._trace_id = trace_id
        self._span_id = span_id
        #: The OpenTelemetry span that was current when the tracked call started, if any.
        self.span = span
        self._event_id = event_id

    @property
    def event_id(self) -> str:
        """A UUID that stays the same on every retry, for de-duplication."""
        # getattr: an event built by build_event() leaves the unset ids unset (a caller's store).
        event_id = getattr(self, "_event_id", None)
        if event_id is None:
            event_id = self._event_id = new_event_id()
        return event_id

    trace_id = _HexId(
        "_trace_id",
        32,
        "The OpenTelemetry trace id (32 hex digits) of the span the event was tracked in.",
    )
    span_id = _HexId(
        "_span_id",
        16,
        "The OpenTelemetry span id (16 hex digits) of the span the event was tracked in.",
    )

    def __repr__(self) -> str:
        return (
            f"Event(name={self.name!r}, payload={self.payload!r}, user_id={self.user_id!r}, "
            f"link_id={self.link_id!r}, device_id={self.device_id!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self.event_id == other.event_id and self.to_wire() == other.to_wire()

    __hash__ = None  # type: ignore[assignment]

    @property
    def timestamp_iso(self) -> str:
        """The timestamp as ISO 8601 in UTC with millisecond precision (``...Z``)."""
        moment = datetime.fromtimestamp(self.timestamp, tz=timezone.utc)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def to_wire(self, device_id: str | None = None, *, metadata: bool = True) -> dict[str, Any]:
        """The JSON body of ``POST /events`` for this event.

        ``metadata=False`` leaves out everything the API documentation does not name
        (``event_id``, ``timestamp``, ``trace_id``, ``span_id``).
        """
        body: dict[str, Any] = {
            "event_name": self.name,
            "device_id": device_id if device_id is not None else self.device_id,
        }
        if self.user_id is not None:
            body["user_id"] = self.user_id
        if self.link_id is not None:
            body["link_id"] = self.link_id
        body["payload"] = self.payload
        if metadata:
            body["event_id"] = self.event_id
            body["timestamp"] = self.timestamp_iso
            if self.trace_id is not None:
                body["trace_id"] = self.trace_id
                body["span_id"] = self.span_id
        return body

    def matches(self, name: str | None = None, /, **fields: Any) -> bool:
        """Whether this event has ``name`` and every ``field=value`` given.

        ``user_id``, ``link_id`` and ``device_id`` compare with the event's identity;
        any other keyword compares with the payload.
        """
        if name is not None and self.name != name:
            return False
        for key, expected in fields.items():
            if key in ("user_id", "link_id", "device_id"):
                actual = getattr(self, key)
            else:
                actual = self.payload.get(key, _MISSING)
            if actual != expected:
                return False
        return True
