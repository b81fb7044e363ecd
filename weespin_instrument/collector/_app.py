"""The collector's Starlette application: the Weespin endpoints and the local extras.

Every POST goes through the same steps: record arrival, ``Authorization`` (before a byte of
the body is read: an unauthenticated client cannot make it buffer anything; only while an
injected failure is pending does it come after that failure, as before), read the body
(at most ``max_body_bytes``, else 413 at once), injected latency, injected failure, then the
endpoint itself. A request still waiting out its injected latency when the collector stops is
answered 503 at once. A body that is not JSON, or JSON nested absurdly deep, is answered 400
with a JSON error body, never 500.

The page at ``/`` carries a ``Content-Security-Policy`` that allows no inline script except
the page's own, by hash (whatever the page holds), and ``X-Content-Type-Options: nosniff``.

Handlers stay async and cheap: no thread-pool hop; events of the same event-loop turn share
one SQLite commit (see ``_writer``).

Example::

    app = build_app(Store(path), RuntimeState(api_key=None, latency_ms=0))
    uvicorn.run(app)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .._wire import WireFormatError, parse_event_json
from ._page import PAGE, SCRIPT, STYLE
from ._query import QueryError, parse_query
from ._state import Fault, RequestRecord, RuntimeState
from ._store import Store
from ._writer import GroupWriter

__all__ = ["build_app", "init_response"]

_MISSING_KEY = {"error": "unauthorized", "message": "missing Authorization header"}
_WRONG_KEY = {"error": "unauthorized", "message": "invalid API key"}
_STOPPING = {"error": "unavailable", "message": "the collector is stopping"}
_NOT_JSON = {
    "error": "invalid_event",
    "message": "The request body is not valid JSON (or is nested too deeply).",
    "errors": [{"loc": [], "msg": "the request body is not valid JSON"}],
}
#: What ``POST /events`` accepts at most by default: an event is a few hundred bytes.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
#: Recorded (never sent) when the client went away before its body arrived, as nginx does.
_CLIENT_GONE = 499


def init_response(device_id: str) -> dict[str, Any]:
    """The body of a device initialization, exactly as the Weespin docs show it.

    >>> init_response("ws_device_1")["event"]["device_info"]["device_id"]
    'ws_device_1'
    """
    return {
        "event": {
            "event_name": "app_installed",
            "event_type": "app_installed",
            "device_info": {"device_id": device_id, "platform": "Other", "os": "Linux"},
            "location": {"country": "US", "city": "", "latitude": "0", "longitude": "00.0"},
        }
    }


def _peek_event_id(body: bytes) -> str | None:
    """The ``event_id`` of a body we do not otherwise validate (failure paths only)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    event_id = data.get("event_id") if isinstance(data, dict) else None
    return event_id if isinstance(event_id, str) else None


def _fault_response(fault: Fault) -> Response:
    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
    body = {
        "error": "injected_failure",
        "message": f"failure injected by the local collector (status {fault.status})",
    }
    return JSONResponse(body, status_code=fault.status, headers=headers)


