"""WSGIMiddleware: per-visitor identity for Flask, through its test client and a real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask, jsonify
from werkzeug.serving import make_server

import weespin_instrument as weespin
from weespin_instrument import Client
from weespin_instrument.collector import Collector
from weespin_instrument.context import current_identity
from weespin_instrument.web import WSGIMiddleware

from .conftest import init_requests


def make_app(**options: Any) -> Flask:
    app = Flask(__name__)

    @app.post("/checkout")
    def checkout() -> Any:
        weespin.track("add_to_cart", {"sku": "A1"})
        weespin.track("purchase", {"amount": 19.99})
        identity = current_identity()
        return jsonify(user_id=identity.user_id, link_id=identity.link_id)

    @app.get("/browse")
    def browse() -> str:
        return "nothing tracked"

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    @app.get("/stream")
    def stream() -> Any:
        def chunks() -> Iterator[str]:
            weespin.track("download_started")  # runs while the body is iterated
            yield "a"
            yield "b"

        return app.response_class(chunks())

    options.setdefault("user_id", lambda environ: environ.get("HTTP_X_USER"))
    options.setdefault("exclude_paths", ["/healthz"])
    app.wsgi_app = WSGIMiddleware(app.wsgi_app, **options)  # type: ignore[method-assign]
    return app


def test_each_flask_visitor_gets_one_device_and_their_ids_on_every_event(
    client: Client, collector: Collector
) -> None:
    app = make_app()
    visitors = [app.test_client() for _ in range(3)]  # each with its own cookie jar
    for n, browser in enumerate(visitors):
        browser.post(
            "/checkout", query_string={"link_id": f"lnk_{n}"}, headers={"X-User": f"u_{n}"}
        )
        browser.post("/checkout", headers={"X-User": f"u_{n}"})
        browser.get("/browse")
    assert client.flush(10.0)

    assert init_requests(collector) == 3
    for n, browser in enumerate(visitors):
        cookie = browser.get_cookie("weespin_device_id")
        assert cookie is not None
        mine = collector.events(device_id=cookie.value)
        assert len(mine) == 4
        assert {(e["user_id"], e["link_id"]) for e in mine} == {(f"u_{n}", f"lnk_{n}")}


def test_flask_visitors_who_track_nothing_or_hit_excluded_paths_cost_no_init(
    client: Client, collector: Collector
) -> None:
    browser = make_app().test_client()
    assert "Set-Cookie" not in browser.get("/browse").headers
    assert "Set-Cookie" not in browser.get("/healthz").headers
    assert client.flush(5.0)
    assert init_requests(collector) == 0


def test_events_tracked_while_the_body_streams_carry_the_visitors_identity(
    client: Client, collector: Collector
) -> None:
    browser = make_app().test_client()
    browser.set_cookie("weespin_device_id", "ws_streamer")
    assert browser.get("/stream", headers={"X-User": "u_s"}).data == b"ab"
    assert client.flush(5.0)
    [event] = collector.events("download_started")
    assert (event["device_id"], event["user_id"]) == ("ws_streamer", "u_s")


@pytest.fixture
def served(client: Client) -> Iterator[str]:
    """The Flask app behind a real threaded WSGI server on 127.0.0.1."""
    server = make_server("127.0.0.1", 0, make_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5.0)


def test_a_real_wsgi_server_gives_one_device_per_visitor_over_concurrent_requests(
    served: str, client: Client, collector: Collector
) -> None:
    browsers = [httpx.Client(base_url=served) for _ in range(4)]
    for n, browser in enumerate(browsers):
        browser.post("/checkout", headers={"X-User": f"u_{n}"})  # first visit: a cookie
    threads = [
        threading.Thread(
            target=browser.post, args=("/checkout",), kwargs={"headers": {"X-User": f"u_{n}"}}
        )
        for n, browser in enumerate(browsers)
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10.0)
    assert client.flush(10.0)
    assert init_requests(collector) == 4
    for n, browser in enumerate(browsers):
        mine = collector.events(device_id=browser.cookies["weespin_device_id"])
        assert len(mine) == 8
        assert {e["user_id"] for e in mine} == {f"u_{n}"}
        browser.close()
