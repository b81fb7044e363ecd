"""A FastAPI app under uvicorn, with and without the library, interleaved in one run.

Two copies of the same app run side by side, each in its own uvicorn process: one whose
handler calls a function decorated with ``@track_event`` (the default background transport
delivering to the local collector, in a third process), one whose handler calls the same
function undecorated. A client in this process sends the same paced traffic (one request
every 2 ms over a keep-alive connection: the trickle that wakes the sender per event) to
each in turn, several rounds, and reports per app:

- p50 / p99 request latency seen by the client;
- the app process's CPU per request (user + system, from ``/proc/<pid>/stat``);
- event-loop stalls: a ticker task in the app sleeps 5 ms and counts the wake-ups that
  come more than 20 ms late (a callback, ours or the app's, held the loop or the GIL);
- the app process's garbage collections per generation (``gc.get_stats()``): a full
  (generation 2) collection of the app's heap holds the GIL 25-45 ms, a stall whenever it
  comes, and the library's requests in flight are what make the younger ones come.

Everything runs on 127.0.0.1, bounded (about 40 s).

    .venv/bin/python benchmarks/web_app.py [--requests 2000] [--rounds 3]
        [--linger-ms 20]   # the sender's linger in the app, to compare alternatives
        [--engine aiohttp] # the sender's HTTP engine in the app (default: lean)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import NamedTuple

from delivery import ENGINES, collector, use_engine

KEY = "bench-key"
STALL = 0.020
#: How ``--linger-ms`` and ``--engine`` reach the app processes.
_LINGER_ENV = "WEESPIN_BENCH_LINGER_MS"
_ENGINE_ENV = "WEESPIN_BENCH_ENGINE"
TICK = 0.005


# -- the app (runs in the uvicorn processes) -----------------------------------------------------


def make_app(with_library: bool, collector_url: str) -> object:
    from fastapi import FastAPI

    def add_to_cart(sku: str, quantity: int, price: float) -> dict[str, object]:
        return {"sku": sku, "quantity": quantity, "price": price}

    if with_library:
        import weespin_instrument as weespin

        weespin.configure(api_key=KEY, base_url=collector_url, device_id="ws_device_bench")
        add_to_cart = weespin.track_event("add_to_cart", payload_from=["sku", "quantity", "price"])(
            add_to_cart
        )

    stalls = [0, 0]  # (ticks, late ticks)

    async def ticker() -> None:
        clock = time.perf_counter
        while True:
            started = clock()
            await asyncio.sleep(TICK)
            stalls[0] += 1
            if clock() - started - TICK > STALL:
                stalls[1] += 1

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(ticker())
        yield
        task.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.post("/cart/{sku}")
    async def cart(sku: str, quantity: int = 1) -> dict[str, object]:
        return add_to_cart(sku, quantity, 19.99)

    @app.get("/stalls")
    async def read_stalls() -> dict[str, object]:
        ticks, late = stalls
        stalls[0] = stalls[1] = 0
        collections = [generation["collections"] for generation in gc.get_stats()]
        return {"ticks": ticks, "late": late, "collections": collections}

    return app


def serve(with_library: bool, collector_url: str, port: int) -> None:
    import uvicorn

    if os.environ.get(_LINGER_ENV):
        from weespin_instrument.transports import _engine

        _engine.LINGER = float(os.environ[_LINGER_ENV]) / 1000
    use_engine(os.environ.get(_ENGINE_ENV, "lean"))

    uvicorn.run(
        make_app(with_library, collector_url),  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="asyncio",
    )


# -- the client ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def app_process(with_library: bool, collector_url: str) -> Iterator[tuple[int, int]]:
    """(pid, port) of a uvicorn process serving the app."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(int(with_library)), collector_url, str(port)],
        cwd=os.path.dirname(os.path.abspath(__file__)),
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the app did not start")
        yield process.pid, port
    finally:
        process.terminate()
        process.wait(10)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Round(NamedTuple):
    latencies: list[float]  # ms
    cpu: float  # µs per request
    stalls: int
    collections: list[int]  # garbage collections per generation, 0 to 2


def round_of(pid: int, port: int, requests: int, interval: float) -> Round:
    """What ``requests`` paced requests cost the app."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/stalls")
    collected = json.loads(connection.getresponse().read())["collections"]
    latencies: list[float] = []
    cpu = cpu_seconds(pid)
    clock = time.perf_counter
    next_at = clock()
    for n in range(requests):
        started = clock()
        connection.request("POST", f"/cart/sku-{n % 50}?quantity={n % 5 + 1}")
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
        latencies.append((clock() - started) * 1000)
        next_at += interval
        pause = next_at - clock()
        if pause > 0:
            time.sleep(pause)
    cpu = cpu_seconds(pid) - cpu
    connection.request("GET", "/stalls")
    answer = json.loads(connection.getresponse().read())
    connection.close()
    collections = [now - then for now, then in zip(answer["collections"], collected, strict=True)]
    return Round(latencies, cpu / requests * 1e6, answer["late"], collections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval-ms", type=float, default=2.0)
    parser.add_argument("--linger-ms", type=float, help="the sender's linger in the app")
    parser.add_argument("--engine", choices=list(ENGINES), default="lean")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.linger_ms is not None:
        os.environ[_LINGER_ENV] = str(args.linger_ms)
    if not args.serve:  # the apps' processes take it from here
        os.environ[_ENGINE_ENV] = args.engine
    if args.serve:
        with_library, url, port = args.serve
        serve(with_library == "1", url, int(port))
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        f"reproduce: {sys.executable} benchmarks/web_app.py --requests {args.requests} "
        f"--rounds {args.rounds}"
        + (f" --linger-ms {args.linger_ms:g}" if args.linger_ms is not None else "")
        + (f" --engine {args.engine}" if args.engine != "lean" else "")
        + "\n"
    )
    results: dict[str, list[Round]] = {"without the library": [], "with @track_event": []}
    with (
        collector() as url,
        app_process(False, url) as without,
        app_process(True, url) as with_,
    ):
        for pid, port in (without, with_):  # warm up both (imports, the sender, the device)
            round_of(pid, port, 200, args.interval_ms / 1000)
        for _ in range(args.rounds):
            for name, (pid, port) in zip(results, (without, with_), strict=True):
                results[name].append(round_of(pid, port, args.requests, args.interval_ms / 1000))
    requests = args.requests * args.rounds
    print(
        f"{requests} requests per app, one every {args.interval_ms:g} ms, "
        f"{args.rounds} interleaved rounds"
    )
    print(
        f"{'app':<22}{'p50 ms':>8}{'p99 ms':>8}{'CPU µs/request':>16}{'stalls > 20 ms':>16}"
        f"{'GC runs, gen 0/1/2':>20}"
    )
    for name, rounds in results.items():
        latencies = [latency for one in rounds for latency in one.latencies]
        cuts = statistics.quantiles(latencies, n=100)
        collections = "/".join(str(sum(one.collections[g] for one in rounds)) for g in range(3))
        print(
            f"{name:<22}{statistics.median(latencies):>8.2f}{cuts[98]:>8.2f}"
            f"{statistics.median(one.cpu for one in rounds):>16.0f}"
            f"{sum(one.stalls for one in rounds):>16}{collections:>20}"
        )


if __name__ == "__main__":
    main()
