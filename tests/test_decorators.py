"""@track_event behaves the same on every kind of callable: one event per completed call,
arguments and return values read through compiled paths, the function itself untouched."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import pickle
import re
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import weespin_instrument as weespin
from weespin_instrument import Client, EventDecorator, InvalidEventError, track_event
from weespin_instrument.transports import MemoryTransport


@dataclasses.dataclass
class Item:
    sku: str
    price: float = 9.5
    fail: BaseException | None = None


@dataclasses.dataclass
class Receipt:
    id: str


class Boom(Exception):
    pass


# -- the same business logic, as every kind of callable ---------------------------------------


def _body(item: Item) -> Receipt:
    if item.fail is not None:
        raise item.fail
    return Receipt(id=f"r_{item.sku}")


def build_function(decorate: EventDecorator) -> Callable[..., Any]:
    @decorate
    def buy(item: Item, qty: int = 1) -> Receipt:
        return _body(item)

    return buy


def build_coroutine(decorate: EventDecorator) -> Callable[..., Any]:
    @decorate
    async def buy(item: Item, qty: int = 1) -> Receipt:
        await asyncio.sleep(0)
        return _body(item)

    return buy


def build_generator(decorate: EventDecorator) -> Callable[..., Any]:
    @decorate
    def buy(item: Item, qty: int = 1) -> Any:
        yield from range(qty)
        return _body(item)

    return buy


def build_async_generator(decorate: EventDecorator) -> Callable[..., Any]:
    @decorate
    async def buy(item: Item, qty: int = 1) -> Any:
        for n in range(qty):
            await asyncio.sleep(0)
            yield n
        _body(item)

    return buy


def build_method(decorate: EventDecorator) -> Callable[..., Any]:
    class Shop:
        @decorate
        def buy(self, item: Item, qty: int = 1) -> Receipt:
            return _body(item)

    return Shop().buy


def build_classmethod(decorate: EventDecorator) -> Callable[..., Any]:
    class Shop:
        @decorate
        @classmethod
        def buy(cls, item: Item, qty: int = 1) -> Receipt:
            return _body(item)

    return Shop.buy


def build_staticmethod(decorate: EventDecorator) -> Callable[..., Any]:
    class Shop:
        @decorate
        @staticmethod
        def buy(item: Item, qty: int = 1) -> Receipt:
            return _body(item)

    return Shop().buy


def build_callable_object(decorate: EventDecorator) -> Callable[..., Any]:
    class Buy:
        def __call__(self, item: Item, qty: int = 1) -> Receipt:
            return _body(item)

    return decorate(Buy())


def build_already_wrapped(decorate: EventDecorator) -> Callable[..., Any]:
    def logged(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        return wrapper

    @decorate
    @logged
    def buy(item: Item, qty: int = 1) -> Receipt:
        return _body(item)

    return buy


def run(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call and drive to completion: await coroutines, exhaust generators (result = returned)."""
    outcome = call(*args, **kwargs)
    if inspect.iscoroutine(outcome):
        return asyncio.run(outcome)
    if inspect.isgenerator(outcome):
        try:
            while True:
                next(outcome)
        except StopIteration as stop:
            return stop.value
    if inspect.isasyncgen(outcome):

        async def exhaust() -> None:
            async for _ in outcome:
                pass

        return asyncio.run(exhaust())
    return outcome


KINDS = {
    "function": build_function,
    "coroutine": build_coroutine,
    "generator": build_generator,
    "async generator": build_async_generator,
    "method": build_method,
    "classmethod": build_classmethod,
    "staticmethod": build_staticmethod,
    "callable object": build_callable_object,
    "functools.wraps-decorated": build_already_wrapped,
}
RETURNS = {kind for kind in KINDS if kind != "async generator"}  # async generators return None


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def memory() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def client(memory: MemoryTransport) -> Client:
    return Client(transport=memory)


