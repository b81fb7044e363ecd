"""Flask: per-visitor identity with one line, under a real threaded WSGI server.

Run it with ``python examples/web_flask.py``: no account and no network needed. It starts
the embedded collector and the app (werkzeug's threaded server; gunicorn works the same,
see docs/web.md), both on free 127.0.0.1 ports, then plays two visitors with their own
cookies. Each visitor who tracks something gets one device (one round trip to the API,
once); the one who only browses gets none; ``/healthz`` is excluded.
"""

from __future__ import annotations

import logging
import threading

import httpx
from flask import Flask, request
from werkzeug.serving import make_server

import weespin_instrument as weespin
from weespin_instrument.collector import Collector
from weespin_instrument.web import WSGIMiddleware

app = Flask(__name__)


@weespin.track_event("purchase", payload_from={"amount": "total"})
def pay(total: float) -> str:
    return f"paid {total}"


@app.post("/checkout")
def checkout() -> str:
    return pay(float(request.args["total"]))


@app.get("/about")
def about() -> str:
    return "nothing tracked here"


@app.get("/healthz")
def healthz() -> str:
    return "ok"


# The one line: every request gets its visitor's identity.
app.wsgi_app = WSGIMiddleware(  # type: ignore[method-assign]
    app.wsgi_app,
    user_id=lambda environ: environ.get("HTTP_X_USER"),
    exclude_paths=["/healthz"],
)


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the output
    with Collector() as collector:
        weespin.configure(api_key="web-example-key", base_url=collector.url)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_port}"
        try:
            for name in ("ana", "bob"):
                with httpx.Client(base_url=url, headers={"X-User": name}) as browser:
                    browser.get("/healthz")
                    browser.post("/checkout", params={"total": 10, "link_id": f"lnk_{name}"})
                    browser.post("/checkout", params={"total": 20})
                    print(
                        f"{name}: cookie weespin_device_id={browser.cookies['weespin_device_id']}"
                    )
            with httpx.Client(base_url=url) as lurker:
                lurker.get("/about")
                print(f"lurker: cookies {dict(lurker.cookies)}")
            delivered = weespin.flush(timeout=10.0)
        finally:
            server.shutdown()
            thread.join(10.0)
        rows = collector.events()
        print(f"Weespin events (what the collector at {collector.url} stored):")
        for row in rows:
            print(
                f"  {row['event_name']:<9} device={row['device_id']} user={row['user_id']}"
                f" link={row['link_id']} payload={row['payload']}"
            )
        inits = sum(1 for r in collector.request_log if r["path"] == "/initialize-device")
        print(f"device initializations: {inits}; delivered: {delivered}")
        weespin.shutdown()
        pairs = {(row["user_id"], row["device_id"], row["link_id"]) for row in rows}
        if not delivered or inits != 2 or len(rows) != 4 or len(pairs) != 2:
            raise SystemExit(f"web_flask: unexpected result: {inits} inits, {rows}")


if __name__ == "__main__":
    main()
