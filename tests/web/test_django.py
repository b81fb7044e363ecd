"""WeespinMiddleware: per-visitor identity in Django, sync and async views, via its test client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from weespin_instrument import Client
from weespin_instrument.collector import Collector

from . import django_site
from .conftest import init_requests

pytestmark = pytest.mark.anyio

django_site.setup()

from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.test import AsyncClient, override_settings  # noqa: E402
from django.test import Client as DjangoClient  # noqa: E402

from weespin_instrument.django import WeespinMiddleware  # noqa: E402

BY_HEADER = {
    "USER_ID": lambda request: request.headers.get("X-User"),
    "EXCLUDE_PATHS": ["/healthz"],
}


@override_settings(WEESPIN=BY_HEADER)
def test_each_visitor_of_sync_views_gets_one_device_and_their_ids(
    client: Client, collector: Collector
) -> None:
    browsers = [DjangoClient() for _ in range(3)]  # each with its own cookies
    for n, browser in enumerate(browsers):
        browser.post(f"/checkout?link_id=lnk_{n}", headers={"X-User": f"u_{n}"})
        browser.post("/checkout", headers={"X-User": f"u_{n}"})
        browser.get("/browse")
    assert client.flush(10.0)
    assert init_requests(collector) == 3
    for n, browser in enumerate(browsers):
        device_id = browser.cookies["weespin_device_id"].value
        mine = collector.events(device_id=device_id)
        assert len(mine) == 4
        assert {(e["user_id"], e["link_id"]) for e in mine} == {(f"u_{n}", f"lnk_{n}")}


@override_settings(WEESPIN=BY_HEADER)
async def test_each_visitor_of_async_views_gets_one_device_and_their_ids(
    client: Client, collector: Collector
) -> None:
    browsers = [AsyncClient() for _ in range(3)]
    for n, browser in enumerate(browsers):
        await browser.post(f"/checkout-async?link_id=lnk_{n}", headers={"X-User": f"u_{n}"})
        await browser.post("/checkout", headers={"X-User": f"u_{n}"})  # a sync view, async stack
    assert await asyncio.to_thread(client.flush, 10.0)
    assert init_requests(collector) == 3
    for n, browser in enumerate(browsers):
        mine = collector.events(device_id=browser.cookies["weespin_device_id"].value)
        assert len(mine) == 4
        assert {(e["user_id"], e["link_id"]) for e in mine} == {(f"u_{n}", f"lnk_{n}")}


def test_the_default_user_id_is_the_authenticated_users_pk(
    client: Client, collector: Collector
) -> None:
    browser = DjangoClient()
    assert browser.post("/checkout", headers={"X-Login": "42"}).json()["user_id"] == "42"
    assert browser.post("/checkout").json()["user_id"] is None


def test_cookie_attributes_and_no_init_for_excluded_paths_or_visitors_tracking_nothing(
    client: Client, collector: Collector
) -> None:
    browser = DjangoClient()
    assert not browser.get("/healthz").cookies
    assert not browser.get("/browse").cookies
    assert client.flush(5.0)
    assert init_requests(collector) == 0
    cookie = browser.post("/checkout").cookies["weespin_device_id"]
    assert (cookie["httponly"], cookie["samesite"], cookie["path"]) == (True, "Lax", "/")
    assert int(cookie["max-age"]) == 63072000
    assert not cookie["secure"]
    secure = DjangoClient().post("/checkout", secure=True).cookies["weespin_device_id"]
    assert secure["secure"]


@override_settings(WEESPIN={"DEVICE_HEADER": "X-Device", "LINK_PARAM": "ref", "DEVICE_COOKIE": "d"})
def test_header_cookie_and_link_names_come_from_settings(
    client: Client, collector: Collector
) -> None:
    browser = DjangoClient()
    browser.post("/checkout?ref=lnk_r", headers={"X-Device": "ws_app_1"})
    assert client.flush(5.0)
    assert {(e["device_id"], e["link_id"]) for e in collector.events()} == {("ws_app_1", "lnk_r")}
    assert init_requests(collector) == 0


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"USER_ID": "request.user"}, "USER_ID"),
        ({"DEVICE_COOKIES": "x"}, "unknown key"),
        ({"EXCLUDE_PATHS": "/healthz"}, "exclude_paths"),
    ],
)
def test_bad_settings_are_refused_when_django_loads_the_middleware(
    conf: dict[str, Any], message: str
) -> None:
    with override_settings(WEESPIN=conf), pytest.raises(ImproperlyConfigured, match=message):
        WeespinMiddleware(lambda request: None)
