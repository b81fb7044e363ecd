"""Delivery figures of the background transport, each beside a baseline measured in the same run.

1. CPU per delivered event: process CPU (caller and sender threads together) per event
   tracked and delivered to the local collector, against raw aiohttp's CPU per request
   (64 in flight) to the same collector. The collector runs in its own process, so its
   CPU is not counted. Target: at most 150 µs on the reference machine, where raw aiohttp
   costs about 95 µs, i.e. at most ~1.6x raw aiohttp.
   The same, paced: one event every 2 ms (a trickle, each event may find the sender idle).
   Target: paced at most 1.5x the burst figure. The paced figure includes the pacing loop's
   own CPU (``time.sleep`` between events), measured alone in the same run: the ratio is
   printed gross and net of it.
2. Events per second delivered, with no injected latency and with 50 and 200 ms per request,
   against one-at-a-time sending (the synchronous transport), default settings (the in-flight
   limit follows the round trip). Target: >= 1,000/s at 50 and at 200 ms.
3. What a ``track()`` call costs the caller (p50 / p99 / p99.9) while the API is healthy,
   slow (500 ms per request) and down (nothing listens), against the pipeline alone
   (``transport="none"``). Target: slow and down no worse than healthy beyond noise.
4. RSS growth with 100,000 events queued (API down). Target: under 100 MB.
5. A cold burst: 20,000 events tracked right after start-up in a fresh process, default
   settings. Target: nothing dropped.

With ``--engines``, only 1 instead, side by side for the sender's two HTTP engines (the lean
one on httptools, the default, and aiohttp's, kept for proxies), in interleaved rounds, over
plain HTTP and over HTTPS (a throwaway certificate authority, trusted with SSL_CERT_FILE).

Everything runs on 127.0.0.1 and is bounded in time (about a minute in all; ``--engines``
about two).

    .venv/bin/python benchmarks/delivery.py [--events 10000] [--paced-only]
        [--linger-ms 20]   # the sender's linger, to compare alternatives
        [--engine aiohttp] # the sender's engine (default: lean)
    .venv/bin/python benchmarks/delivery.py --engines [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import engines

from weespin_instrument import Client, Settings
from weespin_instrument.transports import _engine
from weespin_instrument.transports._aio import AiohttpAPI
from weespin_instrument.transports._async_api import AsyncAPI
from weespin_instrument.transports._engine import LINGER
from weespin_instrument.transports._lean import LeanAPI

#: The sender's HTTP engines, by the name ``--engine`` takes.
ENGINES: dict[str, type[AsyncAPI]] = {"lean": LeanAPI, "aiohttp": AiohttpAPI}

KEY = "bench-key"


def payload(n: int) -> dict[str, object]:
    return {"amount": 19.99 + n % 100, "currency": "EUR", "sku": f"sku-{n % 500}", "n": n}


def use_engine(name: str) -> None:
    """Make this process's senders use the engine called ``name`` (see :data:`ENGINES`)."""
    engine = ENGINES[name]

    def chosen(settings: Settings, *, max_connections: int) -> AsyncAPI:
        return engine(settings, max_connections=max_connections)

    _engine.async_api = chosen


@contextmanager
def collector(latency_ms: float = 0.0, certfile: Path | None = None) -> Iterator[str]:
    """The local collector in its own process (its CPU is not ours); yields its URL.

    With ``certfile`` it serves HTTPS (see :func:`trusted_certificate`).
    """
    tls = ["--certfile", str(certfile)] if certfile else []
    with tempfile.TemporaryDirectory() as tmp:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "weespin_instrument.cli",
                "collector",
                "--port",
                "0",
                "--db",
                str(Path(tmp) / "events.sqlite"),
                "--latency-ms",
                str(latency_ms),
                *tls,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert process.stdout is not None
            match = re.search(r"https?://127\.0\.0\.1:\d+", process.stdout.readline())
            assert match, "the collector did not start"
            yield match.group(0)
        finally:
            process.terminate()
            process.wait(10)


@contextmanager
def trusted_certificate() -> Iterator[Path]:
    """A certificate for 127.0.0.1 whose throwaway authority this process trusts."""
    import trustme

    authority = trustme.CA()
    with tempfile.TemporaryDirectory() as tmp:
        chain, bundle = Path(tmp) / "server.pem", Path(tmp) / "ca.pem"
        authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(chain))
        authority.cert_pem.write_to_path(str(bundle))
        os.environ["SSL_CERT_FILE"] = str(bundle)
        try:
            yield chain
        finally:
            del os.environ["SSL_CERT_FILE"]


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


