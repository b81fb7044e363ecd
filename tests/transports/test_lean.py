"""The lean HTTP/1.1 engine (:class:`LeanAPI`) on the wire, against real servers on 127.0.0.1.

What a keep-alive HTTP/1.1 client must get right, each pinned against the raw-socket fault
server (it answers the way the local collector never does: chunked, without a length, split
into one-byte writes, after a ``100 Continue``, not HTTP at all) or a real uvicorn server:
keep-alive and the server's ``Connection: close``, connections the server closed, idle
connections expired, a bounded pool shared by many sends, cancellation, timeouts, resets,
oversized answers, and the request's own bytes, compared with aiohttp's (:class:`AiohttpAPI`).

Most tests drive the engine directly, each call in a loop of its own as the sender runs it;
where users meet the behaviour, also through the public API (a ``Client`` on the default
background transport), whose stats show that nothing was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import threading
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from _engines import run_on
from _faults import (
    DEVICE_ANSWER,
    Answer,
    Chunked,
    Drop,
    FaultServer,
    Garbage,
    Hang,
    Huge,
    Interim,
    Request,
    Reset,
    Split,
    Status,
    Trickle,
    Truncated,
    UntilClose,
    wait_until,
)
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from weespin_instrument import Client, MemoryDeviceStore, Settings
from weespin_instrument.collector import Collector
from weespin_instrument.collector._server import BackgroundServer
from weespin_instrument.errors import DeliveryError, RateLimitedError, RejectedError, ServerError
from weespin_instrument.transports import _lean
from weespin_instrument.transports._aio import AiohttpAPI
from weespin_instrument.transports._async_api import AsyncAPI
from weespin_instrument.transports._lean import LeanAPI
from weespin_instrument.transports._protocol import encode_body
from weespin_instrument.transports._retry import outcome_of

KEY = "lean-engine-test-key"
OK = Status(200, body=b'{"status":"ok"}')
DEVICE = DEVICE_ANSWER.encode()

Engine = type[AsyncAPI]


def event(n: int = 0) -> bytes:
    return encode_body(
        {
            "event_name": "purchase",
            "device_id": "ws_device_1",
            "payload": {"amount": 19.99, "n": n},
            "event_id": f"{n:08d}-5c2e-4d6b-9a7e-1f0e2d3c4b5a",
        }
    )


def send_one(api: AsyncAPI) -> Awaitable[None]:
    return api.send_event(event())


def run(
    url: str,
    call: Callable[[AsyncAPI], Awaitable[Any]],
    *,
    engine: Engine = LeanAPI,
    max_connections: int = 1,
    timeout: float = 2.0,
    **options: Any,
) -> Any:
    """``call(api)`` on an opened ``engine`` in a loop of its own, as the sender runs it."""
    settings = Settings.resolve({}, api_key=KEY, base_url=url, timeout=timeout, **options)
    return run_on(engine, settings, call, max_connections=max_connections)


def error_of(url: str, call: Callable[[AsyncAPI], Awaitable[Any]], **options: Any) -> BaseException:
    """The exception ``call`` raises (the test fails when it raises none)."""

    async def failing(api: AsyncAPI) -> BaseException:
        try:
            await call(api)
        except Exception as exc:
            return exc
        raise AssertionError("the call succeeded")

    error: BaseException = run(url, failing, **options)
    return error


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` from inside a loop, every 10 ms for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def on_events(answer: Answer) -> Callable[[Request], Answer]:
    """A rule: ``answer`` to the first ``POST /events``, a plain 200 to every other request."""
    first = [True]

    def rule(request: Request) -> Answer:
        if request.path == "/events" and first[0]:
            first[0] = False
            return answer
        return None

    return rule


@pytest.fixture
def lean_client() -> Iterator[Callable[..., Client]]:
    """``lean_client(url, **options)``: a ``Client`` on the default background transport
    (its sender runs :class:`LeanAPI`: see :func:`engine_of`), short timeouts and backoff."""
    made: list[Client] = []

    def make(url: str, **options: Any) -> Client:
        options.setdefault("device_id", "ws_device_1")
        client = Client(api_key=KEY, base_url=url, timeout=2.0, max_backoff=0.05, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.shutdown(timeout=0.0)


def engine_of(client: Client) -> object:
    """The HTTP client the sender of ``client`` runs (once it started)."""
    return client._transport._sender.api  # type: ignore[union-attr]


# -- chunked answers ------------------------------------------------------------------------------


def test_a_chunked_answer_is_read_whole_and_its_connection_kept() -> None:
    def rule(request: Request) -> Answer:
        if request.path == "/events":
            return Chunked(200, b'{"status":"ok"}', size=3)
        return Chunked(200, DEVICE, size=5)  # "ws_device_faults" spans several chunks

    async def calls(api: AsyncAPI) -> str:
        device_id = await api.initialize_device()
        await api.send_event(event())
        return device_id

    with FaultServer(rule) as server:
        assert run(server.url, calls) == "ws_device_faults"
    assert server.connections == 1, "a chunked answer ends at its last chunk, not at a close"


def test_a_chunked_error_body_is_the_same_typed_error_as_a_plain_one() -> None:
    body = b'{"detail": "payload.amount: must be a number"}'
    errors = []
    for answer in (Chunked(422, body, size=4), Status(422, body=body)):
        with FaultServer(on_events(answer)) as server:
            errors.append(error_of(server.url, send_one))
    chunked, plain = errors
    assert isinstance(chunked, RejectedError) and isinstance(plain, RejectedError)
    assert (str(chunked), chunked.status_code, chunked.body) == (
        str(plain),
        plain.status_code,
        plain.body,
    )
    assert "payload.amount: must be a number" in str(chunked)


def test_a_device_id_uvicorn_streams_chunked_reaches_the_events_of_a_client(
    lean_client: Callable[..., Client],
) -> None:
    """A real server's chunked answer: a Starlette app streaming the init answer."""
    received: list[dict[str, Any]] = []

    async def initialize(request: StarletteRequest) -> StreamingResponse:
        async def pieces() -> AsyncIterator[bytes]:
            for start in range(0, len(DEVICE), 9):
                yield DEVICE[start : start + 9]
                await asyncio.sleep(0)

        return StreamingResponse(pieces(), media_type="application/json")

    async def events(request: StarletteRequest) -> JSONResponse:
        received.append(json.loads(await request.body()))
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/initialize-device", initialize, methods=["POST"]),
            Route("/events", events, methods=["POST"]),
        ]
    )
    server = BackgroundServer(app, host="127.0.0.1", port=0)
    server.start(timeout=10.0)
    try:
        client = lean_client(
            f"http://127.0.0.1:{server.port}", device_id=None, device_store=MemoryDeviceStore()
        )
        client.track("open_app", {"n": 1})
        assert client.flush(timeout=10.0)
        assert isinstance(engine_of(client), LeanAPI)
        stats = client.stats()
    finally:
        server.stop(timeout=5.0)
    assert (stats.sent, stats.dropped_total) == (1, 0), stats
    assert [e["device_id"] for e in received] == ["ws_device_faults"]


