"""The collector's Starlette application: the Weespin endpoints and the local extras.

Every POST goes through the same steps: record arrival, read the body, injected latency,
injected failure, ``Authorization``, then the endpoint itself. A request still waiting out
its injected latency when the collector stops is answered 503 at once.

Handlers stay async and cheap: no thread-pool hop; events of the same event-loop turn share
one SQLite commit (see ``_writer``).

Example::

    app = build_app(Store(path), RuntimeState(api_key=None, latency_ms=0))
    uvicorn.run(app)
"""

from __future__ import annotations

import asyncio
import hmac
import json
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
    except ValueError:
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


def build_app(store: Store, state: RuntimeState) -> Starlette:
    """The ASGI app of a collector over ``store`` and ``state``."""
    counters = state.counters
    log = state.log
    writer = GroupWriter(store)
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

    def record(arrived: tuple[float, float], path: str, status: int, event_id: str | None) -> None:
        log.append(
            RequestRecord(
                time=arrived[0], monotonic=arrived[1], path=path, status=status, event_id=event_id
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
        arrived = time.time(), time.monotonic()
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
        arrived = time.time(), time.monotonic()
        counters.event_requests += 1
        try:
            body = await request.body()
        except ClientDisconnect:
            record(arrived, "/events", _CLIENT_GONE, None)
            return Response(status_code=_CLIENT_GONE)
        if state.latency_s and not await delay():
            record(arrived, "/events", 503, _peek_event_id(body))
            return JSONResponse(_STOPPING, status_code=503)
        fault = state.faults.take("/events")
        if fault is not None:
            counters.failed_injected += 1
            record(arrived, "/events", fault.status, _peek_event_id(body))
            return _fault_response(fault)
        refused = unauthorized(request)
        if refused is not None:
            record(arrived, "/events", refused.status_code, _peek_event_id(body))
            return refused
        try:
            event = parse_event_json(body)
        except WireFormatError as exc:
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
        return HTMLResponse(PAGE)

    async def script(request: Request) -> Response:
        # Its own route, not inline: the page works under a CSP without 'unsafe-inline'.
        return Response(SCRIPT, media_type="text/javascript")

    async def style(request: Request) -> Response:
        return Response(STYLE, media_type="text/css")

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
