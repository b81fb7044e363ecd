"""The one-attempt HTTP clients (httpx for the sync transport; for an event loop, the lean
engine on httptools and aiohttp's, kept for proxies): the same calls, the same requests on the
wire, the same typed error for the same answer.

Each test runs against all three, on real servers on 127.0.0.1: the local collector, or the
raw-socket fault server where an answer must be one the collector never gives.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _engines import run_on
from _faults import FaultServer, Request, Status

import weespin_instrument
from weespin_instrument import Settings
from weespin_instrument.collector import Collector
from weespin_instrument.errors import (
    AuthenticationError,
    DeliveryError,
    RateLimitedError,
    RejectedError,
    ServerError,
)
from weespin_instrument.transports._aio import AiohttpAPI
from weespin_instrument.transports._async_api import AsyncAPI
from weespin_instrument.transports._lean import LeanAPI
from weespin_instrument.transports._protocol import encode_body
from weespin_instrument.transports._sync_client import SyncAPI

KEY = "wsk_live_TOPSECRET_9a8b7c6d5e4f_Zk9Q"


class Blocking:
    """The async client driven from a test: each call runs in a loop of its own (open, call,
    close), as the sender's loop would run it."""

    def __init__(self, settings: Settings, engine: type[AsyncAPI]) -> None:
        self.settings = settings
        self.engine = engine

    def _run(self, call: Callable[[AsyncAPI], Any]) -> Any:
        return run_on(self.engine, self.settings, call)

    def initialize_device(self) -> str:
        return str(self._run(lambda api: api.initialize_device()))

    def send_event(self, body: bytes) -> None:
        self._run(lambda api: api.send_event(body))


Client = Callable[[str], Any]


@pytest.fixture(params=["sync", "lean", "aiohttp"])
def client_for(request: pytest.FixtureRequest) -> Iterator[Client]:
    """``client_for(url)``: the sync client, or an async one behind :class:`Blocking`."""
    made: list[SyncAPI] = []

    def make(url: str, **options: Any) -> Any:
        settings = Settings.resolve({}, api_key=KEY, base_url=url, **options)
        if request.param != "sync":
            return Blocking(settings, LeanAPI if request.param == "lean" else AiohttpAPI)
        api = SyncAPI(settings)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


def event(device_id: str, event_id: str = "7f0c3a52-5c2e-4d6b-9a7e-1f0e2d3c4b5a") -> bytes:
    return encode_body(
        {
            "event_name": "purchase",
            "device_id": device_id,
            "payload": {"amount": 19.99},
            "event_id": event_id,
        }
    )


@pytest.mark.parametrize("engine", [LeanAPI, AiohttpAPI])
def test_every_client_offers_the_same_calls_with_the_same_parameters(
    engine: type[AsyncAPI],
) -> None:
    for name in ("initialize_device", "send_event", "close"):
        sync, aio = getattr(SyncAPI, name), getattr(engine, name)
        assert inspect.signature(sync).parameters.keys() == (
            inspect.signature(aio).parameters.keys()
        ), name
        assert inspect.iscoroutinefunction(aio) and not inspect.iscoroutinefunction(sync)


def test_an_initialized_device_and_an_event_reach_the_collector(
    collector: Collector, client_for: Client
) -> None:
    api = client_for(collector.url)
    device_id = api.initialize_device()
    assert device_id.startswith("ws_device_")
    api.send_event(event(device_id))
    [stored] = collector.events()
    assert (stored["event_name"], stored["device_id"]) == ("purchase", device_id)
    assert stored["payload"] == {"amount": 19.99}


def test_each_call_is_one_attempt_retries_are_the_transports(
    collector: Collector, client_for: Client
) -> None:
    api = client_for(collector.url, max_attempts=20, max_backoff=0.01)
    collector.fail_next(1, status=503, path="init")
    with pytest.raises(ServerError):
        api.initialize_device()
    device_id = api.initialize_device()
    collector.fail_next(1, status=503)
    with pytest.raises(ServerError) as info:
        api.send_event(event(device_id))
    assert info.value.status_code == 503
    events = [r["status"] for r in collector.request_log if r["path"] == "/events"]
    assert events == [503]
    assert collector.stats()["init_requests"] == 2
    assert collector.events() == []


def test_every_client_sends_the_same_headers(client_for: Client) -> None:
    seen: list[dict[str, str]] = []

    def record(request: Request) -> None:
        seen.append(request.headers)

    with FaultServer(record) as server:
        api = client_for(server.url)
        api.send_event(event(api.initialize_device()))
    assert len(seen) == 2
    for headers in seen:
        assert headers["authorization"] == KEY
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"] == f"weespin-instrument/{weespin_instrument.__version__}"


@pytest.mark.parametrize(
    ("answer", "kind", "detail"),
    [
        (Status(401), AuthenticationError, "WEESPIN_API_KEY"),
        (Status(429, {"Retry-After": "7"}), RateLimitedError, "rate limiting"),
        (Status(503, {"Retry-After": "2"}), ServerError, "failed (503 on POST /events)"),
        (Status(422, body=b"payload.amount: bad"), RejectedError, "payload.amount: bad"),
        (Status(308, {"Location": "http://127.0.0.1:1/v2/events"}), RejectedError, "/v2"),
    ],
)
def test_the_same_answer_is_the_same_typed_error(
    client_for: Client, answer: Status, kind: type[Exception], detail: str
) -> None:
    with FaultServer(lambda request: answer if request.path == "/events" else None) as server:
        api = client_for(server.url)
        with pytest.raises(kind) as info:
            api.send_event(event("ws_device_1"))
    assert detail in str(info.value)
    if "Retry-After" in answer.headers:
        assert info.value.retry_after == float(answer.headers["Retry-After"])  # type: ignore[attr-defined]
    assert server.count("/events") == 1, "redirects are never followed, nothing is retried"


def test_an_init_answer_without_a_device_is_the_same_delivery_error(client_for: Client) -> None:
    portal = Status(200, body=b"<html>Welcome to the hotel wifi</html>")
    with FaultServer(lambda request: portal) as server:
        api = client_for(server.url)
        with pytest.raises(DeliveryError, match=r"answered without event\.device_info\.device_id"):
            api.initialize_device()