# -- an answer without a length -------------------------------------------------------------------


def test_an_answer_without_a_length_ends_when_the_server_closes_and_is_not_reused() -> None:
    def rule(request: Request) -> Answer:
        return UntilClose(200, DEVICE) if request.path == "/initialize-device" else None

    async def calls(api: AsyncAPI) -> str:
        device_id = await api.initialize_device()
        await api.send_event(event(1))
        await api.send_event(event(2))
        return device_id

    with FaultServer(rule) as server:
        assert run(server.url, calls) == "ws_device_faults"
    assert server.connections == 2, "the init's connection ended with its answer"
    assert len(server.accepted) == 2


def test_an_answer_without_a_length_ended_by_a_reset_is_the_answer_as_aiohttp_reads_it() -> None:
    # A server closing with bytes unread resets instead of closing: the answer it sent
    # stands (a 200 delivered the event; sending it again would store it twice).
    def rule(request: Request) -> Answer:
        if request.path == "/initialize-device":
            return UntilClose(200, DEVICE, reset=True)
        return UntilClose(200, b'{"status":"ok"}', reset=True)

    async def calls(api: AsyncAPI) -> str:
        device_id = await api.initialize_device()
        await api.send_event(event(1))
        return device_id

    for engine in (AiohttpAPI, LeanAPI):
        with FaultServer(rule) as server:
            assert run(server.url, calls, engine=engine) == "ws_device_faults"
        assert len(server.accepted) == 1, engine.__name__


