"""ASGIMiddleware: per-visitor identity for Starlette/FastAPI, through httpx.ASGITransport."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

import weespin_instrument as weespin
from weespin_instrument import Client
from weespin_instrument.collector import Collector
from weespin_instrument.context import current_identity
from weespin_instrument.web import ASGIMiddleware

from .conftest import init_requests

pytestmark = pytest.mark.anyio


def identity_json() -> JSONResponse:
    identity = current_identity()
    return JSONResponse(
        {"user_id": identity.user_id, "link_id": identity.link_id, "device_id": identity.device_id}
    )


async def checkout(request: Request) -> JSONResponse:
    weespin.track("add_to_cart", {"sku": "A1"})
    weespin.track("purchase", {"amount": 19.99})
    return identity_json()


def sync_signup(request: Request) -> JSONResponse:  # Starlette runs it in a thread
    weespin.track("signup", {"plan": "pro"})
    return identity_json()


async def browse(request: Request) -> PlainTextResponse:
    return PlainTextResponse("nothing tracked")


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def nested(request: Request) -> JSONResponse:
    with weespin.identify(user_id="override"):
        weespin.track("login")
        return identity_json()


def make_app(**options: Any) -> ASGIMiddleware:
    routes = [
        Route("/checkout", checkout, methods=["POST"]),
        Route("/signup", sync_signup, methods=["POST"]),
        Route("/browse", browse),
        Route("/healthz", healthz),
        Route("/nested", nested),
    ]
    options.setdefault("user_id", lambda scope: _header(scope, b"x-user"))
    options.setdefault("exclude_paths", ["/healthz"])
    return ASGIMiddleware(Starlette(routes=routes), **options)


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode())
    return None


def visitor(app: Any) -> httpx.AsyncClient:
    """One visitor: a browser with its own cookie jar."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.test")


async def test_each_visitor_gets_one_device_kept_by_cookie_and_their_ids_on_every_event(
    client: Client, collector: Collector
) -> None:
    app = make_app()
    jars = [visitor(app) for _ in range(3)]
    for n, jar in enumerate(jars):
        await jar.post("/checkout", params={"link_id": f"lnk_{n}"}, headers={"x-user": f"u_{n}"})
        await jar.post("/signup", headers={"x-user": f"u_{n}"})  # no link in the query
        await jar.post("/checkout", headers={"x-user": f"u_{n}"})
    assert await asyncio.to_thread(client.flush, 10.0)

    assert init_requests(collector) == 3
    events = collector.events()
    assert len(events) == 3 * 5
    for n, jar in enumerate(jars):
        device_id = jar.cookies["weespin_device_id"]
        mine = collector.events(device_id=device_id)
        assert len(mine) == 5
        assert {(e["user_id"], e["link_id"]) for e in mine} == {(f"u_{n}", f"lnk_{n}")}
        await jar.aclose()
    assert len({e["device_id"] for e in events}) == 3


async def test_the_new_visitor_cookie_is_long_lived_http_only_lax_and_secure_on_https(
    client: Client,
) -> None:
    app = make_app()
    async with visitor(app) as jar:
        plain = await jar.post("/checkout")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://shop.test"
    ) as jar:
        secure = await jar.post("/checkout")
    cookie = plain.headers["set-cookie"]
    assert cookie.startswith("weespin_device_id=")
    for attribute in ("Path=/", "Max-Age=63072000", "HttpOnly", "SameSite=Lax"):
        assert attribute in cookie
    assert "Secure" not in cookie
    assert "Secure" in secure.headers["set-cookie"]
    assert plain.json()["device_id"] is None  # not known while the handler ran: lazy


async def test_visitors_who_track_nothing_and_excluded_paths_cause_no_init_and_no_cookie(
    client: Client, collector: Collector
) -> None:
    app = make_app()
    async with visitor(app) as jar:
        browsing = await jar.get("/browse")
        health = await jar.get("/healthz")
        assert "set-cookie" not in browsing.headers
        assert "set-cookie" not in health.headers
    assert await asyncio.to_thread(client.flush, 5.0)
    assert init_requests(collector) == 0