def test_the_event_carries_arguments_and_defaults(
    kind: str, client: Client, memory: MemoryTransport
) -> None:
    buy = KINDS[kind](track_event("purchase", ["item.sku", "item.price", "qty"], client=client))
    run(buy, Item("A1"))
    run(buy, Item("B2", price=3.0), qty=3)
    assert [e.payload for e in memory.events] == [
        {"sku": "A1", "price": 9.5, "qty": 1},
        {"sku": "B2", "price": 3.0, "qty": 3},
    ]


def test_return_values_pass_through_and_feed_the_payload(
    kind: str, client: Client, memory: MemoryTransport
) -> None:
    paths = {"sku": "item.sku", "receipt": "return.id"} if kind in RETURNS else {"sku": "item.sku"}
    buy = KINDS[kind](track_event("purchase", paths, client=client))
    result = run(buy, Item("A1"))
    if kind in RETURNS:
        assert result == Receipt(id="r_A1")
        memory.assert_tracked("purchase", sku="A1", receipt="r_A1", times=1)
    else:
        assert result is None
        memory.assert_tracked("purchase", sku="A1", times=1)


def test_exceptions_propagate_untouched_and_send_nothing_by_default(
    kind: str, client: Client, memory: MemoryTransport
) -> None:
    buy = KINDS[kind](track_event("purchase", "item.sku", client=client))
    error = Boom("card declined")
    with pytest.raises(Boom) as info:
        run(buy, Item("A1", fail=error))
    assert info.value is error
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "_body", "the traceback still ends where the error was raised"
    assert memory.events == []


def test_on_exception_track_sends_the_error_class(
    kind: str, client: Client, memory: MemoryTransport
) -> None:
    buy = KINDS[kind](track_event("purchase", "item.sku", on_exception="track", client=client))
    with pytest.raises(Boom):
        run(buy, Item("A1", fail=Boom()))
    memory.assert_tracked("purchase", sku="A1", error="Boom", times=1)


def test_base_exceptions_pass_through_without_an_event(
    kind: str, client: Client, memory: MemoryTransport
) -> None:
    buy = KINDS[kind](track_event("purchase", "item.sku", on_exception="track", client=client))
    with pytest.raises(KeyboardInterrupt):
        run(buy, Item("A1", fail=KeyboardInterrupt()))
    assert memory.events == []


def test_timing_adds_duration_ms(kind: str, client: Client, memory: MemoryTransport) -> None:
    buy = KINDS[kind](track_event("purchase", timing=True, client=client))
    run(buy, Item("A1"))
    [event] = memory.events
    assert isinstance(event.payload["duration_ms"], float)
    assert event.payload["duration_ms"] >= 0.0


def test_when_decides_per_call(kind: str, client: Client, memory: MemoryTransport) -> None:
    def expensive_only(call: weespin.Call) -> bool:
        return bool(call.args["item"].price > 5)

    buy = KINDS[kind](track_event("purchase", "item.sku", when=expensive_only, client=client))
    run(buy, Item("cheap", price=1.0))
    run(buy, Item("dear", price=50.0))
    assert [e.payload["sku"] for e in memory.events] == ["dear"]


def test_a_callable_payload_from_receives_the_call(
    kind: str, client: Client, memory: MemoryTransport
) -> None:
    def describe(call: weespin.Call) -> dict[str, Any]:
        return {"sku": call.args["item"].sku, "qty": call.args["qty"], "ok": call.exception is None}

    buy = KINDS[kind](track_event("purchase", describe, payload={"source": "web"}, client=client))
    run(buy, Item("A1"), qty=2)
    memory.assert_tracked("purchase", sku="A1", qty=2, ok=True, source="web")


def test_identity_paths_and_context(kind: str, client: Client, memory: MemoryTransport) -> None:
    buy = KINDS[kind](track_event("purchase", user_id_from="item.sku", client=client))
    with weespin.identify(link_id="lnk_1"):
        run(buy, Item("user-7"))
    [event] = memory.events
    assert (event.user_id, event.link_id) == ("user-7", "lnk_1")


