"""Enrich: turn a name and raw fields into an :class:`Event` with identity and trace context."""

from __future__ import annotations

import sys
from contextvars import ContextVar
from time import time
from typing import Any

from . import _context
from ._context import _EMPTY, _identity, _visitor
from ._event import Event

__all__ = ["attach_trace", "build_event", "current_span"]


def current_span() -> Any:
    """The active, valid OpenTelemetry span, or ``None``.

    No OpenTelemetry loaded means no active span: we don't pay for importing it. With the
    default (contextvars) runtime context, the current context's span is read directly:
    ``trace.get_current_span()`` costs three calls more on every tracked call, and most calls
    run outside any span. Any other runtime context goes through the public API.
    """
    context_api = _modules_get("opentelemetry.context")
    if context_api is None:
        return None
    try:
        runtime = context_api._RUNTIME_CONTEXT
    except AttributeError:  # a release laid out otherwise: the public API below
        runtime = None
    if runtime is not _runtime and not _learn_lookup(runtime):
        return None  # the trace API is not (fully) imported: no span can be current
    if _read is None:
        span = _trace.get_current_span()
    else:
        context = _read()
        if _span_key not in context:  # no span current: what most calls find
            return None
        span = context[_span_key]
        if not isinstance(span, _span_type):  # what get_current_span() refuses
            return None
    if span is _trace.INVALID_SPAN:  # what the API returns outside every span
        return None
    return span if span.get_span_context().is_valid else None


_modules_get = sys.modules.get

# How current_span() reads the current span, learnt for one OpenTelemetry runtime context
# (globals: the cheapest reads there are): that runtime context, its context variable's
# ``get`` (``None``: the public API), the span's key in a context, the trace API, its Span.
_runtime: Any = object()
_read: Any = None
_span_key = ""
_trace: Any = None
_span_type: type = object


def _learn_lookup(runtime: Any) -> bool:
    """Learn how to read the current span in ``runtime``; ``False`` if there is no trace API."""
    global _runtime, _read, _span_key, _trace, _span_type
    trace: Any = _modules_get("opentelemetry.trace")
    try:
        span_type, _, _ = trace.Span, trace.get_current_span, trace.INVALID_SPAN
    except AttributeError:  # not imported yet, or still importing
        return False
    read, key = None, ""
    try:
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
        from opentelemetry.trace.propagation import _SPAN_KEY

        variable = getattr(runtime, "_current_context", None)
        if type(runtime) is ContextVarsRuntimeContext and isinstance(variable, ContextVar):
            read, key = variable.get, _SPAN_KEY
    except ImportError:  # a release laid out otherwise: the public API
        pass
    _read, _span_key, _trace, _span_type = read, key, trace, span_type
    _runtime = runtime  # last: until then, other threads learn it for themselves
    return True


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
    # Event(...) without its __init__: what every tracked call pays, at half the cost (the
    # values are final here; Event.__init__ only fills in defaults). Ids left unset read None.
    event = _new_event(Event)
    event.name = name
    event.payload = payload
    event.user_id = user_id
    event.link_id = link_id
    event.device_id = device_id
    event.timestamp = time()
    event.span = span
    if span is not None and trace_correlation:
        attach_trace(event, span)
    return event


def attach_trace(event: Event, span: Any) -> None:
    """Give ``event`` the trace and span ids of ``span`` when it is sampled (recorded by the
    tracer); they are formatted by whoever reads them."""
    context = span.get_span_context()
    if context.trace_flags.sampled:
        event._trace_id = context.trace_id
        event._span_id = context.span_id


_new_event = object.__new__
