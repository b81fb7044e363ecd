"""The bridge and the client are one pipeline: one sender, one device, one flush, one count."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from opentelemetry.trace import SpanKind

import weespin_instrument as weespin
from weespin_instrument import Client
from weespin_instrument.collector import Collector
from weespin_instrument.otel import SpanEventTransport, SpanRule, install
from weespin_instrument.testing import default_client
from weespin_instrument.transports import BackgroundTransport, MemoryTransport

from .conftest import KEY, Tracing


@pytest.fixture
def no_default() -> Iterator[None]:
    """The test configures the default client itself; the previous one comes back after."""
    with default_client(None):
        yield
    weespin.shutdown(timeout=5.0)


def sender_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "weespin-sender"]


def checkout_rule() -> SpanRule:
    return SpanRule(
        "POST /checkout*",
        event="purchase",
        kind=SpanKind.SERVER,
        payload_from={"amount": "attributes.order.total"},
    )


def serve_checkout(tracing: Tracing, total: float) -> None:
    """What FastAPI's instrumentation records: a server span and two internal ones."""
    with tracing.tracer.start_as_current_span(
        "POST /checkout", kind=SpanKind.SERVER, attributes={"order.total": total}
    ):
        with tracing.tracer.start_as_current_span("POST /checkout http receive"):
            pass
        with tracing.tracer.start_as_current_span("POST /checkout http send"):
            pass


def test_configure_and_install_share_one_sender_one_device_and_flush_waits_for_spans(
    tracing: Tracing, collector: Collector, no_default: None
) -> None:
    senders_before = set(sender_threads())
    weespin.configure(api_key=KEY, base_url=collector.url)
    install(tracing.provider, rules=[checkout_rule()])

    @weespin.track_event("add_to_cart", payload_from=["sku"])
    def add_to_cart(sku: str) -> None:
        pass

    collector.set_latency(100)
    for n in range(10):
        add_to_cart(f"SKU-{n}")
        serve_checkout(tracing, 10.0 + n)
    assert weespin.flush(timeout=0.0) is False  # span-derived events are still on their way
    assert weespin.flush(timeout=15.0) is True
    assert len(collector.events("purchase")) == 10  # all of them reached the collector
    assert len(collector.events("add_to_cart")) == 10
    assert collector.stats()["init_requests"] == 1  # one device for the process
    assert len(set(sender_threads()) - senders_before) == 1  # one sender thread
    stats = weespin.stats()
    assert (stats.tracked, stats.sent, stats.queued, stats.in_flight) == (20, 20, 0, 0)
    collector.set_latency(0)


def test_span_rule_kind_keeps_the_framework_inner_spans_out(tracing: Tracing) -> None:
    memory = MemoryTransport()
    client = Client(transport=memory)
    install(tracing.provider, rules=[checkout_rule()], client=client)
    serve_checkout(tracing, 19.99)
    assert [(e.name, e.payload) for e in memory.events] == [("purchase", {"amount": 19.99})]


def test_span_rule_kind_takes_a_collection_and_refuses_anything_else() -> None:
    rule = SpanRule("*", event="seen", kind=[SpanKind.SERVER, SpanKind.CONSUMER])
    assert rule.kind == [SpanKind.SERVER, SpanKind.CONSUMER]
    with pytest.raises(TypeError, match=r"kind= must be a SpanKind"):
        SpanRule("*", event="seen", kind="SERVER")  # type: ignore[arg-type]


def test_the_fixture_captures_span_derived_events(
    tracing: Tracing, weespin_events: MemoryTransport
) -> None:
    install(tracing.provider, rules=[checkout_rule()])
    serve_checkout(tracing, 5.0)
    weespin_events.assert_tracked("purchase", amount=5.0)


def test_app_code_calling_configure_inside_the_fixture_stays_captured(
    tracing: Tracing, weespin_events: MemoryTransport
) -> None:
    weespin.configure(api_key="app-key", base_url="http://127.0.0.1:9")  # what app start-up does
    install(tracing.provider, rules=[checkout_rule()])
    weespin.track("signup", {"plan": "pro"})
    serve_checkout(tracing, 7.0)
    weespin_events.assert_tracked("signup", plan="pro")
    weespin_events.assert_tracked("purchase", amount=7.0)


def test_configure_settings_reach_the_transport_instances_given_to_it(
    tracing: Tracing, collector: Collector, no_default: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEESPIN_API_KEY", raising=False)
    monkeypatch.delenv("WEESPIN_BASE_URL", raising=False)
    weespin.configure(
        api_key=KEY,
        base_url=collector.url,
        transport=SpanEventTransport(fallback=BackgroundTransport()),
    )
    install(tracing.provider)
    weespin.track("outside_a_span")
    with tracing.tracer.start_as_current_span("request"):
        weespin.track("inside_a_span")
    assert weespin.flush(timeout=10.0) is True
    assert sorted(e["event_name"] for e in collector.events()) == [
        "inside_a_span",
        "outside_a_span",
    ]
    assert collector.stats()["init_requests"] == 1


def test_options_given_to_the_transport_win_over_configure(
    collector: Collector, no_default: None
) -> None:
    transport = BackgroundTransport(base_url=collector.url, max_queue=7)
    weespin.configure(api_key=KEY, base_url="http://127.0.0.1:9", transport=transport)
    weespin.track("signup")
    assert weespin.flush(timeout=10.0) is True
    assert (transport.settings.base_url, transport.max_queue) == (collector.url, 7)
    assert [e["event_name"] for e in collector.events()] == ["signup"]


def test_with_span_events_only_stats_count_what_the_processor_still_holds(
    tracing: Tracing, collector: Collector, no_default: None
) -> None:
    weespin.configure(api_key=KEY, base_url=collector.url, transport=SpanEventTransport())
    install(tracing.provider)
    collector.set_latency(300)
    with tracing.tracer.start_as_current_span("request"):
        weespin.track("signup")
    stats = weespin.stats()
    assert stats.queued + stats.in_flight == 1  # handed to the processor, not delivered yet
    assert weespin.flush(timeout=10.0) is True
    stats = weespin.stats()
    assert (stats.sent, stats.queued, stats.in_flight) == (1, 0, 0)
    collector.set_latency(0)
