"""WeespinSpanProcessor: span events of ours reach Weespin when their span ends; on_end is safe."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanLimits

import weespin_instrument as weespin
from weespin_instrument import Client, ConfigurationError, Event
from weespin_instrument.collector import Collector
from weespin_instrument.otel import (
    SpanEventTransport,
    SpanRule,
    WeespinSpanProcessor,
    event_to_attributes,
    install,
)
from weespin_instrument.testing import default_client
from weespin_instrument.transports import BackgroundTransport, BaseTransport, MemoryTransport

from .conftest import KEY, Tracing, hex_ids


class RecordingTransport(MemoryTransport):
    """A memory transport that also records flush and close calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, float | None]] = []

    def flush(self, timeout: float | None = None) -> bool:
        self.calls.append(("flush", timeout))
        return True

    def close(self, timeout: float | None = None) -> None:
        self.calls.append(("close", timeout))


class ExplodingTransport(BaseTransport):
    def send(self, event: Event) -> None:
        raise RuntimeError("delivery bug")


def test_span_events_of_ours_reach_the_collector_with_trace_ids(
    tracing: Tracing, collector: Collector
) -> None:
    client = Client(api_key=KEY, base_url=collector.url, transport=SpanEventTransport())
    tracing.provider.add_span_processor(WeespinSpanProcessor(client))

    @weespin.track_event("purchase", payload_from={"amount": "total"}, client=client)
    def checkout(total: float) -> None:
        pass

    with tracing.tracer.start_as_current_span("POST /checkout"), weespin.identify(user_id="u_42"):
        checkout(19.99)
        assert collector.events() == []  # nothing leaves before the span ends

    span = tracing.span("POST /checkout")
    assert client.flush(timeout=10.0) is True  # reaches the processor's delivery too
    [row] = collector.events()
    assert (row["event_name"], row["payload"], row["user_id"]) == (
        "purchase",
        {"amount": 19.99},
        "u_42",
    )
    assert (row["trace_id"], row["span_id"]) == hex_ids(span)
    assert row["event_id"] == (span.events[0].attributes or {})["weespin.event_id"]
    stats = client.stats()
    assert (stats.tracked, stats.sent, stats.dropped) == (1, 1, {})
    assert [s.name for s in tracing.spans()] == ["POST /checkout"]  # no span of our own
    client.shutdown()


def test_the_default_delivery_is_built_lazily_from_the_client_settings(
    tracing: Tracing, collector: Collector
) -> None:
    client = Client(api_key=KEY, base_url=collector.url, transport=SpanEventTransport())
    processor = WeespinSpanProcessor(client)
    tracing.provider.add_span_processor(processor)
    with tracing.tracer.start_as_current_span("no events"):
        pass
    assert processor._delivery._transport is None  # nothing to deliver: nothing built
    with tracing.tracer.start_as_current_span("request"):
        client.track("open_app")
    delivery = processor._delivery._transport
    assert isinstance(delivery, BackgroundTransport)
    assert delivery.reporter is client.reporter
    assert tracing.provider.force_flush() is True
    assert [row["event_name"] for row in collector.events()] == ["open_app"]


def test_the_fallback_background_transport_is_shared_one_device_for_the_process(
    tracing: Tracing, collector: Collector
) -> None:
    fallback = BackgroundTransport(api_key=KEY, base_url=collector.url)
    transport = SpanEventTransport(fallback=fallback)
    client = Client(api_key=KEY, base_url=collector.url, transport=transport)
    processor = WeespinSpanProcessor(client)
    tracing.provider.add_span_processor(processor)
    client.track("outside_a_span")
    with tracing.tracer.start_as_current_span("request"):
        client.track("inside_a_span")
    assert client.flush(timeout=10.0) is True
    assert processor._delivery._transport is fallback
    assert sorted(row["event_name"] for row in collector.events()) == [
        "inside_a_span",
        "outside_a_span",
    ]
    assert collector.stats()["init_requests"] == 1
    tracing.provider.shutdown()
    assert fallback.flush(timeout=1.0)  # borrowed: flushed by the processor, not closed
    client.shutdown()


