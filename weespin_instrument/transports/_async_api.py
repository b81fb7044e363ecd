"""The Weespin API for an event loop: the calls both HTTP engines offer, and what they share.

:class:`AsyncAPI` is :class:`~._sync_client.SyncAPI` for an event loop: the same calls, the
same protocol (:mod:`._protocol`), one attempt per call (the sender owns retries, backoff and
the breaker). An engine supplies the pool (``open``, ``close``) and one ``POST`` (``_post``):
:class:`~._lean.LeanAPI` (asyncio protocols and httptools) wherever it serves, else
:class:`~._aio.AiohttpAPI` (a proxy from the environment, or no httptools: PyPy).
:func:`~._engines.async_api` chooses, and imports aiohttp only when it chooses aiohttp.

Both verify TLS as httpx's defaults do: against ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set,
else certifi's bundle (:func:`ssl_context`), and take proxies from ``HTTP_PROXY`` /
``HTTPS_PROXY`` / ``NO_PROXY`` (read once, when the sender starts).

Example::

    api = LeanAPI(settings, max_connections=64)
    await api.open()
    device_id = await api.initialize_device()
    await api.send_event(b'{"event_name":"signup","device_id":"ws_device_1","payload":{}}')
    await api.close()
"""

from __future__ import annotations

import asyncio
import os
import ssl
import urllib.request
from typing import Any

from yarl import URL

from .._config import Settings
from . import _protocol as protocol

__all__ = ["KEEPALIVE", "AsyncAPI", "proxy_for", "ssl_context"]

#: Seconds a connection may stay idle and be reused. Below the idle timeout of common servers
#: (uvicorn 5 s), so we close idle connections first.
KEEPALIVE = 4.0


def proxy_for(url: URL) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ...), unless bypassed.

    The same sources aiohttp reads (``urllib.request.getproxies()``, ``NO_PROXY``).

    Example::

        proxy_for(URL("https://api.example.test/events"))  # "http://proxy:3128" or None
    """
    proxy = urllib.request.getproxies().get(url.scheme)
    if not proxy or urllib.request.proxy_bypass(url.raw_host or ""):
        return None
    return proxy


def ssl_context() -> ssl.SSLContext:
    """A verifying TLS context built the way httpx builds its default one.

    Example::

        await loop.create_connection(factory, host, 443, ssl=ssl_context())
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


class AsyncAPI:
    """``POST`` the init path and the events path; raise typed errors. One attempt per call.

    The calls of both engines; create, use and close one inside one event loop.

    Example::

        api = async_api(settings, max_connections=64)
        await api.open()
        await api.send_event(body)
    """

    def __init__(self, settings: Settings, *, max_connections: int) -> None:
        self.settings = settings
        self.max_connections = max_connections
        base = settings.base_url.rstrip("/")
        self._events_url = URL(base + settings.events_path)
        self._init_url = URL(base + settings.init_path)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(base_url={self.settings.base_url!r}, api_key={self.settings.key_hint!r})"

    async def open(self) -> None:
        """Get ready to send (call from the loop that will use it)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close every connection (idempotent)."""
        raise NotImplementedError

    async def initialize_device(self) -> str:
        """``POST`` the init path and return ``event.device_info.device_id``."""
        path = self.settings.init_path
        text = await self._post(self._init_url, path, protocol.INIT_BODY)
        return protocol.read_device_id(text, path=path)

    async def send_event(self, body: bytes) -> None:
        """``POST`` one encoded event body (:func:`~._protocol.encode_body`)."""
        await self._post(self._events_url, self.settings.events_path, body)

    def never_written(self, task: asyncio.Task[Any] | None) -> bool:
        """Whether ``task``'s request was cancelled before a byte of it was written: then it
        was certainly not delivered. An engine that cannot tell says ``False`` (maybe).

        Example::

            except asyncio.CancelledError:
                reason = "shutdown" if api.never_written(task) else "in_flight_at_exit"
        """
        return False

    async def _post(self, url: URL, path: str, body: bytes) -> str:
        """One ``POST``: the answer's text, or the typed error it means."""
        raise NotImplementedError