# -- an answer cut short --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cut",
    [
        Truncated(200, b'{"sta', length=15),
        Truncated(200, b'{"sta'),
        Truncated(422, b'{"detail": "pay', length=40),
    ],
    ids=["short-of-its-length", "chunked-without-its-last-chunk", "an-error-short-of-its-length"],
)
def test_an_answer_cut_short_by_a_close_is_the_same_request_failed_error_as_aiohttps(
    cut: Truncated,
) -> None:
    """The server died mid-answer: that is no answer (whatever its status), so the event is
    sent again, as it is on aiohttp; only an answer without a length ends with the close."""
    errors = []
    for engine in (AiohttpAPI, LeanAPI):
        with FaultServer(on_events(cut)) as server:
            errors.append(error_of(server.url, send_one, engine=engine))
    aiohttp_error, lean_error = errors
    assert type(lean_error) is type(aiohttp_error) is DeliveryError
    assert str(lean_error).startswith("POST /events failed: ")
    assert str(aiohttp_error).startswith("POST /events failed: ")


# -- keep-alive -----------------------------------------------------------------------------------


def test_sequential_requests_share_one_kept_alive_connection() -> None:
    async def calls(api: AsyncAPI) -> None:
        await api.initialize_device()
        for n in range(20):
            await api.send_event(event(n))

    with FaultServer() as server:
        run(server.url, calls)
    assert len(server.accepted) == 20
    assert server.connections == 1


def test_connection_close_from_the_server_makes_the_next_request_open_a_new_connection() -> None:
    closing = Status(200, {"Connection": "close"}, b'{"status":"ok"}')

    async def calls(api: AsyncAPI) -> bool:
        for n in range(3):
            await api.send_event(event(n))
        # The fault server would go on reading: each connection is closed by the client.
        return await until(lambda: server.open_connections == 0)

    with FaultServer(lambda request: closing) as server:
        assert run(server.url, calls)
    assert len(server.accepted) == 3
    assert server.connections == 3


@pytest.mark.parametrize(
    "past_the_end",
    [b'{"status":"ok"}', b"HTTP/1.1 503 Service Unavailable\r\n", b"HTTP/1.1 204 OK\r\n\r\n"],
    ids=["not-http", "the-start-of-another-answer", "a-whole-second-answer"],
)
def test_bytes_past_the_end_of_an_answer_retire_its_connection(past_the_end: bytes) -> None:
    """A body longer than its Content-Length: the connection is out of step, never reused,
    even when what follows reads as (the start of) another answer: the next request's own
    answer must not be parsed as the rest of it."""
    overlong = Status(200, {"Content-Length": "2"}, b"{}" + past_the_end)

    async def calls(api: AsyncAPI) -> None:
        await api.send_event(event(1))
        await api.send_event(event(2))

    with FaultServer(on_events(overlong)) as server:
        run(server.url, calls)
    assert len(server.accepted) == 2
    assert server.connections == 2


