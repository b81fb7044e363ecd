"""SpanRule / SpanEventRule: Weespin events from spans that plain OpenTelemetry code created."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Status, StatusCode

from weespin_instrument import Client, Event
from weespin_instrument.collector import Collector
from weespin_instrument.otel import (
    MatchedSpanEvent,
    SpanEventRule,
    SpanEventTransport,
    SpanRule,
    WeespinSpanProcessor,
)
from weespin_instrument.transports import MemoryTransport

from .conftest import KEY, Tracing, hex_ids

SECOND = 1_000_000_000


class Bridge:
    """A processor with ``rules`` on a fresh provider, delivering into memory."""

    def __init__(self, tracing: Tracing, rules: list[Any], client: Client | None = None) -> None:
        self.tracing = tracing
        self.tracer = tracing.tracer
        self.delivery = MemoryTransport()
        self.client = client or Client(transport="none", strict=True)
        self.processor = WeespinSpanProcessor(self.client, rules, delivery=self.delivery)
        tracing.provider.add_span_processor(self.processor)

    @property
    def events(self) -> list[Event]:
        return self.delivery.events

    def names(self) -> list[str]:
        return [event.name for event in self.events]


@pytest.fixture
def bridge(tracing: Tracing) -> Iterator[Callable[..., Bridge]]:
    yield lambda rules, **options: Bridge(tracing, rules, **options)


# -- paths are checked when the rule is built ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "complaint"),
    [
        ("attrs.order.total", "starts at 'attrs', which is not a span path root"),
        ("attributes", "names no key after 'attributes'"),
        ("resource.", "is not a span path"),
        ("status.code", "goes below 'status'"),
        ("name.first", "goes below 'name'"),
        ("", "is not a span path"),
    ],
)
def test_bad_span_paths_raise_naming_the_rule_the_path_and_the_roots(
    path: str, complaint: str
) -> None:
    with pytest.raises(TypeError) as caught:
        SpanRule("POST /checkout", event="purchase", payload_from={"amount": path})
    message = str(caught.value)
    assert message.startswith("SpanRule(span_name='POST /checkout', event='purchase')")
    assert complaint in message
    assert "'attributes.<key>'" in message and "'duration_ms'" in message


def test_identity_paths_are_checked_too() -> None:
    with pytest.raises(TypeError, match=r"'user\.id'"):
        SpanRule("x", event="y", user_id_from="user.id")
    with pytest.raises(TypeError, match=r"'span\.attribute\.a'"):
        SpanEventRule("x", event="y", link_id_from="span.attribute.a")


def test_span_event_paths_point_to_the_enclosing_span_for_status_and_duration() -> None:
    with pytest.raises(TypeError, match=r"a span event has none; write 'span.status'"):
        SpanEventRule("exception", event="app_error", payload_from=["status"])
    with pytest.raises(TypeError, match=r"needs a span path after 'span.'"):
        SpanEventRule("exception", event="app_error", payload_from=["span"])
    with pytest.raises(TypeError, match=r"'span\.nom' starts at 'nom'"):
        SpanEventRule("exception", event="app_error", payload_from=["span.nom"])
    with pytest.raises(TypeError, match="goes below 'name'"):
        SpanEventRule("exception", event="app_error", payload_from=["name.first"])


def test_other_mistakes_are_refused_when_the_rule_is_built() -> None:
    with pytest.raises(TypeError, match="event= must be a non-empty string"):
        SpanRule("x", event="")
    with pytest.raises(TypeError, match="the name to match must be"):
        SpanRule(42, event="y")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="both give the payload key 'total'"):
        SpanRule("x", event="y", payload_from=["attributes.total", "resource.total"])
    with pytest.raises(TypeError, match="payload= must be a mapping"):
        SpanRule("x", event="y", payload=["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="when= must be a callable"):
        SpanRule("x", event="y", when=True)  # type: ignore[arg-type]


# -- matching ------------------------------------------------------------------------------------


def test_rules_match_by_exact_name_glob_or_callable(bridge: Callable[..., Bridge]) -> None:
    b = bridge(
        [
            SpanRule("POST /checkout", event="exact"),
            SpanRule("POST /checkout*", event="glob"),
            SpanRule(lambda name: name.endswith("/confirm"), event="callable"),
        ]
    )
    for name in ("POST /checkout", "POST /checkout/confirm", "GET /checkout", "post /checkout"):
        with b.tracer.start_as_current_span(name):
            pass
    assert b.names() == ["exact", "glob", "glob", "callable"]


# -- what paths read -----------------------------------------------------------------------------


def test_paths_read_dotted_attribute_keys_status_duration_name_and_resource(
    make_tracing: Callable[..., Tracing],
) -> None:
    tracing = make_tracing(resource=Resource.create({"service.name": "shop"}))
    rule = SpanRule(
        "POST /checkout",
        event="purchase",
        payload_from={
            "amount": "attributes.order.total",
            "status": "status",
            "why": "status.description",
            "took_ms": "duration_ms",
            "span": "name",
            "service": "resource.service.name",
        },
        user_id_from="attributes.enduser.id",
        link_id_from="attributes.weespin.link",
        payload={"source": "otel"},
    )
    b = Bridge(tracing, [rule])
    span = b.tracer.start_span(
        "POST /checkout",
        attributes={"order.total": 19.99, "enduser.id": "u_42", "weespin.link": "lnk_1"},
        start_time=10 * SECOND,
    )
    span.set_status(Status(StatusCode.ERROR, "card declined"))
    span.end(end_time=10 * SECOND + 250_000_000)

    [event] = b.events
    assert event.payload == {
        "source": "otel",
        "amount": 19.99,
        "status": "ERROR",
        "why": "card declined",
        "took_ms": 250.0,
        "span": "POST /checkout",
        "service": "shop",
    }
    assert (event.user_id, event.link_id) == ("u_42", "lnk_1")
    assert (event.trace_id, event.span_id) == hex_ids(tracing.span("POST /checkout"))


def test_a_list_of_paths_uses_the_attribute_key_as_payload_key(
    bridge: Callable[..., Bridge],
) -> None:
    b = bridge([SpanRule("job", event="job_done", payload_from=["attributes.job.kind", "status"])])
    with b.tracer.start_as_current_span("job", attributes={"job.kind": "export"}):
        pass
    assert b.events[0].payload == {"job.kind": "export", "status": "UNSET"}


def test_a_missing_path_leaves_its_key_out_and_is_counted_and_logged_once(
    bridge: Callable[..., Bridge], caplog: pytest.LogCaptureFixture
) -> None:
    rule = SpanRule(
        "job",
        event="job_done",
        payload_from={"kind": "attributes.job.kind", "why": "status.description"},
        user_id_from="attributes.enduser.id",
    )
    b = bridge([rule])
    with caplog.at_level(logging.WARNING, logger="weespin_instrument"):
        for _ in range(2):
            with b.tracer.start_as_current_span("job"):
                pass
    assert [event.payload for event in b.events] == [{}, {}]
    assert b.events[0].user_id is None
    assert b.client.stats().missing_fields == 6
    assert caplog.text.count("'attributes.job.kind' found nothing") == 1


def test_when_and_callable_payloads_receive_the_span(bridge: Callable[..., Bridge]) -> None:
    def payload(span: ReadableSpan) -> Mapping[str, Any]:
        return {"attribute_count": len(span.attributes or {})}

    rule = SpanRule(
        "job",
        event="job_failed",
        payload_from=payload,
        when=lambda span: not span.status.is_ok,
    )
    b = bridge([rule])
    with b.tracer.start_as_current_span("job") as ok:
        ok.set_status(Status(StatusCode.OK))
    with b.tracer.start_as_current_span("job", attributes={"a": 1}) as failed:
        failed.set_status(Status(StatusCode.ERROR))
    assert [event.payload for event in b.events] == [{"attribute_count": 1}]


# -- span events ---------------------------------------------------------------------------------


def test_span_event_rules_read_the_event_and_its_span(bridge: Callable[..., Bridge]) -> None:
    rule = SpanEventRule(
        "exception",
        event="app_error",
        payload_from={
            "type": "attributes.exception.type",
            "route": "span.attributes.http.route",
            "span_status": "span.status",
            "event": "name",
        },
        when=lambda match: isinstance(match, MatchedSpanEvent),
    )
    b = bridge([rule])
    with (
        pytest.raises(ValueError, match="bad sku"),
        b.tracer.start_as_current_span("POST /cart", attributes={"http.route": "/cart"}),
    ):
        raise ValueError("bad sku")

    span = b.tracing.span("POST /cart")
    [recorded] = span.events
    [event] = b.events
    assert event.payload == {
        "type": "ValueError",
        "route": "/cart",
        "span_status": "ERROR",
        "event": "exception",
    }
    assert event.timestamp == recorded.timestamp / 1e9
    assert (event.trace_id, event.span_id) == hex_ids(span)


def test_records_of_our_own_are_forwarded_never_matched_by_rules(tracing: Tracing) -> None:
    client = Client(
        transport=SpanEventTransport(no_span="own_span", tracer_provider=tracing.provider)
    )
    b = Bridge(
        tracing, [SpanEventRule("*", event="any_event"), SpanRule("*", event="any_span")], client
    )
    with b.tracer.start_as_current_span("request"):
        client.track("inside")
    client.track("own_span_event")  # on a span of its own: no SpanRule applies to it either
    assert sorted(b.names()) == ["any_span", "inside", "own_span_event"]


# -- failures stay inside the processor ------------------------------------------------------------


class ExplodingAttributes(dict[str, Any]):
    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("attribute storage is broken")


def raise_in_when(span: ReadableSpan) -> bool:
    raise RuntimeError("bug in when")


def raise_in_payload(span: ReadableSpan) -> Mapping[str, Any]:
    raise RuntimeError("bug in payload_from")


def raise_in_matcher(name: str) -> bool:
    raise RuntimeError("bug in the name matcher")


def test_exceptions_in_rules_never_reach_the_code_that_ended_the_span(
    bridge: Callable[..., Bridge],
) -> None:
    b = bridge(
        [
            SpanRule("job", event="from_when", when=raise_in_when),
            SpanRule("job", event="from_payload", payload_from=raise_in_payload),
            SpanRule(raise_in_matcher, event="from_matcher"),
            SpanRule("job", event="healthy"),
        ]
    )
    with b.tracer.start_as_current_span("job"):
        pass  # ending the span runs the rules: nothing must escape
    assert b.names() == ["healthy"]
    stats = b.client.stats()
    assert stats.dropped == {"bridge_error": 3}
    assert stats.tracked == 4
    assert [s.name for s in b.tracing.spans()] == ["job"]  # the exporter after us still ran


def test_an_exception_inside_path_extraction_is_counted(bridge: Callable[..., Bridge]) -> None:
    b = bridge([SpanRule("job", event="job_done", payload_from=["attributes.kind"])])
    broken = ReadableSpan("job", attributes=ExplodingAttributes(kind="export"))
    b.processor.on_end(broken)  # the SDK calls on_end without catching anything
    assert b.client.stats().dropped == {"bridge_error": 1}
    assert "attribute storage is broken" in (b.client.stats().last_error or "")


def test_values_the_api_refuses_drop_the_derived_event_and_secrets_are_scrubbed(
    bridge: Callable[..., Bridge],
) -> None:
    b = bridge(
        [
            SpanRule("bad", event="bad", payload_from=["attributes.tags"]),
            SpanRule("login", event="login", payload_from=["attributes.password"]),
        ]
    )
    with b.tracer.start_as_current_span("bad", attributes={"tags": ("a", "b")}):
        pass
    with b.tracer.start_as_current_span("login", attributes={"password": "hunter2"}):
        pass
    assert b.names() == ["login"]
    assert b.events[0].payload == {"password": "[REDACTED]"}
    assert b.client.stats().dropped == {"invalid_payload": 1}


# -- end to end ----------------------------------------------------------------------------------


def test_derived_events_reach_the_collector_with_the_span_trace_ids(
    tracing: Tracing, collector: Collector
) -> None:
    client = Client(api_key=KEY, base_url=collector.url)
    rule = SpanRule(
        "POST /checkout*",
        event="purchase",
        payload_from={"amount": "attributes.order.total"},
        user_id_from="attributes.enduser.id",
    )
    tracing.provider.add_span_processor(WeespinSpanProcessor(client, [rule]))
    with tracing.tracer.start_as_current_span(
        "POST /checkout", attributes={"order.total": 42.5, "enduser.id": "u_7"}
    ):
        pass
    assert tracing.provider.force_flush(timeout_millis=10_000) is True
    [row] = collector.events()
    assert (row["event_name"], row["payload"], row["user_id"]) == (
        "purchase",
        {"amount": 42.5},
        "u_7",
    )
    assert (row["trace_id"], row["span_id"]) == hex_ids(tracing.span("POST /checkout"))
    stats = client.stats()
    assert (stats.tracked, stats.sent) == (1, 1)
