"""The collector is safe to leave running: the key before the body, a body limit, 400 (never
500) for absurd JSON, and security headers on the page."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
from collections.abc import Iterator

import httpx
import pytest

from weespin_instrument.collector import Collector

KEY = "collector-key-0001"
EVENT = {"event_name": "purchase", "device_id": "ws_device_1"}


@pytest.fixture
def keyed() -> Iterator[Collector]:
    with Collector(port=0, api_key=KEY) as running:
        yield running


def _raw_request(collector: Collector, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``head`` and the start of a body, and read the answer: what a client that
    announces more than it sends gets back."""
    with socket.create_connection(("127.0.0.1", collector.port), timeout=10.0) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)  # socket.timeout here means the server waited for more
            if not chunk:
                break
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer


def _head(length: int, key: str) -> str:
    return (
        f"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}"
    )


def test_a_wrong_key_is_answered_before_the_body_is_read(keyed: Collector) -> None:
    # 100 MB announced, 1 KB sent: the answer comes without waiting for (or buffering) the rest.
    for _ in range(6):
        status, _ = _raw_request(keyed, _head(100_000_000, "wrong"), b"{" + b" " * 1023)
        assert status == 401
    assert keyed.stats()["unauthorized"] == 6


def test_a_body_announced_above_the_limit_is_answered_413_before_it_is_read(
    keyed: Collector,
) -> None:
    status, answer = _raw_request(keyed, _head(200_000_000, KEY), b"{")
    assert status == 413
    assert b"connection: close" in answer.lower()
    assert keyed.events() == []


def test_a_streamed_body_is_cut_at_the_limit(keyed: Collector) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"event_name": "purchase", "device_id": "d", "payload": {"blob": "'
        for _ in range(2048):  # 2 MiB, chunked: no Content-Length to refuse it early
            yield b"x" * 1024
        yield b'"}}'

    response = httpx.post(
        keyed.url + "/events", headers={"Authorization": KEY}, content=chunks(), timeout=10.0
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert keyed.events() == []


def test_the_limit_is_configurable() -> None:
    with Collector(port=0, max_body_bytes=64) as small:
        big = {**EVENT, "payload": {"note": "x" * 64}}
        assert httpx.post(small.url + "/events", headers={"Authorization": "k"}, json=big)
        response = httpx.post(small.url + "/events", headers={"Authorization": "k"}, json=big)
        assert response.status_code == 413
        assert httpx.post(small.url + "/events", headers={"Authorization": "k"}, json=EVENT)


def test_a_body_at_the_default_limit_is_still_accepted(keyed: Collector) -> None:
    event = {**EVENT, "payload": {"note": "x" * 900_000}}
    response = httpx.post(keyed.url + "/events", headers={"Authorization": KEY}, json=event)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"event_name": "a", "device_id": "d", "payload": '
        + b'{"a":' * 100_000
        + b"1"
        + b"}" * 100_001,
        b"{not json",
        b"\xff\xfe",
    ],
    ids=["deep list", "deep payload", "malformed", "not utf-8"],
)
def test_absurd_json_is_answered_400_with_a_json_error(keyed: Collector, body: bytes) -> None:
    response = httpx.post(
        keyed.url + "/events",
        headers={"Authorization": KEY, "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_event"
    assert httpx.get(keyed.url + "/healthz").status_code == 200


def test_the_page_forbids_injected_scripts_and_sniffing(keyed: Collector) -> None:
    response = httpx.get(keyed.url + "/")
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    # The page's own inline scripts, if it has any, are allowed by their hash: it still works.
    for script in re.findall(r"<script>(.*?)</script>", response.text, flags=re.S):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]


def test_json_error_bodies_say_what_to_fix(keyed: Collector) -> None:
    response = httpx.post(
        keyed.url + "/events", headers={"Authorization": KEY}, content=b"{not json"
    )
    assert json.loads(response.text)["message"].startswith("The request body is not valid JSON")
