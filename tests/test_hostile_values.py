"""User objects cannot break the pipeline: whatever they raise, the caller never sees it.

Outside strict mode the event is dropped and counted with the reason and the key; in strict
mode :class:`InvalidEventError` comes out, raised from the user's exception, naming the event,
the key and the type. Whatever reaches the collector satisfies the API's rules.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weespin_instrument import Client, InvalidEventError, track_event, tracked
from weespin_instrument.collector import Collector
from weespin_instrument.transports import MemoryTransport


class Boom(Exception):
    """What the hostile objects raise."""


def boom(*args: object, **kwargs: object) -> Any:
    raise Boom("a user's object failed")


class ReprRaises:
    """A key that is not a str, and whose repr (what an error message shows) raises."""

    __repr__ = boom
    __str__ = boom


class IterationRaises(Mapping[str, object]):
    def __getitem__(self, key: str) -> object:
        raise Boom(key)

    def __iter__(self) -> Iterator[str]:
        raise Boom("iterated")

    def __len__(self) -> int:
        return 1


@dataclasses.dataclass
class Order:
    total: float

    @property
    def broken(self) -> float:
        raise Boom("property")


@dataclasses.dataclass
class FieldRaises:
    total: float = 1.0

    def __getattribute__(self, name: str) -> Any:
        if name == "total":
            raise Boom(name)
        return object.__getattribute__(self, name)


class OffsetRaises(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta:
        raise Boom("utcoffset")


class ModelDumpRaises:
    __pydantic_fields__: ClassVar[dict[str, object]] = {}

    def model_dump(self) -> dict[str, object]:
        raise Boom("model_dump")


HOSTILE_PAYLOADS: dict[str, tuple[object, str | None, str]] = {
    # case: (payload, key the error names, type it names)
    "a key whose repr raises": ({ReprRaises(): 1}, "<ReprRaises object>", "ReprRaises"),
    "a mapping that raises when iterated": (IterationRaises(), None, "IterationRaises"),
    "a nested mapping that raises when iterated": ({"o": IterationRaises()}, "o", ""),
    "a dataclass field that raises": ({"order": FieldRaises()}, "order", "FieldRaises"),
    "a tzinfo that raises": ({"at": datetime(2026, 1, 1, tzinfo=OffsetRaises())}, "at", ""),
    "a model_dump that raises": ({"m": ModelDumpRaises()}, "m", "ModelDumpRaises"),
    "a 401-digit int": ({"n": 10**400}, "n", "int"),
    "a lone surrogate in a value": ({"s": "caf\udce9"}, "s", "Unicode"),
    "a lone surrogate in a key": ({"caf\udce9": 1}, "caf\\udce9", "Unicode"),
}

REFUSED_BY_THE_RULES = (
    "a key whose repr raises",  # refused for not being a str; its repr is never needed
    "a 401-digit int",
    "a lone surrogate in a value",
    "a lone surrogate in a key",
)


@pytest.fixture
def memory() -> MemoryTransport:
    return MemoryTransport()


@pytest.mark.parametrize("case", HOSTILE_PAYLOADS)
def test_a_hostile_payload_is_dropped_and_counted_outside_strict_mode(
    case: str, memory: MemoryTransport
) -> None:
    payload, key, _ = HOSTILE_PAYLOADS[case]
    reports: list[Any] = []
    client = Client(transport=memory, on_error=reports.append)
    assert client.track("purchase", payload) is None  # type: ignore[arg-type]
    assert memory.events == []
    assert client.stats().dropped == {"invalid_payload": 1}
    [report] = reports
    assert report.event_name == "purchase"
    assert report.error.key == key


@pytest.mark.parametrize("case", HOSTILE_PAYLOADS)
def test_strict_mode_raises_invalid_event_error_from_the_users_exception(
    case: str, memory: MemoryTransport
) -> None:
    payload, key, named = HOSTILE_PAYLOADS[case]
    client = Client(transport=memory, strict=True)
    with pytest.raises(InvalidEventError) as info:
        client.track("purchase", payload)  # type: ignore[arg-type]
    error = info.value
    assert error.event_name == "purchase" and error.key == key
    assert str(error).startswith("event 'purchase'")
    assert named in str(error)
    if case in REFUSED_BY_THE_RULES:
        return  # no user exception behind it
    assert isinstance(error.__cause__, Boom)


def test_an_int_user_id_beyond_64_bits_is_refused(memory: MemoryTransport) -> None:
    client = Client(transport=memory, strict=True)
    with pytest.raises(InvalidEventError, match=r"user_id: .* int outside the signed 64-bit"):
        client.track("purchase", user_id=10**5000)
    lenient = Client(transport=memory)
    assert lenient.track("purchase", user_id=10**5000) is None
    assert lenient.stats().dropped == {"invalid_identity": 1}


@pytest.mark.parametrize("where", ["name", "user_id", "link_id"])
def test_lone_surrogates_in_names_and_ids_are_refused(where: str, memory: MemoryTransport) -> None:
    client = Client(transport=memory, strict=True)
    fields: dict[str, Any] = {"name": "purchase", where: "caf\udce9"}
    with pytest.raises(InvalidEventError, match="not valid Unicode"):
        client.track(**fields)


def test_a_payload_dict_changed_by_another_thread_is_copied_safely(
    memory: MemoryTransport,
) -> None:
    client = Client(transport=memory)
    payload: dict[str, object] = {f"k{i}": i for i in range(200)}
    stop = threading.Event()

    def mutate() -> None:
        n = 0
        while not stop.is_set():
            payload[f"extra{n % 50}"] = n
            payload.pop(f"extra{(n + 25) % 50}", None)
            n += 1

    mutator = threading.Thread(target=mutate)
    mutator.start()
    try:
        for _ in range(2_000):
            client.track("purchase", payload)  # never a RuntimeError
            client.track("purchase", {"nested": payload})
    finally:
        stop.set()
        mutator.join()
    assert client.stats().dropped == {}
    assert len(memory.events) == 4_000


class TestDecoratedFunctions:
    def test_a_property_that_raises_drops_the_event_not_the_call(
        self, memory: MemoryTransport
    ) -> None:
        client = Client(transport=memory)

        @track_event("checkout", payload_from="order.broken", client=client)
        def checkout(order: Order) -> str:
            return "done"

        assert checkout(Order(1.0)) == "done"
        assert client.stats().dropped == {"extraction_failed": 1}

    def test_in_strict_mode_it_raises_invalid_event_error_naming_the_key(
        self, memory: MemoryTransport
    ) -> None:
        client = Client(transport=memory, strict=True)

        @track_event("checkout", payload_from={"total": "order.broken"}, client=client)
        def checkout(order: Order) -> str:
            return "done"

        with pytest.raises(InvalidEventError) as info:
            checkout(Order(1.0))
        assert info.value.key == "total" and "Boom" in str(info.value)
        assert isinstance(info.value.__cause__, Boom)

    def test_a_when_that_raises_is_invalid_event_error_in_strict_mode(
        self, memory: MemoryTransport
    ) -> None:
        client = Client(transport=memory, strict=True)

        @track_event("checkout", when=boom, client=client)
        def checkout() -> None: ...

        with pytest.raises(InvalidEventError, match="'checkout'") as info:
            checkout()
        assert isinstance(info.value.__cause__, Boom)


def test_tracked_never_raises_at_block_exit(memory: MemoryTransport) -> None:
    client = Client(transport=memory)
    with tracked("import_done", payload=IterationRaises(), client=client):
        pass
    with tracked("import_done", client=client) as event:
        event.set(at=datetime(2026, 1, 1, tzinfo=OffsetRaises()))
    assert client.stats().dropped == {"invalid_payload": 2}


# ---------------------------------------------------------------------------------------------
# Arbitrary objects, dunders that raise included
# ---------------------------------------------------------------------------------------------

DUNDERS = (
    "__repr__", "__str__", "__format__", "__iter__", "__len__", "__bool__", "__eq__",
    "__getattribute__", "__getattr__", "__float__", "__index__", "__int__", "__sub__",
    "__lt__", "__gt__", "items", "keys", "__getitem__", "isoformat", "utcoffset",
    "model_dump", "is_finite", "encode", "isascii", "strip", "copy",
)  # fmt: skip
BASES: tuple[type, ...] = (object, dict, str, int, float, datetime, IterationRaises, Order)


def _getattribute_raises(self: object, name: str) -> Any:
    # Everything but __class__ (which the test framework itself needs to look at it).
    if name == "__class__":
        return object.__getattribute__(self, name)
    raise Boom(name)


@st.composite
def hostile_objects(draw: st.DrawFn) -> object:
    base = draw(st.sampled_from(BASES))
    raising = draw(st.sets(st.sampled_from(DUNDERS), min_size=1, max_size=4))
    methods: dict[str, Any] = {name: boom for name in raising}
    if "__getattribute__" in raising:
        methods["__getattribute__"] = _getattribute_raises
    kind = type("Hostile", (base,), methods)
    if base is datetime:
        return kind(2026, 1, 1)
    if base is Order:
        return kind(1.0)
    if base is str:
        return kind(draw(st.sampled_from(["4111 1111 1111 1111", "7", "caf\udce9"])))
    if base in (int, float):
        return kind(draw(st.sampled_from(["7", "4111111111111111"])))
    if base is dict:
        return kind(a=1)
    return kind()


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["caf\udce9", "\ud800", "123-45-6789", "4111-1111-1111-1111"])
    | st.binary(max_size=2)
    | st.datetimes()
)
values = st.recursive(
    scalars | hostile_objects(),
    lambda children: (
        st.dictionaries(st.text(max_size=5), children, max_size=3) | st.lists(children, max_size=2)
    ),
    max_leaves=8,
)
payloads = st.none() | hostile_objects() | st.dictionaries(st.text(max_size=6), values, max_size=4)
names = st.text(max_size=8) | st.sampled_from(["purchase", "caf\udce9"]) | hostile_objects()
identities = st.none() | st.integers() | st.text(max_size=6) | hostile_objects()


def _satisfies_the_api_rules(stored: dict[str, Any]) -> None:
    assert type(stored["event_name"]) is str and stored["event_name"].strip()
    for key, value in stored["payload"].items():
        assert type(key) is str and key
        assert type(value) in (str, int, float, bool)
        assert not isinstance(value, float) or math.isfinite(value)
        assert type(value) is not int or -(2**63) <= value < 2**63
        (key + (value if isinstance(value, str) else "")).encode("utf-8")


@pytest.fixture(scope="module")
def shared_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    path: Path = tmp_path_factory.mktemp("hostile") / "collector.sqlite"
    with Collector(port=0, db=path) as running:
        yield running


def _emit_everywhere(client: Client, name: Any, payload: Any, user_id: Any) -> None:
    client.track(name, payload, user_id=user_id)

    @track_event("fuzz", payload_from={"value": "value"}, user_id_from="user", client=client)
    def decorated(value: Any, user: Any) -> str:
        return "result"

    assert decorated(payload, user_id) == "result"
    with tracked(name, payload=payload, user_id=user_id, client=client) as event:
        event.set(extra=payload)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names, payloads, identities, st.booleans())
def test_arbitrary_objects_raise_nothing_but_invalid_event_error_and_break_no_rule(
    shared_collector: Collector, name: Any, payload: Any, user_id: Any, strict: bool
) -> None:
    client = Client(
        api_key="fuzz-key",
        base_url=shared_collector.url,
        transport="sync",
        strict=strict,
        device_id="ws_device_fuzz",
        max_attempts=1,
    )
    try:
        _emit_everywhere(client, name, payload, user_id)
    except InvalidEventError:
        assert strict
    stats = client.stats()
    assert stats.failed == 0, stats.last_error  # the collector refused nothing
    client.shutdown()
    for event in shared_collector.events():
        _satisfies_the_api_rules(event)