def test_a_tracking_failure_never_changes_the_outcome(
    kind: str, client: Client, memory: MemoryTransport
) -> None:
    buy = KINDS[kind](track_event("purchase", {"bad": "item"}, client=client))  # a dataclass
    buy_missing = KINDS[kind](track_event("purchase", {"x": "item.nope"}, client=client))
    result = run(buy, Item("A1", price=float("nan")))
    assert result == (Receipt("r_A1") if kind in RETURNS else None)
    assert client.stats().dropped == {"invalid_payload": 1}
    assert run(buy_missing, Item("A2")) == (Receipt("r_A2") if kind in RETURNS else None)
    memory.assert_tracked("purchase", times=1)
    assert "x" not in memory.events[0].payload


def test_strict_mode_raises_at_the_call_site(kind: str, memory: MemoryTransport) -> None:
    strict = Client(transport=memory, strict=True)
    buy = KINDS[kind](track_event("purchase", {"x": "item.nope"}, client=strict))
    with pytest.raises(InvalidEventError) as info:
        run(buy, Item("A1"))
    assert info.value.key == "x"
    assert "path 'item.nope'" in str(info.value)


def test_disabled_makes_the_decorator_a_pass_through(kind: str, memory: MemoryTransport) -> None:
    off = Client(transport=memory, disabled=True)
    buy = KINDS[kind](track_event("purchase", "item.sku", client=off))
    assert run(buy, Item("A1")) == (Receipt("r_A1") if kind in RETURNS else None)
    assert memory.events == []
    assert off.stats().tracked == 0


# -- what the decorated callable still is ------------------------------------------------------


@track_event("signup", payload_from=["plan"], timing=True)
def signup(email: str, plan: str = "free", *, referrer: str | None = None) -> str:
    """Create an account."""
    return email


def test_metadata_and_signature_are_kept() -> None:
    assert signup.__name__ == "signup"
    assert signup.__qualname__ == "signup"
    assert signup.__doc__ == "Create an account."
    assert signup.__wrapped__.__name__ == "signup"  # type: ignore[attr-defined]
    assert str(inspect.signature(signup)) == (
        "(email: 'str', plan: 'str' = 'free', *, referrer: 'str | None' = None) -> 'str'"
    )
    spec = inspect.getfullargspec(signup)
    assert spec.args == ["email", "plan"]
    assert spec.kwonlyargs == ["referrer"]


def test_the_kind_of_callable_is_kept() -> None:
    async def coroutine() -> None: ...

    def generator() -> Any:
        yield 1

    async def async_generator() -> Any:
        yield 1

    decorate = track_event("x")
    assert inspect.iscoroutinefunction(decorate(coroutine))
    assert inspect.isgeneratorfunction(decorate(generator))
    assert inspect.isasyncgenfunction(decorate(async_generator))
    assert not inspect.iscoroutinefunction(signup)


def test_module_level_functions_pickle_by_reference() -> None:
    assert pickle.loads(pickle.dumps(signup)) is signup


def test_decorated_functions_run_in_a_process_pool() -> None:
    with ProcessPoolExecutor(max_workers=1) as pool:
        assert list(pool.map(signup, ["a@example.com", "b@example.com"])) == [
            "a@example.com",
            "b@example.com",
        ]


# -- generators closed early -------------------------------------------------------------------


def test_a_generator_closed_early_sends_its_event_once(
    client: Client, memory: MemoryTransport
) -> None:
    buy = build_generator(
        track_event("purchase", {"sku": "item.sku", "r": "return.id"}, client=client)
    )
    stream = buy(Item("A1"), qty=5)
    assert next(stream) == 0
    stream.close()
    stream.close()
    [event] = memory.events
    assert event.payload == {"sku": "A1", "outcome": "closed"}


def test_an_async_generator_closed_from_another_task_sends_once(
    client: Client, memory: MemoryTransport
) -> None:
    buy = build_async_generator(track_event("purchase", "item.sku", client=client))

    async def main() -> None:
        stream = buy(Item("A1"), qty=5)
        assert await stream.__anext__() == 0
        await asyncio.create_task(stream.aclose())

    asyncio.run(main())
    [event] = memory.events
    assert event.payload == {"sku": "A1", "outcome": "closed"}


def test_values_sent_into_a_generator_reach_it(client: Client) -> None:
    @track_event("echo", client=client)
    def echo() -> Any:
        received = yield "ready"
        return received

    stream = echo()
    assert next(stream) == "ready"
    with pytest.raises(StopIteration) as stop:
        stream.send("hello")
    assert stop.value.value == "hello"