# -- 1 and 2: CPU per event and throughput ------------------------------------------------------


class Delivered(NamedTuple):
    """What delivering a run of events cost, per event."""

    #: Process CPU µs per delivered event (every thread).
    cpu: float
    #: Of which the sender thread's (None where /proc is missing).
    sender: float | None
    #: Events delivered per second.
    rate: float


def sender_cpu() -> float | None:
    """CPU µs the sender thread has used so far (Linux's schedstat), or None without one."""
    for thread in threading.enumerate():
        if thread.name == "weespin-sender" and thread.native_id is not None:
            try:
                with open(f"/proc/self/task/{thread.native_id}/schedstat") as stat:
                    return int(stat.read().split()[0]) / 1000
            except OSError:
                return None
    return None


def deliver(url: str, events: int, interval: float | None = None) -> Delivered:
    """What delivering ``events`` costs through the default transport: tracked in a burst, or
    one every ``interval`` seconds (a trickle)."""
    client = Client(api_key=KEY, base_url=url)  # default settings
    for n in range(300):  # warm up: the sender starts, imports its engine, gets a device
        client.track("warm_up", payload(n))
    assert client.flush(timeout=60.0)
    cpu, wall, sender = time.process_time(), time.perf_counter(), sender_cpu()
    if interval is None:
        for n in range(events):
            client.track("purchase", payload(n))
    else:
        pace(events, interval, lambda n: client.track("purchase", payload(n)))
    assert client.flush(timeout=300.0), client.stats()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = sender_cpu()
    stats = client.stats()
    assert stats.sent == events + 300 and not stats.dropped, stats
    client.shutdown()
    sender_share = (after - sender) / events if after is not None and sender is not None else None
    return Delivered(cpu / events * 1e6, sender_share, events / wall)


def pace(events: int, interval: float, call: Callable[[int], object]) -> None:
    """``call(n)`` for each of ``events``, one every ``interval`` seconds."""
    clock = time.perf_counter
    next_at = clock()
    for n in range(events):
        call(n)
        next_at += interval
        pause = next_at - clock()
        if pause > 0:
            time.sleep(pause)


def paced(url: str, events: int, interval: float = 0.002) -> Delivered:
    """:func:`deliver` for a trickle: one event tracked every ``interval`` seconds."""
    return deliver(url, events, interval)


def pacing_alone(events: int, interval: float = 0.002) -> float:
    """Process CPU µs per event of :func:`paced`'s pacing loop with nothing tracked."""
    cpu = time.process_time()
    pace(events, interval, lambda n: None)
    return (time.process_time() - cpu) / events * 1e6


def print_paced(burst: Delivered, trickle: Delivered) -> None:
    """The paced figure beside the burst's, gross and net of the pacing loop (measured now),
    and the sender thread's share of each."""
    loop = pacing_alone(1_000)
    print(f"   the burst, per event:            {burst.cpu:7.0f} µs")
    print(
        f"   paced, one event every 2 ms:     {trickle.cpu:7.0f} µs  "
        f"{trickle.cpu / burst.cpu:.2f}x the burst figure "
        "(target: <= 1.5x)"
    )
    print(
        f"   the pacing loop alone, per event: {loop:6.0f} µs  "
        f"(included above); net of it: {(trickle.cpu - loop) / burst.cpu:.2f}x the burst figure"
    )
    if burst.sender is not None and trickle.sender is not None:
        print(
            f"   the sender thread alone: {burst.sender:.0f} µs per event in the burst, "
            f"{trickle.sender:.0f} paced ({trickle.sender / burst.sender:.2f}x); the rest is "
            "the caller's thread"
        )


