"""The Weespin API over aiohttp: the sender's engine behind a proxy, or without httptools.

:class:`AiohttpAPI` is an :class:`~._async_api.AsyncAPI` (the calls, the typed errors) on an
aiohttp session; :func:`~._async_api.async_api` chooses it where the lean engine
(:mod:`._lean`) does not serve: a proxy from the environment (aiohttp sends plain requests
through it and tunnels ``https`` with ``CONNECT``), or an interpreter without httptools.

Why aiohttp and not httpx here: client-side CPU per request, measured by
``benchmarks/engines.py`` (aiohttp is several times cheaper than ``httpx.AsyncClient`` at
64 requests in flight). httpx stays the client of the synchronous transport.

The proxy is read once, not per request: aiohttp's own ``trust_env`` reads ``.netrc`` in a
thread on every request.

Example::

    api = AiohttpAPI(settings, max_connections=64)
    await api.open()
    device_id = await api.initialize_device()
    await api.close()
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from .._config import Settings
from ..errors import DeliveryError
from . import _protocol as protocol
from ._async_api import KEEPALIVE, AsyncAPI, ssl_context

__all__ = ["AiohttpAPI"]


class AiohttpAPI(AsyncAPI):
    """``POST`` the init path and the events path with aiohttp; raise typed errors.

    One attempt per call: the sender owns retries, backoff and the circuit breaker.
    Create, use and close it inside one event loop.

    Example::

        api = AiohttpAPI(settings, max_connections=64)
        await api.open()
        await api.send_event(body)
    """

    def __init__(self, settings: Settings, *, max_connections: int) -> None:
        super().__init__(settings, max_connections=max_connections)
        self._session: aiohttp.ClientSession | None = None
        self._proxy: URL | None = None
        self._proxy_headers: dict[str, str] | None = None

    async def open(self) -> None:
        """Create the connection pool (call from the loop that will use it)."""
        secure = self._events_url.scheme == "https"
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            keepalive_timeout=KEEPALIVE,
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
