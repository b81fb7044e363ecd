"""Instructions per call, counted by valgrind's callgrind: a figure the machine's noise can't move.

Timings on a shared VM swing by 2x from one minute to the next; instruction counts do not.
Each row runs a small script twice under callgrind (0 calls, then ``--calls`` calls) and
divides the difference by the number of calls. Needs ``valgrind`` (Debian: ``apt-get install
valgrind``); takes about a minute.

    python benchmarks/hot_path_instructions.py [--calls 4000]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import delivery

SCRIPT = """
import sys
import time
import wrapt
import weespin_instrument as weespin
from weespin_instrument.transports import MemoryTransport

class Discard(MemoryTransport):
    def send(self, event):
        pass

class Order:
    total = 19.99
    currency = "EUR"

def checkout(order, quantity):
    return order

client = weespin.Client(transport=Discard())
fields = {"amount": "order.total", "currency": "order.currency", "quantity": "quantity"}
row = sys.argv[2]
if row == IDLE_ROW:
    client = weespin.Client(
        transport=weespin.transports.BackgroundTransport(
            api_key="k", base_url=sys.argv[3], device_id="ws_device_1"
        )
    )
    call = weespin.track_event("purchase", fields, client=client)(checkout)
    for _ in range(20):  # warm up: the interpreter specializes the code it runs
        call(order := Order(), 2)
    assert client.flush(timeout=300)
    for _ in range(int(sys.argv[1])):  # each call finds the sender idle, and wakes it
        if sys.argv[4] == "call":
            call(order, 2)
        time.sleep(IDLE_PAUSE)  # the sender delivers, lingers, goes idle
    assert client.flush(timeout=300) and not client.stats().dropped
    sys.exit()
elif row == "@track_event, 3 fields":
    call = weespin.track_event("purchase", fields, client=client)(checkout)
elif row == "bare wrapt FunctionWrapper":
    call = wrapt.FunctionWrapper(checkout, lambda wrapped, i, args, kw: wrapped(*args, **kw))
else:
    call = checkout
order = Order()
call(order, 2)
for _ in range(int(sys.argv[1])):
    call(order, 2)
"""
ROWS = ("bare call", "bare wrapt FunctionWrapper", "@track_event, 3 fields")
#: A decorated call into the default background transport that finds the sender idle: net
#: of the loop and its sleeps (a run that only sleeps), caller's thread only.
IDLE_ROW = "@track_event, the sender idle"
#: Seconds between those calls (under valgrind a delivery takes tens of ms), and how many.
IDLE_PAUSE, IDLE_CALLS = 0.15, 100
SCRIPT = f"IDLE_ROW, IDLE_PAUSE = {IDLE_ROW!r}, {IDLE_PAUSE}\n" + SCRIPT


def instructions(calls: int, row: str, *extra: str) -> int:
    """Instructions of the main (caller's) thread: other threads are counted apart."""
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--separate-threads=yes",
                f"--callgrind-out-file={tmp}/out",
                sys.executable,
                "-c",
                SCRIPT,
                str(calls),
                row,
                *extra,
            ],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        main_thread = Path(tmp, "out-01")
        if not main_thread.exists():  # valgrind names a lone thread's file without a suffix
            main_thread = Path(tmp, "out")
        match = re.search(r"^(?:summary|totals): (\d+)", main_thread.read_text(), re.M)
    assert match, result.stderr[-500:]
    return int(match.group(1))


def idle_sender_per_call() -> float:
    """The idle-sender row: calls with pauses, minus the same pauses without calls."""
    with delivery.collector() as url, ThreadPoolExecutor(2) as pool:
        sleep_only, loaded = pool.map(
            lambda mode: instructions(IDLE_CALLS, IDLE_ROW, url, mode), ("sleep", "call")
        )
    return (loaded - sleep_only) / IDLE_CALLS


def per_call(row: str, calls: int) -> float:
    with ThreadPoolExecutor(2) as pool:
        base, loaded = pool.map(lambda n: instructions(n, row), (0, calls))
    return (loaded - base) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    calls = parser.parse_args().calls
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    results = {row: per_call(row, calls) for row in ROWS}
    results[IDLE_ROW] = idle_sender_per_call()
    bare = results["bare call"]
    print(f"instructions per call, callgrind, {calls} calls per row")
    for row, count in results.items():
        print(f"{row:32}{count:>10,.0f}{count / bare:>8.1f}x bare")


if __name__ == "__main__":
    main()