def test_uvicorn_serves_a_client_over_one_kept_alive_connection(
    collector: Collector, lean_client: Callable[..., Client]
) -> None:
    client = lean_client(collector.url, device_id=None, max_in_flight=1)
    for n in range(30):
        client.track("open_app", {"n": n})
    assert client.flush(timeout=10.0)
    assert isinstance(engine_of(client), LeanAPI)
    stats = client.stats()
    assert (stats.sent, stats.retried, stats.dropped_total) == (30, 0, 0), stats
    assert len(collector.events()) == 30
    assert collector.stats()["init_requests"] == 1
    assert len({e["device_id"] for e in collector.events()}) == 1
    connections = {record["client"] for record in collector.request_log}
    assert len(connections) == 1, "uvicorn saw the init and the 30 events on one connection"


# -- connections the server closed ----------------------------------------------------------------


def test_a_connection_the_server_closed_while_idle_is_not_reused_and_nothing_is_lost(
    lean_client: Callable[..., Client],
) -> None:
    with FaultServer(idle_timeout=0.5) as server:  # uvicorn's keep-alive timeout, shortened
        client = lean_client(server.url)
        client.track("open_app", {"n": 1})
        assert client.flush(timeout=10.0)
        assert isinstance(engine_of(client), LeanAPI)
        assert wait_until(lambda: server.open_connections == 0, timeout=5.0)
        client.track("open_app", {"n": 2})
        assert client.flush(timeout=10.0)
        stats = client.stats()
    assert (stats.sent, stats.dropped_total) == (2, 0), stats
    assert stats.retried == 0, "the closed connection was never written to"
    assert server.connections == 2
    assert sorted(server.accepted.values()) == [1, 1]


def test_a_request_the_server_drops_on_a_kept_alive_connection_is_retried_and_delivered(
    lean_client: Callable[..., Client],
) -> None:
    """The keep-alive race: the server's idle timeout fires just as the request arrives."""
    with FaultServer(on_events(Drop())) as server:
        client = lean_client(server.url)
        client.track("open_app", {"n": 1})
        assert client.flush(timeout=10.0)
        assert isinstance(engine_of(client), LeanAPI)
        stats = client.stats()
    assert (stats.sent, stats.retried, stats.dropped_total) == (1, 1, 0), stats
    assert list(server.accepted.values()) == [1]
    assert server.connections == 2


def test_a_server_closing_every_connection_after_three_requests_loses_nothing(
    lean_client: Callable[..., Client],
) -> None:
    with FaultServer(requests_per_connection=3) as server:
        client = lean_client(server.url)
        for n in range(30):
            client.track("open_app", {"n": n})
        assert client.flush(timeout=20.0)
        assert isinstance(engine_of(client), LeanAPI)
        stats = client.stats()
    assert (stats.sent, stats.dropped_total) == (30, 0), stats
    assert sorted(server.accepted.values()) == [1] * 30
    assert server.connections >= 10


# -- idle connections expire ----------------------------------------------------------------------


def test_an_idle_connection_older_than_the_keep_alive_limit_is_closed_not_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # LeanAPI reads the limit from its own module at each request: 4 s, made 50 ms here.
    monkeypatch.setattr(_lean, "KEEPALIVE", 0.05)

    async def calls(api: AsyncAPI) -> bool:
        await api.send_event(event(1))
        await asyncio.sleep(0.2)
        await api.send_event(event(2))  # on a new connection; the old one the client closed
        return await until(lambda: server.open_connections == 1)

    with FaultServer() as server:
        assert run(server.url, calls)
    assert len(server.accepted) == 2
    assert server.connections == 2


# -- the pool and its waiters ---------------------------------------------------------------------


def test_ten_concurrent_sends_share_a_pool_of_two_connections_and_all_succeed() -> None:
    def slow(request: Request) -> Answer:
        time.sleep(0.1)
        return None

    async def calls(api: AsyncAPI) -> None:
        await asyncio.gather(*(api.send_event(event(n)) for n in range(10)))

    with FaultServer(slow) as server:
        run(server.url, calls, max_connections=2)
    assert len(server.accepted) == 10
    assert server.peak_connections == 2
    assert server.connections == 2, "the waiters took the connections as they came free"


