"""tracked(): one event for a block (with / async with) or per call when used as a decorator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from weespin_instrument import Client, tracked
from weespin_instrument.transports import MemoryTransport


@pytest.fixture
def memory() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def client(memory: MemoryTransport) -> Client:
    return Client(transport=memory)


def test_the_block_fills_the_event_and_it_is_sent_at_the_end(
    client: Client, memory: MemoryTransport
) -> None:
    with tracked("signup", plan="pro", client=client) as event:
        assert memory.events == []
        event.set(referrer="newsletter").set(step=2)
        event.payload["source"] = "web"
        event.user_id = 42
    [sent] = memory.events
    assert sent.payload == {"plan": "pro", "referrer": "newsletter", "step": 2, "source": "web"}
    assert sent.user_id == "42"


def test_async_with_works_the_same(client: Client, memory: MemoryTransport) -> None:
    async def main() -> None:
        async with tracked("signup", link_id="lnk_1", client=client) as event:
            await asyncio.sleep(0)
            event.set(plan="pro")

    asyncio.run(main())
    memory.assert_tracked("signup", plan="pro", link_id="lnk_1", times=1)


def test_reserved_names_travel_in_payload(client: Client, memory: MemoryTransport) -> None:
    with tracked("signup", {"timing": "eager", "user_id": "in-payload"}, client=client):
        pass
    [sent] = memory.events
    assert sent.payload == {"timing": "eager", "user_id": "in-payload"}
    assert sent.user_id is None


def test_an_exception_sends_nothing_by_default_and_propagates(
    client: Client, memory: MemoryTransport
) -> None:
    error = ValueError("email taken")
    with pytest.raises(ValueError) as info, tracked("signup", client=client):
        raise error
    assert info.value is error
    assert memory.events == []


def test_on_exception_track_sends_the_error_class(client: Client, memory: MemoryTransport) -> None:
    with pytest.raises(ValueError), tracked("signup", on_exception="track", client=client):
        raise ValueError("email taken")
    memory.assert_tracked("signup", error="ValueError", times=1)


def test_discard_sends_nothing(client: Client, memory: MemoryTransport) -> None:
    with tracked("signup", client=client) as event:
        event.discard()
    assert memory.events == []


def test_timing_adds_duration_ms(client: Client, memory: MemoryTransport) -> None:
    with tracked("export", timing=True, client=client):
        pass
    assert isinstance(memory.events[0].payload["duration_ms"], float)


def test_blocks_nest_and_one_instance_is_re_entrant(
    client: Client, memory: MemoryTransport
) -> None:
    step = tracked("step", client=client)
    with tracked("outer", client=client), step as first:
        first.set(n=1)
        with step as second:
            second.set(n=2)
    assert [(e.name, e.payload) for e in memory.events] == [
        ("step", {"n": 2}),
        ("step", {"n": 1}),
        ("outer", {}),
    ]


def test_as_a_decorator_each_call_gets_a_fresh_event(
    client: Client, memory: MemoryTransport
) -> None:
    @tracked("export", kind="daily", client=client)
    def export(n: int) -> int:
        return n * 2

    @tracked("export_async", client=client)
    async def export_async() -> str:
        return "done"

    assert export(1) == 2
    assert export(2) == 4
    assert asyncio.run(export_async()) == "done"
    assert [e.name for e in memory.events] == ["export", "export", "export_async"]
    assert all(e.payload == {"kind": "daily"} for e in memory.events[:2])
    assert export.__name__ == "export"


def test_an_invalid_field_is_dropped_not_raised(client: Client, memory: MemoryTransport) -> None:
    with tracked("signup", client=client) as event:
        event.set(tags=["a", "b"])
    assert memory.events == []
    assert client.stats().dropped == {"invalid_payload": 1}


def test_a_generator_function_is_refused_when_decorated(client: Client) -> None:
    def feed() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError) as info:
        tracked("feed", client=client)(feed)
    assert str(info.value) == (
        "tracked('feed') cannot decorate the generator function "
        "test_a_generator_function_is_refused_when_decorated.<locals>.feed: its body runs "
        "after the call has returned, outside the block. Use a `with` block inside the "
        "generator instead (or @track_event, which sends its event when the generator is "
        "exhausted)."
    )
