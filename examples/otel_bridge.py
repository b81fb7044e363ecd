"""OpenTelemetry bridge: traces and Weespin events from one instrumented application.

Run it with ``python examples/otel_bridge.py``: no account and no network needed. It starts
the embedded collector on a free 127.0.0.1 port and sets up OpenTelemetry with one extra
line for Weespin. Then:

- a decorated function (``@weespin.track_event``) called inside a span records its event as
  a span event on that span; the bridge forwards it to Weespin when the span ends;
- a span created by plain OpenTelemetry code (as a web framework's instrumentation would)
  becomes a ``purchase`` event through a ``SpanRule``, without any decorator.

It prints the finished spans and the events the collector stored: same trace ids on both.
"""

from __future__ import annotations

import json

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import weespin_instrument as weespin
from weespin_instrument.collector import Collector
from weespin_instrument.otel import SpanEventTransport, SpanRule, install


@weespin.track_event("add_to_cart", payload_from=["sku", "quantity"])
def add_to_cart(sku: str, quantity: int = 1) -> None:
    """Business code: tracked with a decorator."""


def checkout_handler(tracer: trace.Tracer, total: float, user_id: str) -> None:
    """What a framework instrumentation does: a span with attributes, no Weespin code."""
    attributes: dict[str, str | float] = {
        "order.total": total,
        "enduser.id": user_id,
        "http.route": "/checkout",
    }
    with tracer.start_as_current_span("POST /checkout", attributes=attributes):
        pass


def main() -> None:
    with Collector() as collector:
        # Your usual OpenTelemetry setup (an in-memory exporter stands in for OTLP here).
        provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
        exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)

        # Weespin: events ride on spans, and the bridge delivers them (and derives more).
        weespin.configure(
            api_key="otel-example-key", base_url=collector.url, transport=SpanEventTransport()
        )
        install(
            rules=[
                SpanRule(
                    "POST /checkout",
                    event="purchase",
                    payload_from={
                        "amount": "attributes.order.total",
                        "route": "attributes.http.route",
                        "status": "status",
                        "service": "resource.service.name",
                    },
                    user_id_from="attributes.enduser.id",
                )
            ]
        )

        tracer = trace.get_tracer("shop")
        with tracer.start_as_current_span("POST /cart"), weespin.identify(user_id="u_42"):
            add_to_cart("SKU-1", quantity=2)
        checkout_handler(tracer, 19.99, "u_42")

        flushed = provider.force_flush(timeout_millis=10_000) and weespin.flush(timeout=10.0)
        spans = {span.name: span for span in exporter.get_finished_spans()}
        print("spans (what your tracing backend receives):")
        for span in spans.values():
            context = span.get_span_context()
            assert context is not None
            events = [event.name for event in span.events]
            print(
                f"  {span.name:<16} trace={context.trace_id:032x} span={context.span_id:016x}"
                f" span_events={events}"
            )
        rows = collector.events()
        print(f"Weespin events (what the collector at {collector.url} stored):")
        for row in rows:
            print(
                f"  {row['event_name']:<12} user={row['user_id']} trace={row['trace_id']}"
                f" span={row['span_id']} payload={json.dumps(row['payload'])}"
            )
        print(f"delivered: {flushed}; stats: {weespin.stats()}")
        weespin.shutdown()
        provider.shutdown()

        expected = {"add_to_cart": "POST /cart", "purchase": "POST /checkout"}
        for row in rows:
            context = spans[expected.pop(row["event_name"])].get_span_context()
            assert context is not None
            if row["trace_id"] != f"{context.trace_id:032x}":
                raise SystemExit(f"otel_bridge: {row['event_name']} is not on its trace")
        if not flushed or expected:
            raise SystemExit(f"otel_bridge: events missing: {sorted(expected)}")


if __name__ == "__main__":
    main()
