"""The Weespin API over httpx, for the synchronous transport: one attempt per call, typed errors.

What goes on the wire and what an answer means is :mod:`._protocol`'s; retries are the
caller's (:class:`~._http.HttpTransport`, :func:`~weespin_instrument.devices.new_device_id`,
through :func:`~._retry.retrying`). :class:`~._async_api.AsyncAPI` is the same client for an
event loop.

Example::

    api = SyncAPI(settings)
    device_id = api.initialize_device()
    api.send_event(b'{"event_name":"signup","device_id":"ws_device_1","payload":{}}')
    api.close()
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

from .._config import Settings
from .._suppress import suppress_instrumentation
from . import _protocol as protocol

if TYPE_CHECKING:
    import httpx

__all__ = ["SyncAPI"]


class SyncAPI:
    """``POST`` the init path and the events path with httpx; raise typed errors.

    One attempt per call; safe to share between threads. The httpx client is created on
    first use (so importing and configuring stay free), and again in a forked child, which
    never touches its parent's connections. Without an API key it raises
    :class:`~weespin_instrument.ConfigurationError`.

    Example::

        api = SyncAPI(Settings.resolve(api_key="wsk_...", base_url="http://127.0.0.1:8765"))
        device_id = api.initialize_device()
        api.send_event(encode_body({"event_name": "signup", "device_id": device_id}))
    """

    def __init__(self, settings: Settings, *, http_client: httpx.Client | None = None) -> None:
        protocol.require_api_key(settings)
        self.settings = settings
        self._headers = protocol.request_headers(settings.api_key)
        self._given_client = http_client
        self._client: httpx.Client | None = http_client
        self._client_pid = os.getpid()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SyncAPI(base_url={self.settings.base_url!r}, api_key={self.settings.key_hint!r})"

    def initialize_device(self) -> str:
        """``POST`` the init path and return ``event.device_info.device_id``."""
        path = self.settings.init_path
        return protocol.read_device_id(self._post(path, protocol.INIT_BODY), path=path)

    def send_event(self, body: bytes) -> None:
        """``POST`` one encoded event body (:func:`~._protocol.encode_body`)."""
        self._post(self.settings.events_path, body)

    def close(self) -> None:
        """Close the connection pool (only the one this process created)."""
        with self._lock:
            client, self._client = self._client, None
        owned = client is not self._given_client and self._client_pid == os.getpid()
        if client is not None and owned:
            client.close()

    # -- internals ----------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        client = self._client
        if client is not None and self._client_pid == os.getpid():
            return client
        with self._lock:
            if self._client is None or self._client_pid != os.getpid():
                import httpx

                self._client_pid = os.getpid()
                self._client = self._given_client or httpx.Client(
                    base_url=self.settings.base_url,
                    timeout=httpx.Timeout(self.settings.timeout),
                    limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=30.0),
                )
            return self._client

    def _post(self, path: str, body: bytes) -> str:
        """One ``POST``: the answer's text, or the typed error it means."""
        import httpx

        # httpx has no total timeout: its timeouts bound each read, so a server trickling a
        # body is cut off here, between chunks, once the request's deadline has passed.
        deadline = time.monotonic() + self.settings.timeout
        try:
            with (
                suppress_instrumentation(),
                self._http().stream(
                    "POST", path, content=body, headers=self._headers, follow_redirects=False
                ) as response,
            ):
                raw = bytearray()
                for chunk in response.iter_bytes():
                    raw += chunk
                    if len(raw) >= protocol.MAX_BODY:
                        break
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("the whole answer took too long")
                status = response.status_code
                # A header sent twice counts once, the first (as aiohttp and the lean engine
                # read it): httpx would join the two, "5, 300", which is no Retry-After.
                headers = {
                    name: values[0]
                    for name in protocol.ANSWER_HEADERS
                    if (values := response.headers.get_list(name))
                }
        except httpx.TimeoutException as exc:
            raise protocol.timed_out(path, exc) from None
        except httpx.TransportError as exc:
            raise protocol.request_failed(path, exc, api_key=self.settings.api_key) from None
        return protocol.check_answer(
            status, bytes(raw), headers, path=path, api_key=self.settings.api_key
        )
