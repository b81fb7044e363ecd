"""tracked(): one event for a block (with / async with) or per call when used as a decorator."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator

import pytest

from weespin_instrument import Client, InvalidEventError, TrackedEvent, tracked
from weespin_instrument.collector import Collector
from weespin_instrument.testing import default_client
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


# -- what a block's event is, and what each block starts from --------------------------------


def test_the_event_a_block_binds_is_a_tracked_event(client: Client) -> None:
    with tracked("signup", plan="pro", client=client) as event:
        assert isinstance(event, TrackedEvent)
        assert repr(event) == "TrackedEvent('signup', payload={'plan': 'pro'}, user_id=None)"
        assert (event.name, event.user_id, event.link_id, event.discarded) == (
            "signup", None, None, False,
        )  # fmt: skip


def test_the_payload_comes_positionally_or_by_keyword_but_not_both(
    client: Client, memory: MemoryTransport
) -> None:
    with tracked("signup", {"plan": "pro"}, step=1, client=client):
        pass
    with tracked("signup", payload={"plan": "pro"}, step=1, client=client):
        pass
    with tracked("signup", None, step=1, client=client), tracked("signup", {}, client=client):
        pass
    assert [e.payload for e in memory.events] == [{"plan": "pro", "step": 1}] * 2 + [
        {},
        {"step": 1},
    ]
    for positional in ({"plan": "pro"}, None):
        with pytest.raises(TypeError) as info:
            tracked("signup", positional, payload={"plan": "free"})  # type: ignore[misc]
        assert str(info.value) == "tracked.__init__() got multiple values for argument 'payload'"


def test_an_instance_used_again_starts_each_block_from_its_own_fields(
    client: Client, memory: MemoryTransport
) -> None:
    step = tracked("step", n=0, user_id="u_1", client=client)
    with step as first:
        first.set(n=1)
        first.user_id = "u_2"
        first.name = "renamed"
    with step as second:
        assert second is not first
        assert (second.name, second.payload, second.user_id) == ("step", {"n": 0}, "u_1")
        second.discard()
    with step as third:
        assert not third.discarded
    assert (first.name, first.payload, first.user_id) == ("renamed", {"n": 1}, "u_2")
    assert [(e.name, e.payload, e.user_id) for e in memory.events] == [
        ("renamed", {"n": 1}, "u_2"),
        ("step", {"n": 0}, "u_1"),
    ]


def test_a_payload_mapping_is_read_when_each_block_starts(
    client: Client, memory: MemoryTransport
) -> None:
    config = {"region": "eu"}
    block = tracked("export", config, client=client)

    @tracked("export", config, client=client)
    def export() -> None:
        config["region"] = "changed while the block runs"

    config["region"] = "us"
    with block:
        pass
    export()
    config["region"] = "ap"
    export()
    assert [e.payload["region"] for e in memory.events] == ["us", "us", "ap"]


def test_changes_to_the_event_after_its_block_do_not_reach_what_was_sent(
    client: Client, memory: MemoryTransport
) -> None:
    with tracked("signup", plan="pro", client=client) as event:
        payload = event.payload
    event.payload["late"] = True
    payload["later"] = True
    event.user_id = "u_late"
    [sent] = memory.events
    assert (sent.payload, sent.user_id) == ({"plan": "pro"}, None)


def test_a_decorator_applies_its_options_to_each_call(
    client: Client, memory: MemoryTransport
) -> None:
    @tracked("export", user_id="u_1", on_exception="track", timing=True, client=client)
    def export(fail: bool) -> str:
        if fail:
            raise ValueError("disk full")
        return "done"

    with pytest.raises(ValueError):
        export(True)
    assert export(False) == "done"
    failed, done = memory.events
    assert (failed.user_id, failed.payload["error"]) == ("u_1", "ValueError")
    assert (done.user_id, "error" in done.payload) == ("u_1", False)
    assert all(isinstance(e.payload["duration_ms"], float) for e in memory.events)


def test_a_block_that_raised_sends_nothing_and_the_instance_still_works(
    client: Client, memory: MemoryTransport
) -> None:
    block = tracked("signup", plan="pro", client=client)
    with pytest.raises(KeyError), block:
        raise KeyError("email")
    with block as again:
        again.set(step=2)
    assert [e.payload for e in memory.events] == [{"plan": "pro", "step": 2}]


def test_in_strict_mode_an_invalid_field_raises_when_the_block_ends(
    memory: MemoryTransport,
) -> None:
    client = Client(transport=memory, strict=True)
    with pytest.raises(InvalidEventError) as info, tracked("signup", client=client) as event:
        event.set(tags=["a", "b"])
    assert str(info.value) == (
        "event 'signup', payload key 'tags': list values are not supported (got list). Send "
        'a scalar instead: a count (tags_count=len(tags)) or a joined string (",".join(tags)).'
    )
    assert memory.events == []


def test_a_block_delivers_what_track_delivers(collector: Collector) -> None:
    client = Client(
        api_key="wsk_test", base_url=collector.url, transport="sync", device_id="ws_device_1"
    )
    fields = {"sku": "SKU-1234", "quantity": 2, "price": 19.99, "card": "4111 1111 1111 1111"}
    client.track("add_to_cart", fields)
    with tracked("add_to_cart", client=client, **fields):
        pass
    with tracked("add_to_cart", fields, client=client):
        pass
    stored = collector.events()
    assert len(stored) == 3
    shown = {"event_name", "device_id", "user_id", "link_id", "payload", "trace_id", "span_id"}
    first, *others = [{k: v for k, v in e.items() if k in shown} for e in stored]
    assert first["payload"]["card"] == "[REDACTED]"
    assert others == [first, first]


# -- a block without options: its event is made only when the block uses it ----------------
# A block that never touches its event sends its fields as given; one that reads or changes
# the event (or raises) goes the full way. Both must send, refuse and count the same.


def _sent(memory: MemoryTransport) -> list[tuple[str, dict[str, object], object, object]]:
    return [(e.name, e.payload, e.user_id, e.link_id) for e in memory.events]


def test_a_block_sends_the_same_whether_or_not_it_uses_its_event(
    client: Client, memory: MemoryTransport
) -> None:
    uses = {
        "nothing": lambda event: None,
        "reads the payload": lambda event: event.payload,
        "sets nothing new": lambda event: event.set(),
        "reads whether it is discarded": lambda event: event.discarded,
        "reads its repr": repr,
    }
    with default_client(client):
        for use in uses.values():
            with tracked("add_to_cart", sku="SKU-1", quantity=2) as event:
                use(event)
        with tracked("add_to_cart", sku="SKU-1", quantity=2) as event:
            event.user_id = event.link_id = None
    with tracked("add_to_cart", sku="SKU-1", quantity=2, client=client):
        pass  # the full way, for comparison
    assert _sent(memory) == [("add_to_cart", {"sku": "SKU-1", "quantity": 2}, None, None)] * 7
    assert (client.stats().tracked, client.stats().dropped) == (7, {})


def test_what_a_block_does_to_its_event_is_sent(client: Client, memory: MemoryTransport) -> None:
    with default_client(client):
        with tracked("signup", plan="pro") as event:
            event.user_id = 42
        with tracked("signup", plan="pro") as event:
            event.link_id = "lnk_1"
        with tracked("signup", plan="pro") as event:
            event.payload["step"] = 2
        with tracked("signup", plan="pro") as event:
            event.name = "signed_up"
        with tracked("signup", plan="pro") as event:
            event.discard()
        with tracked("signup", plan="pro") as event:
            event.payload = {"replaced": True}
    assert _sent(memory) == [
        ("signup", {"plan": "pro"}, "42", None),
        ("signup", {"plan": "pro"}, None, "lnk_1"),
        ("signup", {"plan": "pro", "step": 2}, None, None),
        ("signed_up", {"plan": "pro"}, None, None),
        ("signup", {"replaced": True}, None, None),
    ]


def test_a_block_with_options_sends_the_same_whether_or_not_it_uses_its_event(
    client: Client, memory: MemoryTransport
) -> None:
    options: dict[str, object] = {"user_id": "u_1", "link_id": "lnk_1", "client": client}
    for used in (False, True):
        with tracked("export", rows=3, **options) as event:
            if used:
                event.payload["rows"] = 3
        with (
            pytest.raises(ValueError),
            tracked("export", rows=3, on_exception="track", **options) as event,
        ):
            if used:
                assert event.user_id == "u_1"
            raise ValueError("disk full")
        with tracked("export", {"rows": 3}, **options) as event:
            if used:
                assert not event.discarded
    each = [
        ("export", {"rows": 3}, "u_1", "lnk_1"),
        ("export", {"rows": 3, "error": "ValueError"}, "u_1", "lnk_1"),
        ("export", {"rows": 3}, "u_1", "lnk_1"),
    ]
    assert _sent(memory) == each * 2


def test_a_block_that_raises_sends_nothing_whether_or_not_it_used_its_event(
    client: Client, memory: MemoryTransport
) -> None:
    with default_client(client):
        with pytest.raises(KeyError), tracked("signup", plan="pro"):
            raise KeyError("email")
        with pytest.raises(KeyError), tracked("signup", plan="pro") as event:
            event.set(step=1)
            raise KeyError("email")
    assert memory.events == []
    assert client.stats().tracked == 0


def test_an_invalid_field_is_refused_alike_whether_or_not_the_block_used_its_event(
    memory: MemoryTransport,
) -> None:
    client = Client(transport=memory)
    with default_client(client):
        with tracked("signup", tags=["a", "b"]):
            pass
        with tracked("signup", tags=["a", "b"]) as event:
            event.set(step=1)
    assert memory.events == []
    assert client.stats().dropped == {"invalid_payload": 2}
    strict = Client(transport=memory, strict=True)
    messages = []
    with default_client(strict):
        for used in (False, True):
            with pytest.raises(InvalidEventError) as info, tracked("s", tags=["a"]) as event:
                if used:
                    event.payload["step"] = 1
            messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert "payload key 'tags': list values are not supported" in messages[0]


def test_an_instance_used_again_after_a_redacted_block_starts_from_its_fields(
    client: Client, memory: MemoryTransport
) -> None:
    card = "4111 1111 1111 1111"
    block = tracked("pay", card=card, amount=5)
    with default_client(client):
        with block:
            pass
        assert block.payload == {"card": card, "amount": 5}  # read after the block
        with block as again:
            assert again.payload == {"card": card, "amount": 5}
        with block:
            pass
    assert [e.payload for e in memory.events] == [{"card": "[REDACTED]", "amount": 5}] * 3
    assert client.stats().redacted == 3


def test_a_plain_instance_nests_and_is_reused_by_the_default_client(
    client: Client, memory: MemoryTransport
) -> None:
    step = tracked("step", n=0)

    @tracked("export", kind="daily")
    def export() -> None:
        pass

    async def main() -> None:
        async with step:
            await asyncio.sleep(0)

    with default_client(client):
        with step as first:
            with step as second:
                second.set(n=2)
            assert first is step and second is not step
        with step:
            pass
        asyncio.run(main())
        export()
        export()
    assert [(e.name, e.payload) for e in memory.events] == [
        ("step", {"n": 2}),
        ("step", {"n": 0}),
        ("step", {"n": 0}),
        ("step", {"n": 0}),
        ("export", {"kind": "daily"}),
        ("export", {"kind": "daily"}),
    ]


def test_what_was_done_to_an_instance_before_its_block_is_made_afresh_when_it_starts(
    client: Client, memory: MemoryTransport
) -> None:
    block = tracked("signup", plan="pro")
    assert repr(block) == "tracked('signup')"
    assert (block.payload, block.user_id, block.discarded) == ({"plan": "pro"}, None, False)
    block.payload["early"] = True
    block.discard()
    with default_client(client), block as event:
        assert event is block
        assert (event.payload, event.discarded) == ({"plan": "pro"}, False)
    assert _sent(memory) == [("signup", {"plan": "pro"}, None, None)]


def test_threads_that_first_use_a_block_s_event_together_all_reach_it(
    client: Client, memory: MemoryTransport
) -> None:
    def fill(event: TrackedEvent, start: threading.Barrier, n: int) -> None:
        start.wait()
        event.set(**{f"part_{n}": n})

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: what a race needs
    try:
        with default_client(client):
            for _ in range(200):
                with tracked("batch") as event:
                    start = threading.Barrier(8)
                    threads = [
                        threading.Thread(target=fill, args=(event, start, n)) for n in range(8)
                    ]
                    for thread in threads:
                        thread.start()
                    for thread in threads:
                        thread.join()
    finally:
        sys.setswitchinterval(switch)
    whole = {f"part_{n}": n for n in range(8)}
    assert [e.payload for e in memory.events] == [whole] * 200
