"""Instructions per call, counted by valgrind's callgrind: a figure the machine's noise can't move.

Timings on a shared VM swing by 2x from one minute to the next; instruction counts do not.
Each row runs a small script twice under callgrind (0 calls, then ``--calls`` calls), counts
the instructions of the caller's thread only (``--separate-threads=yes``: a sender or consumer
thread's work is not the caller's) and divides the difference by the number of calls.

Our rows go through the public API to the default background transport, with its sender
awake (busy with earlier events), as in steady traffic: the caller appends to the inbox and
returns. Nothing is sent (the sender is never started), so the figures hold no network work.
The payload has 3 fields read from bare parameters. Peers (the ``[bench]`` extra): Segment's
``track()`` and PostHog's ``capture()`` queue to a local port nobody answers; an
OpenTelemetry SDK span with one event goes to a tracer provider with no exporter.

The idle-sender row is different: a real sender delivers each call to a local collector
and goes idle before the next call, so each call pays the wake-up; it is net of a run with
the same pauses and no calls. Needs ``valgrind`` (Debian: ``apt-get install valgrind``);
takes a few minutes.

    python benchmarks/hot_path_instructions.py [--calls 4000] [--rows track,tracked]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

PRELUDE = """
import sys
sku, quantity, price = "SKU-1234", 2, 19.99

def add_to_cart(sku, quantity, price):
    return None

def awake_background_client():
    import weespin_instrument as weespin
    client = weespin.configure(
        api_key="wsk_bench", base_url="http://127.0.0.1:9", max_queue=10**7
    )
    client.transport._inbox.idle = False  # the sender is busy with earlier events
    return weespin
"""
_OTEL_SDK = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())
"""
_DECORATED = """
weespin = awake_background_client()
add_to_cart = weespin.track_event("add_to_cart", payload_from=["sku", "quantity", "price"])(
    add_to_cart
)
"""
#: Row -> (set-up, the statement run once per call, target instructions or None for scale).
ROWS: dict[str, tuple[str, str, int | None]] = {
    "loop": ("", "pass", None),
    "bare call": ("", "add_to_cart(sku, quantity, price)", None),
    "bare wrapt FunctionWrapper": (
        "import wrapt\n"
        "add_to_cart = wrapt.FunctionWrapper(add_to_cart, lambda f, i, a, kw: f(*a, **kw))",
        "add_to_cart(sku, quantity, price)",
        None,
    ),
    "@track_event call": (_DECORATED, "add_to_cart(sku, quantity, price)", 15_000),
    "track()": (
        "track = awake_background_client().track",
        'track("add_to_cart", {"sku": sku, "quantity": quantity, "price": price})',
        14_000,
    ),
    "with tracked()": (
        "tracked = awake_background_client().tracked",
        'with tracked("add_to_cart", sku=sku, quantity=quantity, price=price): pass',
        22_000,
    ),
    "@track_event call, OpenTelemetry SDK loaded": (
        _OTEL_SDK + _DECORATED,
        "add_to_cart(sku, quantity, price)",
        17_000,
    ),
    "Segment track()": (
        "from segment.analytics import Client\n"
        'segment = Client("bench-key", host="http://127.0.0.1:9", max_queue_size=10**7)\n'
        'properties = {"sku": sku, "quantity": quantity, "price": price}',
        'segment.track("u_1", "add_to_cart", properties)',
        None,
    ),
    "PostHog capture()": (
        "from posthog import Posthog\n"
        'posthog = Posthog("bench-key", host="http://127.0.0.1:9", max_queue_size=10**7)\n'
        'properties = {"sku": sku, "quantity": quantity, "price": price}',
        'posthog.capture("add_to_cart", distinct_id="u_1", properties=properties)',
        None,
    ),
    "OTel SDK span with one event": (
        "from opentelemetry.sdk.trace import TracerProvider\n"
        'tracer = TracerProvider().get_tracer("bench")\n'
        'attributes = {"sku": sku, "quantity": quantity, "price": price}',
        'with tracer.start_as_current_span("add_to_cart") as span: '
        'span.add_event("add_to_cart", attributes)',
        None,
    ),
}