# -- cancellation ---------------------------------------------------------------------------------


def test_a_request_cancelled_mid_flight_closes_its_connection_and_leaves_the_pool_usable() -> None:
    async def calls(api: AsyncAPI) -> None:
        hung = asyncio.create_task(api.send_event(event(1)))
        assert await until(lambda: server.count() == 1)
        hung.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hung
        assert await until(lambda: server.open_connections == 0), "the server saw it close"
        await api.send_event(event(2))  # the pool's one slot is free again

    with FaultServer(on_events(Hang())) as server:
        run(server.url, calls, max_connections=1, timeout=5.0)
    assert list(server.accepted) == [json.loads(event(2))["event_id"]]
    assert server.connections == 2


def test_a_send_cancelled_while_waiting_for_a_connection_gives_up_its_place() -> None:
    arrived, answer = threading.Event(), threading.Event()

    def held(request: Request) -> Answer:
        arrived.set()
        answer.wait(5.0)  # the first answer waits until the second send is cancelled
        return None

    async def calls(api: AsyncAPI) -> None:
        first = asyncio.create_task(api.send_event(event(1)))
        waiting = asyncio.create_task(api.send_event(event(2)))  # no slot: it waits
        assert await until(arrived.is_set)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        answer.set()
        await first
        await api.send_event(event(3))

    with FaultServer(held) as server:
        run(server.url, calls, max_connections=1)
    assert sorted(server.accepted) == sorted(json.loads(event(n))["event_id"] for n in (1, 3))
    assert server.connections == 1


def test_a_failed_connect_frees_its_slot_for_the_send_waiting_for_it() -> None:
    with socket.socket() as unused:  # a port nothing listens on: each connect is refused
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"

        async def calls(api: AsyncAPI) -> list[BaseException | None]:
            sends = [api.send_event(event(n)) for n in (1, 2)]  # one slot: the second waits
            return await asyncio.gather(*sends, return_exceptions=True)

        errors = run(url, calls, max_connections=1, timeout=30.0)
    # The waiting send tried at once, as the first failed; it did not wait out its deadline.
    assert [type(error) for error in errors] == [DeliveryError, DeliveryError]
    assert all("ConnectionRefusedError" in str(error) for error in errors), errors


def test_close_ends_the_send_in_flight_and_the_waiting_one_with_delivery_errors() -> None:
    async def calls(api: AsyncAPI) -> list[BaseException | None]:
        sends = [asyncio.create_task(api.send_event(event(n))) for n in (1, 2)]
        assert await until(lambda: server.count() == 1)  # the second waits for the slot
        await api.close()
        with pytest.raises(DeliveryError, match="the sender is closed"):
            await api.send_event(event(3))
        return await asyncio.gather(*sends, return_exceptions=True)

    with FaultServer(on_events(Hang())) as server:
        in_flight, waiting = run(server.url, calls, max_connections=1, timeout=5.0)
        assert wait_until(lambda: server.open_connections == 0, timeout=5.0)
    assert type(in_flight) is DeliveryError and type(waiting) is DeliveryError
    assert str(in_flight).startswith("POST /events failed: ")
    assert str(waiting).startswith("POST /events failed: ")
    assert server.count() == 1 and not server.accepted


def test_a_send_still_connecting_when_the_engine_closes_fails_and_keeps_no_connection() -> None:
    async def calls(api: AsyncAPI) -> BaseException | None:
        sending = asyncio.create_task(api.send_event(event()))
        await asyncio.sleep(0)  # the send is connecting now
        await api.close()
        try:
            await sending
        except DeliveryError as exc:
            return exc
        return None

    with FaultServer() as server:
        error = run(server.url, calls, max_connections=4)
        assert wait_until(lambda: server.open_connections == 0, timeout=5.0)
    assert type(error) is DeliveryError and str(error).startswith("POST /events failed: ")
    assert server.count() == 0, "nothing is sent after close"