class _TooLarge(Exception):
    """The body is longer than the limit."""


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, or :class:`_TooLarge` as soon as it is longer than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def page_headers(page: str) -> dict[str, str]:
    """Security headers for ``page``: its own inline scripts and styles allowed by hash only.

    No ``'unsafe-inline'``: a script injected into the page (an event name holding
    ``<script>``, say) does not run, whether the page keeps inline code or moves it out.

    Example::

        page_headers("<script>go()</script>")["Content-Security-Policy"]
        # "default-src 'self'; script-src 'self' 'sha256-…'; ..."
    """

    def hashes(tag: str) -> str:
        found = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)
        return "".join(
            f" 'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"
            for text in found
        )

    policy = (
        "default-src 'self'",
        f"script-src 'self'{hashes('script')}",
        f"style-src 'self'{hashes('style')}",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
    return {
        "Content-Security-Policy": "; ".join(policy),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def _peer(request: Request) -> str:
    """``"host:port"`` of the connection a request came on (one per client connection)."""
    client = request.client
    return f"{client.host}:{client.port}" if client is not None else ""


def build_app(
    store: Store, state: RuntimeState, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> Starlette:
    """The ASGI app of a collector over ``store`` and ``state``.

    ``max_body_bytes`` bounds what one ``POST /events`` may send (413 beyond it).
    """
    counters = state.counters
    log = state.log
    writer = GroupWriter(store)
    security_headers = page_headers(PAGE)
    instance = uuid.uuid4().hex

    def unauthorized(request: Request) -> Response | None:
        key = request.headers.get("authorization")
        if not key:
            counters.unauthorized += 1
            return JSONResponse(_MISSING_KEY, status_code=401)
        if state.api_key is not None and not hmac.compare_digest(
            key.encode(), state.api_key.encode()
        ):
            counters.unauthorized += 1
            return JSONResponse(_WRONG_KEY, status_code=401)
        return None

    def record(
        arrived: tuple[float, float, str], path: str, status: int, event_id: str | None
    ) -> None:
        when, monotonic, client = arrived
        log.append(
            RequestRecord(
                time=when,
                monotonic=monotonic,
                path=path,
                status=status,
                event_id=event_id,
                client=client,
            )
        )

    async def delay() -> bool:
        """Wait the injected latency; ``False`` if the collector began stopping meanwhile."""
        try:
            await asyncio.wait_for(state.stopping.wait(), state.latency_s)
        except asyncio.TimeoutError:
            return True
        return False

    async def initialize(request: Request) -> Response:
        arrived = time.time(), time.monotonic(), _peer(request)
        counters.init_requests += 1
        if state.latency_s and not await delay():
            record(arrived, request.url.path, 503, None)
            return JSONResponse(_STOPPING, status_code=503)
        fault = state.faults.take("init")
        if fault is not None:
            counters.failed_injected += 1
            record(arrived, request.url.path, fault.status, None)
            return _fault_response(fault)
        refused = unauthorized(request)
        if refused is not None:
            record(arrived, request.url.path, refused.status_code, None)
            return refused
        device_id = "ws_device_" + uuid.uuid4().hex
        store.insert_device(device_id, created=time.time())
        counters.devices_created += 1
        record(arrived, request.url.path, 200, None)
        return JSONResponse(init_response(device_id))

    async def post_event(request: Request) -> Response:
        arrived = time.time(), time.monotonic(), _peer(request)
        counters.event_requests += 1
        # Injected failures come before the key check (a test may fail a keyless request);
        # without one pending, the key is checked before a byte of the body is read.
        checked = not state.faults.pending("/events")
        if checked:
            refused = unauthorized(request)
            if refused is not None:
                record(arrived, "/events", refused.status_code, None)
                return refused
        try:
            body = await _read_body(request, max_body_bytes)
        except ClientDisconnect:
            record(arrived, "/events", _CLIENT_GONE, None)
            return Response(status_code=_CLIENT_GONE)
        except _TooLarge:
            counters.rejected += 1
            record(arrived, "/events", 413, None)
            message = f"The request body is larger than the limit of {max_body_bytes} bytes."
            return JSONResponse(
                {"error": "too_large", "message": message},
                status_code=413,
                headers={"Connection": "close"},  # the rest of the body is not read
            )
        if state.latency_s and not await delay():
            record(arrived, "/events", 503, _peek_event_id(body))
            return JSONResponse(_STOPPING, status_code=503)
        fault = state.faults.take("/events")
        if fault is not None:
            counters.failed_injected += 1
            record(arrived, "/events", fault.status, _peek_event_id(body))
            return _fault_response(fault)
        refused = None if checked else unauthorized(request)
        if refused is not None:
            record(arrived, "/events", refused.status_code, _peek_event_id(body))
            return refused
        try:
            event = parse_event_json(body)
        except (RecursionError, ValueError) as exc:
            if not isinstance(exc, WireFormatError):
                counters.rejected += 1
                record(arrived, "/events", 400, None)
                return JSONResponse(_NOT_JSON, status_code=400)
            counters.rejected += 1
            record(arrived, "/events", 400, _peek_event_id(body))
            return JSONResponse(
                {"error": "invalid_event", "message": exc.message, "errors": exc.errors},
                status_code=400,
            )
        event_id = event.event_id or uuid.uuid4().hex
        stored = await writer.insert(event, event_id=event_id, received=time.time())
        if stored:
            counters.events_stored += 1
        else:
            counters.duplicates += 1
        record(arrived, "/events", 200, event.event_id)
        return JSONResponse({"status": "ok", "event_id": event_id, "duplicate": not stored})

    async def list_events(request: Request) -> Response:
        try:
            query = parse_query(request.query_params)
        except QueryError as exc:
            return JSONResponse({"error": "invalid_query", "message": str(exc)}, status_code=400)
        # "total" is the M of "latest N of M"; "collector" changes when a collector starts,
        # so an open page knows to reload rather than wait for seqs that will never come.
        return JSONResponse(
            {
                "events": store.events(query),
                "total": store.count_matching(query),
                "collector": instance,
            }
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE, headers=security_headers)

    async def script(request: Request) -> Response:
        # Its own route, not inline: the page works under a CSP without 'unsafe-inline'.
        return Response(SCRIPT, media_type="text/javascript", headers=security_headers)

    async def style(request: Request) -> Response:
        return Response(STYLE, media_type="text/css", headers=security_headers)

    return Starlette(
        routes=[
            Route("/events", post_event, methods=["POST"]),
            Route("/initialize-device", initialize, methods=["POST"]),
            Route("/events/initialize", initialize, methods=["POST"]),
            Route("/api/events", list_events, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/", page, methods=["GET"]),
            Route("/page.js", script, methods=["GET"]),
            Route("/page.css", style, methods=["GET"]),
        ]
    )
