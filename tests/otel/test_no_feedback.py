"""Our own HTTP requests create no spans, even with httpx instrumented: no feedback loops."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

# A dev dependency (pyproject.toml's dev extra): a missing one must fail, not skip, the test.
from opentelemetry.instrumentation import httpx as httpx_instrumentation

from weespin_instrument import Client
from weespin_instrument.collector import Collector
from weespin_instrument.otel import SpanEventTransport, SpanRule, WeespinSpanProcessor

from .conftest import KEY, Tracing


@pytest.fixture
def instrumented_httpx(tracing: Tracing) -> Iterator[Tracing]:
    """httpx instrumented for the test, reporting to the test's own provider."""
    instrumentor = httpx_instrumentation.HTTPXClientInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider)
    try:
        yield tracing
    finally:
        instrumentor.uninstrument()


def test_the_instrumentation_is_active_for_other_requests(
    instrumented_httpx: Tracing, collector: Collector
) -> None:
    with httpx.Client() as http:
        http.get(collector.url + "/healthz")
    assert [span.name for span in instrumented_httpx.spans()] == ["GET"]


def test_sync_sends_inside_a_span_create_no_http_span(
    instrumented_httpx: Tracing, collector: Collector
) -> None:
    client = Client(api_key=KEY, base_url=collector.url, transport="sync")
    with instrumented_httpx.tracer.start_as_current_span("request"):
        for n in range(3):
            client.track("open_app", {"n": n})
    assert len(collector.events()) == 3
    assert collector.stats()["init_requests"] == 1
    assert [span.name for span in instrumented_httpx.spans()] == ["request"]
    client.shutdown()


def test_the_bridge_delivers_without_creating_spans_for_itself(
    instrumented_httpx: Tracing, collector: Collector
) -> None:
    tracing = instrumented_httpx
    client = Client(api_key=KEY, base_url=collector.url, transport=SpanEventTransport())
    # A rule matching every span would turn any span of ours into a new event, and so on.
    processor = WeespinSpanProcessor(client, [SpanRule("*", event="span_seen")])
    tracing.provider.add_span_processor(processor)
    with tracing.tracer.start_as_current_span("request"):
        client.track("open_app")
    assert processor.force_flush(timeout_millis=10_000) is True
    assert sorted(row["event_name"] for row in collector.events()) == ["open_app", "span_seen"]
    assert [span.name for span in tracing.spans()] == ["request"]
    assert client.stats().sent == 2
