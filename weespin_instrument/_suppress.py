"""Our own HTTP requests must not become spans: no feedback loop through a tracing bridge."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["suppress_instrumentation"]


@contextmanager
def suppress_instrumentation() -> Iterator[None]:
    """Mark the current context so OpenTelemetry instrumentations create no spans inside.

    Free when OpenTelemetry is not loaded. Use it around every request we send.

    Example::

        with suppress_instrumentation():
            http.post("/events", json=body)
    """
    context = sys.modules.get("opentelemetry.context")
    if context is None:
        yield
        return
    ctx = context.set_value(context._SUPPRESS_INSTRUMENTATION_KEY, True)
    ctx = context.set_value(context._SUPPRESS_HTTP_INSTRUMENTATION_KEY, True, ctx)
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)