def script(row: str, calls: int) -> str:
    """The program callgrind runs: set-up, three warm-up calls, then ``calls`` calls."""
    setup, statement, _ = ROWS[row]
    return (
        f"{PRELUDE}\n{setup}\n"
        f"for _ in range(3):\n    {statement}\n"  # first calls fill caches (names, keys)
        f"for _ in range({calls}):\n    {statement}\n"
        # No exit hooks: draining (or dropping) what was queued is not the calls' cost.
        "import os; os._exit(0)\n"
    )


def instructions(code: str) -> int:
    """Instructions of the main (caller's) thread running ``code``: other threads apart."""
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--separate-threads=yes",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-c",
                code,
            ],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        # One file per thread: out-01 is the main thread (a lone thread's has no suffix).
        found = glob.glob(out + "*-01") or [out]
        with open(found[0]) as file:
            match = re.search(r"^(?:summary|totals): (\d+)", file.read(), re.MULTILINE)
        assert match, f"no totals in {found[0]}"
        return int(match.group(1))


def per_call(row: str, calls: int) -> float:
    """Instructions per call of ``row``, the loop included."""
    with ThreadPoolExecutor(2) as pool:
        base, loaded = pool.map(lambda n: instructions(script(row, n)), (0, calls))
    return (loaded - base) / calls


#: A decorated call into the default background transport that finds the sender idle (events
#: trickling in: each call wakes it), delivering to a local collector for real.
IDLE_ROW = "@track_event call, the sender idle"
IDLE_TARGET = 20_000
#: Seconds between those calls (under valgrind a delivery takes tens of ms), and how many.
IDLE_PAUSE, IDLE_CALLS = 0.15, 100


def idle_script(url: str, call: bool) -> str:
    """The idle-sender program: ``IDLE_CALLS`` calls with a pause after each (or pauses only)."""
    statement = "add_to_cart(sku, quantity, price)" if call else "pass"
    return f"""{PRELUDE}
import time
import weespin_instrument as weespin
from weespin_instrument.transports import BackgroundTransport
client = weespin.Client(
    transport=BackgroundTransport(api_key="k", base_url={url!r}, device_id="ws_device_1")
)
add_to_cart = weespin.track_event(
    "add_to_cart", payload_from=["sku", "quantity", "price"], client=client
)(add_to_cart)
for _ in range(20):  # warm up: the interpreter specializes the code it runs
    add_to_cart(sku, quantity, price)
assert client.flush(timeout=300)
for _ in range({IDLE_CALLS}):  # each call finds the sender idle, and wakes it
    {statement}
    time.sleep({IDLE_PAUSE})  # the sender delivers, lingers, goes idle
assert client.flush(timeout=300) and not client.stats().dropped
"""


def idle_sender_per_call() -> float:
    """The idle-sender row: calls with pauses, minus the same pauses without calls."""
    import delivery

    with delivery.collector() as url, ThreadPoolExecutor(2) as pool:
        sleep_only, loaded = pool.map(
            lambda call: instructions(idle_script(url, call)), (False, True)
        )
    return (loaded - sleep_only) / IDLE_CALLS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rows", help="comma-separated row prefixes (default: all)")
    options = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    wanted = [row for row in ROWS if row != "loop"]
    prefixes: tuple[str, ...] = ()
    if options.rows:
        prefixes = tuple(p.strip() for p in options.rows.split(","))
        wanted = [row for row in wanted if row.startswith(prefixes)]
    loop = per_call("loop", options.calls)
    print(f"instructions per call, caller's thread only, callgrind, {options.calls} calls a row,")
    print(f"net of the loop ({loop:,.0f}); python {sys.version.split()[0]}")
    print(f"{'':46}{'net':>10}{'target':>10}")
    for row in wanted:
        net = per_call(row, options.calls) - loop
        report(row, net, ROWS[row][2])
    if not options.rows or IDLE_ROW.startswith(prefixes):
        report(IDLE_ROW, idle_sender_per_call(), IDLE_TARGET)


def report(row: str, net: float, target: int | None) -> None:
    verdict = "" if target is None else f"{target:>10,}  {'OK' if net <= target else 'OVER'}"
    print(f"{row:46}{net:>10,.0f}{verdict}", flush=True)


if __name__ == "__main__":
    main()
