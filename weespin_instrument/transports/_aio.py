"""The Weespin API over aiohttp, for the background sender: one attempt per call, typed errors.

:class:`AsyncAPI` is :class:`~._sync_client.SyncAPI` for an event loop: the same calls,
the same protocol (:mod:`._protocol`); the sender owns retries, backoff and the breaker.

Why aiohttp and not httpx here: client-side CPU per request, measured by
``benchmarks/engines.py`` (aiohttp is several times cheaper than ``httpx.AsyncClient`` at
64 requests in flight). httpx stays the client of the synchronous transport.

Proxies and TLS behave as httpx's defaults do: ``HTTP_PROXY`` / ``HTTPS_PROXY`` /
``NO_PROXY`` from the environment (read once, not per request: aiohttp's own
``trust_env`` reads ``.netrc`` in a thread on every request), certificates verified
against ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi's bundle.

Example::

    api = AsyncAPI(settings, max_connections=64)
    await api.open()
    device_id = await api.initialize_device()
    await api.send_event(b'{"event_name":"signup","device_id":"ws_device_1","payload":{}}')
    await api.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from .._config import Settings
from ..errors import DeliveryError
from . import _protocol as protocol

__all__ = ["AsyncAPI", "SenderLoop", "ssl_context"]

_T = TypeVar("_T")
#: Below the idle timeout of common servers (uvicorn 5 s), so we close idle connections first.
_KEEPALIVE = 4.0


def ssl_context() -> ssl.SSLContext:
    """A verifying TLS context built the way httpx builds its default one.

    Example::

        aiohttp.TCPConnector(ssl=ssl_context())
    """
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class SenderLoop(asyncio.SelectorEventLoop):
    """The sender's event loop: ``run_in_executor(None, ...)`` runs the call in a new thread.

    aiohttp resolves host names with ``run_in_executor(None, getaddrinfo)`` and the device
    is initialized the same way. asyncio's default executor, a ``ThreadPoolExecutor``,
    refuses work once the interpreter starts exiting (its module cannot even be imported
    then), which is exactly when the exit drain needs it. These calls are rare (DNS is
    cached, the device initialized once): a daemon thread each is cheap enough, and when
    threads can no longer start the call runs inline.

    Example::

        loop = SenderLoop()
        device_id = await loop.run_in_executor(None, devices.get)
    """

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]:
        if executor is not None:
            return super().run_in_executor(executor, func, *args)
        future: asyncio.Future[_T] = self.create_future()

        def run() -> None:
            try:
                result = func(*args)
            except BaseException as exc:
                self._resolve(future, None, exc)
            else:
                self._resolve(future, result, None)

        try:
            threading.Thread(target=run, name="weespin-sender-io", daemon=True).start()
        except RuntimeError:  # interpreter shutting down
            run()
        return future

    def _resolve(
        self, future: asyncio.Future[_T], result: _T | None, error: BaseException | None
    ) -> None:
        def settle() -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self.call_soon_threadsafe(settle)


class AsyncAPI:
    """``POST`` the init path and the events path with aiohttp; raise typed errors.

    One attempt per call: the sender owns retries, backoff and the circuit breaker.
    Create, use and close it inside one event loop.

    Example::

        api = AsyncAPI(settings, max_connections=64)
        await api.open()
        await api.send_event(body)
    """

    def __init__(self, settings: Settings, *, max_connections: int) -> None:
        self.settings = settings
        self.max_connections = max_connections
        base = settings.base_url.rstrip("/")
        self._events_url = URL(base + settings.events_path)
        self._init_url = URL(base + settings.init_path)
        self._session: aiohttp.ClientSession | None = None
        self._proxy: URL | None = None
        self._proxy_headers: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"AsyncAPI(base_url={self.settings.base_url!r}, api_key={self.settings.key_hint!r})"

    async def open(self) -> None:
        """Create the connection pool (call from the loop that will use it)."""
        secure = self._events_url.scheme == "https"
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            keepalive_timeout=_KEEPALIVE,
            ttl_dns_cache=60,
            ssl=ssl_context() if secure else False,
        )
        try:
            self._proxy, proxy_auth = get_env_proxy_for_url(self._events_url)
        except LookupError:
            pass
        else:
            if proxy_auth is not None:
                self._proxy_headers = {"Proxy-Authorization": proxy_auth.encode()}
        timeout = self.settings.timeout
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=protocol.request_headers(self.settings.api_key),
            # ``total`` bounds the whole request, answer included: a server trickling its body
            # is a timeout (retried), not a request in flight forever.
            timeout=aiohttp.ClientTimeout(total=timeout, connect=timeout, sock_read=timeout),
            trust_env=False,
        )

    async def close(self) -> None:
        """Close the pool (idempotent)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def initialize_device(self) -> str:
        """``POST`` the init path and return ``event.device_info.device_id``."""
        path = self.settings.init_path
        text = await self._post(self._init_url, path, protocol.INIT_BODY)
        return protocol.read_device_id(text, path=path)

    async def send_event(self, body: bytes) -> None:
        """``POST`` one encoded event body (:func:`~._protocol.encode_body`)."""
        await self._post(self._events_url, self.settings.events_path, body)

    async def _post(self, url: URL, path: str, body: bytes) -> str:
        """One ``POST``: the answer's text, or the typed error it means."""
        session = self._session
        if session is None:
            raise DeliveryError(f"POST {path}: the sender is closed")
        try:
            # Never follow a redirect: aiohttp would replay the POST as a GET and the answer
            # to that GET would count as the event delivered.
            async with session.post(
                url,
                data=body,
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
                allow_redirects=False,
            ) as response:
                raw = await _read_capped(response.content)
                status, headers = response.status, response.headers
        except asyncio.TimeoutError as exc:
            raise protocol.timed_out(path, exc) from None
        except aiohttp.ClientError as exc:
            raise protocol.request_failed(path, exc, api_key=self.settings.api_key) from None
        return protocol.check_answer(status, raw, headers, path=path, api_key=self.settings.api_key)


async def _read_capped(stream: aiohttp.StreamReader) -> bytes:
    """At most :data:`~._protocol.MAX_BODY` bytes of an answer; the rest is never read."""
    raw = bytearray()
    while len(raw) < protocol.MAX_BODY:
        chunk = await stream.read(protocol.MAX_BODY - len(raw))
        if not chunk:
            break
        raw += chunk
    return bytes(raw)
