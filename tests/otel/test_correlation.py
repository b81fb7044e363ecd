"""Trace correlation: events tracked while a span records carry its trace and span ids."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace import NonRecordingSpan, SpanContext

import weespin_instrument as weespin
from weespin_instrument import Client
from weespin_instrument.collector import Collector
from weespin_instrument.transports import MemoryTransport

from .conftest import KEY, Tracing, hex_ids


def sync_client(collector: Collector, **options: Any) -> Client:
    return Client(api_key=KEY, base_url=collector.url, transport="sync", **options)


def ids(row: dict[str, object]) -> tuple[object, object]:
    return row["trace_id"], row["span_id"]


def test_an_event_tracked_in_a_span_carries_its_ids_to_the_collector(
    tracing: Tracing, collector: Collector
) -> None:
    client = sync_client(collector)
    with tracing.tracer.start_as_current_span("request"):
        client.track("open_app")
    client.track("outside")
    inside, outside = collector.events()
    assert ids(inside) == hex_ids(tracing.span("request"))
    assert ids(outside) == (None, None)


def test_a_decorated_call_carries_the_span_current_when_it_started(
    tracing: Tracing, collector: Collector
) -> None:
    client = sync_client(collector)

    @weespin.track_event("feed_read", client=client)
    def feed() -> Iterator[int]:
        yield 1
        yield 2

    with tracing.tracer.start_as_current_span("started-here"):
        reader = feed()
        next(reader)
        with tracing.tracer.start_as_current_span("finished-here"):
            list(reader)
    [row] = collector.events()
    assert ids(row) == hex_ids(tracing.span("started-here"))


def test_trace_correlation_false_sends_no_ids(tracing: Tracing, collector: Collector) -> None:
    client = sync_client(collector, trace_correlation=False)
    with tracing.tracer.start_as_current_span("request"):
        client.track("open_app")
    [row] = collector.events()
    assert ids(row) == (None, None)


def test_tasks_and_threads_carry_the_ids_of_their_own_spans(
    tracing: Tracing, collector: Collector
) -> None:
    client = Client(api_key=KEY, base_url=collector.url)  # background: captured at the call

    @weespin.track_event("step", payload_from=["n"], client=client)
    async def step(n: int) -> None:
        await asyncio.sleep(0)

    async def task(n: int) -> None:
        with tracing.tracer.start_as_current_span(f"span-{n}"):
            await step(n)

    async def tasks() -> None:
        await asyncio.gather(*(task(n) for n in range(5)))

    def thread(n: int) -> None:
        with tracing.tracer.start_as_current_span(f"span-{n}"):
            client.track("step", {"n": n})

    asyncio.run(tasks())
    workers = [threading.Thread(target=thread, args=(n,)) for n in range(5, 10)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert client.flush(timeout=10.0) is True
    rows = {row["payload"]["n"]: row for row in collector.events()}
    assert sorted(rows) == list(range(10))
    for n, row in rows.items():
        assert ids(row) == hex_ids(tracing.span(f"span-{n}"))
    client.shutdown()


# -- how the current span is found ----------------------------------------------------------------


class CountingRuntimeContext(ContextVarsRuntimeContext):
    """A runtime context other than OpenTelemetry's default one, counting its reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_current(self) -> otel_context.Context:
        self.reads += 1
        return super().get_current()


def test_a_runtime_context_other_than_the_default_is_read_through_the_public_api(
    tracing: Tracing, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = MemoryTransport()
    client = Client(transport=memory)

    @weespin.track_event("step", client=client)
    def step() -> None:
        pass

    step()  # the default runtime context: read directly
    runtime = CountingRuntimeContext()
    monkeypatch.setattr(otel_context, "_RUNTIME_CONTEXT", runtime)
    with tracing.tracer.start_as_current_span("custom-runtime"):
        step()
    assert runtime.reads > 0
    monkeypatch.undo()  # back to the default one: learnt again
    with tracing.tracer.start_as_current_span("default-runtime"):
        step()
    outside, custom, default = memory.events
    assert outside.trace_id is None
    assert (custom.trace_id, custom.span_id) == hex_ids(tracing.span("custom-runtime"))
    assert (default.trace_id, default.span_id) == hex_ids(tracing.span("default-runtime"))


def test_an_invalid_or_unsampled_current_span_gives_no_ids(tracing: Tracing) -> None:
    memory = MemoryTransport()
    client = Client(transport=memory)
    unsampled = NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=False))
    with trace.use_span(trace.INVALID_SPAN):
        client.track("invalid")
    with trace.use_span(unsampled):
        client.track("unsampled")
    invalid, not_sampled = memory.events
    assert (invalid.span, invalid.trace_id, invalid.span_id) == (None, None, None)
    assert not_sampled.span is unsampled  # SpanEventTransport applies its policy to it
    assert (not_sampled.trace_id, not_sampled.span_id) == (None, None)
