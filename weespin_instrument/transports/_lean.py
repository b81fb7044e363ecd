"""The Weespin API over bare asyncio protocols and httptools: the sender's HTTP/1.1 engine.

:class:`LeanAPI` is an :class:`~._async_api.AsyncAPI` (the calls, the typed errors) in a
fraction of aiohttp's CPU and objects per request (``benchmarks/delivery.py --engines``):
one keep-alive HTTP/1.1 connection per request in flight, requests written from a prebuilt
head, answers parsed by httptools (uvicorn's parser), chunked or delimited by the
connection's end, capped at :data:`~._protocol.MAX_BODY`, one deadline for connecting,
writing and reading; TLS by asyncio's ``ssl`` transport with
:func:`~._async_api.ssl_context`; host names resolved once a minute. Redirects are answers
like any other (never followed). :func:`~._engines.async_api` chooses it wherever there
is no proxy to go through.

Example::

    api = LeanAPI(settings, max_connections=64)
    await api.open()
    await api.send_event(body)
    await api.close()
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import socket
import ssl
import weakref
import zlib
from typing import Any

import httptools
from yarl import URL

from .._config import Settings
from ..errors import DeliveryError
from . import _protocol as protocol
from ._async_api import KEEPALIVE, AsyncAPI, ssl_context
from ._eyeballs import first_socket

__all__ = ["LeanAPI"]

_NO_HEADERS: dict[str, str] = {}
#: The answer's headers the protocol reads (:data:`~._protocol.ANSWER_HEADERS`), and how
#: its body is encoded, by their lower-case names on the wire.
_KEPT = {
    name.lower().encode("latin-1"): name for name in (*protocol.ANSWER_HEADERS, "Content-Encoding")
}
#: The encodings a body comes in though we ask for none (some servers compress regardless),
#: decoded as aiohttp and httpx decode them: zlib reads a gzip or a zlib header.
_COMPRESSED = frozenset({"gzip", "x-gzip", "deflate"})
#: The answer's headers that say where its body ends: without either it ends at the close.
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})


#: Seconds a host name's addresses are kept (as ``ttl_dns_cache`` in :mod:`._aio`).
_DNS_TTL = 60.0


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer parsed by httptools."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, dict[str, str], bytes]] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.body = bytearray()
        self.headers = _NO_HEADERS
        self.status = 0
        self.headers_done = False
        #: Whether the answer says where its body ends (a length, or chunked).
        self.framed = False
        #: Whether the connection may carry the next request.
        self.reusable = False
        self.closed = False
        self.idle_since = 0.0

    # -- asyncio's callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes nobody asked for: the connection is out of step
            self.abort()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - never asked for
            self._fail(ConnectionError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self.waiter is None or self.waiter.done():
            return
        if self.headers_done and not self.framed and self.parser.get_status_code():
            # An answer without a length ends with the connection, as HTTP/1.0's did: by a
            # reset too (a server closing with bytes unread), as aiohttp reads it.
            self._finish(reusable=False)
        elif self.headers_done:  # cut short: no answer (aiohttp's ClientPayloadError)
            self._fail(exc or ConnectionResetError("the server closed the connection mid-answer"))
        else:
            self._fail(exc or ConnectionResetError("the server closed the connection"))

    # -- httptools' callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.waiter is None:  # an answer after the answer, in the same read: out of step
            self.headers = _NO_HEADERS  # the answer given keeps its own headers
            self.abort()

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        kept = _KEPT.get(name)
        if kept is not None:
            if self.headers is _NO_HEADERS:
                self.headers = {}
            # Sent twice: the first counts, as aiohttp's ``headers.get`` reads it.
            self.headers.setdefault(kept, value.decode("latin-1"))
        elif name in _FRAMING:
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.body += body
        if len(self.body) >= protocol.MAX_BODY:  # the rest is never read
            self._finish(reusable=False)

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:  # an interim answer: the real one follows
            self.headers_done = self.framed = False
            self.headers = _NO_HEADERS  # its headers are not the answer's
            return
        self._finish(reusable=self.parser.should_keep_alive())

    # -- one request -------------------------------------------------------------------------

    def send(
        self, request: bytes, deadline: float
    ) -> asyncio.Future[tuple[int, dict[str, str], bytes]]:
        """Write ``request``; the future is its answer (status, kept headers, body)."""
        assert self.transport is not None
        self.body.clear()
        self.headers = _NO_HEADERS
        self.headers_done = self.framed = False
        self.reusable = False
        waiter = self.waiter = self.loop.create_future()
        self.timer = self.loop.call_at(deadline, self._time_out)
        self.transport.write(request)
        return waiter

    def _finish(self, *, reusable: bool) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        self.stop_timer()
        # Answered while its request was still being written (a server refusing it at its
        # head): the rest of it goes out first, and a server that does not skip it would read
        # the next request as part of it.
        unsent = self.transport is not None and self.transport.get_write_buffer_size() > 0
        self.reusable = reusable and not self.closed and not unsent
        if not self.reusable:
            self.abort()
        waiter.set_result((self.status, self.headers, bytes(self.body[: protocol.MAX_BODY])))
        self.waiter = None

    def _fail(self, error: BaseException) -> None:
        waiter = self.waiter
        self.stop_timer()
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.waiter = None

    def _time_out(self) -> None:
        self.timer = None
        self._fail(TimeoutError())

    def stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def abort(self) -> None:
        self.reusable = False
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class LeanAPI(AsyncAPI):
    """``POST`` the init path and the events path over a pool of keep-alive connections.

    :class:`~._async_api.AsyncAPI`'s calls, results and typed errors, one attempt per call,
    on one event loop; a pool of at most ``max_connections`` connections.

    Example::

        api = LeanAPI(settings, max_connections=64)
        await api.open()
        device_id = await api.initialize_device()
    """

    def __init__(self, settings: Settings, *, max_connections: int) -> None:
        super().__init__(settings, max_connections=max_connections)
        events = self._events_url
        self._host = events.raw_host or "127.0.0.1"
        self._port = events.port or (443 if events.scheme == "https" else 80)
        self._addresses = _Addresses(self._host, self._port)
        self._tls: ssl.SSLContext | None = None
        self._heads = {events: self._head(events), self._init_url: self._head(self._init_url)}
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Tasks whose send was cancelled while it waited for a connection (see never_written).
        self._unwritten: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    def _head(self, url: URL) -> bytes:
        host = f"[{url.raw_host}]" if ":" in (url.raw_host or "") else url.raw_host or ""
        if not url.is_default_port():
            host = f"{host}:{url.port}"
        lines = [f"POST {url.raw_path_qs} HTTP/1.1", f"Host: {host}"]
        headers = protocol.request_headers(self.settings.api_key)
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")

    async def open(self) -> None:
        """Bind to the running loop (connections open on first use)."""
        self._loop = asyncio.get_running_loop()
        if self._events_url.scheme == "https" and self._tls is None:
            self._tls = ssl_context()

    async def close(self) -> None:
        """Close every connection (idempotent)."""
        self._loop = None
        for connection in [*self._idle, *self._busy]:
            connection.abort()
        self._idle.clear()
        self._busy.clear()
        while self._waiting:  # every waiting send: each finds the engine closed
            self._wake_next()

    async def _post(self, url: URL, path: str, body: bytes) -> str:
        """One ``POST``: the answer's text, or the typed error it means."""
        head = self._heads[url]
        loop = self._loop
        if loop is None:
            raise DeliveryError(f"POST {path}: the sender is closed")
        deadline = loop.time() + self.settings.timeout
        request = b"%s%d\r\n\r\n%s" % (head, len(body), body)
        connection: _Connection | None = None
        try:
            connection = await self._acquire(loop, deadline)
            status, headers, raw = await connection.send(request, deadline)
        except (TimeoutError, asyncio.TimeoutError) as exc:  # distinct on Python 3.10
            raise protocol.timed_out(path, exc) from None
        except (OSError, httptools.HttpParserError) as exc:
            raise protocol.request_failed(path, exc, api_key=self.settings.api_key) from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if connection is None and task is not None:  # waiting for a connection: unwritten
                self._unwritten.add(task)
            raise
        finally:
            if connection is not None:
                self._release(connection, loop)
        encoding = headers.get("Content-Encoding")
        if encoding is not None and encoding.strip().lower() in _COMPRESSED:
            try:  # at most MAX_BODY bytes come out, as many as are read of a plain body
                raw = zlib.decompressobj(32 + zlib.MAX_WBITS).decompress(raw, protocol.MAX_BODY)
            except zlib.error as exc:
                raise protocol.request_failed(path, exc, api_key=self.settings.api_key) from None
        return protocol.check_answer(status, raw, headers, path=path, api_key=self.settings.api_key)

    def never_written(self, task: asyncio.Task[Any] | None) -> bool:
        """Whether ``task``'s send was cancelled while it waited for a connection."""
        return task is not None and task in self._unwritten

    async def _acquire(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        idle = self._idle
        while True:
            now = loop.time()
            while idle:
                connection = idle.pop()
                if connection.closed or now - connection.idle_since > KEEPALIVE:
                    connection.abort()  # the server may close it any moment now
                    continue
                self._busy.add(connection)
                return connection
            if len(self._busy) < self.max_connections:
                return await self._connect(loop, deadline)
            waiter = loop.create_future()
            self._waiting.append(waiter)
            try:
                await asyncio.wait_for(waiter, deadline - loop.time())
            except BaseException:
                if waiter.done() and not waiter.cancelled():  # handed a slot it will not use
                    self._wake_next()
                raise
            finally:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
            if self._loop is None:
                raise ConnectionError("the sender closed")

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        placeholder = _Connection(loop)  # holds the slot while connecting
        self._busy.add(placeholder)
        try:
            connection = await asyncio.wait_for(self._open_connection(loop), deadline - loop.time())
        except BaseException:
            self._wake_next()  # the slot is free again: a waiter may connect
            raise
        finally:
            self._busy.discard(placeholder)
        if self._loop is None:  # closed while connecting: close() could not reach it
            connection.abort()
            raise ConnectionError("the sender closed")
        self._busy.add(connection)
        return connection

    async def _open_connection(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        """A connection to the first of the host's addresses that accepts one (happy
        eyeballs, :mod:`._eyeballs`), TLS negotiated on it."""
        try:
            sock = await first_socket(loop, await self._addresses.get(loop), self._port)
        except OSError:  # no address accepted one: look the host up again next time
            self._addresses.forget()
            raise
        _, connection = await loop.create_connection(
            lambda: _Connection(loop),
            sock=sock,
            ssl=self._tls,
            server_hostname=self._host if self._tls is not None else None,
        )
        return connection

    def _release(self, connection: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        self._busy.discard(connection)
        if connection.waiter is not None:  # cancelled mid-request: out of step for good
            connection.stop_timer()
            connection.waiter = None
            connection.abort()
        if connection.reusable and self._loop is not None:
            connection.idle_since = loop.time()
            self._idle.append(connection)
        self._wake_next()

    def _wake_next(self) -> None:
        """Tell the longest waiting send that a connection or a slot is free."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break


class _Addresses:
    """Where the API's host is: looked up at most once a :data:`_DNS_TTL` (an IP is itself).

    A lookup runs in a thread (``loop.getaddrinfo``); without this, every new connection would
    start one. Concurrent connects share one lookup.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._known: list[tuple[int, str]] = []
        self._until = 0.0
        self._lock: asyncio.Lock | None = None
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        self._known, self._until = [(family, host)], float("inf")

    async def get(self, loop: asyncio.AbstractEventLoop) -> list[tuple[int, str]]:
        """The host's addresses, in the resolver's order of preference."""
        if loop.time() < self._until:
            return self._known
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if loop.time() >= self._until:
                found = await loop.getaddrinfo(
                    self.host, self.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
                )
                known: list[tuple[int, str]] = []
                for family, _, _, _, sockaddr in found:
                    if (family, str(sockaddr[0])) not in known:
                        known.append((family, str(sockaddr[0])))
                self._known, self._until = known, loop.time() + _DNS_TTL
        return self._known

    def forget(self) -> None:
        """Look the host up again next time (no address accepted a connection)."""
        if self._until != float("inf"):
            self._until = 0.0