def test_force_flush_and_shutdown_reach_the_delivery_transport(tracing: Tracing) -> None:
    delivery = RecordingTransport()
    client = Client(transport=SpanEventTransport())
    tracing.provider.add_span_processor(WeespinSpanProcessor(client, delivery=delivery))
    with tracing.tracer.start_as_current_span("request"):
        client.track("open_app")
    assert [e.name for e in delivery.events] == ["open_app"]
    assert delivery.reporter is client.reporter
    assert tracing.provider.force_flush(timeout_millis=2500) is True
    assert delivery.calls[-1][0] == "flush"
    assert delivery.calls[-1][1] == pytest.approx(2.5, abs=0.5)
    tracing.provider.shutdown()
    assert [name for name, _ in delivery.calls][-2:] == ["flush", "close"]

    with tracing.tracer.start_as_current_span("after shutdown"):
        client.track("late")
    assert [e.name for e in delivery.events] == ["open_app"]
    assert client.stats().dropped == {"closed": 1}


def test_a_span_event_transport_is_refused_as_delivery() -> None:
    with pytest.raises(ConfigurationError, match="back into a span"):
        WeespinSpanProcessor(delivery=SpanEventTransport())


def test_rules_must_be_rules_and_one_rule_alone_is_fine() -> None:
    with pytest.raises(TypeError, match="is not a SpanRule or a SpanEventRule"):
        WeespinSpanProcessor(rules=[lambda span: True])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"rules=\[SpanRule\('POST /checkout'"):
        WeespinSpanProcessor(rules="POST /checkout")  # type: ignore[arg-type]
    rule = SpanRule("POST /checkout", event="purchase")
    assert WeespinSpanProcessor(rules=rule).rules == (rule,)


def test_on_end_never_raises_when_delivery_fails(tracing: Tracing) -> None:
    client = Client(transport=SpanEventTransport(), strict=True)
    processor = WeespinSpanProcessor(client, delivery=ExplodingTransport())
    tracing.provider.add_span_processor(processor)
    with tracing.tracer.start_as_current_span("request"):
        client.track("open_app")
    assert client.stats().dropped == {"transport_error": 1}
    assert [s.name for s in tracing.spans()] == ["request"]  # later processors still ran


