"""Static checks, run by ``mypy --strict tests/typing`` in CI: decorators keep exact types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

from typing_extensions import assert_type

import weespin_instrument as weespin


@weespin.track_event("purchase", payload_from={"amount": "total"}, user_id_from="user_id")
def checkout(total: float, user_id: str, *, coupon: str | None = None) -> dict[str, str]:
    return {"id": "r_1"}


@weespin.track_event("add_to_cart", payload_from=["sku", "quantity"], timing=True)
async def add_to_cart(sku: str, quantity: int = 1) -> list[str]:
    return [sku]


@weespin.track_event("feed", payload_from="n")
def feed(n: int) -> Iterator[int]:
    yield n


@weespin.track_event("stream", payload_from="n")
async def stream(n: int) -> AsyncIterator[int]:
    yield n


class Shop:
    @weespin.track_event("restock", payload_from="sku")
    def restock(self, sku: str) -> int:
        return 1

    @weespin.track_event("open", payload_from="cls")
    @classmethod
    def open(cls, hour: int) -> Shop:
        return cls()


@weespin.tracked("export")
def export(days: int) -> bytes:
    return b""


assert_type(checkout(1.0, "u", coupon="X"), dict[str, str])


async def _await_it() -> None:
    assert_type(await add_to_cart("s", quantity=2), list[str])
    async for n in stream(1):
        assert_type(n, int)


assert_type(_await_it, Callable[[], Coroutine[Any, Any, None]])
assert_type(feed(1), Iterator[int])
assert_type(stream(1), AsyncIterator[int])
assert_type(Shop().restock("s"), int)
assert_type(Shop.open(9), Shop)
assert_type(export(3), bytes)
assert_type(weespin.context.wrap(checkout)(1.0, "u"), dict[str, str])
assert_type(weespin.track("x"), weespin.Event | None)
assert_type(
    weespin.track("x", {"a": 1}, user_id="u_1", link_id="l", device_id="d"), weespin.Event | None
)
assert_type(weespin.Client().track("x", None, user_id=42, schema=None), weespin.Event | None)
weespin.track("x", {}, usr_id="u_1")  # type: ignore[call-arg]  # type checkers see the keywords
assert_type(weespin.flush(), bool)

with weespin.tracked("signup", plan="pro") as event:
    assert_type(event, weespin.TrackedEvent)
    assert_type(event.set(a=1), weespin.TrackedEvent)
