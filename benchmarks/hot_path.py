"""What a decorated call costs the caller, next to a bare call and to other analytics SDKs.

Every row is measured in this one run (the machine is shared and noisy: read the ratios):
the bare function, a bare ``functools.wraps`` decorator, a bare wrapt decorator,
``@track_event`` with three extracted fields into ``MemoryTransport`` and into the default
background transport (delivering for real to a local collector in another process), a
``tracked()`` block, and, when the ``[bench]`` extra is installed, Segment's ``track()`` and
PostHog's ``capture()`` with a comparable event (their consumers post to the same local
collector, which answers 404 to their paths: their caller-side cost is what counts here).

Targets: ``@track_event`` with three fields and validation adds at most 3 µs over the bare
call, and costs less than a fifth of the cheapest SDK measured here.

    pip install -e '.[bench]' && python benchmarks/hot_path.py [--calls 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

import wrapt
from delivery import collector  # the local collector in its own process

import weespin_instrument as weespin
from weespin_instrument.transports import BackgroundTransport, MemoryTransport


@dataclasses.dataclass
class Order:
    id: str
    total: float
    currency: str


def checkout(order: Order, quantity: int) -> Order:
    return order


def per_call_us(func: Callable[[], object], calls: int, repeat: int) -> float:
    """Best of ``repeat`` runs of ``calls`` calls, in µs per call."""
    return min(timeit.repeat(func, number=calls, repeat=repeat)) / calls * 1e6


def rows(url: str, calls: int) -> tuple[dict[str, Callable[[], object]], Callable[[], object]]:
    """The rows to time, and a function that waits until the senders have gone quiet."""
    order = Order("o_1", 19.99, "EUR")
    fields = {"amount": "order.total", "currency": "order.currency", "quantity": "quantity"}

    memory_client = weespin.Client(transport=MemoryTransport())
    memory_client.transport.events = _Discard()  # type: ignore[attr-defined]
    in_memory = weespin.track_event("purchase", fields, client=memory_client)(checkout)

    background = BackgroundTransport(api_key="bench-key", base_url=url, max_queue=calls * 10)
    background_client = weespin.Client(transport=background)
    in_background = weespin.track_event("purchase", fields, client=background_client)(checkout)

    @functools.wraps(checkout)
    def functools_wrapper(*args: Any, **kwargs: Any) -> Order:
        return checkout(*args, **kwargs)

    @wrapt.decorator  # type: ignore[misc]
    def passthrough(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return wrapped(*args, **kwargs)

    bare_wrapt = passthrough(checkout)

    def block() -> None:
        with weespin.tracked("purchase", client=memory_client) as event:
            event.set(amount=order.total, currency=order.currency, quantity=2)

    table: dict[str, Callable[[], object]] = {
        "bare call": lambda: checkout(order, 2),
        "functools.wraps decorator": lambda: functools_wrapper(order, 2),
        "wrapt decorator": lambda: bare_wrapt(order, 2),
        "@track_event, 3 fields -> memory": lambda: in_memory(order, 2),
        "tracked() block -> memory": block,
        "@track_event, 3 fields -> background": lambda: in_background(order, 2),
    }
    table.update(_peers(url, order))

    def settle() -> None:
        background_client.flush(timeout=120)
        time.sleep(1.0)  # and let the collector process finish writing what it received

    return table, settle


class _Discard(list):  # type: ignore[type-arg]
    """Keeps MemoryTransport from growing without bound during the benchmark."""

    def append(self, item: object) -> None:
        pass


def _peers(url: str, order: Order) -> dict[str, Callable[[], object]]:
    peers: dict[str, Callable[[], object]] = {}
    properties = {"amount": order.total, "currency": order.currency, "quantity": 2}
    try:
        from segment.analytics import Client as SegmentClient
    except ImportError:
        print("(segment-analytics-python not installed: pip install -e '.[bench]')")
    else:
        segment = SegmentClient("bench-key", host=url, max_queue_size=10**7)
        peers["Segment track()"] = lambda: segment.track("u_1", "purchase", properties)
    try:
        from posthog import Posthog
    except ImportError:
        print("(posthog not installed: pip install -e '.[bench]')")
    else:
        posthog = Posthog("bench-key", host=url, max_queue_size=10**7)
        peers["PostHog capture()"] = lambda: posthog.capture(
            "purchase", distinct_id="u_1", properties=properties
        )
    return peers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    with collector() as url:
        table, settle = rows(url, options.calls)
        results = {}
        for name, func in table.items():
            results[name] = per_call_us(func, options.calls, options.repeat)
            settle()  # the next row must not share the CPU with this one's deliveries
    bare = results["bare call"]
    print(f"python {sys.version.split()[0]}; best of {options.repeat} x {options.calls} calls")
    print(f"{'':40}{'µs/call':>10}{'added':>10}{'x bare':>9}")
    for name, us in results.items():
        print(f"{name:40}{us:>10.2f}{us - bare:>10.2f}{us / bare:>9.1f}")
    ours = results["@track_event, 3 fields -> memory"] - bare
    print(f"\n@track_event adds {ours:.2f} µs per call (target: at most 3 µs)")
    sdk = {k: v for k, v in results.items() if k.startswith(("Segment", "PostHog"))}
    if sdk:
        cheapest, cost = min(sdk.items(), key=lambda item: item[1])
        print(
            f"cheapest SDK: {cheapest} {cost:.2f} µs; @track_event -> background costs "
            f"{results['@track_event, 3 fields -> background'] / cost:.2f}x of it "
            "(target: under 0.2x)"
        )


if __name__ == "__main__":
    main()
