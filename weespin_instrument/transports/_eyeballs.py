"""Happy eyeballs (RFC 8305): a socket to the first of a host's addresses that accepts one.

An address that has not answered within :data:`DELAY` gets the next one tried beside it, as
aiohttp connects (``happy_eyeballs_delay``): an address that never answers (a broken IPv6
route) costs a moment, not every request's timeout. Only the TCP connects race; TLS is
negotiated on the winner, so a slow handshake opens no second connection.

Example::

    sock = await first_socket(loop, [(socket.AF_INET6, "::1"), (socket.AF_INET, "127.0.0.1")], 80)
    await loop.create_connection(factory, sock=sock)
"""

from __future__ import annotations

import asyncio
import socket

__all__ = ["DELAY", "first_socket"]

#: Seconds a connect to one address runs alone before the next address is tried beside it
#: (RFC 8305's recommendation, aiohttp's ``happy_eyeballs_delay``).
DELAY = 0.25


async def first_socket(
    loop: asyncio.AbstractEventLoop, addresses: list[tuple[int, str]], port: int
) -> socket.socket:
    """A socket connected to the first of ``addresses`` (family, IP) that accepts one, in
    their order; else the last error (``OSError`` when there is no address)."""
    if len(addresses) == 1:  # nothing to race (an IP address, one record): no task
        return await _connect(loop, *addresses[0], port)
    remaining = iter(addresses)
    pending: set[asyncio.Task[socket.socket]] = set()
    error: BaseException = OSError("no address to connect to")
    try:
        while True:
            address = next(remaining, None)
            if address is not None:
                pending.add(loop.create_task(_connect(loop, *address, port)))
            elif not pending:
                raise error
            delay = DELAY if address is not None else None
            done, pending = await asyncio.wait(
                pending, timeout=delay, return_when=asyncio.FIRST_COMPLETED
            )
            for attempt in done:
                if attempt.exception() is None:
                    for other in done - {attempt}:
                        _close_when_connected(other)
                    return attempt.result()
                error = attempt.exception() or error
    finally:
        for attempt in pending:
            attempt.cancel()
            _close_when_connected(attempt)


async def _connect(
    loop: asyncio.AbstractEventLoop, family: int, address: str, port: int
) -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on a socket that says it is TCP, and
    # without it Nagle's algorithm and delayed ACKs can hold a request ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, (address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _close_when_connected(attempt: asyncio.Task[socket.socket]) -> None:
    """Close the socket a losing attempt connects, should it still connect one."""

    def close(attempt: asyncio.Task[socket.socket]) -> None:
        if not attempt.cancelled() and attempt.exception() is None:
            attempt.result().close()

    attempt.add_done_callback(close)
