"""Fixtures for the OpenTelemetry bridge: a private SDK TracerProvider per test, never global."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

KEY = "otel-test-key"


class Tracing:
    """A TracerProvider of our own, its tracer and the spans it exported."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = provider.get_tracer("tests.otel")

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans, in the order they ended."""
        spans = list(self.exporter.get_finished_spans())
        return [s for s in spans if name is None or s.name == name]

    def span(self, name: str) -> ReadableSpan:
        """The one finished span called ``name``."""
        found = self.spans(name)
        assert len(found) == 1, f"{len(found)} spans named {name!r}: {self.spans()}"
        return found[0]


@pytest.fixture
def make_tracing() -> Iterator[Callable[..., Tracing]]:
    """Build TracerProviders (keyword arguments go to ``TracerProvider``); shut down after."""
    made: list[TracerProvider] = []

    def make(**options: Any) -> Tracing:
        provider = TracerProvider(shutdown_on_exit=False, **options)
        made.append(provider)
        return Tracing(provider)

    yield make
    for provider in made:
        provider.shutdown()


@pytest.fixture
def tracing(make_tracing: Callable[..., Tracing]) -> Tracing:
    """A fresh SDK TracerProvider (not installed globally) with an in-memory exporter."""
    return make_tracing()


def event_attributes(span: ReadableSpan) -> list[dict[str, object]]:
    """The attributes of every span event of ``span``, as plain dicts."""
    return [dict(e.attributes or {}) for e in span.events]


def hex_ids(span: trace.Span | ReadableSpan) -> tuple[str, str]:
    """``(trace_id, span_id)`` of ``span`` as the collector stores them."""
    context = span.get_span_context()
    assert context is not None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
