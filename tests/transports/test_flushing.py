"""weespin.flushing(): flush the default client when a block or a call ends (sync and async)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import weespin_instrument as weespin
from weespin_instrument import flushing, testing
from weespin_instrument.collector import Collector

KEY = "flushing-test-key"


@pytest.fixture
def default_client(collector: Collector) -> Iterator[Collector]:
    collector.set_latency(50)  # events are still in flight when the block ends
    with testing.default_client(None):
        weespin.configure(api_key=KEY, base_url=collector.url, device_id="ws_device_1")
        try:
            yield collector
        finally:
            weespin.shutdown(timeout=1.0)


def test_as_a_context_manager(default_client: Collector) -> None:
    with flushing(timeout=10.0) as done:
        for n in range(5):
            weespin.track("open_app", {"n": n})
    assert done.delivered is True
    assert len(default_client.events()) == 5


def test_as_a_decorator_with_and_without_arguments(default_client: Collector) -> None:
    @flushing(timeout=10.0)
    def handler(n: int) -> int:
        weespin.track("open_app", {"n": n})
        return n * 2

    @flushing
    def bare(n: int) -> int:
        weespin.track("open_app", {"n": n})
        return n

    assert handler(21) == 42
    assert len(default_client.events()) == 1
    assert bare(7) == 7
    assert len(default_client.events()) == 2
    assert handler.__name__ == "handler"


def test_an_exception_still_flushes_and_propagates(default_client: Collector) -> None:
    @flushing(timeout=10.0)
    def handler() -> None:
        weespin.track("open_app")
        raise KeyError("boom")

    with pytest.raises(KeyError):
        handler()
    assert len(default_client.events()) == 1


def test_async_decorator_and_async_with(default_client: Collector) -> None:
    @flushing(timeout=10.0)
    async def handler(n: int) -> int:
        weespin.track("open_app", {"n": n})
        return n + 1

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:  # the loop keeps running while the flush waits
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        assert await handler(1) == 2
        async with flushing(timeout=10.0):
            weespin.track("open_app", {"n": 2})
        task.cancel()
        return ticks

    assert asyncio.iscoroutinefunction(handler)
    assert asyncio.run(main()) > 1
    assert len(default_client.events()) == 2


def test_without_a_default_client_it_is_a_no_op() -> None:
    with testing.default_client(None), flushing() as done:
        pass
    assert done.delivered is True
