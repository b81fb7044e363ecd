"""The lean engine looks the API's host name up once a minute, not once per connection; an IP
address, v4 or v6, is never looked up.

Each lookup is a thread (``loop.getaddrinfo``); the sender opens a connection per request in
flight. The collector listens on 127.0.0.1 and the client names it ``localhost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from weespin_instrument import Settings
from weespin_instrument.collector import Collector
from weespin_instrument.transports import _lean
from weespin_instrument.transports._lean import LeanAPI

BODY = b'{"event_name":"signup","device_id":"ws_device_1","payload":{}}'


class CountingLoop(asyncio.SelectorEventLoop):
    """An event loop that counts the host names it looks up, and can point one elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups: list[str] = []
        self.first_answers: list[Any] = []

    async def getaddrinfo(self, host: Any, port: Any, **options: Any) -> Any:  # type: ignore[override]
        self.lookups.append(host)
        found = await super().getaddrinfo(host, port, **options)
        return [*self.first_answers, *found]


def run_sends(
    url: str,
    loop: CountingLoop,
    rounds: int,
    *,
    in_flight: int,
    between: float = 0.0,
    timeout: float | None = None,
) -> None:
    """``rounds`` times, ``in_flight`` concurrent sends, each on a connection of its own."""

    async def main() -> None:
        options = {} if timeout is None else {"timeout": timeout}
        settings = Settings.resolve({}, api_key="k", base_url=url, **options)
        api = LeanAPI(settings, max_connections=in_flight)
        await api.open()
        try:
            for _ in range(rounds):
                await asyncio.gather(*(api.send_event(BODY) for _ in range(in_flight)))
                for connection in api._idle:  # the next round must connect again
                    connection.abort()
                await asyncio.sleep(between)
        finally:
            await api.close()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


def test_many_connections_share_one_lookup_of_the_host_name(collector: Collector) -> None:
    loop = CountingLoop()
    run_sends(f"http://localhost:{collector.port}", loop, rounds=3, in_flight=8)
    assert loop.lookups == ["localhost"]
    assert len(collector.events("signup")) == 24
    assert len({record["client"] for record in collector.request_log}) == 24


def test_the_host_name_is_looked_up_again_once_its_addresses_are_old(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_lean, "_DNS_TTL", 0.05)
    loop = CountingLoop()
    run_sends(f"http://localhost:{collector.port}", loop, rounds=2, in_flight=2, between=0.1)
    assert loop.lookups == ["localhost", "localhost"]


def test_an_address_that_refuses_is_passed_over_for_the_next_one(collector: Collector) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.2", collector.port))  # nothing listens there on that port
        loop = CountingLoop()
        loop.first_answers = [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", collector.port))
        ]
        run_sends(f"http://localhost:{collector.port}", loop, rounds=1, in_flight=2)
    assert len(collector.events("signup")) == 2


def test_an_ip_address_is_never_looked_up(collector: Collector) -> None:
    loop = CountingLoop()
    run_sends(collector.url, loop, rounds=2, in_flight=2)
    assert loop.lookups == []


def test_an_ipv6_address_is_connected_to_and_named_in_brackets() -> None:
    heads: list[bytes] = []
    with socket.socket(socket.AF_INET6) as listener:
        listener.bind(("::1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def answer_one() -> None:
            connection, _ = listener.accept()
            with connection:
                received = b""
                while b"\r\n\r\n" not in received:
                    received += connection.recv(65536)
                heads.append(received.split(b"\r\n\r\n")[0])
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

        server = threading.Thread(target=answer_one, daemon=True)
        server.start()
        loop = CountingLoop()
        run_sends(f"http://[::1]:{port}", loop, rounds=1, in_flight=1)
        server.join(5.0)
    assert loop.lookups == []
    [head] = heads
    assert f"\r\nHost: [::1]:{port}\r\n".encode() in head


@contextlib.contextmanager
def unanswering(address: str, port: int) -> Iterator[None]:
    """``address:port`` never answers a connect (as over a broken IPv6 route): a listener whose
    backlog is full, so the kernel drops the SYNs that come."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind((address, port))
        listener.listen(0)
        for _ in range(4):  # fill the backlog; the last ones wait, unanswered, as ours will
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((address, port))
        time.sleep(0.05)
        probe = stack.enter_context(socket.socket())
        probe.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            probe.connect((address, port))
        _, writable, _ = select.select([], [probe], [], 0.3)
        if writable:
            pytest.skip("this kernel answers a connect to a listener whose backlog is full")
        yield


def test_an_address_that_never_answers_is_passed_over_without_costing_the_timeout(
    collector: Collector,
) -> None:
    # Before: every new connection waited out the whole request timeout on the first address.
    with unanswering("127.0.0.3", collector.port):
        loop = CountingLoop()
        loop.first_answers = [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.3", collector.port))
        ]
        run_sends(f"http://localhost:{collector.port}", loop, rounds=2, in_flight=2, timeout=3.0)
    assert len(collector.events("signup")) == 4
