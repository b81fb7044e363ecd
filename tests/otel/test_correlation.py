"""Trace correlation: events tracked while a span records carry its trace and span ids."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import weespin_instrument as weespin
from weespin_instrument import Client
from weespin_instrument.collector import Collector

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
