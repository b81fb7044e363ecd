"""identify(): identity carried by contextvars, across await, tasks, and (when asked) threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from weespin_instrument import Client, context, identify
from weespin_instrument.transports import MemoryTransport


@pytest.fixture
def memory() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def client(memory: MemoryTransport) -> Client:
    return Client(transport=memory)


def test_nesting_overrides_and_restores() -> None:
    assert context.current_identity() == context.Identity()
    with identify(user_id="u_1", link_id="lnk_1"):
        with identify(user_id="u_2"):
            assert context.current_identity() == ("u_2", "lnk_1", None)
        assert context.current_identity() == ("u_1", "lnk_1", None)
    assert context.current_identity() == (None, None, None)


def test_as_a_decorator(client: Client, memory: MemoryTransport) -> None:
    @identify(user_id="system")
    def job() -> None:
        client.track("job_ran")

    @identify(link_id="lnk_async")
    async def async_job() -> None:
        await asyncio.sleep(0)
        client.track("job_ran")

    job()
    asyncio.run(async_job())
    assert [(e.user_id, e.link_id) for e in memory.events] == [
        ("system", None),
        (None, "lnk_async"),
    ]


def test_1000_concurrent_tasks_each_keep_their_own_user(
    client: Client, memory: MemoryTransport
) -> None:
    async def handle(n: int) -> None:
        with identify(user_id=f"u_{n}"):
            for _ in range(3):
                await asyncio.sleep(0)
            client.track("request", {"n": n})

    async def main() -> None:
        await asyncio.gather(*(handle(n) for n in range(1000)))

    asyncio.run(main())
    assert len(memory.events) == 1000
    assert all(e.user_id == f"u_{e.payload['n']}" for e in memory.events)


def test_tasks_created_inside_inherit_the_identity(client: Client, memory: MemoryTransport) -> None:
    async def child() -> None:
        client.track("child")

    async def main() -> None:
        with identify(user_id="u_parent"):
            task = asyncio.create_task(child())
        await task

    asyncio.run(main())
    memory.assert_tracked("child", user_id="u_parent")


def test_threads_start_empty_and_wrap_carries_the_context(
    client: Client, memory: MemoryTransport
) -> None:
    with identify(user_id="u_1"), ThreadPoolExecutor(max_workers=2) as pool:
        pool.submit(client.track, "plain_thread").result()
        pool.submit(context.wrap(client.track), "wrapped_thread").result()
        thread = threading.Thread(target=context.wrap(client.track), args=("raw_thread",))
        thread.start()
        thread.join()
    users = {e.name: e.user_id for e in memory.events}
    assert users == {"plain_thread": None, "wrapped_thread": "u_1", "raw_thread": "u_1"}


def test_identify_refuses_generator_functions() -> None:
    async def stream() -> AsyncIterator[int]:
        yield 1

    with pytest.raises(TypeError, match=r"^identify\(\) cannot decorate the generator function"):
        identify(user_id="u_1")(stream)
