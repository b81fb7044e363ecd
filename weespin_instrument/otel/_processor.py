"""``WeespinSpanProcessor``: finished spans in, Weespin events out (needs opentelemetry-sdk)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from .._facade import get_client
from .._reporting import logger
from ..errors import ConfigurationError, InvalidEventError
from ._delivery import Delivery
from ._mapping import attributes_to_event, is_weespin_record
from ._paths import MatchedSpanEvent
from ._rules import SpanEventRule, SpanRule

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import Event as SpanEvent

    from .._client import Client
    from .._event import Event
    from ..transports import Transport
    from ._rules import _Rule

__all__ = ["WeespinSpanProcessor", "install"]

#: Seconds ``shutdown()`` gives queued events to leave (the SDK passes no timeout there).
SHUTDOWN_TIMEOUT = 5.0
BRIDGE_ERROR = "bridge_error"
_FORWARD = "WeespinSpanProcessor (forwarding span events)"


class WeespinSpanProcessor(SpanProcessor):
    """Turns finished spans into Weespin events; never blocks or raises in ``on_end``.

    - Span events recorded by :class:`SpanEventTransport` (they carry the origin marker)
      are rebuilt into the same events (same ``event_id``) and forwarded.
    - :class:`SpanRule` / :class:`SpanEventRule` derive events from spans and span events
      someone else created; derived events go through ``client.prepare`` (validation,
      scrubbing, trace ids of the span) and are counted as tracked.

    ``client=None`` means the default client (``weespin.get_client()``), looked up at each
    span end, so a later ``weespin.configure()`` is followed. Events leave through
    ``delivery`` if given (it is closed by :meth:`shutdown`; it must not block: not the
    ``sync`` transport), else through the client's transport (:meth:`Client.send`), or, when
    that is a ``SpanEventTransport``, the one it forwards by (its fallback, or a
    ``BackgroundTransport`` it builds from the client's settings on first need). Failures are
    counted in ``client.stats().dropped`` (``bridge_error``, ``not_configured``,
    ``invalid_event``, ...) and logged once.

    Example::

        provider = TracerProvider()
        provider.add_span_processor(WeespinSpanProcessor(rules=[
            SpanRule("POST /checkout", event="purchase",
                     payload_from={"amount": "attributes.order.total"},
                     user_id_from="attributes.enduser.id"),
        ]))
    """

    def __init__(
        self,
        client: Client | None = None,
        rules: Iterable[SpanRule | SpanEventRule] | SpanRule | SpanEventRule = (),
        *,
        delivery: Transport | None = None,
    ) -> None:
        self._client = client
        if isinstance(rules, (SpanRule, SpanEventRule)):
            rules = (rules,)
        elif isinstance(rules, str):
            raise TypeError(
                f"WeespinSpanProcessor(rules={rules!r}): pass SpanRule / SpanEventRule "
                f"instances, e.g. rules=[SpanRule({rules!r}, event='...')]."
            )
        span_rules: list[SpanRule] = []
        event_rules: list[SpanEventRule] = []
        for rule in rules:
            if isinstance(rule, SpanRule):
                span_rules.append(rule)
            elif isinstance(rule, SpanEventRule):
                event_rules.append(rule)
            else:
                raise TypeError(
                    f"WeespinSpanProcessor(rules=...): {rule!r} is not a SpanRule or a "
                    "SpanEventRule."
                )
        self.rules: tuple[SpanRule | SpanEventRule, ...] = (*span_rules, *event_rules)
        self._span_rules = tuple(span_rules)
        self._event_rules = tuple(event_rules)
        self._delivery = Delivery(delivery)
        self._closed = False
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        return f"WeespinSpanProcessor(client={self._client!r}, rules={list(self.rules)!r})"

    # -- the SpanProcessor interface ----------------------------------------------------------

    def on_end(self, span: ReadableSpan) -> None:
        """Enqueue the events ``span`` gives; the SDK does not catch exceptions here."""
        if not span.events and not self._span_rules:
            return
        client: Client | None = None
        try:
            client = self._client or get_client()
            self._process(client, span)
        except Exception as exc:
            self._failed(client, _FORWARD, None, exc)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait for the events handed over so far to leave; ``True`` if they did in time.

        Example::

            provider.force_flush()  # reaches every processor, this one included
        """
        try:
            return self._delivery.flush(timeout_millis / 1000.0)
        except Exception as exc:
            self._failed(None, "WeespinSpanProcessor.force_flush", None, exc)
            return False

    def shutdown(self) -> None:
        """Deliver what is queued (bounded), close the delivery; later spans are ignored.

        Example::

            provider.shutdown()
        """
        self._closed = True
        try:
            self._delivery.close(SHUTDOWN_TIMEOUT)
        except Exception as exc:
            self._failed(None, "WeespinSpanProcessor.shutdown", None, exc)

    # -- internals ----------------------------------------------------------------------------

    def _process(self, client: Client, span: ReadableSpan) -> None:
        if client.settings.disabled:
            return
        closed = self._closed or client.closed
        if span.dropped_events:
            self._warn_once(
                "max_events",
                f"span {span.name!r} reached its span event limit (SpanLimits.max_events) and "
                f"dropped {span.dropped_events} event(s); Weespin events recorded on it may "
                "be among them.",
            )
        for span_event in span.events:
            if is_weespin_record(span_event.attributes):
                self._forward(client, span, span_event, closed)
            elif self._event_rules and not closed:
                self._apply_event_rules(client, span, span_event)
        if self._span_rules and not closed and not is_weespin_record(span.attributes):
            for rule in self._span_rules:
                self._apply(client, rule, span.name, span, span, None)

    def _forward(
        self, client: Client, span: ReadableSpan, span_event: SpanEvent, closed: bool
    ) -> None:
        try:
            event = attributes_to_event(
                span_event.name, span_event.attributes, timestamp=span_event.timestamp / 1e9
            )
            if event is None:
                raise ValueError(f"span event {span_event.name!r} has no usable event name")
            if closed:
                client.reporter.dropped("closed", event=event, origin=_FORWARD)
                return
            event.span = span
            lost = span_event.dropped_attributes
            if lost:
                client.reporter.count("missing_fields", lost)
                self._warn_once(
                    "max_event_attributes",
                    f"event {event.name!r}: {lost} attribute(s) were dropped by the span event "
                    "attribute limit (SpanLimits.max_event_attributes); the event is sent "
                    "without those payload keys.",
                )
            self._deliver(client, event, _FORWARD)
        except Exception as exc:
            self._failed(client, _FORWARD, span_event.name, exc)

    def _apply_event_rules(self, client: Client, span: ReadableSpan, span_event: SpanEvent) -> None:
        attributes = span_event.attributes or {}
        match = MatchedSpanEvent(span_event.name, attributes, span_event.timestamp, span)
        for rule in self._event_rules:
            self._apply(client, rule, span_event.name, match, span, span_event.timestamp)

    def _apply(
        self,
        client: Client,
        rule: _Rule[Any],
        name: str,
        source: Any,
        span: ReadableSpan,
        timestamp_ns: int | None,
    ) -> None:
        origin = rule.description
        try:
            if not rule.matches(name):
                return
            derived = rule.derive(source)
        except Exception as exc:
            client.reporter.count_tracked()
            self._failed(client, origin, rule.event, exc)
            return
        if derived is None:
            return
        client.reporter.count_tracked()
        try:
            if derived.missing:
                client.reporter.count("missing_fields", len(derived.missing))
                for path in derived.missing:
                    self._warn_once(
                        f"{origin} {path}",
                        f"{origin}: path {path!r} found nothing on span {span.name!r}; the key "
                        "was left out (logged once per rule and path).",
                    )
            try:
                event = client.prepare(
                    rule.event,
                    derived.payload,
                    user_id=derived.user_id,
                    link_id=derived.link_id,
                    origin=origin,
                    span=span,
                )
            except InvalidEventError as exc:
                client.reporter.dropped(exc.reason, event_name=rule.event, error=exc, origin=origin)
                return
            if timestamp_ns is not None:
                event.timestamp = timestamp_ns / 1e9
            self._deliver(client, event, origin)
        except Exception as exc:
            self._failed(client, origin, rule.event, exc)

    def _deliver(self, client: Client, event: Event, origin: str) -> None:
        try:
            transport = self._delivery.get(client)
        except ConfigurationError as exc:
            client.reporter.dropped("not_configured", event=event, error=exc, origin=origin)
            return
        client.send(event, origin=origin, transport=transport)  # counts and drops as emit does

    def _failed(
        self, client: Client | None, origin: str, event_name: str | None, error: Exception
    ) -> None:
        # Never raise from here: this runs inside span.end() of the application's code.
        try:
            logger.debug("weespin: %s failed", origin, exc_info=error)
            if client is not None:
                client.reporter.dropped(
                    BRIDGE_ERROR, event_name=event_name, error=error, origin=origin
                )
            else:
                self._warn_once(origin, f"{origin} failed: {type(error).__name__}: {error}")
        except Exception:  # pragma: no cover - the logging system itself is broken
            pass

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.log(logging.WARNING, "weespin: %s", message)


def install(
    provider: Any = None,
    rules: Iterable[SpanRule | SpanEventRule] | SpanRule | SpanEventRule = (),
    *,
    client: Client | None = None,
    delivery: Transport | None = None,
) -> WeespinSpanProcessor:
    """Add a :class:`WeespinSpanProcessor` to ``provider`` (default: the global one); return it.

    Raises :class:`~weespin_instrument.ConfigurationError` when the provider is not an SDK
    ``TracerProvider`` (e.g. none was set yet).

    Example::

        from opentelemetry.sdk.trace import TracerProvider

        provider = TracerProvider()
        weespin.otel.install(provider, rules=[SpanRule("POST /signup", event="signup")])
    """
    target = provider if provider is not None else trace.get_tracer_provider()
    add = getattr(target, "add_span_processor", None)
    if not callable(add):
        raise ConfigurationError(
            f"cannot add a span processor to {type(target).__name__}: pass an SDK "
            "TracerProvider (opentelemetry.sdk.trace.TracerProvider) as provider=, or set one "
            "first with opentelemetry.trace.set_tracer_provider(...)."
        )
    processor = WeespinSpanProcessor(client, rules, delivery=delivery)
    add(processor)
    return processor
