"""The example Django project end to end: ``python examples/django_app/demo.py``.

No account and no network needed: it starts the embedded collector, points the library at
it, serves the project with a real WSGI server (wsgiref, threaded) on a free 127.0.0.1
port, and plays two visitors with their own cookies. Prints what the collector stored.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    from weespin_instrument.collector import Collector

    with Collector() as collector:
        os.environ["WEESPIN_API_KEY"] = "django-example-key"
        os.environ["WEESPIN_BASE_URL"] = collector.url
        from shop.wsgi import application

        import weespin_instrument as weespin

        server = make_server(
            "127.0.0.1", 0, application, server_class=ThreadingServer, handler_class=QuietHandler
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_port}"
        try:
            for name in ("ana", "bob"):
                with httpx.Client(base_url=url, headers={"X-User": name}) as browser:
                    browser.get("/healthz")
                    browser.get("/cart", params={"sku": f"SKU-{name}", "link_id": f"lnk_{name}"})
                    browser.get("/checkout", params={"total": "19.99"})
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
                f"  {row['event_name']:<12} device={row['device_id']} user={row['user_id']}"
                f" link={row['link_id']} payload={row['payload']}"
            )
        inits = sum(1 for r in collector.request_log if r["path"] == "/initialize-device")
        print(f"device initializations: {inits}; delivered: {delivered}")
        weespin.shutdown()
        pairs = {(row["user_id"], row["device_id"], row["link_id"]) for row in rows}
        if not delivered or inits != 2 or len(rows) != 4 or len(pairs) != 2:
            raise SystemExit(f"django_app: unexpected result: {inits} inits, {rows}")


if __name__ == "__main__":
    main()