async def test_an_excluded_path_gets_no_visitor_identity(client: Client) -> None:
    async def tracked_health(request: Request) -> JSONResponse:
        return identity_json()

    app = ASGIMiddleware(
        Starlette(routes=[Route("/healthz", tracked_health)]), exclude_paths=["/healthz"]
    )
    async with visitor(app) as jar:
        jar.cookies.set("weespin_device_id", "ws_a")
        answer = await jar.get("/healthz?link_id=lnk_1")
    assert answer.json() == {"user_id": None, "link_id": None, "device_id": None}


async def test_a_device_id_header_is_used_as_is_without_init_or_cookie(
    client: Client, collector: Collector
) -> None:
    app = make_app()
    async with visitor(app) as jar:
        answer = await jar.post("/checkout", headers={"X-Weespin-Device-Id": "ws_mobile_7"})
    assert answer.json()["device_id"] == "ws_mobile_7"
    assert "set-cookie" not in answer.headers
    assert await asyncio.to_thread(client.flush, 5.0)
    assert {e["device_id"] for e in collector.events()} == {"ws_mobile_7"}
    assert init_requests(collector) == 0


async def test_the_request_identity_is_identifys_and_identify_inside_overrides_it(
    client: Client, collector: Collector
) -> None:
    app = make_app()
    async with visitor(app) as jar:
        jar.cookies.set("weespin_device_id", "ws_known")
        answer = await jar.get("/nested", params={"link_id": "lnk_9"}, headers={"x-user": "u_1"})
    assert answer.json() == {"user_id": "override", "link_id": "lnk_9", "device_id": "ws_known"}
    assert "weespin_link_id=lnk_9" in answer.headers["set-cookie"]
    assert "Max-Age" not in answer.headers["set-cookie"]  # kept for the visit (session)


async def test_link_keeping_can_be_switched_off(client: Client, collector: Collector) -> None:
    app = make_app(link_cookie=None)
    async with visitor(app) as jar:
        await jar.post("/checkout", params={"link_id": "lnk_1"})
        await jar.post("/checkout")
    assert await asyncio.to_thread(client.flush, 10.0)
    assert [e["link_id"] for e in collector.events("purchase")] == ["lnk_1", None]
    assert init_requests(collector) == 1


async def test_the_event_loop_keeps_serving_while_a_new_visitors_device_is_initialized(
    client: Client, collector: Collector
) -> None:
    app = make_app()
    collector.set_latency(400)
    async with visitor(app) as newcomer, visitor(app) as other:
        first = asyncio.create_task(newcomer.post("/checkout"))
        await asyncio.sleep(0.1)  # the newcomer's init is now waiting on the slow API
        await other.get("/browse")
        assert not first.done()  # it waits for its cookie; the loop served the other one
        answer = await first
    assert answer.headers["set-cookie"].startswith("weespin_device_id=")
    collector.set_latency(0)


async def test_a_user_id_callable_that_raises_costs_the_user_id_only(
    client: Client, collector: Collector
) -> None:
    def broken(scope: Any) -> str:
        raise LookupError("no session")

    app = make_app(user_id=broken)
    async with visitor(app) as jar:
        answer = await jar.post("/checkout")
    assert answer.status_code == 200
    assert answer.json()["user_id"] is None


def test_bad_options_fail_when_the_middleware_is_built() -> None:
    with pytest.raises(TypeError, match="exclude_paths"):
        ASGIMiddleware(Starlette(), exclude_paths="/healthz")
    with pytest.raises(TypeError, match="user_id"):
        ASGIMiddleware(Starlette(), user_id="u_1")  # type: ignore[arg-type]