# -- timeouts and resets: aiohttp's errors --------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Hang(), "POST /events timed out: "),
        (Trickle(interval=0.2), "POST /events timed out: "),
        (Reset(), "POST /events failed: "),
        (Drop(), "POST /events failed: "),
    ],
    ids=["hung", "trickled-answer", "reset", "closed-without-answer"],
)
def test_a_hung_or_reset_request_is_the_same_typed_error_as_aiohttps(
    answer: Answer, message: str
) -> None:
    errors = []
    for engine in (AiohttpAPI, LeanAPI):
        with FaultServer(on_events(answer)) as server:
            errors.append(error_of(server.url, send_one, engine=engine, timeout=0.3))
    aiohttp_error, lean_error = errors
    assert isinstance(lean_error, DeliveryError) and isinstance(aiohttp_error, DeliveryError)
    assert type(lean_error) is type(aiohttp_error) is DeliveryError
    assert str(lean_error).startswith(message) and str(aiohttp_error).startswith(message)
    assert KEY not in str(lean_error)
    what_next = outcome_of(lean_error)
    assert (what_next.action, what_next.reason) == ("retry", "delivery_failed")
    assert what_next[:2] == outcome_of(aiohttp_error)[:2]


def test_a_refused_connection_is_the_same_request_failed_error_as_aiohttps() -> None:
    with FaultServer() as server:
        url = server.url  # a port nobody listens on once the server is gone
    errors = [error_of(url, send_one, engine=engine) for engine in (AiohttpAPI, LeanAPI)]
    assert [type(error) for error in errors] == [DeliveryError, DeliveryError]
    assert all(str(error).startswith("POST /events failed: ") for error in errors)


# -- interim answers ------------------------------------------------------------------------------


@pytest.mark.parametrize("interim", [100, 103], ids=["100-continue", "103-early-hints"])
def test_an_interim_answer_before_the_real_one_is_skipped(interim: int) -> None:
    def rule(request: Request) -> Answer:
        if request.path == "/events":
            return Interim(Status(503, {"Retry-After": "4"}), status=interim)
        return Interim(Status(200, body=DEVICE), status=interim)

    async def calls(api: AsyncAPI) -> tuple[str, BaseException]:
        device_id = await api.initialize_device()
        with pytest.raises(ServerError) as info:
            await api.send_event(event())
        return device_id, info.value

    with FaultServer(rule) as server:
        device_id, error = run(server.url, calls)
    assert device_id == "ws_device_faults"
    assert isinstance(error, ServerError)
    assert (error.status_code, error.retry_after) == (503, 4.0), "the real answer's, not 1xx's"
    assert server.connections == 1


# -- an answer split into many writes -------------------------------------------------------------


def test_an_answer_arriving_one_byte_per_write_is_read_whole() -> None:
    def rule(request: Request) -> Answer:
        if request.path == "/events":
            return Split(Status(429, {"Retry-After": "7"}, b'{"detail": "slow down"}'), size=1)
        return Split(Status(200, body=DEVICE), size=1)

    async def calls(api: AsyncAPI) -> tuple[str, BaseException]:
        device_id = await api.initialize_device()
        with pytest.raises(RateLimitedError) as info:
            await api.send_event(event())
        return device_id, info.value

    with FaultServer(rule) as server:
        device_id, error = run(server.url, calls)
    assert device_id == "ws_device_faults"
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7.0, "a header split mid-name is put back together"
    assert error.body == '{"detail": "slow down"}'
    assert server.connections == 1


# -- an answer that comes before the request is written ------------------------------------------


