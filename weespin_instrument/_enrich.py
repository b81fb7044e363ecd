"""Enrich: turn a name and raw fields into an :class:`Event` with identity and trace context."""

from __future__ import annotations

import sys
from time import time
from typing import Any

from . import _context
from ._context import _EMPTY, _identity, _visitor
from ._event import Event

__all__ = ["build_event", "current_span"]


def current_span() -> Any:
    """The active, valid OpenTelemetry span, or ``None``.

    No OpenTelemetry loaded means no active span: we don't pay for importing it.
    """
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    span = trace.get_current_span()
    if span is trace.INVALID_SPAN:  # what it returns outside every span
        return None
    return span if span.get_span_context().is_valid else None


_NOT_CAPTURED: Any = object()


def build_event(
    name: str,
    payload: Any,
    user_id: str | None = None,
    link_id: str | None = None,
    device_id: str | None = None,
    default_device_id: str | None = None,
    trace_correlation: bool = True,
    span: Any = _NOT_CAPTURED,
) -> Event:
    """An :class:`Event` for values already checked, filled in with what the context knows.

    Only enriches: it validates nothing. Explicit values win over :func:`identify`'s, which win
    over a web visitor's device, then the configured device id. ``span`` is the span captured
    when the tracked call started; by default, the current one. Its trace and span ids are
    attached when it is sampled (recorded by the tracer), and formatted by whoever reads them.

    Example::

        build_event("purchase", {"amount": 19.99}, user_id="u_42").user_id  # 'u_42'
    """
    identity = _identity.get()
    if identity is not _EMPTY:  # inside identify(...)
        if user_id is None:
            user_id = identity.user_id
        if link_id is None:
            link_id = identity.link_id
        if device_id is None:
            device_id = identity.device_id
    if device_id is None:
        # A web visitor's device wins over the process's, once it is known.
        visitor = _visitor.get() if _context.visitors_seen else None
        device_id = default_device_id if visitor is None else visitor.device_id
    if span is _NOT_CAPTURED:
        span = current_span()
    trace_id = span_id = None
    if span is not None and trace_correlation:
        context = span.get_span_context()
        if context.trace_flags.sampled:
            trace_id, span_id = context.trace_id, context.span_id
    # Event(...) without its __init__: what every tracked call pays, at half the cost (the
    # values are final here; Event.__init__ only fills in defaults).
    event = _new_event(Event)
    event.name = name
    event.payload = payload
    event.user_id = user_id
    event.link_id = link_id
    event.device_id = device_id
    event.timestamp = time()
    event._trace_id = trace_id
    event._span_id = span_id
    event.span = span
    event._event_id = None
    return event


_new_event = object.__new__
