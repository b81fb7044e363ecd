"""FastAPI: per-visitor identity, decorated async endpoints, OpenTelemetry bridged.

Run it with ``python examples/web_fastapi.py``: no account and no network needed. It starts
the embedded collector and the app under a real uvicorn server, both on free 127.0.0.1
ports, then plays two visitors, each a browser with its own cookies:

- ``ASGIMiddleware`` gives every request its visitor's identity: a new visitor who tracks
  something gets one device from the API (once) and keeps it in a cookie; ``user_id`` comes
  from the app's callable; ``?link_id=`` is kept for the visit;
- endpoints are tracked with ``@weespin.track_event``;
- FastAPI's OpenTelemetry instrumentation makes the spans; a ``SpanRule`` turns the
  ``POST /checkout`` server span into a ``checkout_span`` event (not the inner
  ``http send`` / ``http receive`` spans), delivered by the same client.

It prints what the collector stored and checks it.
"""

from __future__ import annotations

import socket
import threading
import time

import httpx
import uvicorn
from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

import weespin_instrument as weespin
from weespin_instrument.collector import Collector
from weespin_instrument.otel import SpanRule, install
from weespin_instrument.web import ASGIMiddleware

app = FastAPI()


@app.post("/cart")
@weespin.track_event("add_to_cart", payload_from=["sku"])
async def add_to_cart(sku: str) -> dict[str, str]:
    return {"added": sku}


@app.post("/checkout")
@weespin.track_event("purchase", payload_from={"amount": "total"})
async def checkout(total: float) -> dict[str, float]:
    return {"paid": total}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def user_of(scope: dict[str, object]) -> str | None:
    """The app's own idea of who is logged in (a header here; a session in real apps)."""
    for name, value in scope["headers"]:  # type: ignore[attr-defined]
        if name == b"x-user":
            return str(value.decode())
    return None


provider = TracerProvider()
FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
app.add_middleware(ASGIMiddleware, user_id=user_of, exclude_paths=["/healthz"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    with Collector() as collector:
        weespin.configure(api_key="web-example-key", base_url=collector.url)
        install(
            provider,
            rules=[SpanRule("POST /checkout*", event="checkout_span", kind=SpanKind.SERVER)],
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        for _ in range(200):  # bounded wait for the server to accept requests
            if server.started:
                break
            time.sleep(0.05)
        url = f"http://127.0.0.1:{server.config.port}"
        try:
            for name in ("ana", "bob"):
                with httpx.Client(base_url=url, headers={"X-User": name}) as browser:
                    browser.get("/healthz")  # excluded: no identity, no device
                    browser.post("/cart", params={"sku": f"SKU-{name}", "link_id": f"lnk_{name}"})
                    browser.post("/checkout", params={"total": 19.99})
                    print(
                        f"{name}: cookie weespin_device_id={browser.cookies['weespin_device_id']}"
                    )
            delivered = weespin.flush(timeout=10.0)
        finally:
            server.should_exit = True
            thread.join(10.0)
        rows = collector.events()
        print(f"Weespin events (what the collector at {collector.url} stored):")
        for row in rows:
            print(
                f"  {row['event_name']:<14} device={row['device_id']} user={row['user_id']}"
                f" link={row['link_id']} payload={row['payload']}"
            )
        inits = sum(1 for r in collector.request_log if r["path"] == "/initialize-device")
        print(f"device initializations: {inits}; delivered: {delivered}")
        weespin.shutdown()
        provider.shutdown()

        by_user: dict[str, set[tuple[str, str]]] = {}
        for row in rows:
            by_user.setdefault(row["user_id"], set()).add((row["device_id"], row["link_id"]))
        names = sorted(row["event_name"] for row in rows)
        expected = sorted(["add_to_cart", "purchase", "checkout_span"] * 2)
        if not delivered or inits != 2 or names != expected:
            raise SystemExit(f"web_fastapi: unexpected events {names} or {inits} inits")
        if any(len(pairs) != 1 for pairs in by_user.values()) or len(by_user) != 2:
            raise SystemExit(f"web_fastapi: a visitor's events disagree: {by_user}")


if __name__ == "__main__":
    main()
