"""Enrich: turn a name and raw fields into an :class:`Event` with identity and trace context."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from time import time
from typing import Any

from ._context import current_identity, current_visitor
from ._event import Event
from ._validate import normalize_payload, validate_event_name, validate_identity

__all__ = ["build_event", "current_span"]


def current_span() -> Any:
    """The active, valid OpenTelemetry span, or ``None``.

    No OpenTelemetry loaded means no active span: we don't pay for importing it.
    """
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    span = trace.get_current_span()
    return span if span.get_span_context().is_valid else None


_NOT_CAPTURED: Any = object()
#: Event names already validated: most events reuse a handful of names.
_known_names: set[str] = set()


def build_event(
    name: object,
    payload: Mapping[str, object] | None,
    user_id: object = None,
    link_id: object = None,
    device_id: object = None,
    default_device_id: str | None = None,
    trace_correlation: bool = True,
    origin: str | None = None,
    span: Any = _NOT_CAPTURED,
) -> Event:
    """Validate the name, payload and identity, and fill in what the context knows.

    Explicit values win over :func:`identify`'s, which win over the configured device id.
    ``span`` is the span captured when the tracked call started; by default, the current one.
    Its trace and span ids are attached when it is sampled (recorded by the tracer).
    Raises :class:`~weespin_instrument.InvalidEventError` for anything the API refuses.
    """
    event_name = name if name.__class__ is str and name in _known_names else None
    if event_name is None:
        event_name = validate_event_name(name, origin=origin)
        if len(_known_names) < 1024:
            _known_names.add(event_name)
    identity = current_identity()
    if user_id is None:
        user_id = identity.user_id
    elif type(user_id) is not str or not (user_id.isascii() and user_id.strip()):
        user_id = validate_identity("user_id", user_id, event_name=event_name, origin=origin)
    if link_id is None:
        link_id = identity.link_id
    elif type(link_id) is not str or not (link_id.isascii() and link_id.strip()):
        link_id = validate_identity("link_id", link_id, event_name=event_name, origin=origin)
    if device_id is None:
        device_id = identity.device_id
        if device_id is None:
            # A web visitor's device wins over the process's, once it is known.
            visitor = current_visitor()
            device_id = default_device_id if visitor is None else visitor.device_id
    elif type(device_id) is not str or not (device_id.isascii() and device_id.strip()):
        device_id = validate_identity("device_id", device_id, event_name=event_name, origin=origin)
    if span is _NOT_CAPTURED:
        span = current_span()
    trace_id = span_id = None
    context = span.get_span_context() if span is not None and trace_correlation else None
    if context is not None and context.trace_flags.sampled:
        trace_id = format(context.trace_id, "032x")
        span_id = format(context.span_id, "016x")
    return Event(
        event_name,
        normalize_payload(event_name, payload, origin=origin),
        user_id,
        link_id,
        device_id,
        time(),
        trace_id,
        span_id,
        span,
    )
