"""The Weespin Events API as the clients speak it: what a request carries, what an answer means.

Pure functions and constants, no HTTP library: the synchronous client (httpx,
:mod:`._sync_client`) and the asynchronous ones (:mod:`._async_api`) each make one
attempt and hand the answer here; the transports decide what to do next
(:func:`~._retry.outcome_of`, :class:`~._retry.RetryPolicy`).

The collector's side of the wire (the rules a body must follow) is :mod:`.._wire`, with
pydantic; nothing here loads it.

Example::

    body = encode_body({"event_name": "signup", "device_id": "ws_device_1", "payload": {}})
    error = error_for_response(503, "", method_path="POST /events", api_key="k", retry_after="2")
    error.retry_after  # 2.0
    read_device_id('{"event": {"device_info": {"device_id": "ws_device_1"}}}', path="/init")
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import errors
from .._api_key import key_suffix, redact_key
from .._config import ENV_API_KEY
from .._version import __version__
from ._retry import parse_retry_after

if TYPE_CHECKING:
    from .._config import Settings

__all__ = [
    "ANSWER_HEADERS",
    "INIT_BODY",
    "MAX_BODY",
    "USER_AGENT",
    "answer_text",
    "check_answer",
    "encode_body",
    "error_for_response",
    "read_device_id",
    "redirect_hint",
    "request_failed",
    "request_headers",
    "require_api_key",
    "timed_out",
]

#: Sent with every request, so a server's logs tell which library (and version) called.
USER_AGENT = f"weespin-instrument/{__version__}"
#: The answer's headers :func:`check_answer` reads; sent twice, the first one counts (as
#: aiohttp's ``headers.get`` reads it).
ANSWER_HEADERS = ("Retry-After", "Location")
#: Bytes of an answer read at most: the API's answers are tiny; an error page need not be.
MAX_BODY = 64 * 1024
#: The body of ``POST /initialize-device``. The docs show none; an empty JSON object is what
#: a JSON endpoint accepts either way.
INIT_BODY = b"{}"

#: ``json.dumps(..., separators=...)`` builds an encoder per call: build it once.
_to_json = json.JSONEncoder(separators=(",", ":")).encode


def require_api_key(settings: Settings) -> str:
    """The API key of ``settings``, or a :class:`ConfigurationError` saying how to set one."""
    if not settings.api_key:
        raise errors.ConfigurationError(
            f"no Weespin API key: set {ENV_API_KEY} or call configure(api_key=...)."
        )
    return settings.api_key


def request_headers(api_key: str | None) -> dict[str, str]:
    """The headers of every request: the raw key as ``Authorization`` (no scheme), JSON, us.

    >>> request_headers("wsk_1")["Authorization"]
    'wsk_1'
    """
    return {
        "Authorization": api_key or "",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


def encode_body(body: Mapping[str, Any]) -> bytes:
    """One request body as compact JSON (see :meth:`Event.to_wire`).

    >>> encode_body({"event_name": "signup", "payload": {"plan": "pro"}})
    b'{"event_name":"signup","payload":{"plan":"pro"}}'
    """
    return _to_json(body).encode()


def answer_text(raw: bytes) -> str:
    """An answer's body as text: at most :data:`MAX_BODY` bytes, undecodable bytes replaced.

    >>> answer_text(b"caf\\xc3\\xa9 \\xff")
    'café �'
    """
    return raw[:MAX_BODY].decode(errors="replace")


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
) -> errors.WeespinError | None:
    """The typed error an HTTP answer means, or ``None`` for a success (2xx).

    401/403 is :class:`AuthenticationError`, 429 :class:`RateLimitedError`, 408 and 5xx
    :class:`ServerError` (these two with the ``Retry-After`` they carried), any other
    answer :class:`RejectedError`. A redirect (3xx) is an error too: redirects of a
    ``POST`` are never followed (clients replay them as a ``GET`` and the event would be
    lost while counted as sent). The key never appears in the error, even when echoed.

    >>> type(error_for_response(401, "", method_path="POST /events", api_key="k",
    ...                         retry_after=None)).__name__
    'AuthenticationError'
    """
    if 200 <= status < 300:
        return None
    body = redact_key(body, api_key)
    where = f"{status} on {method_path}"
    if 300 <= status < 400:
        path = method_path.partition(" ")[2]
        return errors.RejectedError(
            f"the Weespin API answered a redirect ({where}) to {location or 'nowhere'}; "
            f"redirects of a POST are not followed: {redirect_hint(location, path)}.",
            status_code=status,
            body=body,
        )
    if status in (401, 403):
        return errors.AuthenticationError(
            f"the Weespin API refused the API key {key_suffix(api_key)} ({where}). "
            f"Check {ENV_API_KEY} (or configure(api_key=...)): it must be this application's key "
            "from the Weespin dashboard (Application -> Configuration -> Integration).",
            status_code=status,
            body=body,
        )
    if status == 429:
        return errors.RateLimitedError(
            f"the Weespin API is rate limiting this client ({where}).",
            body=body,
            retry_after=parse_retry_after(retry_after),
        )
    if status == 408 or status >= 500:
        return errors.ServerError(
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
    return errors.RejectedError(
        f"the Weespin API rejected the request ({where}): {body[:200] or 'no details'}.{hint}",
        status_code=status,
        body=body,
    )


def check_answer(
    status: int, raw: bytes, headers: Mapping[str, str], *, path: str, api_key: str | None
) -> str:
    """The text of a 2xx answer to ``POST path``; for any other, its typed error, raised.

    ``headers`` is the answer's (case-insensitive, as httpx and aiohttp give them): their
    ``Retry-After`` and ``Location`` go into the error.

    >>> check_answer(200, b'{"status":"ok"}', {}, path="/events", api_key="k")
    '{"status":"ok"}'
    """
    text = answer_text(raw)
    retry_after, location = (headers.get(name) for name in ANSWER_HEADERS)
    error = error_for_response(
        status,
        text,
        method_path=f"POST {path}",
        api_key=api_key,
        retry_after=retry_after,
        location=location,
    )
    if error is not None:
        raise error
    return text


def read_device_id(text: str, *, path: str) -> str:
    """``event.device_info.device_id`` of an init answer's text, or a :class:`DeliveryError`.

    A 2xx without a device (a captive portal, a proxy's HTML error page) is transient:
    retried with backoff like a 5xx, the events wait.

    >>> read_device_id('{"event": {"device_info": {"device_id": "ws_device_1"}}}', path="/i")
    'ws_device_1'
    """
    try:
        device_id = json.loads(text)["event"]["device_info"]["device_id"]
    except (ValueError, KeyError, TypeError):
        device_id = None
    if not isinstance(device_id, str) or not device_id:
        start = " ".join(text[:80].split())
        raise errors.DeliveryError(
            f"POST {path} answered without event.device_info.device_id (body starts "
            f"{start!r}); is base_url a Weespin API, or is a proxy or captive portal answering?"
        )
    return device_id


def timed_out(path: str, error: BaseException) -> errors.DeliveryError:
    """The error of a request that got no (whole) answer in time: transient.

    >>> str(timed_out("/events", TimeoutError()))
    'POST /events timed out: TimeoutError'
    """
    return errors.DeliveryError(f"POST {path} timed out: {type(error).__name__}")


def request_failed(path: str, error: BaseException, *, api_key: str | None) -> errors.DeliveryError:
    """The error of a request that failed before an answer (refused, reset): transient.

    The HTTP library's message is kept, without the key.

    >>> str(request_failed("/events", ConnectionResetError("reset by peer"), api_key="k"))
    'POST /events failed: ConnectionResetError: reset by peer'
    """
    detail = redact_key(str(error), api_key)
    if "CERTIFICATE_VERIFY_FAILED" in detail:  # ssl's error, or aiohttp's wrapping it
        detail += _UNTRUSTED
    return errors.DeliveryError(f"POST {path} failed: {type(error).__name__}: {detail}")


#: What to do about a certificate Python's TLS does not trust.
_UNTRUSTED = (
    "; the API's certificate is not trusted here: if a proxy or your own certificate "
    "authority signs it, point SSL_CERT_FILE (or SSL_CERT_DIR) at that authority's PEM"
)
