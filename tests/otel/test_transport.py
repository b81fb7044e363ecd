"""SpanEventTransport: events become span events on the span current when the call started."""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
import threading
from collections.abc import Generator, Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import weespin_instrument as weespin
from weespin_instrument import Client, ConfigurationError
from weespin_instrument.otel import SpanEventTransport
from weespin_instrument.testing import default_client
from weespin_instrument.transports import MemoryTransport

from .conftest import Tracing, event_attributes, hex_ids


def span_client(transport: SpanEventTransport | None = None) -> Client:
    return Client(transport=transport or SpanEventTransport(), strict=True)


@pytest.fixture
def default_span_client() -> Iterator[Client]:
    """The default client, for the module-level functions, records span events."""
    client = span_client()
    try:
        with default_client(client):
            yield client
    finally:
        client.shutdown(timeout=1.0)


def test_a_decorated_call_becomes_a_span_event_with_flat_portable_attributes(
    tracing: Tracing,
) -> None:
    client = span_client()

    @weespin.track_event(
        "purchase",
        payload_from={"amount": "order.total", "currency": "order.currency"},
        user_id_from="user",
        client=client,
    )
    def checkout(order: dict[str, object], user: str) -> str:
        return "ok"

    with (
        tracing.tracer.start_as_current_span("POST /checkout"),
        weespin.identify(link_id="lnk_9f3"),
    ):
        checkout({"total": 19.99, "currency": "EUR"}, "u_42")

    span = tracing.span("POST /checkout")
    [span_event] = span.events
    assert span_event.name == "purchase"
    attributes = dict(span_event.attributes or {})
    trace_id, span_id = hex_ids(span)
    assert attributes == {
        "weespin.origin": "weespin-instrument",
        "weespin.event_name": "purchase",
        "weespin.event_id": attributes["weespin.event_id"],
        "weespin.user_id": "u_42",
        "weespin.link_id": "lnk_9f3",
        "weespin.trace_id": trace_id,
        "weespin.span_id": span_id,
        "weespin.payload.amount": 19.99,
        "weespin.payload.currency": "EUR",
    }
    assert len(str(attributes["weespin.event_id"])) == 36
    assert client.stats().dropped == {}


def test_the_event_goes_on_the_span_current_when_the_call_started(tracing: Tracing) -> None:
    client = span_client()

    @weespin.track_event("feed_read", payload_from={"items": "return"}, client=client)
    def feed() -> Generator[int, None, int]:
        yield 1
        yield 2
        return 2

    with tracing.tracer.start_as_current_span("started-here"):
        reader = feed()
        next(reader)
        with tracing.tracer.start_as_current_span("finished-here"):
            assert list(reader) == [2]

    assert tracing.span("finished-here").events == ()
    [span_event] = tracing.span("started-here").events
    assert (span_event.name, (span_event.attributes or {})["weespin.payload.items"]) == (
        "feed_read",
        2,
    )


def test_a_captured_span_that_ended_meanwhile_applies_the_policy(tracing: Tracing) -> None:
    memory = MemoryTransport()
    client = span_client(SpanEventTransport(fallback=memory))

    @weespin.track_event("feed_read", client=client)
    def feed() -> Iterator[int]:
        yield 1

    with tracing.tracer.start_as_current_span("started-here"):
        reader = feed()
        next(reader)
    with tracing.tracer.start_as_current_span("current-at-the-end"):
        list(reader)

    assert all(span.events == () for span in tracing.spans())
    assert [event.name for event in memory.events] == ["feed_read"]


def test_track_and_tracked_record_on_the_current_span(
    tracing: Tracing, default_span_client: Client
) -> None:
    with tracing.tracer.start_as_current_span("request"):
        weespin.track("share_link", {"channel": "email"}, user_id="u_1")
        with weespin.tracked("signup", plan="pro") as event:
            event.user_id = "u_2"

    span = tracing.span("request")
    assert [e.name for e in span.events] == ["share_link", "signup"]
    share, signup = event_attributes(span)
    assert (share["weespin.payload.channel"], share["weespin.user_id"]) == ("email", "u_1")
    assert (signup["weespin.payload.plan"], signup["weespin.user_id"]) == ("pro", "u_2")


def test_the_span_event_time_is_the_event_time(tracing: Tracing) -> None:
    client = span_client()
    with tracing.tracer.start_as_current_span("request"):
        event = client.track("open_app")
    assert event is not None
    [span_event] = tracing.span("request").events
    assert span_event.timestamp == int(event.timestamp * 1e9)


# -- the policy when no span is recording -----------------------------------------------------


def test_drop_is_the_default_and_is_counted(tracing: Tracing) -> None:
    client = span_client()
    assert client.track("open_app") is not None
    assert client.stats().dropped == {"no_recording_span": 1}
    assert tracing.spans() == []


