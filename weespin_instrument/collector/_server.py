"""Running an ASGI app with uvicorn in a daemon thread, on a socket bound here.

Binding the socket ourselves gives the real port before the server starts (port 0 picks a
free one) and lets us set ``SO_REUSEADDR``, so a collector restarted on the same port right
after a stop binds again. uvicorn is configured not to touch logging nor signals.

Example::

    server = BackgroundServer(app, host="127.0.0.1", port=0)
    server.start(timeout=10.0)
    print(server.port)
    server.stop(timeout=10.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp

__all__ = ["HTTP_IMPLEMENTATION", "BackgroundServer"]

#: uvicorn's fastest HTTP parser when it is installed.
HTTP_IMPLEMENTATION = "httptools" if importlib.util.find_spec("httptools") else "h11"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when
    # the socket says it is TCP; without it, Nagle + delayed ACKs stall responses ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """A uvicorn server that stops within milliseconds when asked, instead of ~0.2 s.

    uvicorn polls ``should_exit`` every 0.1 s and sleeps 0.1 s more while shutting down;
    a test suite that starts and stops a collector per test pays that hundreds of times.
    Here the main loop sleeps on an event that :meth:`request_exit` sets, and shutdown
    waits for open connections and running requests in short steps (bounded).
    """

    failure: BaseException | None = None
    on_shutdown: Callable[[], None] | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _wakeup: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864_000  # a multiple of 10: refresh the Date header
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), 1.0)

    def request_exit(self) -> None:
        """Ask the server to stop (from any thread)."""
        self.should_exit = True
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(wakeup.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.on_shutdown is not None:
            self.on_shutdown()
        for server in self.servers:
            server.close()
        state = self.server_state
        for connection in list(state.connections):
            connection.shutdown()  # idle ones close now, busy ones after their response
        deadline = time.monotonic() + (self.config.timeout_graceful_shutdown or 2.0)
        while (state.connections or state.tasks) and not self.force_exit:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.005)
        for task in list(state.tasks):
            task.cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(server.wait_closed() for server in self.servers)), 1.0
            )
        await self.lifespan.shutdown()


class BackgroundServer:
    """``app`` served by uvicorn on ``host:port`` from a daemon thread.

    ``on_shutdown`` is called in the server's event loop when it begins to stop. With
    ``certfile`` (and ``keyfile``, unless the certificate file holds the key) it serves HTTPS.

    Example::

        with contextlib.closing(BackgroundServer(app, host="127.0.0.1", port=0)) as server:
            server.start()
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str,
        port: int,
        on_shutdown: Callable[[], None] | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        self._sock = _bind(host, port)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            http=HTTP_IMPLEMENTATION,
            ws="none",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            server_header=False,
            proxy_headers=False,
            # Longer than the 5 s idle expiry of common client pools, so the client closes
            # an idle connection before the server does (no reset on reuse).
            timeout_keep_alive=15,
            timeout_graceful_shutdown=2,
            # A collector left running answers 503 beyond this many connections instead of
            # growing without bound.
            limit_concurrency=1024,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
        self._server = _Server(config)
        self._server.on_shutdown = on_shutdown
        self._thread = threading.Thread(
            target=self._run, name=f"weespin-collector:{self.port}", daemon=True
        )

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # SystemExit from a failed startup included
            self._server.failure = exc
        finally:
            with contextlib.suppress(OSError):
                self._sock.close()

    def start(self, *, timeout: float) -> None:
        """Start serving; return once connections are accepted, else raise ``RuntimeError``."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                reason = self._server.failure
                raise RuntimeError(f"the collector's server stopped while starting: {reason!r}")
            if time.monotonic() > deadline:
                self.stop(timeout=2.0)
                raise RuntimeError(f"the collector did not start serving within {timeout} s")
            time.sleep(0.005)

    def stop(self, *, timeout: float) -> bool:
        """Stop serving and join the thread; ``False`` if it had to be abandoned."""
        if not self._thread.is_alive():
            self.close()
            return True
        self._server.request_exit()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(2.0)
        self.close()
        return not self._thread.is_alive()

    def close(self) -> None:
        """Release the listening socket (idempotent)."""
        with contextlib.suppress(OSError):
            self._sock.close()