def compare_engines(events: int, rounds: int) -> None:
    """Burst and paced CPU per event for each engine, HTTP and HTTPS, in interleaved rounds."""
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with trusted_certificate() as certfile:
        for scheme, chain in (("http", None), ("https", certfile)):
            with collector(certfile=chain) as url:
                for _ in range(rounds):
                    for name in ENGINES:
                        use_engine(name)
                        burst = deliver(url, events).cpu
                        figures.setdefault((scheme, name), []).append(
                            (burst, paced(url, min(events, 2_000)).cpu)
                        )
    loop = pacing_alone(1_000)
    print(f"1. CPU per delivered event by engine, median of {rounds} interleaved rounds")
    print(f"   (the pacing loop alone costs {loop:.0f} µs per event, included in paced)")
    print(f"   {'':<18}{'burst µs':>10}{'paced µs':>10}{'paced/burst':>13}{'net':>7}   rounds")
    for (scheme, name), runs in figures.items():
        burst = statistics.median(b for b, _ in runs)
        paced_cpu = statistics.median(p for _, p in runs)
        ratios = ", ".join(f"{p / b:.2f}" for b, p in runs)
        print(
            f"   {name + ' ' + scheme:<18}{burst:>10.0f}{paced_cpu:>10.0f}"
            f"{paced_cpu / burst:>12.2f}x{(paced_cpu - loop) / burst:>6.2f}x   {ratios}"
        )
    for scheme in ("http", "https"):
        lean, aio = figures[scheme, "lean"], figures[scheme, "aiohttp"]
        burst = statistics.median(b for b, _ in lean) / statistics.median(b for b, _ in aio)
        paced_cpu = statistics.median(p for _, p in lean) / statistics.median(p for _, p in aio)
        print(f"   lean / aiohttp over {scheme}: burst {burst:.2f}x, paced {paced_cpu:.2f}x")


def cold_burst(url: str, events: int) -> tuple[int, dict[str, int], float]:
    """(sent, dropped, seconds to deliver) of a burst tracked right after start-up, in a
    fresh process (nothing imported yet), default settings."""
    script = f"""
import json, time
import weespin_instrument as weespin
weespin.configure(api_key={KEY!r}, base_url={url!r})
started = time.perf_counter()
for n in range({events}):
    weespin.track("purchase", {{"n": n, "sku": "sku-%d" % (n % 500)}})
delivered = weespin.flush(timeout=120.0)
stats = weespin.stats()
print(json.dumps([stats.sent, stats.dropped, time.perf_counter() - started, delivered]))
"""
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=180
    ).stdout
    sent, dropped, seconds, _ = json.loads(output.strip().splitlines()[-1])
    return sent, dropped, seconds


def one_at_a_time(url: str, seconds: float) -> float:
    """Events per second sending one event per blocking request (the sync transport)."""
    client = Client(api_key=KEY, base_url=url, transport="sync")
    client.track("warm_up")
    sent, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds and sent < 10_000:
        client.track("purchase", payload(sent))
        sent += 1
    rate = sent / (time.perf_counter() - started)
    client.shutdown()
    return rate


# -- 3: what the caller pays ----------------------------------------------------------------------


def caller_latency(url: str | None, calls: int) -> list[float]:
    """Per-call ``track()`` durations in µs, paced at about 2,000 calls per second."""
    if url is None:
        client = Client(api_key=KEY, transport="none")
    else:
        client = Client(api_key=KEY, base_url=url, device_id="ws_device_bench")
    for n in range(200):
        client.track("warm_up", payload(n))
    time.sleep(1.0)  # the sender is up (and, for a dead API, has met the outage)
    durations: list[float] = []
    clock = time.perf_counter_ns
    for n in range(calls):
        started = clock()
        client.track("purchase", payload(n))
        durations.append((clock() - started) / 1000)
        if n % 10 == 9:
            time.sleep(0.005)
    client.shutdown(timeout=0.0)
    return durations


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=1000)
    return statistics.median(samples), cuts[989], cuts[998]


# -- 4: memory ------------------------------------------------------------------------------------