def test_an_unsampled_span_is_not_recording() -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    client = span_client()
    with provider.get_tracer("t").start_as_current_span("not sampled"):
        client.track("open_app")
    assert client.stats().dropped == {"no_recording_span": 1}


def test_fallback_takes_the_events_no_span_records(tracing: Tracing) -> None:
    memory = MemoryTransport()
    transport = SpanEventTransport(no_span="fallback", fallback=memory)
    client = span_client(transport)
    client.track("outside")
    with tracing.tracer.start_as_current_span("request"):
        client.track("inside")
    assert [event.name for event in memory.events] == ["outside"]
    assert [e.name for e in tracing.span("request").events] == ["inside"]
    assert client.stats().sent == 1  # the fallback counts into the client's reporter
    assert client.flush(timeout=1.0) is True


def test_own_span_records_the_event_on_a_short_root_span_named_for_it(tracing: Tracing) -> None:
    client = span_client(SpanEventTransport(no_span="own_span", tracer_provider=tracing.provider))
    unsampled = SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(0))
    with trace.use_span(NonRecordingSpan(unsampled)):
        event = client.track("open_app", {"screen": "home"})
    assert event is not None
    span = tracing.span("open_app")
    assert span.parent is None
    assert span.start_time == span.end_time == int(event.timestamp * 1e9)
    assert (span.attributes or {})["weespin.origin"] == "weespin-instrument"
    [attributes] = event_attributes(span)
    assert attributes["weespin.payload.screen"] == "home"
    assert client.stats().dropped == {}


def test_own_span_that_the_sampler_refuses_is_counted_as_dropped() -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    client = span_client(SpanEventTransport(no_span="own_span", tracer_provider=provider))
    client.track("open_app")
    assert client.stats().dropped == {"no_recording_span": 1}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"no_span": "fallback"}, "needs fallback="),
        ({"no_span": "drop", "fallback": MemoryTransport()}, "only used with no_span='fallback'"),
        ({"no_span": "ignore"}, "use one of 'drop', 'fallback', 'own_span'"),
        ({"fallback": SpanEventTransport()}, "cannot be another SpanEventTransport"),
    ],
)
def test_inconsistent_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SpanEventTransport(**options)  # type: ignore[arg-type]


# -- async and threads ------------------------------------------------------------------------


def test_concurrent_tasks_each_record_on_their_own_span(tracing: Tracing) -> None:
    client = span_client()

    @weespin.track_event("step", payload_from=["n"], client=client)
    async def step(n: int) -> None:
        for _ in range(3):
            await asyncio.sleep(0)

    async def task(n: int) -> None:
        with tracing.tracer.start_as_current_span(f"task-{n}"):
            await step(n)

    async def main() -> None:
        await asyncio.gather(*(task(n) for n in range(10)))
        with tracing.tracer.start_as_current_span("parent"):
            await asyncio.create_task(step(99))

    asyncio.run(main())
    for n in range(10):
        [attributes] = event_attributes(tracing.span(f"task-{n}"))
        assert attributes["weespin.payload.n"] == n
    [attributes] = event_attributes(tracing.span("parent"))
    assert attributes["weespin.payload.n"] == 99


def test_threads_record_on_their_own_span_or_on_the_context_they_were_given(
    tracing: Tracing,
) -> None:
    client = span_client()

    def work(n: int) -> None:
        with tracing.tracer.start_as_current_span(f"thread-{n}"):
            client.track("work", {"n": n})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    for n in range(8):
        [attributes] = event_attributes(tracing.span(f"thread-{n}"))
        assert attributes["weespin.payload.n"] == n

    with tracing.tracer.start_as_current_span("handed-over"):
        context = contextvars.copy_context()
        bare = threading.Thread(target=client.track, args=("no_context",))
        given = threading.Thread(target=context.run, args=(client.track, "with_context"))
        for thread in (bare, given):
            thread.start()
            thread.join(timeout=10)
    assert [e.name for e in tracing.span("handed-over").events] == ["with_context"]
    assert client.stats().dropped == {"no_recording_span": 1}


# -- opentelemetry-api only ---------------------------------------------------------------------

_API_ONLY = """
import sys
sys.modules["opentelemetry.sdk"] = None  # as if opentelemetry-sdk were not installed
from weespin_instrument import Client
import weespin_instrument.otel as otel
client = Client(transport=otel.SpanEventTransport())
client.track("open_app")
print(client.stats().dropped)
try:
    otel.WeespinSpanProcessor
except ImportError as exc:
    print("ImportError:", exc)
print(sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk")))
"""


def test_the_transport_needs_only_the_api() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _API_ONLY], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    dropped, error, loaded = result.stdout.splitlines()
    assert dropped == "{'no_recording_span': 1}"
    assert "needs opentelemetry-sdk" in error and "weespin-instrument[otel]" in error
    assert loaded == "['opentelemetry.sdk']"  # only our None placeholder