def test_a_cancelled_coroutine_is_not_an_error(client: Client, memory: MemoryTransport) -> None:
    @track_event("slow", on_exception="track", client=client)
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.create_task(slow())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert memory.events == []


# -- mistakes caught when the decorator is applied ---------------------------------------------


def checkout(order: Any, user: Any) -> Any: ...


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"payload_from": {"amount": "ordr.total"}},
            "@track_event('purchase') on checkout: path 'ordr.total' starts at 'ordr', which is "
            "not a parameter. Parameters: order, user; or 'return' for the return value.",
        ),
        (
            {"user_id_from": "customer.id"},
            "@track_event('purchase') on checkout: path 'customer.id' starts at 'customer', "
            "which is not a parameter. Parameters: order, user; or 'return' for the return value.",
        ),
        (
            {"payload_from": ["order.id", "user.id"]},
            "@track_event('purchase') on checkout: paths 'order.id' and 'user.id' both give the "
            "payload key 'id'. Name the keys with a mapping: "
            "payload_from={'id': 'order.id', 'other_id': 'user.id'}.",
        ),
        (
            {"payload_from": "order..total"},
            "@track_event('purchase') on checkout: 'order..total' is not a path. Write a "
            "parameter name, optionally followed by attribute names or keys, separated by dots "
            "(e.g. 'order.total' or 'return.id').",
        ),
        (
            {"on_exception": "ignore"},
            "@track_event('purchase') on checkout: on_exception must be 'skip' or 'track', "
            "not 'ignore'.",
        ),
    ],
)
def test_decoration_time_errors_say_what_and_where(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError) as info:
        track_event("purchase", **options)(checkout)
    assert str(info.value) == message


def test_an_async_generator_has_no_return_value_to_read() -> None:
    async def stream(n: int) -> Any:
        yield n

    with pytest.raises(TypeError, match=re.escape("path 'return.id' starts at 'return'")):
        track_event("x", payload_from="return.id")(stream)


# -- never raises outside strict mode, whatever the arguments ----------------------------------

json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@given(value=json_like, extra=json_like)
@settings(max_examples=200, deadline=None)
def test_arbitrary_arguments_never_make_a_decorated_function_raise(value: Any, extra: Any) -> None:
    client = Client(transport=MemoryTransport())

    @track_event("anything", payload_from=["value", "extra", "value.missing"], client=client)
    def identity(value: Any, extra: Any = None) -> Any:
        return value

    assert identity(value, extra=extra) is value


def test_a_failing_when_or_payload_callable_drops_the_event_not_the_call(
    client: Client, memory: MemoryTransport
) -> None:
    def broken(call: weespin.Call) -> Any:
        raise RuntimeError("bug in my predicate")

    guarded = build_function(track_event("purchase", when=broken, client=client))
    described = build_function(track_event("purchase", broken, client=client))
    assert guarded(Item("A1")) == Receipt("r_A1")
    assert described(Item("A2")) == Receipt("r_A2")
    assert memory.events == []
    assert client.stats().dropped == {"extraction_failed": 2}


def test_a_failing_path_is_counted_and_logged_once_per_function_and_path(
    client: Client, memory: MemoryTransport, caplog: pytest.LogCaptureFixture
) -> None:
    buy = build_function(
        track_event("purchase", {"sku": "item.sku", "x": "item.nope"}, client=client)
    )
    for n in range(3):
        buy(Item(f"A{n}"))
    assert [e.payload for e in memory.events] == [{"sku": "A0"}, {"sku": "A1"}, {"sku": "A2"}]
    assert client.stats().missing_fields == 3
    logged = [r.getMessage() for r in caplog.records if r.name == "weespin_instrument"]
    assert logged == [
        "weespin: event 'purchase' (from build_function.<locals>.buy), payload key 'x': path "
        "'item.nope': Item object has no attribute 'nope'. The key was left out; check the "
        "path, or make the value always present. (logged once per function and path)"
    ]
