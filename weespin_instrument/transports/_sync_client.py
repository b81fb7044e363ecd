"""The Weespin Events API over httpx: device initialization and event sends, with retries."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .._config import ENV_API_KEY, Settings
from .._suppress import suppress_instrumentation
from ..errors import (
    AuthenticationError,
    ConfigurationError,
    DeliveryError,
    RateLimitedError,
    RejectedError,
    ServerError,
    WeespinError,
    key_suffix,
    redact_key,
)
from ._retry import RetryPolicy, outcome_of, parse_retry_after

if TYPE_CHECKING:
    import httpx

__all__ = ["MAX_BODY", "WeespinAPI", "device_id_from", "error_for_response", "redirect_hint"]

_USER_AGENT = "weespin-instrument/0.1"
_T = TypeVar("_T")
#: Longest stretch (seconds) of single attempts after requests kept spending their budget.
_MAX_HURRY = 300.0
#: Bytes of an answer read at most: the API's answers are tiny; an error page need not be.
MAX_BODY = 64 * 1024


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def redirect_hint(location: str | None, path: str) -> str:
    """What to set ``base_url`` to when the API redirects ``path`` to ``location``.

    >>> redirect_hint("https://api.example.com/events", "/events")
    'set base_url to https://api.example.com'
    """
    if not location:
        return "check base_url (the answer named no Location)"
    base = location[: -len(path)] if path and location.endswith(path) else location
    return f"set base_url to {base.rstrip('/') or location}"


def error_for_response(
    status: int,
    body: str,
    *,
    method_path: str,
    api_key: str | None,
    retry_after: str | None,
    location: str | None = None,
) -> WeespinError | None:
    """The typed error an HTTP answer means, or ``None`` for a success (2xx).

    A redirect (3xx) is an error: redirects of a ``POST`` are never followed (clients
    replay them as a ``GET`` and the event would be lost while counted as sent).
    """
    if 200 <= status < 300:
        return None
    body = redact_key(body, api_key)
    where = f"{status} on {method_path}"
    if 300 <= status < 400:
        path = method_path.partition(" ")[2]
        return RejectedError(
            f"the Weespin API answered a redirect ({where}) to {location or 'nowhere'}; "
            f"redirects of a POST are not followed: {redirect_hint(location, path)}.",
            status_code=status,
            body=body,
        )
    if status in (401, 403):
        return AuthenticationError(
            f"the Weespin API refused the API key {key_suffix(api_key)} ({where}). "
            f"Check {ENV_API_KEY} (or configure(api_key=...)): it must be this application's key "
            "from the Weespin dashboard (Application -> Configuration -> Integration).",
            status_code=status,
            body=body,
        )
    if status == 429:
        return RateLimitedError(
            f"the Weespin API is rate limiting this client ({where}).",
            body=body,
            retry_after=parse_retry_after(retry_after),
        )
    if status == 408 or status >= 500:
        return ServerError(
            f"the Weespin API failed ({where}).",
            status_code=status,
            body=body,
            retry_after=parse_retry_after(retry_after),
        )
    hint = (
        " Check base_url, init_path and events_path (WEESPIN_BASE_URL)."
        if status in (404, 405)
        else ""
    )
    return RejectedError(
        f"the Weespin API rejected the request ({where}): {body[:200] or 'no details'}.{hint}",
        status_code=status,
        body=body,
    )


def device_id_from(data: Any, *, path: str, raw: str) -> str:
    """``event.device_info.device_id`` of an init answer, or a :class:`DeliveryError`.

    A 2xx without a device (a captive portal, a proxy's HTML error page) is transient:
    retried with backoff like a 5xx, the events wait.
    """
    try:
        device_id = data["event"]["device_info"]["device_id"]
    except (KeyError, TypeError):
        device_id = None
    if not isinstance(device_id, str) or not device_id:
        start = " ".join(raw[:80].split())
        raise DeliveryError(
            f"POST {path} answered without event.device_info.device_id (body starts "
            f"{start!r}); is base_url a Weespin API, or is a proxy or captive portal answering?"
        )
    return device_id


class WeespinAPI:
    """A small client of the two endpoints, safe to share between threads.

    The httpx client is created on first use (so importing and configuring stay free), and
    again in a forked child, which never touches its parent's connections.

    Example::

        api = WeespinAPI(Settings.resolve(api_key="wsk_...", base_url="http://127.0.0.1:8765"))
        device_id = api.initialize_device()
        api.send_event({"event_name": "signup", "device_id": device_id, "payload": {}})
    """

    def __init__(self, settings: Settings, *, http_client: httpx.Client | None = None) -> None:
        if not settings.api_key:
            raise ConfigurationError(
                f"no Weespin API key: set {ENV_API_KEY} or call configure(api_key=...)."
            )
        self.settings = settings
        self.retry = RetryPolicy(
            max_attempts=settings.max_attempts,
            max_total=settings.max_retry_time,
            max_backoff=settings.max_backoff,
        )
        self._given_client = http_client
        self._client: httpx.Client | None = http_client
        self._client_pid = os.getpid()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._give_ups = 0
        self._hurried_until = 0.0
        #: Called before each retry (the transports count them).
        self.on_retry: Callable[[], object] | None = None

    def __repr__(self) -> str:
        return (
            f"WeespinAPI(base_url={self.settings.base_url!r}, api_key={self.settings.key_hint!r})"
        )

    def initialize_device(self) -> str:
        """``POST`` the init path and return ``event.device_info.device_id``."""
        path = self.settings.init_path
        # The docs show no body; an empty JSON object is what a JSON endpoint accepts either way.
        return self._post(path, {}, lambda text: device_id_from(_json(text), path=path, raw=text))

    def send_event(self, body: dict[str, Any]) -> None:
        """``POST`` one event body (see :meth:`Event.to_wire`)."""
        self._post(self.settings.events_path, body)

    def close(self) -> None:
        """Close the connection pool (only the one this process created) and stop retry waits."""
        self._closed.set()
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
                    headers={"User-Agent": _USER_AGENT},
                    limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=30.0),
                )
            return self._client

    def _post(
        self,
        path: str,
        body: dict[str, Any],
        read: Callable[[str], _T] = str,  # type: ignore[assignment]
    ) -> _T:
        """``POST`` with retries; ``read`` turns the answer's text into the result (or raises)."""
        started = time.monotonic()
        # Soon after a request spent its whole budget, each call makes one attempt: a dead
        # API then costs a blocking caller one request, not max_retry_time per call.
        hurried = started < self._hurried_until
        attempt = 0
        while True:
            try:
                result = read(self._post_once(path, body))
            except WeespinError as error:
                # One caller, one request at a time: a client-wide pause is this wait too.
                if outcome_of(error).action not in ("retry", "pause"):
                    raise
                wait = None
                if not hurried:
                    wait = self.retry.next_delay(attempt, error, time.monotonic() - started)
                if wait is None or self._closed.wait(wait):
                    self._gave_up()
                    raise
                attempt += 1
                if self.on_retry is not None:
                    self.on_retry()
            else:
                self._give_ups, self._hurried_until = 0, 0.0
                return result

    def _gave_up(self) -> None:
        self._give_ups += 1
        backoff = min(_MAX_HURRY, 2.0 ** min(self._give_ups - 1, 9))
        self._hurried_until = time.monotonic() + backoff

    def _post_once(self, path: str, body: dict[str, Any]) -> str:
        import httpx

        headers = {"Authorization": self.settings.api_key or "", "Content-Type": "application/json"}
        content = json.dumps(body, separators=(",", ":")).encode()
        # httpx has no total timeout: its timeouts bound each read, so a server trickling a
        # body is cut off here, between chunks, once the request's deadline has passed.
        deadline = time.monotonic() + self.settings.timeout
        try:
            with (
                suppress_instrumentation(),
                self._http().stream(
                    "POST", path, content=content, headers=headers, follow_redirects=False
                ) as response,
            ):
                raw = bytearray()
                for chunk in response.iter_bytes():
                    raw += chunk
                    if len(raw) >= MAX_BODY:
                        break
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("the whole answer took too long")
                status = response.status_code
                retry_after = response.headers.get("Retry-After")
                location = response.headers.get("Location")
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"POST {path} timed out: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            detail = redact_key(str(exc), self.settings.api_key)
            raise DeliveryError(f"POST {path} failed: {type(exc).__name__}: {detail}") from None
        text = bytes(raw[:MAX_BODY]).decode(errors="replace")
        error = error_for_response(
            status,
            text,
            method_path=f"POST {path}",
            api_key=self.settings.api_key,
            retry_after=retry_after,
            location=location,
        )
        if error is not None:
            raise error
        return text
