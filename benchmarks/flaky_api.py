"""Events lost to a flaky API with the default retry budget: the figures of docs/delivery.md.

An API answering 503 to a random share of requests (the raw-socket fault server of the
tests, on 127.0.0.1), 2,000 events each, default settings. Prints, per failure rate, what
was sent and lost, the retries, and the time until every event was settled. Bounded: at
most two minutes per rate.

    .venv/bin/python benchmarks/flaky_api.py [--events 2000] [--rates 0.5 0.7]
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _faults import FaultServer, Request, Status

from weespin_instrument import Client
from weespin_instrument.transports import BackgroundTransport


def run(rate: float, events: int, seed: int) -> str:
    rng = random.Random(seed)
    lock = threading.Lock()

    def rule(request: Request) -> Status | None:
        with lock:
            return Status(503) if rng.random() < rate else None

    with FaultServer(rule) as server:
        transport = BackgroundTransport(api_key="k", base_url=server.url, device_id="d")
        client = Client(transport=transport)
        started = time.monotonic()
        for n in range(events):
            client.track("open_app", {"n": n})
        settled = client.flush(timeout=120.0)
        spent = time.monotonic() - started
        stats = client.stats()
        client.shutdown()
    lost = stats.dropped.get("delivery_failed", 0)
    return (
        f"{rate:.0%} random 503: {events} events, sent {stats.sent}, lost {lost} "
        f"({lost / events:.3%}), retried {stats.retried}, settled={settled} in {spent:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.5, 0.7])
    args = parser.parse_args()
    for n, rate in enumerate(args.rates):
        print(run(rate, args.events, seed=n + 1), flush=True)


if __name__ == "__main__":
    main()
