"""The event: what a tracked call produces and what a transport receives."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = ["Event", "Payload", "PayloadValue"]

PayloadValue = str | int | float | bool
Payload = dict[str, PayloadValue]


@dataclasses.dataclass(slots=True)
class Event:
    """One Weespin event, validated and ready for a transport.

    The payload is already flat and holds only ``str``, ``int``, ``float`` and ``bool``.
    ``device_id`` is usually ``None`` here: transports that talk to the API attach the
    device at send time, after the lazy device initialization.

    Example::

        event = Event(name="purchase", payload={"amount": 19.99})
        event.to_wire(device_id="ws_device_1")["event_name"]  # 'purchase'
    """

    name: str
    payload: Payload = dataclasses.field(default_factory=dict)
    user_id: str | None = None
    link_id: str | None = None
    device_id: str | None = None
    #: A UUID (hex string) that stays the same on every retry, for de-duplication.
    event_id: str = ""
    #: Seconds since the epoch when the event was tracked.
    timestamp: float = dataclasses.field(default_factory=time.time)
    trace_id: str | None = None
    span_id: str | None = None

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
            if self.event_id:
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
        identity: Mapping[str, Any] = {
            "user_id": self.user_id,
            "link_id": self.link_id,
            "device_id": self.device_id,
        }
        for key, expected in fields.items():
            actual = identity[key] if key in identity else self.payload.get(key, _MISSING)
            if actual != expected:
                return False
        return True


_MISSING = object()
