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
from concurrent.futures import ThreadPoolExecutor

SCRIPT = """
import sys
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
if row == "@track_event, 3 fields":
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


def instructions(calls: int, row: str) -> int:
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            SCRIPT,
            str(calls),
            row,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", result.stderr)
    assert match, result.stderr[-500:]
    return int(match.group(1))


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
    bare = results["bare call"]
    print(f"instructions per call, callgrind, {calls} calls per row")
    for row, count in results.items():
        print(f"{row:32}{count:>10,.0f}{count / bare:>8.1f}x bare")


if __name__ == "__main__":
    main()
