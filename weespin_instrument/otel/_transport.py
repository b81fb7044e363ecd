"""``SpanEventTransport``: each event becomes a span event on the span current at the call.

Needs only ``opentelemetry-api``: the SDK is never imported here.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import context as otel_context
from opentelemetry import trace

from ..errors import ConfigurationError
from ..transports import BaseTransport
from ._mapping import ORIGIN_KEY, ORIGIN_VALUE, event_to_attributes

if TYPE_CHECKING:
    from .._config import Settings
    from .._event import Event
    from .._reporting import Reporter
    from ..transports import Transport

__all__ = ["NoSpanPolicy", "SpanEventTransport"]

NoSpanPolicy = Literal["drop", "fallback", "own_span"]
"""What :class:`SpanEventTransport` does with an event when no span is recording.

Example::

    SpanEventTransport(no_span="own_span")
"""
_POLICIES = ("drop", "fallback", "own_span")

#: The reason counted when an event finds no recording span and the policy is ``drop``.
NO_RECORDING_SPAN = "no_recording_span"

_TRACER_NAME = "weespin_instrument.otel"


class SpanEventTransport(BaseTransport):
    """Records each event as a span event on the span that was current when the call started.

    The event goes on ``event.span`` (captured by ``@track_event`` when the call started,
    by ``track()`` / ``tracked()`` when they emit); an event with no captured span goes on
    the current span. Attributes: ``weespin.event_name``, ``weespin.event_id``,
    ``weespin.user_id`` / ``link_id`` / ``device_id`` when set, the trace ids when set,
    ``weespin.payload.<key>`` per payload key, and ``weespin.origin = "weespin-instrument"``
    (see :func:`event_to_attributes`).

    When that span is not recording (none, ended, or not sampled), ``no_span`` decides:
    ``"drop"`` (the default; counted as ``no_recording_span``), ``"fallback"`` (send to
    ``fallback``, the default when one is given) or ``"own_span"`` (a short root span named
    for the event, carrying it; counted as dropped if the sampler does not record it either).

    A span event reaches Weespin only through a :class:`WeespinSpanProcessor`, when its span
    ends; ``stats().sent`` counts it then, not here. ``flush`` waits for the fallback and for
    the live processors' deliveries (spans that have not ended yet are not waited for).

    Example::

        weespin.configure(transport=SpanEventTransport(no_span="fallback",
                                                       fallback=BackgroundTransport()))
        provider.add_span_processor(WeespinSpanProcessor())
    """

    def __init__(
        self,
        *,
        no_span: NoSpanPolicy | None = None,
        fallback: Transport | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        super().__init__()
        policy = no_span or ("fallback" if fallback is not None else "drop")
        if policy not in _POLICIES:
            raise ConfigurationError(
                f"SpanEventTransport(no_span={no_span!r}): use one of "
                + ", ".join(repr(p) for p in _POLICIES)
                + "."
            )
        if policy == "fallback" and fallback is None:
            raise ConfigurationError(
                "SpanEventTransport(no_span='fallback') needs fallback=, e.g. "
                "fallback=BackgroundTransport()."
            )
        if fallback is not None and policy != "fallback":
            raise ConfigurationError(
                f"SpanEventTransport: fallback= is only used with no_span='fallback', "
                f"not {policy!r}; remove one of them."
            )
        if isinstance(fallback, SpanEventTransport):
            raise ConfigurationError(
                "SpanEventTransport: the fallback cannot be another SpanEventTransport; "
                "use a delivery transport such as BackgroundTransport()."
            )
        self.no_span: NoSpanPolicy = policy
        self.fallback = fallback
        self._tracer_provider = tracer_provider
        self._tracer: trace.Tracer | None = None

    def __repr__(self) -> str:
        return f"SpanEventTransport(no_span={self.no_span!r}, fallback={self.fallback!r})"

    def adopt(self, settings: Settings) -> None:
        if isinstance(self.fallback, BaseTransport):
            self.fallback.adopt(settings)

    def attach(self, reporter: Reporter) -> None:
        super().attach(reporter)
        if isinstance(self.fallback, BaseTransport):
            self.fallback.attach(reporter)

    def send(self, event: Event) -> None:
        span: Any = event.span
        if span is None:
            span = trace.get_current_span()
        if span.is_recording():
            span.add_event(event.name, event_to_attributes(event), _nanoseconds(event.timestamp))
        elif self.no_span == "fallback" and self.fallback is not None:
            self.fallback.send(event)
        elif self.no_span == "own_span":
            self._send_on_own_span(event)
        else:
            self.reporter.dropped(NO_RECORDING_SPAN, event=event)

    def flush(self, timeout: float | None = None) -> bool:
        from ._delivery import flush_live_deliveries

        deadline = None if timeout is None else time.monotonic() + timeout
        flushed = self.fallback.flush(timeout) if self.fallback is not None else True
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        return flush_live_deliveries(remaining) and flushed

    def close(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        self.flush(timeout)
        if self.fallback is not None:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            self.fallback.close(remaining)

    def pending(self) -> tuple[int, int]:
        from ._delivery import pending_in_deliveries

        fallback = self.fallback
        queued, in_flight = fallback.pending() if isinstance(fallback, BaseTransport) else (0, 0)
        waiting, sending = pending_in_deliveries(self.reporter)  # what processors hold for us
        return queued + waiting, in_flight + sending

    def _send_on_own_span(self, event: Event) -> None:
        tracer = self._tracer
        if tracer is None:
            provider = self._tracer_provider or trace.get_tracer_provider()
            tracer = self._tracer = provider.get_tracer(_TRACER_NAME)
        moment = _nanoseconds(event.timestamp)
        # A new root: the current context holds no recording span, and a child of an
        # unsampled parent would not be recorded either.
        span = tracer.start_span(
            event.name,
            context=otel_context.Context(),
            attributes={ORIGIN_KEY: ORIGIN_VALUE},
            start_time=moment,
        )
        if not span.is_recording():
            self.reporter.dropped(NO_RECORDING_SPAN, event=event)
            return
        span.add_event(event.name, event_to_attributes(event), moment)
        span.end(end_time=moment)


def _nanoseconds(seconds: float) -> int:
    return int(seconds * 1e9)