def queued_memory(events: int) -> tuple[float, int]:
    """(RSS growth in MB, events queued) after tracking ``events`` with the API down."""
    client = Client(
        api_key=KEY, base_url=dead_url(), device_id="ws_device_bench", max_queue=events + 1_000
    )
    for n in range(100):
        client.track("warm_up", payload(n))
    time.sleep(1.0)
    gc.collect()
    before = rss_mb()
    for n in range(events):
        client.track("purchase", payload(n))
    gc.collect()
    grown = rss_mb() - before
    queued = client.stats().queued + client.stats().in_flight
    client.shutdown(timeout=0.0)
    return grown, queued


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument(
        "--paced-only",
        action="store_true",
        help="only the burst and paced CPU rows of 1 (a few seconds)",
    )
    parser.add_argument(
        "--linger-ms",
        type=float,
        default=_engine.LINGER * 1000,
        help="how long the sender stays awake after its last job (default: %(default)g)",
    )
    parser.add_argument("--engine", choices=list(ENGINES), default="lean")
    parser.add_argument(
        "--engines", action="store_true", help="only 1, side by side for both engines"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --engines")
    args = parser.parse_args()
    use_engine(args.engine)
    multiprocessing.set_start_method("spawn")  # baselines run in fresh processes
    _engine.LINGER = args.linger_ms / 1000  # this process only: the cold burst runs apart
    events = args.events
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {events} events per run, "
        f"linger {args.linger_ms:g} ms"
    )
    flags = " --paced-only" if args.paced_only else ""
    if _engine.LINGER != LINGER:
        flags += f" --linger-ms {args.linger_ms:g}"
    if args.engines:
        flags += f" --engines --rounds {args.rounds}"
    elif args.engine != "lean":
        flags += f" --engine {args.engine}"
    print(f"reproduce: {sys.executable} benchmarks/delivery.py --events {events}{flags}\n")

    if args.engines:
        compare_engines(events, args.rounds)
        return

    if args.paced_only:
        with collector() as fast:
            burst = deliver(fast, events)
            trickle = paced(fast, min(events, 2_000))
        print("1. CPU per delivered event (caller + sender; the collector runs elsewhere)")
        print_paced(burst, trickle)
        return

    with collector() as fast:
        raw_aiohttp, _ = engines.measure("aiohttp", fast, 3000, 64)
        burst = deliver(fast, events)
        cpu, rate = burst.cpu, burst.rate
        trickle = paced(fast, min(events, 2_000))
        sync_rate = one_at_a_time(fast, 3.0)
    with collector(latency_ms=50) as distant:
        distant_rate = deliver(distant, min(events, 5_000)).rate
        distant_sync_rate = one_at_a_time(distant, 3.0)
    with collector(latency_ms=200) as far:
        far_rate = deliver(far, min(events, 5_000)).rate
        far_sync_rate = one_at_a_time(far, 3.0)

    print("1. CPU per delivered event (caller + sender; the collector runs elsewhere)")
    print(f"   raw aiohttp, 64 in flight, per request:  {raw_aiohttp:7.0f} µs  (baseline)")
    print(
        f"   track() + background delivery, per event: {cpu:7.0f} µs  "
        f"{cpu / raw_aiohttp:.2f}x raw aiohttp (target: <= 1.6x, i.e. 150 µs where raw is 95)"
    )
    print_paced(burst, trickle)
    print("\n2. Events per second delivered to the local collector")
    print(
        f"   no injected latency: {rate:7.0f}/s   one at a time: {sync_rate:7.0f}/s   "
        f"{rate / sync_rate:6.1f}x"
    )
    print(
        f"   50 ms per request:   {distant_rate:7.0f}/s   one at a time: "
        f"{distant_sync_rate:7.0f}/s   {distant_rate / distant_sync_rate:6.1f}x "
        "(target: >= 1,000/s)"
    )
    print(
        f"   200 ms per request:  {far_rate:7.0f}/s   one at a time: "
        f"{far_sync_rate:7.0f}/s   {far_rate / far_sync_rate:6.1f}x "
        "(target: >= 1,000/s)"
    )

    calls = 5_000
    with collector() as healthy_url:
        healthy = caller_latency(healthy_url, calls)
    with collector(latency_ms=500) as slow_url:
        slow = caller_latency(slow_url, calls)
    down = caller_latency(dead_url(), calls)
    pipeline = caller_latency(None, calls)
    print(f"\n3. track() duration seen by the caller, µs ({calls} calls at ~2,000/s)")
    print(f"   {'API':<26}{'p50':>8}{'p99':>8}{'p99.9':>8}   p99 vs healthy")
    base_p99 = percentiles(healthy)[1]
    for name, samples in [
        ("none (pipeline only)", pipeline),
        ("healthy", healthy),
        ("slow (500 ms/request)", slow),
        ("down (nothing listens)", down),
    ]:
        p50, p99, p999 = percentiles(samples)
        print(f"   {name:<26}{p50:>8.1f}{p99:>8.1f}{p999:>8.1f}   {p99 / base_p99:5.2f}x")

    grown, queued = queued_memory(100_000)
    print("\n4. Memory with the API down")
    print(
        f"   {queued} events queued: RSS +{grown:.1f} MB "
        f"({grown * 1024 * 1024 / max(queued, 1):.0f} bytes per event; target: < 100 MB)"
    )

    with collector() as cold_url:
        sent, dropped, seconds = cold_burst(cold_url, 20_000)
    print("\n5. A cold burst of 20,000 events, default settings, in a fresh process")
    print(f"   sent {sent}, dropped {dropped or 'none'}, all delivered in {seconds:.1f} s")


if __name__ == "__main__":
    main()
