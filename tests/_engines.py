"""Driving one of the sender's HTTP engines from a test, as the sender's loop drives it.

Example::

    device_id = run_on(LeanAPI, settings, lambda api: api.initialize_device())
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from weespin_instrument import Settings
from weespin_instrument.transports._async_api import AsyncAPI

__all__ = ["run_on"]


def run_on(
    engine: type[AsyncAPI],
    settings: Settings,
    call: Callable[[AsyncAPI], Awaitable[Any]],
    *,
    max_connections: int = 1,
) -> Any:
    """``call(api)`` on an opened ``engine``, in an event loop of its own: open, call, close."""

    async def main() -> Any:
        api = engine(settings, max_connections=max_connections)
        await api.open()
        try:
            return await call(api)
        finally:
            await api.close()

    return asyncio.run(main())