def test_without_an_api_key_events_are_counted_not_raised(
    tracing: Tracing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEESPIN_API_KEY", raising=False)
    client = Client(transport=SpanEventTransport(), base_url="http://127.0.0.1:9")
    tracing.provider.add_span_processor(WeespinSpanProcessor(client))
    for _ in range(2):
        with tracing.tracer.start_as_current_span("request"):
            client.track("open_app")
    assert client.stats().dropped == {"not_configured": 2}


def test_an_error_finding_the_default_client_is_logged_not_raised(
    tracing: Tracing, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Client:
        raise ConfigurationError("WEESPIN_STRICT='maybe' is not a boolean")

    monkeypatch.setattr("weespin_instrument.otel._processor.get_client", broken)
    tracing.provider.add_span_processor(WeespinSpanProcessor(rules=[SpanRule("*", event="x")]))
    with caplog.at_level(logging.WARNING, logger="weespin_instrument"):
        for _ in range(3):
            with tracing.tracer.start_as_current_span("request"):
                pass
    messages = [r.getMessage() for r in caplog.records if "not a boolean" in r.getMessage()]
    assert len(messages) == 1


def test_a_disabled_client_forwards_nothing(tracing: Tracing) -> None:
    delivery = MemoryTransport()
    client = Client(transport=SpanEventTransport(), disabled=True)
    tracing.provider.add_span_processor(
        WeespinSpanProcessor(client, [SpanRule("*", event="seen")], delivery=delivery)
    )
    span = tracing.tracer.start_span("request")
    span.add_event("x", event_to_attributes(Event("open_app")))
    span.end()
    assert delivery.events == []


def test_client_none_follows_the_default_client_at_each_span_end(tracing: Tracing) -> None:
    delivery = MemoryTransport()
    processor = WeespinSpanProcessor(rules=[SpanRule("job", event="job_done")], delivery=delivery)
    tracing.provider.add_span_processor(processor)
    first, second = Client(transport="none"), Client(transport="none")
    with default_client(first), tracing.tracer.start_as_current_span("job"):
        pass
    with default_client(second), tracing.tracer.start_as_current_span("job"):
        pass
    assert len(delivery.events) == 2
    assert (first.stats().tracked, second.stats().tracked) == (1, 1)
    assert (first.stats().sent, second.stats().sent) == (1, 1)  # re-attached to each


def test_install_adds_the_processor_to_the_provider(tracing: Tracing) -> None:
    delivery = MemoryTransport()
    processor = install(
        tracing.provider,
        rules=[SpanRule("job", event="job_done")],
        client=Client(transport="none"),
        delivery=delivery,
    )
    assert isinstance(processor, WeespinSpanProcessor)
    with tracing.tracer.start_as_current_span("job"):
        pass
    assert [e.name for e in delivery.events] == ["job_done"]


def test_install_without_an_sdk_provider_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)
    with pytest.raises(ConfigurationError, match="pass an SDK TracerProvider"):
        install()


def test_install_uses_the_global_provider_by_default(
    tracing: Tracing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: tracing.provider)
    delivery = MemoryTransport()
    install(
        rules=[SpanRule("job", event="job_done")],
        client=Client(transport="none"),
        delivery=delivery,
    )
    with tracing.tracer.start_as_current_span("job"):
        pass
    assert [e.name for e in delivery.events] == ["job_done"]


# -- OpenTelemetry's own limits ------------------------------------------------------------------


def test_the_span_event_attribute_limit_is_counted_and_logged(
    make_tracing: Callable[..., Tracing], caplog: pytest.LogCaptureFixture
) -> None:
    tracing = make_tracing(span_limits=SpanLimits(max_event_attributes=7))
    delivery = MemoryTransport()
    client = Client(transport=SpanEventTransport())
    tracing.provider.add_span_processor(WeespinSpanProcessor(client, delivery=delivery))
    logs = caplog.at_level(logging.WARNING, logger="weespin_instrument")
    with logs, tracing.tracer.start_as_current_span("request"):
        client.track("open_app", {"a": 1, "b": 2, "c": 3, "d": 4})
    # 4 payload keys + 2 trace ids + name, id, origin = 9 > 7: the SDK evicts the oldest keys
    [event] = delivery.events
    assert event.payload == {"c": 3, "d": 4}
    assert client.stats().missing_fields == 2
    assert "max_event_attributes" in caplog.text


def test_the_span_event_limit_is_logged(
    make_tracing: Callable[..., Tracing], caplog: pytest.LogCaptureFixture
) -> None:
    tracing = make_tracing(span_limits=SpanLimits(max_events=1))
    delivery = MemoryTransport()
    client = Client(transport=SpanEventTransport())
    tracing.provider.add_span_processor(WeespinSpanProcessor(client, delivery=delivery))
    logs = caplog.at_level(logging.WARNING, logger="weespin_instrument")
    with logs, tracing.tracer.start_as_current_span("request"):
        client.track("first")
        client.track("second")
    assert [e.name for e in delivery.events] == ["second"]  # the oldest was evicted
    assert "SpanLimits.max_events" in caplog.text


# -- concurrency ---------------------------------------------------------------------------------


def test_spans_ending_in_threads_and_tasks_all_reach_the_collector_through_one_delivery(
    tracing: Tracing, collector: Collector
) -> None:
    client = Client(api_key=KEY, base_url=collector.url, transport=SpanEventTransport())
    processor = WeespinSpanProcessor(client, [SpanRule("job-*", event="job_done")])
    tracing.provider.add_span_processor(processor)

    @weespin.track_event("step", payload_from=["n"], client=client)
    async def step(n: int) -> None:
        await asyncio.sleep(0)

    async def task(n: int) -> None:
        with tracing.tracer.start_as_current_span(f"task-{n}"):
            await step(n)

    async def tasks() -> None:
        await asyncio.gather(*(task(n) for n in range(20)))

    def worker(n: int) -> None:
        with tracing.tracer.start_as_current_span(f"job-{n}"):
            client.track("step", {"n": n})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20, 40)]
    for thread in threads:
        thread.start()
    asyncio.run(tasks())
    for thread in threads:
        thread.join(timeout=10)
    assert client.flush(timeout=10.0) is True
    steps = {row["payload"]["n"]: row for row in collector.events("step")}
    assert sorted(steps) == list(range(40))
    for n, row in steps.items():
        name = f"task-{n}" if n < 20 else f"job-{n}"
        assert (row["trace_id"], row["span_id"]) == hex_ids(tracing.span(name))
    assert len(collector.events("job_done")) == 20
    assert collector.stats()["init_requests"] == 1  # one delivery transport, one device
    stats = client.stats()
    assert (stats.tracked, stats.sent, stats.dropped) == (60, 60, {})


