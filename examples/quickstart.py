"""Quickstart: track events through the real HTTP path into a local Weespin-compatible collector.

Run it with ``python examples/quickstart.py``: no account and no network needed.

- With ``WEESPIN_BASE_URL`` exported (the collector you started with
  ``weespin-instrument collector``), the events go there, and stay: see them with
  ``weespin-instrument events`` or on the collector's page.
- Without it, the script starts an embedded collector on a free 127.0.0.1 port for the length
  of the run, and prints what it stored before stopping it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import weespin_instrument as weespin
from weespin_instrument.collector import Collector


def track_a_few_events() -> bool:
    """The part that is your application: four events, then wait until they left."""
    weespin.track("open_app", {"screen": "home"})
    with weespin.identify(user_id="u_42", link_id="lnk_9f3"):
        weespin.track("add_to_cart", {"sku": "SKU-1", "quantity": 2})
        weespin.track("purchase", {"amount": 19.99, "currency": "EUR", "order_id": "o_1"})
    weespin.track("share_link", {"channel": "email"}, user_id="u_42")
    delivered = weespin.flush(timeout=10.0)
    print(f"delivered: {delivered}; stats: {weespin.stats()}")
    return delivered


def print_rows(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        identity = f"device={row['device_id']} user={row['user_id']} link={row['link_id']}"
        print(f"  #{row['seq']} {row['event_name']:<12} {identity} {json.dumps(row['payload'])}")


def to_your_collector(base_url: str) -> None:
    weespin.configure()  # WEESPIN_BASE_URL and WEESPIN_API_KEY from the environment
    delivered = track_a_few_events()
    weespin.shutdown()
    if not delivered:
        raise SystemExit(f"quickstart: not every event reached {base_url}")
    print(f"sent to {base_url}: see them with `weespin-instrument events` or at {base_url}/")


def to_an_embedded_collector() -> None:
    with Collector() as collector:
        weespin.configure(api_key="quickstart-local-key", base_url=collector.url)
        delivered = track_a_few_events()
        weespin.shutdown()
        rows = collector.events()
        print("an embedded collector (it stops with this script) stored:")
        print_rows(rows)
    if not delivered or len(rows) != 4:
        raise SystemExit("quickstart: not every event reached the collector")
    print(
        "To keep your events and watch them live, run `weespin-instrument collector` in "
        "another terminal, export the two lines it prints, and run this script again."
    )


def main() -> None:
    base_url = os.environ.get("WEESPIN_BASE_URL")
    if base_url:
        os.environ.setdefault("WEESPIN_API_KEY", "dev")  # a local collector takes any key
        to_your_collector(base_url)
    else:
        to_an_embedded_collector()


if __name__ == "__main__":
    main()
