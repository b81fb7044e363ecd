"""Group commit: events arriving in the same event-loop turn share one SQLite transaction.

Each handler awaits the commit of its own row before answering, so "committed before the
200" still holds; under load (many connections) one commit serves many requests, which on a
slow disk multiplies throughput. With a single request in flight it is one INSERT, as before.

Example::

    writer = GroupWriter(store)
    stored = await writer.insert(event, event_id="e1", received=time.time())
"""

from __future__ import annotations

import asyncio

from .._wire import WireEvent
from ._store import Store

__all__ = ["GroupWriter"]

_Item = tuple[WireEvent, str, float]


class GroupWriter:
    """Batches :meth:`Store.insert_events` calls made from one event loop.

    Example::

        stored = await GroupWriter(store).insert(event, event_id="e1", received=now)
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._items: list[_Item] = []
        self._waiters: list[asyncio.Future[bool]] = []

    async def insert(self, event: WireEvent, *, event_id: str, received: float) -> bool:
        """Store ``event`` (in the next commit); ``False`` if ``event_id`` was a duplicate."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        if not self._items:
            loop.call_soon(self._commit)
        self._items.append((event, event_id, received))
        self._waiters.append(waiter)
        return await waiter

    def _commit(self) -> None:
        items, waiters = self._items, self._waiters
        self._items, self._waiters = [], []
        try:
            results = self._store.insert_events(items)
        except Exception as exc:  # e.g. disk full: every request of the batch fails
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for waiter, stored in zip(waiters, results, strict=True):
            if not waiter.done():  # a cancelled request (client gone): its row is stored
                waiter.set_result(stored)