# -- the delivery a SpanEventTransport forwards by is its own ------------------------------------


def sender_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "weespin-sender" and t.is_alive()}


def test_processors_of_one_span_event_client_forward_by_one_delivery_one_device(
    make_tracing: Callable[..., Tracing], collector: Collector
) -> None:
    client = Client(api_key=KEY, base_url=collector.url, transport=SpanEventTransport())
    web, jobs = make_tracing(), make_tracing()
    for tracing in (web, jobs):
        tracing.provider.add_span_processor(WeespinSpanProcessor(client))
    with web.tracer.start_as_current_span("request"):
        client.track("from_a_request")
    with jobs.tracer.start_as_current_span("job"):
        client.track("from_a_job")
    assert client.flush(timeout=10.0) is True
    assert sorted(row["event_name"] for row in collector.events()) == [
        "from_a_job",
        "from_a_request",
    ]
    assert collector.stats()["init_requests"] == 1
    client.shutdown()


def test_client_shutdown_closes_the_delivery_its_span_event_transport_built(
    tracing: Tracing, collector: Collector
) -> None:
    before = sender_threads()
    client = Client(api_key=KEY, base_url=collector.url, transport=SpanEventTransport())
    tracing.provider.add_span_processor(WeespinSpanProcessor(client))
    with tracing.tracer.start_as_current_span("request"):
        client.track("open_app")
    assert len(sender_threads() - before) == 1
    assert client.shutdown(timeout=10.0) is True
    assert [row["event_name"] for row in collector.events()] == ["open_app"]
    for thread in sender_threads() - before:
        thread.join(timeout=10.0)
    assert sender_threads() - before == set()  # nothing left running for the processor
    assert client.stats().sent == 1


def test_a_span_event_transport_adopted_by_a_new_client_forwards_with_its_settings(
    make_tracing: Callable[..., Tracing], collector: Collector, tmp_path: Path
) -> None:
    transport = SpanEventTransport()
    before, after = make_tracing(), make_tracing()
    with Collector(port=0, db=tmp_path / "old.sqlite") as old_collector:
        old = Client(api_key=KEY, base_url=old_collector.url, transport=transport)
        before.provider.add_span_processor(WeespinSpanProcessor(old))
        with before.tracer.start_as_current_span("request"):
            old.track("to_the_old_url")
        new = Client(api_key=KEY, base_url=collector.url, transport=transport)  # configure()
        after.provider.add_span_processor(WeespinSpanProcessor(new))
        with after.tracer.start_as_current_span("request"):
            new.track("to_the_new_url")
        assert new.flush(timeout=10.0) is True
        assert before.provider.force_flush() is True  # the old delivery, retired meanwhile
        assert [row["event_name"] for row in collector.events()] == ["to_the_new_url"]
        assert [row["event_name"] for row in old_collector.events()] == ["to_the_old_url"]
    assert (old.stats().sent, new.stats().sent) == (1, 1)
    new.shutdown()
