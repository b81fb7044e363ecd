"""Instructions per call, counted by valgrind's callgrind: a figure the machine's noise can't move.

Timings on a shared VM swing by 2x from one minute to the next; instruction counts do not.
Each row runs a small script under callgrind: its set-up, a few warm-up calls, then
``--calls`` calls run through ``contextvars.Context.run``. callgrind counts the
instructions of the caller's thread only (``--separate-threads=yes``: a sender or consumer
thread's work is not the caller's), and only inside ``Context.run``
(``--collect-atstart=no --toggle-collect=context_run``), so the set-up's own run-to-run noise
never reaches a row; the loop's count (a ``pass`` row) is taken off each row's, per call.

Our rows go through the public API to the default background transport, with its sender
awake (busy with earlier events), as in steady traffic: the caller appends to the inbox and
returns. Nothing is sent (the sender is never started), so the figures hold no network work.
The payload has 3 fields read from bare parameters. Peers (the ``[bench]`` extra): Segment's
``track()`` and PostHog's ``capture()`` queue to a local port nobody answers; an
OpenTelemetry SDK span with one event goes to a tracer provider with no exporter.

The idle-sender row is different: a real sender delivers each call to a local collector
and goes idle before the next call, so each call pays the wake-up. Counting whole runs and
subtracting a run without the calls does not work for so few calls: the set-up's count
moves by up to ~700,000 instructions from run to run (string-keyed dict lookups, whose
probe lengths follow the process's hash seed), several thousand per call. So callgrind
counts only inside the calls: each runs in ``contextvars.Context.run``, and
``--collect-atstart=no --toggle-collect=context_run`` counts the caller's thread in there
and nowhere else (each thread toggles its own counting). A baseline run with an empty
function in place of the call takes off what ``Context.run`` costs by itself. Before each
call the script waits, uncounted, until the sender said it is idle and, where the kernel
tells (``/proc/self/task/<tid>/wchan``), its thread sleeps in epoll. It counts the
wake-up bytes the sender reads: a run counts only with exactly one per call (a call that
finds the sender idle writes one; nothing else writes meanwhile), the baseline only with
none. Whatever else a call pays stays in: the GIL released and taken back around the
wake-up's ``send``, waiting for it if the sender took it meanwhile, a garbage collection
the call triggers. The row is the median of ``IDLE_RUNS`` runs of ``IDLE_CALLS`` calls
(``--calls`` does not apply to it), printed with each run's figure; ``--rows idle``
runs it alone. Needs ``valgrind`` (Debian: ``apt-get install valgrind``); takes a few
minutes.

    python benchmarks/hot_path_instructions.py [--calls 4000] [--rows track,tracked]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
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
    # Other block shapes, for scale: a block makes its event only when its code uses it.
    "with tracked(), event.set()": (
        "tracked = awake_background_client().tracked",
        'with tracked("add_to_cart", sku=sku, quantity=quantity) as event: event.set(price=price)',
        None,
    ),
    "with tracked(), user_id=": (
        "tracked = awake_background_client().tracked",
        'with tracked("add_to_cart", sku=sku, quantity=quantity, price=price, user_id="u_1"): pass',
        None,
    ),
    "with tracked(), a payload mapping": (
        "tracked = awake_background_client().tracked",
        'with tracked("add_to_cart", {"sku": sku, "quantity": quantity, "price": price}): pass',
        None,
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
    """The program callgrind runs: set-up, three warm-up calls, then ``calls`` counted calls.

    The counted calls run as module code executed through ``contextvars.Context.run``:
    callgrind counts the caller's thread in there only (see :data:`COUNTED_IN`).
    """
    setup, statement, _ = ROWS[row]
    loop = f"for _ in range({calls}):\n    {statement}\n"
    return (
        f"{PRELUDE}\n{setup}\n"
        f"for _ in range(3):\n    {statement}\n"  # first calls fill caches (names, keys)
        # Run as module code (its names read as the set-up's), as the warm-up calls are.
        "import contextvars\n"
        f"counted = compile({loop!r}, 'row', 'exec')\n"
        "contextvars.copy_context().run(exec, counted, globals())\n"
        # No exit hooks: draining (or dropping) what was queued is not the calls' cost.
        "import os; os._exit(0)\n"
    )


def instructions(
    code: str, *, valgrind: Sequence[str] = (), args: Sequence[str] = ()
) -> tuple[int, str]:
    """Instructions of the main (caller's) thread running ``code``: other threads apart.

    Also returns what ``code`` printed. ``valgrind``: more callgrind options; ``args``: the
    program's ``sys.argv[1:]``.
    """
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--separate-threads=yes",
                *valgrind,
                f"--callgrind-out-file={out}",
                sys.executable,
                "-c",
                code,
                *args,
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
        return int(match.group(1)), result.stdout.strip()


#: Counted calls run inside this C function, ``contextvars.Context.run``, and callgrind counts
#: the caller's thread only in there (``--collect-atstart=no --toggle-collect``): the set-up
#: and the warm-up are not counted at all, so their noise cannot reach a row (their count
#: moves by up to ~700,000 instructions from run to run: string-keyed dict lookups, whose
#: probe lengths follow the process's hash seed). Nothing on a row's path calls
#: ``Context.run``: a nested call would toggle counting back off.
COUNTED_IN = "context_run"
COUNTING = ("--collect-atstart=no", f"--toggle-collect={COUNTED_IN}")


def per_call(row: str, calls: int) -> float:
    """Instructions per call of ``row``, the loop included."""
    return instructions(script(row, calls), valgrind=COUNTING)[0] / calls


#: A decorated call into the default background transport that finds the sender idle (events
#: trickling in: each call wakes it), delivering to a local collector for real.
IDLE_ROW = "idle sender: @track_event call"
IDLE_TARGET = 20_000
#: Counted calls per run, and runs (the row is their median; the range is printed beside it).
IDLE_CALLS, IDLE_RUNS = 200, 5

IDLE_SCRIPT = (
    PRELUDE
    + """
import contextvars
import time
import threading
import weespin_instrument as weespin
from weespin_instrument.transports import BackgroundTransport

url, calls, measured = sys.argv[1], int(sys.argv[2]), sys.argv[3]
transport = BackgroundTransport(api_key="k", base_url=url, device_id="ws_device_1")
client = weespin.Client(transport=transport)
add_to_cart = weespin.track_event(
    "add_to_cart", payload_from=["sku", "quantity", "price"], client=client
)(add_to_cart)


def decorated_call():
    add_to_cart(sku, quantity, price)


def nothing():  # the baseline: what running a function in Context.run costs by itself
    pass


class CountedWakeups:
    '''The sender's wake-up pipe, counting the bytes the sender reads off it.'''

    def __init__(self, pipe):
        self.pipe, self.read = pipe, 0

    def drain(self):
        try:
            while data := self.pipe.reader.recv(4096):
                self.read += len(data)
        except OSError:
            pass

    def __getattr__(self, name):
        return getattr(self.pipe, name)


def in_epoll(thread_id):
    '''Whether the thread sleeps in epoll, as its kernel tells (Linux: ``/proc``).'''
    try:
        with open(f"/proc/self/task/{thread_id}/wchan") as file:
            return "epoll" in file.read()
    except OSError:
        return False


def wait_until_idle(epoll, timeout=120.0):
    '''Until the sender said it is idle and, with ``epoll``, its thread sleeps in epoll: a
    call now finds it idle and wakes it. False if ``timeout`` seconds passed first.'''
    deadline = time.monotonic() + timeout
    while not (inbox.idle and (not epoll or in_epoll(sender_thread))):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


for _ in range(20):  # warm up: the interpreter specializes the code it runs
    add_to_cart(sku, quantity, price)
assert client.flush(timeout=300)
inbox, sender_thread = transport._inbox, transport._thread.native_id
assert wait_until_idle(epoll=False), "the sender did not go idle"
epoll_told = wait_until_idle(epoll=True, timeout=5.0)  # does the kernel tell where it sleeps?
wakeups = transport._sender._pipe = CountedWakeups(transport._sender._pipe)
for _ in range(10):  # warm up the idle path (the wake-up) too; none of this is counted
    add_to_cart(sku, quantity, price)
    assert wait_until_idle(epoll_told), "the sender did not go idle"
run, call = contextvars.copy_context().run, {"call": decorated_call, "pass": nothing}[measured]
read_before = wakeups.read
for _ in range(calls):
    run(call)  # counted: the caller's instructions inside Context.run, and only those
    assert wait_until_idle(epoll_told), "the sender did not go idle"
print("wake-up bytes", wakeups.read - read_before, "epoll told", epoll_told)
assert client.flush(timeout=300) and not client.stats().dropped
"""
)


def idle_run(url: str, measured: str) -> tuple[int, str]:
    """One run of the idle-sender program: the counted instructions, and what it checked."""
    args = [url, str(IDLE_CALLS), measured]
    return instructions(IDLE_SCRIPT, valgrind=COUNTING, args=args)


def idle_sender_per_call() -> tuple[float, list[float], bool]:
    """The idle-sender row: the median of ``IDLE_RUNS`` runs, each run's figure, and whether
    the kernel confirmed that the sender's thread slept in epoll before each call.

    Each run's figure is its counted instructions less a baseline run's (``nothing`` in
    place of the call: the same waits, no event), per call. Each call is made once the
    sender is idle; a run counts only if the sender read one wake-up byte per call (a call
    writes one when it finds the sender idle, and nothing else writes meanwhile), the
    baseline only if it read none.
    """
    import delivery

    with delivery.collector() as url, ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda m: idle_run(url, m), ["pass"] + ["call"] * IDLE_RUNS))
    (base, checked), loaded = runs[0], runs[1:]
    assert checked.startswith("wake-up bytes 0 "), f"the baseline woke the sender: {checked}"
    woke = [out.startswith(f"wake-up bytes {IDLE_CALLS} ") for _, out in loaded]
    assert all(woke), f"not one wake-up per call: {[out for _, out in loaded]}"
    figures = [(counted - base) / IDLE_CALLS for counted, _ in loaded]
    in_epoll = all(out.endswith("epoll told True") for _, out in runs)
    return statistics.median(figures), figures, in_epoll


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
    with ThreadPoolExecutor(2) as pool:  # the idle row needs no loop
        rows = ["loop", *wanted] if wanted else []
        loop, *figures = [*pool.map(lambda row: per_call(row, options.calls), rows)] or [0.0]
        counts = dict(zip(wanted, figures, strict=True))
    print(f"instructions per call, caller's thread only, callgrind, {options.calls} calls a row,")
    net_of = f"net of the loop ({loop:,.0f})" if wanted else "the idle row alone"
    print(f"{net_of}; python {sys.version.split()[0]}")
    print(f"{'':46}{'net':>10}{'target':>10}")
    for row in wanted:
        report(row, counts[row] - loop, ROWS[row][2])
    if not options.rows or IDLE_ROW.startswith(prefixes):
        median, figures, in_epoll = idle_sender_per_call()
        report(IDLE_ROW, median, IDLE_TARGET)
        print(
            f"  median of {IDLE_RUNS} runs of {IDLE_CALLS} calls, range "
            f"{min(figures):,.0f}-{max(figures):,.0f}: "
            + ", ".join(f"{figure:,.0f}" for figure in figures)
        )
        print(
            "  each call found the sender idle and woke it (one wake-up byte a call)"
            + ("; its thread slept in epoll" if in_epoll else "")
        )


def report(row: str, net: float, target: int | None) -> None:
    verdict = "" if target is None else f"{target:>10,}  {'OK' if net <= target else 'OVER'}"
    print(f"{row:46}{net:>10,.0f}{verdict}", flush=True)


if __name__ == "__main__":
    main()
