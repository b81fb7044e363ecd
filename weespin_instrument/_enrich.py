"""Enrich: turn a name and raw fields into an :class:`Event` with identity and metadata."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping

from ._context import current_identity
from ._event import Event
from ._validate import normalize_payload, validate_event_name, validate_identity

__all__ = ["build_event", "new_event_id"]


def new_event_id() -> str:
    """A random (version 4) UUID as a string, for de-duplication of retried sends."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _active_trace_ids() -> tuple[str, str] | tuple[None, None]:
    # No OpenTelemetry loaded means no active span: don't pay for importing it.
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return (None, None)
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return (None, None)
    return (format(context.trace_id, "032x"), format(context.span_id, "016x"))


def build_event(
    name: object,
    payload: Mapping[str, object] | None,
    *,
    user_id: object = None,
    link_id: object = None,
    device_id: object = None,
    default_device_id: str | None = None,
    trace_correlation: bool = True,
    origin: str | None = None,
) -> Event:
    """Validate the name, payload and identity, and fill in what the context knows.

    Explicit values win over :func:`identify`'s, which win over the configured device id.
    Raises :class:`~weespin_instrument.InvalidEventError` for anything the API refuses.
    """
    event_name = validate_event_name(name, origin=origin)
    identity = current_identity()
    trace_id, span_id = _active_trace_ids() if trace_correlation else (None, None)
    return Event(
        name=event_name,
        payload=normalize_payload(event_name, payload, origin=origin),
        user_id=validate_identity(
            "user_id",
            identity.user_id if user_id is None else user_id,
            event_name=event_name,
            origin=origin,
        ),
        link_id=validate_identity(
            "link_id",
            identity.link_id if link_id is None else link_id,
            event_name=event_name,
            origin=origin,
        ),
        device_id=validate_identity(
            "device_id",
            device_id if device_id is not None else identity.device_id or default_device_id,
            event_name=event_name,
            origin=origin,
        ),
        event_id=new_event_id(),
        timestamp=time.time(),
        trace_id=trace_id,
        span_id=span_id,
    )
