"""One recipe for every source of events: @track_event, tracked() and the OpenTelemetry rules
check the options they share the same way, in the same words, when they are declared."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from weespin_instrument import Client, track_event, tracked
from weespin_instrument.transports import MemoryTransport

SpanRule = pytest.importorskip("weespin_instrument.otel").SpanRule


def checkout(order: Any, user: Any) -> None: ...


def test_two_paths_giving_one_key_suggest_the_mapping_form_for_functions_and_spans() -> None:
    with pytest.raises(TypeError) as function:
        track_event("purchase", payload_from=["order.total", "user.total"])(checkout)
    assert str(function.value) == (
        "@track_event('purchase') on checkout: paths 'order.total' and 'user.total' both give "
        "the payload key 'total'. Name the keys with a mapping: "
        "payload_from={'total': 'order.total', 'other_total': 'user.total'}."
    )
    with pytest.raises(TypeError) as span:
        SpanRule("x", event="purchase", payload_from=["attributes.total", "resource.total"])
    assert str(span.value) == (
        "SpanRule(span_name='x', event='purchase'): paths 'attributes.total' and "
        "'resource.total' both give the payload key 'total'. Name the keys with a mapping: "
        "payload_from={'total': 'attributes.total', 'other_total': 'resource.total'}."
    )


def test_a_payload_from_key_that_is_not_a_string_is_named_by_every_source() -> None:
    with pytest.raises(TypeError) as function:
        track_event("purchase", payload_from={1: "order.total"})(checkout)  # type: ignore[dict-item]
    with pytest.raises(TypeError) as span:
        SpanRule("x", event="purchase", payload_from={1: "attributes.total"})  # type: ignore[dict-item]
    assert str(function.value).endswith(": payload_from keys must be non-empty strings, got 1.")
    assert str(span.value).endswith(": payload_from keys must be non-empty strings, got 1.")


def test_a_payload_from_of_another_type_is_refused_by_every_source() -> None:
    message = (
        ": payload_from must be a path, a list of paths, a mapping {payload_key: path} or a "
        "callable, got int."
    )
    with pytest.raises(TypeError) as function:
        track_event("purchase", payload_from=42)(checkout)  # type: ignore[arg-type]
    with pytest.raises(TypeError) as span:
        SpanRule("x", event="purchase", payload_from=42)  # type: ignore[arg-type]
    assert str(function.value).endswith(message)
    assert str(span.value).endswith(message)


def test_a_when_that_cannot_be_called_fails_when_decorating_not_per_call() -> None:
    with pytest.raises(TypeError) as info:
        track_event("purchase", when=True)(checkout)  # type: ignore[arg-type]
    assert str(info.value) == (
        "@track_event('purchase') on checkout: when= must be a callable returning a bool."
    )
    with pytest.raises(TypeError, match="when= must be a callable returning a bool"):
        SpanRule("x", event="purchase", when=True)  # type: ignore[arg-type]


def test_static_payload_must_be_a_mapping_for_every_source() -> None:
    with pytest.raises(TypeError) as function:
        track_event("purchase", payload=["a"])(checkout)  # type: ignore[arg-type]
    with pytest.raises(TypeError) as span:
        SpanRule("x", event="purchase", payload=["a"])  # type: ignore[arg-type]
    assert str(function.value).endswith(": payload= must be a mapping of static fields.")
    assert str(span.value).endswith(": payload= must be a mapping of static fields.")


def test_on_exception_is_checked_in_the_same_words_by_the_decorator_and_the_block() -> None:
    with pytest.raises(TypeError) as decorator:
        track_event("purchase", on_exception="ignore")(checkout)  # type: ignore[arg-type]
    with pytest.raises(TypeError) as block:
        tracked("purchase", on_exception="ignore")  # type: ignore[arg-type]
    assert str(decorator.value) == (
        "@track_event('purchase') on checkout: on_exception must be 'skip' or 'track', "
        "not 'ignore'."
    )
    assert str(block.value) == (
        "tracked('purchase'): on_exception must be 'skip' or 'track', not 'ignore'."
    )


def test_the_decorator_and_the_block_report_an_outcome_with_the_same_fields() -> None:
    memory = MemoryTransport()
    client = Client(transport=memory)

    @track_event("export", on_exception="track", timing=True, client=client)
    def export() -> None:
        raise ValueError("disk full")

    with pytest.raises(ValueError):
        export()
    with (
        pytest.raises(ValueError),
        tracked("export", on_exception="track", timing=True, client=client),
    ):
        raise ValueError("disk full")
    decorated, block = memory.events
    assert decorated.payload.keys() == block.payload.keys() == {"error", "duration_ms"}
    assert decorated.payload["error"] == block.payload["error"] == "ValueError"


# -- tracked(): its options, however they are passed -------------------------------------------


def test_tracked_options_given_as_a_mapping_of_keywords_are_options_not_fields() -> None:
    memory = MemoryTransport()
    options: dict[str, Any] = {"user_id": 7, "timing": True, "client": Client(transport=memory)}
    with tracked("export", rows=3, **options):
        pass
    [sent] = memory.events
    assert sent.user_id == "7"
    assert sent.payload.keys() == {"rows", "duration_ms"}


def test_tracked_documents_its_options_as_keyword_only() -> None:
    signature = inspect.signature(tracked)
    kinds = {name: p.kind.name for name, p in signature.parameters.items()}
    assert kinds == {
        "name": "POSITIONAL_ONLY",
        "payload": "POSITIONAL_OR_KEYWORD",
        "user_id": "KEYWORD_ONLY",
        "link_id": "KEYWORD_ONLY",
        "timing": "KEYWORD_ONLY",
        "on_exception": "KEYWORD_ONLY",
        "client": "KEYWORD_ONLY",
        "schema": "KEYWORD_ONLY",
        "fields": "VAR_KEYWORD",
    }
    assert signature.parameters["on_exception"].default == "skip"


def test_one_tracked_instance_re_entered_in_async_code_keeps_each_block_its_event() -> None:
    memory = MemoryTransport()
    step = tracked("step", client=Client(transport=memory))

    async def main() -> None:
        async with step as outer:
            outer.set(n=1)
            async with step as inner:
                inner.set(n=2)
            async with step as again:
                again.set(n=3)
        async with step as last:
            last.set(n=4)

    asyncio.run(main())
    assert [e.payload for e in memory.events] == [{"n": 2}, {"n": 3}, {"n": 1}, {"n": 4}]
