"""The live page in a real headless Chromium: what a developer sees at the collector's ``/``."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import weespin_instrument as weespin
from weespin_instrument.collector import Collector

from ._browser import Browser, Page, chromium_path

DEVICE = "ws_device_0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Debian's chromium is not installed (.ci/run apt-installs it)")
    started = Browser(executable)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    tab = browser.new_page()
    try:
        yield tab
    finally:
        tab.close()


def client_for(collector: Collector) -> weespin.Client:
    return weespin.Client(
        api_key="dev", base_url=collector.url, transport="sync", device_id=DEVICE, strict=True
    )


def post(collector: Collector, name: str, **fields: object) -> None:
    body = {"event_name": name, "device_id": DEVICE, **fields}
    response = httpx.post(collector.url + "/events", json=body, headers={"Authorization": "k"})
    assert response.status_code == 200, response.text


ROW_NAMES = "[...document.querySelectorAll('#rows td.c-name')].map(td => td.textContent)"
STATUS = "document.getElementById('status').textContent"


def test_an_event_tracked_in_the_test_appears_on_the_page(collector: Collector, page: Page) -> None:
    page.goto(collector.url + "/")
    page.wait_for("document.getElementById('status').textContent.includes('0 events')")

    client = client_for(collector)
    client.track("purchase", {"amount": 19.99, "currency": "EUR"}, user_id="u_42")
    client.shutdown()

    assert page.wait_for(f"{ROW_NAMES}.join() === 'purchase' && {ROW_NAMES}") == ["purchase"]
    cells = page.evaluate(
        "[...document.querySelectorAll('#rows tr:first-child td')].map(td => td.textContent)"
    )
    seq, received, name, user, device, link, payload = cells
    assert (seq, name, user, link) == ("1", "purchase", "u_42", "\u2013")
    assert len(received) == 8 and received.count(":") == 2, "compact time, hh:mm:ss"
    assert device == "ws_device_\u2026abcdef", "ids are shortened, the end kept"
    assert payload == "amount=19.99currency=EUR"
    post(collector, "order", payload={"zip": "019", "n": 19, "flag": "true", "plan": "pro"})
    page.wait_for(f"{ROW_NAMES}.length === 2")
    assert page.evaluate("document.querySelector('#rows td.c-payload').textContent") == (
        'zip="019"n=19flag="true"plan=pro'
    ), "a string that reads like a number keeps its quotes"
    assert "UTC" in page.evaluate("document.querySelector('th.c-time').textContent")
    assert page.evaluate("document.querySelector('#rows td.c-device').title") == DEVICE


def test_hostile_payload_text_stays_text(collector: Collector, page: Page) -> None:
    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'
    post(collector, "<i>name</i>", user_id="<u>", payload={"note": hostile, "<k>": "v"})
    page.goto(collector.url + "/")
    page.wait_for(f"{ROW_NAMES}.length === 1")

    assert page.evaluate("document.querySelectorAll('#rows img, #rows script, #rows b, "
                         "#rows i, #rows u, #rows k').length") == 0  # fmt: skip
    assert page.evaluate("window.pwned === undefined")
    text = page.evaluate("document.getElementById('rows').textContent")
    assert hostile in text and "<i>name</i>" in text and "<k>=" in text


def test_the_filters_filter(collector: Collector, page: Page) -> None:
    post(collector, "signup", user_id="u_1", payload={"plan": "pro"})
    post(collector, "purchase", user_id="u_1", link_id="lnk_9", payload={"sku": "blue-shoe"})
    post(collector, "signup", user_id="u_2", payload={"plan": "free"})
    page.goto(collector.url + "/")
    page.wait_for(f"{ROW_NAMES}.length === 3")

    def filter_by(field: str, value: str) -> None:
        page.evaluate(
            f"(() => {{ const input = document.querySelector('#filters [name={field}]');"
            f" input.value = {json.dumps(value)};"
            " input.dispatchEvent(new Event('input', {bubbles: true})); })()"
        )

    filter_by("name", "signup")
    assert page.wait_for(f"{ROW_NAMES}.join() === 'signup,signup' && {STATUS}").startswith(
        "2 matching events"
    )
    filter_by("user_id", "u_2")
    page.wait_for(f"{ROW_NAMES}.join() === 'signup' && {STATUS}.startsWith('1 matching')")
    filter_by("name", "")
    filter_by("user_id", "")
    filter_by("q", "blue-sh")
    page.wait_for(f"{ROW_NAMES}.join() === 'purchase'")
    filter_by("q", "")
    filter_by("link_id", "lnk_9")
    page.wait_for("location.search === '?link_id=lnk_9'"), "the filters are in the address"
    page.wait_for(f"{ROW_NAMES}.join() === 'purchase'")
    filter_by("link_id", "nothing-like-it")
    page.wait_for("!document.getElementById('nomatch').hidden")
    assert page.evaluate("document.getElementById('empty').hidden")

    post(collector, "signup", link_id="nothing-like-it")
    page.wait_for(f"{ROW_NAMES}.join() === 'signup'"), "new matching events still arrive"


def test_latest_n_of_m_is_true_from_the_first_load(collector: Collector, page: Page) -> None:
    client = weespin.Client(api_key="dev", base_url=collector.url, device_id=DEVICE)
    for n in range(503):
        client.track("tick", {"n": n})
    assert client.flush(timeout=30.0)
    client.shutdown()
    page.goto(collector.url + "/")

    assert page.wait_for(f"{STATUS}.startsWith('latest') && {STATUS}").startswith(
        "latest 500 of 503 events"
    )
    assert page.evaluate("document.querySelectorAll('#rows tr').length") == 500
    assert page.evaluate("document.querySelector('#rows td.c-seq').textContent") == "503"


def test_an_empty_collector_shows_how_to_send_a_first_event(
    collector: Collector, page: Page
) -> None:
    page.goto(collector.url + "/")
    page.wait_for("!document.getElementById('empty').hidden")

    steps = page.evaluate("document.getElementById('first-steps').textContent").splitlines()
    assert steps == [
        f"export WEESPIN_BASE_URL={collector.url} WEESPIN_API_KEY=dev",
        "weespin-instrument send signup plan=pro",
    ]
    post(collector, "signup")
    page.wait_for("document.getElementById('empty').hidden")


def test_pause_holds_new_rows_and_counts_them(collector: Collector, page: Page) -> None:
    post(collector, "first")
    page.goto(collector.url + "/")
    page.wait_for(f"{ROW_NAMES}.length === 1")

    page.evaluate("document.getElementById('pause').click()")
    post(collector, "second")
    post(collector, "third")
    page.wait_for(f"{STATUS}.includes('paused, 2 new')")
    assert page.evaluate(ROW_NAMES) == ["first"]

    page.evaluate("document.getElementById('pause').click()")
    assert page.wait_for(f"{ROW_NAMES}.length === 3 && {ROW_NAMES}") == ["third", "second", "first"]


def test_a_row_opens_the_whole_event(collector: Collector, page: Page) -> None:
    post(collector, "purchase", event_id="evt-1", payload={"long": "x" * 300})
    page.goto(collector.url + "/")
    page.wait_for(f"{ROW_NAMES}.length === 1")

    page.evaluate("document.querySelector('#rows tr').click()")
    page.wait_for("!document.getElementById('detail').hidden")
    shown = json.loads(page.evaluate("document.getElementById('detail-json').textContent"))
    assert shown["event_id"] == "evt-1" and shown["payload"]["long"] == "x" * 300
    assert shown["device_id"] == DEVICE
    page.evaluate("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
    page.wait_for("document.getElementById('detail').hidden")


def test_usable_at_phone_width_with_long_values_wrapped(collector: Collector, page: Page) -> None:
    post(collector, "purchase", user_id="u_42", payload={"note": "y" * 400, "amount": 1.5})
    page.viewport(390, 844, mobile=True)
    page.goto(collector.url + "/")
    page.wait_for(f"{ROW_NAMES}.length === 1")

    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scroll"
    box = page.evaluate(
        "(() => { const r = document.querySelector('#rows td.c-payload').getBoundingClientRect();"
        " return {left: r.left, right: r.right, top: r.top}; })()"
    )
    assert box["left"] >= 0 and box["right"] <= 390, box
    assert box["top"] < 844, "the payload is on screen, not off to the right"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_open_page_recovers_after_the_collector_restarts(page: Page, tmp_path: Path) -> None:
    port = free_port()
    with Collector(port=port) as first:
        post(first, "before_restart")
        post(first, "before_restart_2")
        page.goto(first.url + "/")
        page.wait_for(f"{ROW_NAMES}.length === 2")
    page.wait_for(f"{STATUS}.startsWith('Collector unreachable')")

    with Collector(port=port) as second:  # a fresh database: seq starts at 1 again
        post(second, "after_restart")
        assert page.wait_for(f"{ROW_NAMES}.join() === 'after_restart' && {ROW_NAMES}") == [
            "after_restart"
        ]
        page.wait_for(f"{STATUS}.startsWith('1 events')")


def test_the_page_loads_nothing_from_elsewhere_and_runs_no_inline_script(
    collector: Collector,
) -> None:
    html = httpx.get(collector.url + "/").text
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "no inline event handler"
    assert '<script src="/page.js" defer></script>' in html
    assert '<link rel="stylesheet" href="/page.css">' in html
    for path, kind in (("/page.js", "text/javascript"), ("/page.css", "text/css")):
        response = httpx.get(collector.url + path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(kind)
        assert "http://" not in response.text and "https://" not in response.text
