"""``GET /healthz`` and the live HTML page at ``/``."""

from __future__ import annotations

import httpx

from weespin_instrument.collector import Collector


def test_healthz(collector: Collector) -> None:
    response = httpx.get(collector.url + "/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_page_is_self_contained_html_that_polls_the_api(collector: Collector) -> None:
    response = httpx.get(collector.url + "/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<table" in page
    assert "/api/events" in httpx.get(collector.url + "/page.js").text
    assert "http://" not in page
    assert "https://" not in page
    assert all(link.startswith('"/') for link in page.split("href=")[1:]), "same origin only"


def test_unknown_paths_are_404(collector: Collector) -> None:
    assert httpx.get(collector.url + "/nope").status_code == 404
