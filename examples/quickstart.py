"""Quickstart: track events through the real HTTP path into a local Weespin-compatible collector.

Run it with ``python examples/quickstart.py``: no account and no network needed. It starts
the embedded collector on a free 127.0.0.1 port, points the library at it, tracks a few
events, and prints what the collector stored in its SQLite database.
"""

from __future__ import annotations

import json

import weespin_instrument as weespin
from weespin_instrument.collector import Collector


def main() -> None:
    with Collector() as collector:
        weespin.configure(api_key="quickstart-local-key", base_url=collector.url)

        weespin.track("open_app", {"screen": "home"})
        with weespin.identify(user_id="u_42", link_id="lnk_9f3"):
            weespin.track("add_to_cart", {"sku": "SKU-1", "quantity": 2})
            weespin.track("purchase", {"amount": 19.99, "currency": "EUR", "order_id": "o_1"})
        weespin.track("share_link", {"channel": "email"}, user_id="u_42")

        delivered = weespin.flush(timeout=10.0)
        print(f"delivered: {delivered}; stats: {weespin.stats()}")
        print(f"collector at {collector.url} stored:")
        for row in collector.events():
            identity = f"device={row['device_id']} user={row['user_id']} link={row['link_id']}"
            print(
                f"  #{row['seq']} {row['event_name']:<12} {identity} {json.dumps(row['payload'])}"
            )
        weespin.shutdown()
        if not delivered or len(collector.events()) != 4:
            raise SystemExit("quickstart: not every event reached the collector")


if __name__ == "__main__":
    main()
