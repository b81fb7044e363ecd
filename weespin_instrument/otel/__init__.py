"""OpenTelemetry: Weespin events as span events, and Weespin events from your traces.

Two directions, usable together:

- :class:`SpanEventTransport` (needs only ``opentelemetry-api``) records each tracked event
  as a span event on the span current when the call started.
- :class:`WeespinSpanProcessor` (the ``otel`` extra: ``opentelemetry-sdk``) forwards those
  span events to Weespin when their span ends, and derives events from any span or span
  event with :class:`SpanRule` / :class:`SpanEventRule`.

Example::

    import weespin_instrument as weespin
    from opentelemetry.sdk.trace import TracerProvider
    from weespin_instrument.otel import SpanEventTransport, SpanRule, install

    provider = TracerProvider()
    weespin.configure(transport=SpanEventTransport())
    install(provider, rules=[SpanRule("POST /checkout", event="purchase",
                                      payload_from={"amount": "attributes.order.total"})])

The mapping between events and attributes (:func:`event_to_attributes`,
:func:`attributes_to_event`) is pure and has no OpenTelemetry dependency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._mapping import ORIGIN_KEY, ORIGIN_VALUE, attributes_to_event, event_to_attributes
from ._paths import MatchedSpanEvent
from ._rules import NameMatcher, SpanEventRule, SpanRule
from ._transport import NoSpanPolicy, SpanEventTransport

if TYPE_CHECKING:
    from ._processor import WeespinSpanProcessor, install

__all__ = [
    "ORIGIN_KEY",
    "ORIGIN_VALUE",
    "MatchedSpanEvent",
    "NameMatcher",
    "NoSpanPolicy",
    "SpanEventRule",
    "SpanEventTransport",
    "SpanRule",
    "WeespinSpanProcessor",
    "attributes_to_event",
    "event_to_attributes",
    "install",
]


def __getattr__(name: str) -> Any:
    # The processor subclasses the SDK's SpanProcessor: import the SDK only when it is asked
    # for, so that SpanEventTransport works with opentelemetry-api alone.
    if name in ("WeespinSpanProcessor", "install"):
        try:
            from . import _processor
        except ImportError as exc:
            raise ImportError(
                f"weespin_instrument.otel.{name} needs opentelemetry-sdk ({exc}): "
                "pip install 'weespin-instrument[otel]'"
            ) from exc
        return getattr(_processor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
