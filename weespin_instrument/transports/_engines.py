"""Which HTTP engine sends to the API: the lean one wherever it serves, else aiohttp's.

The lean engine (:mod:`._lean`, asyncio protocols and httptools) costs a fraction of
aiohttp's CPU per request; aiohttp's (:mod:`._aio`) goes through a proxy from the
environment (``HTTPS_PROXY``, ...; ``https`` tunnelled with ``CONNECT``) and runs where
httptools cannot (PyPy). Each is imported only when chosen.

Example::

    api = async_api(settings, max_connections=64)
    await api.open()
    await api.send_event(body)
    await api.close()
"""

from __future__ import annotations

import importlib.util

from yarl import URL

from .._config import Settings
from ._async_api import AsyncAPI, proxy_for

__all__ = ["AIOHTTP", "LEAN", "async_api", "engine_module"]

#: Whether the lean engine can run here (httptools is a CPython wheel).
_HTTPTOOLS = importlib.util.find_spec("httptools") is not None
#: The engines' modules, imported when chosen.
LEAN = f"{__package__}._lean"
AIOHTTP = f"{__package__}._aio"


def async_api(settings: Settings, *, max_connections: int) -> AsyncAPI:
    """The API client for an event loop: the lean engine where it serves, else aiohttp's.

    Example::

        api = async_api(settings, max_connections=64)  # LeanAPI unless a proxy is set
    """
    if engine_module(settings) == LEAN:
        from ._lean import LeanAPI

        return LeanAPI(settings, max_connections=max_connections)
    from ._aio import AiohttpAPI

    return AiohttpAPI(settings, max_connections=max_connections)


def engine_module(settings: Settings) -> str:
    """The module of the engine :func:`async_api` chooses for ``settings``.

    Example::

        engine_module(settings) in sys.modules  # loaded: no import on first use
    """
    url = URL(settings.base_url.rstrip("/") + settings.events_path)
    if _HTTPTOOLS and url.scheme in ("http", "https") and proxy_for(url) is None:
        return LEAN
    return AIOHTTP
