"""Which HTTP engine should the background sender use? Client-side CPU per request, measured.

The Weespin API takes one event per request, so the sender's cost is dominated by its HTTP
client. Each engine here sends the same single-event POSTs to a minimal keep-alive HTTP
server running in a *separate process* (a raw asyncio protocol answering ``200`` with a
small JSON body), so ``time.process_time()`` of this process is the client's CPU alone.
For each engine: 1 request in flight and 64 in flight (threads for the blocking clients).
``lean-httptools`` is the floor: a bare HTTP/1.1 client on asyncio protocols with
httptools' parser (uvicorn's), keep-alive, no timeouts, reconnection, proxies nor TLS.

Figures are printed per request and as a ratio to aiohttp measured in the same run.

    .venv/bin/python benchmarks/engines.py [--requests 3000] [--engines aiohttp,httpx-async]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

BODY = json.dumps(
    {
        "event_name": "purchase",
        "device_id": "ws_device_0123456789abcdef",
        "payload": {"amount": 19.99, "currency": "EUR", "n": 1},
        "event_id": "0b8e6a34-6f0e-4b8e-9c1e-2a4b6c8d0e1f",
        "timestamp": "2025-01-01T00:00:00.000Z",
    },
    separators=(",", ":"),
).encode()
HEADERS = {"Authorization": "bench-key", "Content-Type": "application/json"}
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n"
    b'{"status":"ok"}'
)


# -- the server: a separate process, as cheap as an HTTP/1.1 keep-alive server gets ----------


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            import socket

            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                line_end = head.find(b"\r\n", marker)
                line_end = len(head) if line_end < 0 else line_end
                length = int(head[marker + 15 : line_end])
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]


def _serve(port_out: multiprocessing.connection.Connection) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Protocol, "127.0.0.1", 0, backlog=1024)
        port_out.send(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def start_server() -> tuple[multiprocessing.Process, str]:
    """The fast server in its own process; returns it and its base URL."""
    receiver, sender = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(target=_serve, args=(sender,), daemon=True)
    process.start()
    port = receiver.recv()
    return process, f"http://127.0.0.1:{port}"


# -- the engines -------------------------------------------------------------------------------


def run_aiohttp(url: str, requests: int, in_flight: int) -> None:
    import aiohttp

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=in_flight)
        async with aiohttp.ClientSession(connector=connector, headers=HEADERS) as session:
            await _gather_limited(requests, in_flight, lambda: _aiohttp_post(session, url))

    asyncio.run(main())


async def _aiohttp_post(session: object, url: str) -> None:
    async with session.post(url + "/events", data=BODY) as response:  # type: ignore[attr-defined]
        await response.read()
        assert response.status == 200


def run_httpx_async(url: str, requests: int, in_flight: int) -> None:
    import httpx

    async def main() -> None:
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        async with httpx.AsyncClient(base_url=url, headers=HEADERS, limits=limits) as client:

            async def one() -> None:
                response = await client.post("/events", content=BODY)
                assert response.status_code == 200

            await _gather_limited(requests, in_flight, one)

    asyncio.run(main())


async def _gather_limited(requests: int, in_flight: int, one: Callable[[], object]) -> None:
    # A fixed set of workers, not a semaphore over N tasks: the same scheduling for all.
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            await one()  # type: ignore[misc]

    await asyncio.gather(*(worker() for _ in range(in_flight)))


def _threads(requests: int, in_flight: int, make: Callable[[], Callable[[], None]]) -> None:
    remaining = iter(range(requests))
    lock = threading.Lock()

    def worker() -> None:
        post = make()
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            post()

    with ThreadPoolExecutor(in_flight) as pool:
        for future in [pool.submit(worker) for _ in range(in_flight)]:
            future.result()


def run_httpx_threads(url: str, requests: int, in_flight: int) -> None:
    import httpx

    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    with httpx.Client(base_url=url, headers=HEADERS, limits=limits) as client:

        def make() -> Callable[[], None]:
            def post() -> None:
                assert client.post("/events", content=BODY).status_code == 200

            return post

        _threads(requests, in_flight, make)


def run_urllib3_threads(url: str, requests: int, in_flight: int) -> None:
    import urllib3

    pool = urllib3.PoolManager(maxsize=in_flight, block=True)

    def make() -> Callable[[], None]:
        def post() -> None:
            response = pool.request("POST", url + "/events", body=BODY, headers=HEADERS)
            assert response.status == 200

        return post

    _threads(requests, in_flight, make)
    pool.clear()


def run_http_client_threads(url: str, requests: int, in_flight: int) -> None:
    host, port = url.removeprefix("http://").split(":")

    def make() -> Callable[[], None]:
        connection = http.client.HTTPConnection(host, int(port))

        def post() -> None:
            connection.request("POST", "/events", body=BODY, headers=HEADERS)
            response = connection.getresponse()
            response.read()
            assert response.status == 200

        return post

    _threads(requests, in_flight, make)


class _LeanConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: write a prebuilt request, parse with httptools."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        if len(self.body) < 65_536:  # the cap the sender keeps on answers
            self.body += body

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(self.parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("closed"))

    async def post(self, request: bytes) -> int:
        assert self.transport is not None
        self.body.clear()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


def run_lean_httptools(url: str, requests: int, in_flight: int) -> None:
    """A lean HTTP/1.1 client on asyncio protocols and httptools (uvicorn's parser)."""
    host, port = url.removeprefix("http://").split(":")
    head = "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items())
    request = (
        f"POST /events HTTP/1.1\r\nHost: {host}:{port}\r\n{head}Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY

    async def main() -> None:
        loop = asyncio.get_running_loop()
        pool: list[_LeanConnection] = []
        for _ in range(min(in_flight, requests)):
            _, protocol = await loop.create_connection(_LeanConnection, host, int(port))
            pool.append(protocol)
        left = [requests]

        async def worker(connection: _LeanConnection) -> None:
            while left[0] > 0:
                left[0] -= 1
                assert await connection.post(request) == 200

        await asyncio.gather(*(worker(c) for c in pool))
        for connection in pool:
            assert connection.transport is not None
            connection.transport.close()

    asyncio.run(main())


ENGINES: dict[str, Callable[[str, int, int], None]] = {
    "aiohttp": run_aiohttp,
    "httpx-async": run_httpx_async,
    "httpx-threads": run_httpx_threads,
    "urllib3-threads": run_urllib3_threads,
    "http.client-threads": run_http_client_threads,
    "lean-httptools": run_lean_httptools,
}


def measure(name: str, url: str, requests: int, in_flight: int) -> tuple[float, float]:
    """(CPU µs per request, requests per second) for one engine, in a fresh process."""
    receiver, sender = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(
        target=_measure_in_child, args=(name, url, requests, in_flight, sender)
    )
    process.start()
    result: tuple[float, float] = receiver.recv()
    process.join(60)
    return result


def _measure_in_child(
    name: str,
    url: str,
    requests: int,
    in_flight: int,
    out: multiprocessing.connection.Connection,
) -> None:
    run = ENGINES[name]
    run(url, min(200, requests), in_flight)  # warm up: imports, connections, caches
    cpu, wall = time.process_time(), time.perf_counter()
    run(url, requests, in_flight)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    out.send((cpu / requests * 1e6, requests / wall))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    args = parser.parse_args()
    names = [n for n in args.engines.split(",") if n]
    server, url = start_server()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.requests} POSTs each")
    print(f"reproduce: {sys.executable} benchmarks/engines.py --requests {args.requests}\n")
    try:
        results: dict[tuple[str, int], tuple[float, float]] = {}
        for in_flight in (1, 64):
            for name in names:
                results[name, in_flight] = measure(name, url, args.requests, in_flight)
        print(f"{'engine':<22}{'in flight':>10}{'CPU µs/req':>12}{'vs aiohttp':>12}{'req/s':>10}")
        for in_flight in (1, 64):
            base = results.get(("aiohttp", in_flight), (float("nan"), 0.0))[0]
            for name in names:
                cpu, rate = results[name, in_flight]
                print(f"{name:<22}{in_flight:>10}{cpu:>12.0f}{cpu / base:>11.1f}x{rate:>10.0f}")
        ranked = sorted((results[name, 64][0], name) for name in names)
        print("\nat 64 in flight, cheapest first: " + ", ".join(n for _, n in ranked))
        print(
            "the sender runs many requests at once, so the 64-in-flight column decides. The\n"
            "engine is aiohttp when it is the cheapest there, or within noise of a threaded\n"
            "stdlib client: one thread instead of 64 (less GIL contention with the caller),\n"
            "and proxies, TLS, pooling and timeouts come from a maintained library.\n"
            "lean-httptools is a floor, not a candidate as it stands: one prebuilt request\n"
            "per connection, no timeouts, reconnection, proxies or TLS (what aiohttp's\n"
            "share of the CPU pays for)."
        )
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
