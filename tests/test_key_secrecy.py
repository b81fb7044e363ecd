"""The API key stays secret, and strict mode raises delivery errors at the call (sync).

A small fault server on raw sockets stands in for an API that echoes the request it got
(headers included) in its error body, as some proxies and debug servers do.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from weespin_instrument import Client, DroppedEvent
from weespin_instrument.collector import Collector
from weespin_instrument.errors import AuthenticationError, DeliveryError, RejectedError

KEY = "wsk_live_TOPSECRET_9a8b7c6d5e4f_Zk9Q"


class EchoServer:
    """Answers every request with ``status`` and the request itself, JSON-escaped, as body."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5.0)
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    request += chunk
                head = request.decode(errors="replace")
                echoed = json.dumps({"error": "bad request", "you_sent": head}).encode()
                connection.sendall(
                    f"HTTP/1.1 {self.status} Nope\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(echoed)}\r\nConnection: close\r\n\r\n".encode()
                    + echoed
                )

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer(400)
    yield server
    server.close()


@pytest.mark.parametrize("transport", ["sync", "background"])
def test_an_echoed_request_never_puts_the_key_in_reports(echo: EchoServer, transport: str) -> None:
    reports: list[DroppedEvent] = []
    client = Client(
        api_key=f" {KEY}\n",  # as read from a mounted secret
        base_url=echo.url,
        transport=transport,
        device_id="ws_device_1",
        on_error=reports.append,
    )
    client.track("signup")
    assert client.flush(timeout=10.0)
    [report] = reports
    assert report.reason == "rejected"
    error = report.error
    shown = [str(error), getattr(error, "body", ""), report.message, client.stats().last_error]
    assert "you_sent" in error.body  # type: ignore[union-attr]
    for text in shown:
        assert "TOPSECRET" not in str(text)
    client.shutdown()


def test_a_message_built_from_the_http_librarys_exception_hides_the_key() -> None:
    from weespin_instrument._api_key import redact_key

    text = f"Illegal header value {KEY.encode()!r}; sent {json.dumps(KEY)} to /e?k={KEY}"
    assert "TOPSECRET" not in redact_key(text, KEY)
    assert redact_key(text, KEY).count("…Zk9Q") == 3


class TestStrictSync:
    @pytest.fixture
    def keyed(self) -> Iterator[Collector]:
        with Collector(port=0, api_key=KEY) as running:
            yield running

    def test_a_wrong_key_raises_authentication_error_at_the_call(self, keyed: Collector) -> None:
        client = Client(
            api_key="wsk_wrong_0123456789", base_url=keyed.url, transport="sync", strict=True
        )
        with pytest.raises(AuthenticationError, match="…6789"):
            client.track("signup")
        assert client.stats().dropped == {"unauthorized": 1}

    def test_a_rejected_request_raises_rejected_error(self, echo: EchoServer) -> None:
        client = Client(
            api_key=KEY, base_url=echo.url, transport="sync", strict=True, device_id="ws_1"
        )
        with pytest.raises(RejectedError) as info:
            client.track("signup")
        assert "TOPSECRET" not in info.value.body

    def test_an_unreachable_api_raises_delivery_error_after_the_retries(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{probe.getsockname()[1]}"
        client = Client(
            api_key=KEY,
            base_url=url,
            transport="sync",
            strict=True,
            device_id="ws_1",
            max_attempts=2,
            max_backoff=0.01,
        )
        with pytest.raises(DeliveryError):
            client.track("signup")
        assert client.stats().retried == 1

    def test_outside_strict_mode_nothing_is_raised(self, keyed: Collector) -> None:
        client = Client(api_key="wsk_wrong_0123456789", base_url=keyed.url, transport="sync")
        client.track("signup")
        assert client.stats().dropped == {"unauthorized": 1}