@contextlib.contextmanager
def answering_at_the_head(limit: int) -> Iterator[tuple[str, list[bytes]]]:
    """A server that answers a request whose Content-Length is over ``limit`` 413 as soon as
    its head came, keeps the connection, and reads on: the request's unread body, next, as if
    it were a request (a naive server). Yields its URL and the first lines it read."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # the rest waits with us
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    lines: list[bytes] = []

    def serve(connection: socket.socket) -> None:
        buffer = b""
        with connection, contextlib.suppress(OSError):
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines.append(head.split(b"\r\n")[0][:40])
                length = int(head.lower().partition(b"content-length:")[2].split(b"\r\n")[0] or 0)
                if not head.startswith(b"POST "):
                    return  # not a request: the connection is closed, unanswered
                if length > limit:
                    connection.sendall(b"HTTP/1.1 413 Too Large\r\nContent-Length: 2\r\n\r\n{}")
                    continue
                while len(buffer) < length:
                    buffer += connection.recv(65536)
                buffer = buffer[length:]
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", lines
    finally:
        listener.close()


def test_a_connection_answered_before_its_request_was_written_is_not_reused() -> None:
    # The rest of the big request was still being written when its answer came: on that
    # connection, the next request would follow the unread body and be read as part of it.
    huge = encode_body({"event_name": "x", "device_id": "d", "payload": {"a": "x" * 8_000_000}})

    async def calls(api: AsyncAPI) -> BaseException:
        with pytest.raises(RejectedError) as info:
            await api.send_event(huge)
        await api.send_event(event(1))  # on a connection of its own: its answer is its own
        return info.value

    with answering_at_the_head(limit=100_000) as (url, lines):
        error = run(url, calls, timeout=5.0)
    assert isinstance(error, RejectedError) and error.status_code == 413
    assert lines == [b"POST /events HTTP/1.1", b"POST /events HTTP/1.1"]


# -- a header sent twice -------------------------------------------------------------------------


def test_a_retry_after_sent_twice_is_read_as_aiohttp_reads_it_the_first_one() -> None:
    # Two header lines (names differ only in case): a proxy added its own after the API's.
    twice = Status(429, {"Retry-After": "5", "retry-after": "300"}, b'{"detail": "slow down"}')
    errors = []
    for engine in (AiohttpAPI, LeanAPI):
        with FaultServer(on_events(twice)) as server:
            errors.append(error_of(server.url, send_one, engine=engine))
    aiohttp_error, lean_error = errors
    assert isinstance(aiohttp_error, RateLimitedError) and isinstance(lean_error, RateLimitedError)
    assert aiohttp_error.retry_after == 5.0
    assert lean_error.retry_after == aiohttp_error.retry_after


# -- a compressed answer -------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_an_answer_compressed_though_none_was_asked_for_is_read_as_aiohttp_reads_it(
    encoding: str,
) -> None:
    # The lean engine sends no Accept-Encoding; some servers and gateways compress anyway.
    def compressed(data: bytes) -> bytes:
        return gzip.compress(data) if encoding == "gzip" else zlib.compress(data)

    def rule(request: Request) -> Answer:
        if request.path == "/events":
            return Status(400, {"Content-Encoding": encoding}, compressed(b'{"detail": "bad"}'))
        return Status(200, {"Content-Encoding": encoding}, compressed(DEVICE))

    async def calls(api: AsyncAPI) -> tuple[str, BaseException]:
        device_id = await api.initialize_device()
        with pytest.raises(RejectedError) as info:
            await api.send_event(event())
        return device_id, info.value

    results = []
    for engine in (AiohttpAPI, LeanAPI):
        with FaultServer(rule) as server:
            results.append(run(server.url, calls, engine=engine))
    (aiohttp_device, aiohttp_error), (lean_device, lean_error) = results
    assert lean_device == aiohttp_device == "ws_device_faults"
    assert str(lean_error) == str(aiohttp_error)
    assert '{"detail": "bad"}' in str(lean_error)


def test_an_answer_whose_compression_is_broken_is_a_delivery_error_to_retry() -> None:
    broken = Status(200, {"Content-Encoding": "gzip"}, b"\x1f\x8b not gzip at all")
    with FaultServer(on_events(broken)) as server:
        error = error_of(server.url, send_one)
    assert type(error) is DeliveryError
    assert str(error).startswith("POST /events failed: error: ")
    assert outcome_of(error).action == "retry"


# -- an answer that is not HTTP -------------------------------------------------------------------


def test_an_answer_that_is_not_http_is_a_delivery_error_and_the_pool_stays_usable() -> None:
    async def calls(api: AsyncAPI) -> BaseException:
        with pytest.raises(DeliveryError) as info:
            await api.send_event(event(1))
        await api.send_event(event(2))  # max_connections=1: the slot was given back
        return info.value

    with FaultServer(on_events(Garbage(b"SSH-2.0-OpenSSH_9.6\r\n"))) as server:
        error = run(server.url, calls, max_connections=1)
    assert type(error) is DeliveryError
    assert str(error).startswith("POST /events failed: HttpParserError")
    assert outcome_of(error).action == "retry"
    assert server.connections == 2
    assert len(server.accepted) == 1


# -- an answer larger than MAX_BODY ---------------------------------------------------------------


def test_an_answer_larger_than_max_body_is_cut_and_its_connection_dropped() -> None:
    size = 64 * 1024 * 1024

    async def calls(api: AsyncAPI) -> tuple[BaseException, bool]:
        with pytest.raises(ServerError) as info:
            await api.send_event(event(1))
        closed = await until(lambda: server.open_connections == 0)
        await api.send_event(event(2))
        return info.value, closed

    with FaultServer(on_events(Huge(500, size))) as server:
        error, closed = run(server.url, calls)
    assert isinstance(error, ServerError) and error.status_code == 500
    assert closed, "the client closed the connection instead of reading the rest"
    assert server.sent_bytes < size
    assert server.connections == 2


# -- the request on the wire ----------------------------------------------------------------------


def test_the_request_on_the_wire_is_the_one_aiohttp_sends() -> None:
    captured: dict[str, tuple[int, list[Request]]] = {}
    for engine in (AiohttpAPI, LeanAPI):
        seen: list[Request] = []

        def record(request: Request, seen: list[Request] = seen) -> Answer:
            seen.append(request)
            return Status(200, body=DEVICE)

        async def calls(api: AsyncAPI) -> None:
            await api.initialize_device()
            await api.send_event(event())

        with FaultServer(record) as server:
            run(f"{server.url}/v1", calls, engine=engine)
        captured[engine.__name__] = server.port, seen

    (aio_port, aio_seen), (port, lean_seen) = captured["AiohttpAPI"], captured["LeanAPI"]
    for aio, lean in zip(aio_seen, lean_seen, strict=True):
        lines = lean.head.decode("latin-1").split("\r\n")
        assert lines[0] == f"POST {lean.path} HTTP/1.1"
        assert lean.path in ("/v1/initialize-device", "/v1/events")
        assert (lean.method, lean.path, lean.body) == (aio.method, aio.path, aio.body)
        names = [line.partition(":")[0].lower() for line in lines[1:]]
        assert len(names) == len(set(names)), f"a header sent twice: {lines}"
        assert "transfer-encoding" not in names
        assert lean.headers.pop("host") == f"127.0.0.1:{port}"  # the port is not 80: named
        assert aio.headers.pop("host") == f"127.0.0.1:{aio_port}"
        assert lean.headers["content-length"] == str(len(lean.body))
        # aiohttp adds its own content negotiation; the lean engine decodes no encoding, so
        # it asks for none (and */* is what no Accept means).
        assert set(aio.headers) - set(lean.headers) == {"accept", "accept-encoding"}
        assert lean.headers == {name: aio.headers[name] for name in lean.headers}
    init, sent = lean_seen
    assert (init.path, init.body) == ("/v1/initialize-device", b"{}")
    assert sent.body == event()


def test_its_connections_send_at_once_without_waiting_for_nagle() -> None:
    async def calls(api: AsyncAPI) -> int:
        await api.send_event(event())
        [connection] = api._idle  # type: ignore[attr-defined]
        sock = connection.transport.get_extra_info("socket")
        return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    with FaultServer() as server:
        assert run(server.url, calls) == 1