async def test_span_derived_events_of_a_new_visitor_wait_for_their_device(
    client: Client, collector: Collector
) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from weespin_instrument.otel import SpanRule, install

    provider = TracerProvider(shutdown_on_exit=False)
    install(provider, rules=[SpanRule("work", event="work_done")])
    tracer = provider.get_tracer("tests.web")

    async def work(request: Request) -> PlainTextResponse:
        with tracer.start_as_current_span("work"):
            pass  # the span ends, and is bridged, before the device is known
        weespin.track("after_work")
        return PlainTextResponse("done")

    app = ASGIMiddleware(Starlette(routes=[Route("/work", work)]))
    async with visitor(app) as jar:
        await jar.get("/work")
    assert await asyncio.to_thread(client.flush, 10.0)
    provider.shutdown()
    device_id = jar.cookies["weespin_device_id"]
    assert {(e["event_name"], e["device_id"]) for e in collector.events()} == {
        ("work_done", device_id),
        ("after_work", device_id),
    }
    assert init_requests(collector) == 1  # the visitor's; no process device


@pytest.fixture
def uvicorn_url(client: Client) -> Any:
    """The test app under a real uvicorn server on a free 127.0.0.1 port."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(make_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10.0)


async def test_a_real_uvicorn_server_gives_one_device_per_visitor_under_concurrency(
    uvicorn_url: str, client: Client, collector: Collector
) -> None:
    browsers = [httpx.AsyncClient(base_url=uvicorn_url) for _ in range(5)]
    await asyncio.gather(
        *(b.post("/checkout", headers={"x-user": f"u_{n}"}) for n, b in enumerate(browsers))
    )
    await asyncio.gather(  # returning visitors, several requests each at once
        *(
            b.post(path, headers={"x-user": f"u_{n}"})
            for n, b in enumerate(browsers)
            for path in ("/checkout", "/signup")
        )
    )
    await asyncio.gather(*(b.get("/browse") for b in browsers))
    assert await asyncio.to_thread(client.flush, 10.0)
    assert init_requests(collector) == 5
    for n, browser in enumerate(browsers):
        mine = collector.events(device_id=browser.cookies["weespin_device_id"])
        assert len(mine) == 5
        assert {e["user_id"] for e in mine} == {f"u_{n}"}
        await browser.aclose()


async def test_under_the_weespin_events_fixture_requests_are_captured_without_any_init(
    weespin_events: Any, collector: Collector
) -> None:
    app = make_app()
    async with visitor(app) as jar:
        answer = await jar.post("/checkout", params={"link_id": "lnk_t"}, headers={"x-user": "u_t"})
    assert "weespin_device_id" not in answer.headers.get("set-cookie", "")
    weespin_events.assert_tracked("purchase", user_id="u_t", link_id="lnk_t", device_id=None)
    assert init_requests(collector) == 0


async def test_a_user_id_callable_returning_something_else_than_a_string_is_ignored_once(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(user_id=lambda scope: object())
    async with visitor(app) as jar:
        for _ in range(2):
            assert (await jar.post("/checkout")).json()["user_id"] is None
    warnings = [r for r in caplog.records if "user_id callable returned a object" in r.message]
    assert len(warnings) == 1


async def test_a_slow_api_costs_new_visitors_one_bounded_wait_then_none(
    client: Client, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(device_wait=0.2)
    collector.set_latency(1000)
    jars = [visitor(app) for _ in range(3)]
    for jar in jars:
        answer = await jar.post("/checkout")
        assert answer.status_code == 200
        assert "set-cookie" not in answer.headers  # the device came too late for the cookie
    slow = [r for r in caplog.records if "responses do not wait" in r.message]
    assert len(slow) == 1  # after the first wait ran out, the others did not wait
    assert await asyncio.to_thread(client.flush, 15.0)
    assert init_requests(collector) == 3
    assert len({e["device_id"] for e in collector.events()}) == 3  # still one each
    for jar in jars:
        await jar.aclose()
    collector.set_latency(0)
