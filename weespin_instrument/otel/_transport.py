"""``SpanEventTransport``: each event becomes a span event on the span current at the call.

Needs only ``opentelemetry-api``: the SDK is never imported here.
"""

from __future__ import annotations

import threading
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
    ends; ``stats().sent`` counts it then, not here. The processor forwards it by
    :meth:`delivery_transport`, which this transport owns: ``flush`` waits for it, ``stats()``
    counts what it holds and ``close`` closes it (spans that have not ended yet are not
    waited for: ``provider.force_flush()`` / ``shutdown()`` end with them).

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
        self._settings: Settings | None = None
        self._lock = threading.Lock()
        #: Built on first need when there is no fallback: see delivery_transport().
        self._onward: Transport | None = None

    def __repr__(self) -> str:
        return f"SpanEventTransport(no_span={self.no_span!r}, fallback={self.fallback!r})"

    def adopt(self, settings: Settings) -> None:
        if isinstance(self.fallback, BaseTransport):
            self.fallback.adopt(settings)
        with self._lock:
            retired = self._onward if settings is not self._settings else None
            self._settings = settings
            if retired is not None:  # built for the client before: the next one builds anew
                self._onward = None
                _retire(retired)

    def attach(self, reporter: Reporter) -> None:
        super().attach(reporter)
        if isinstance(self.fallback, BaseTransport):
            self.fallback.attach(reporter)

    def delivery_transport(self) -> Transport:
        """The transport a span processor forwards these span events by, once their span ends.

        The fallback when there is one (one sender, one device for the process); else a
        ``BackgroundTransport`` built from the adopting client's settings on the first call,
        counting into the same reporter. It is this transport's: flushed, counted in
        ``stats()`` and closed with it. Raises :class:`~weespin_instrument.ConfigurationError`
        when it cannot be built (no API key).

        Example::

            transport = SpanEventTransport()
            weespin.configure(api_key="wsk_...", transport=transport)
            transport.delivery_transport()  # BackgroundTransport(...)
        """
        if self.fallback is not None:
            return self.fallback
        onward = self._onward
        if onward is not None:
            return onward
        from ..transports import BackgroundTransport

        with self._lock:
            if self._onward is None:
                built = BackgroundTransport(settings=self._settings)
                built.attach(self.reporter)
                self._onward = built
            return self._onward

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
        onward = self._onward_now()
        return True if onward is None else onward.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        with self._lock:
            onward, self._onward = self._onward_now(), None
        if onward is not None:
            deadline = None if timeout is None else time.monotonic() + timeout
            onward.flush(timeout)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            onward.close(remaining)

    def pending(self) -> tuple[int, int]:
        onward = self._onward_now()
        return onward.pending() if isinstance(onward, BaseTransport) else (0, 0)

    def _onward_now(self) -> Transport | None:
        return self.fallback if self.fallback is not None else self._onward

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


#: Seconds a delivery transport built for a replaced client gets to drain, off-thread.
RETIRE_TIMEOUT = 5.0


def _retire(transport: Transport) -> None:
    threading.Thread(
        target=transport.close, args=(RETIRE_TIMEOUT,), name="weespin-otel-retire", daemon=True
    ).start()
