"""Delivery over HTTPS, as to the real API: certificates verified, connections kept alive.

Each test runs the local collector with a certificate of a throwaway certificate authority
(trustme) on 127.0.0.1, and trusts that authority the way users do, with ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from _engines import run_on

from weespin_instrument import Client, DroppedEvent, Settings
from weespin_instrument.collector import Collector
from weespin_instrument.errors import DeliveryError
from weespin_instrument.transports import BackgroundTransport
from weespin_instrument.transports._aio import AiohttpAPI
from weespin_instrument.transports._async_api import AsyncAPI
from weespin_instrument.transports._engines import async_api
from weespin_instrument.transports._lean import LeanAPI

KEY = "tls-test-key"


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def https_collector(authority: trustme.CA, folder: Path, *hosts: str) -> Collector:
    """A collector serving HTTPS with a certificate for ``hosts``, signed by ``authority``."""
    chain = folder / "server.pem"
    authority.issue_cert(*hosts).private_key_and_cert_chain_pem.write_to_path(str(chain))
    return Collector(certfile=chain).start()


@pytest.fixture
def trusted(authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust ``authority`` as a user would: ``SSL_CERT_FILE`` names its certificate."""
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
def collector(authority: trustme.CA, tmp_path: Path) -> Iterator[Collector]:
    server = https_collector(authority, tmp_path, "127.0.0.1", "localhost")
    yield server
    server.stop()


def sender(url: str, dropped: list[DroppedEvent] | None = None, **options: object) -> Client:
    transport = BackgroundTransport(api_key=KEY, base_url=url, **options)  # type: ignore[arg-type]
    return Client(transport=transport, on_error=dropped.append if dropped is not None else None)


def test_the_sender_talks_https_with_the_lean_engine_unless_a_proxy_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.resolve({}, api_key=KEY, base_url="https://api.example.test")
    assert type(async_api(settings, max_connections=8)) is LeanAPI
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert type(async_api(settings, max_connections=8)) is AiohttpAPI  # it tunnels


@pytest.mark.usefixtures("trusted")
def test_events_reach_an_https_api_on_one_kept_alive_connection(collector: Collector) -> None:
    client = sender(collector.url)
    for n in range(5):
        client.track("purchase", {"n": n})
        assert client.flush(timeout=10.0)  # one request at a time: each could reconnect
    client.shutdown()
    assert [event["payload"]["n"] for event in collector.events("purchase")] == [0, 1, 2, 3, 4]
    assert client.stats().sent == 5
    connections = {record["client"] for record in collector.request_log}
    assert len(connections) == 1, "the device's init and the five events shared one connection"


@pytest.mark.usefixtures("trusted")
@pytest.mark.parametrize("engine", [LeanAPI, AiohttpAPI])
def test_both_async_engines_initialize_a_device_and_send_over_https(
    collector: Collector, engine: type[AsyncAPI]
) -> None:
    async def calls(api: AsyncAPI) -> str:
        device_id = await api.initialize_device()
        body = b'{"event_name":"signup","device_id":"%s","payload":{}}' % device_id.encode()
        await asyncio.gather(*(api.send_event(body) for _ in range(4)))
        return device_id

    settings = Settings.resolve({}, api_key=KEY, base_url=collector.url)
    device_id = run_on(engine, settings, calls, max_connections=2)
    assert [event["device_id"] for event in collector.events("signup")] == [device_id] * 4


def test_an_untrusted_certificate_drops_the_event_with_the_verification_error(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    dropped: list[DroppedEvent] = []
    client = sender(collector.url, dropped, device_id="ws_device_1", max_retry_time=0.5)
    client.track("purchase")
    assert client.flush(timeout=10.0)
    client.shutdown()
    [drop] = dropped
    assert drop.reason == "delivery_failed"
    assert isinstance(drop.error, Exception)
    assert "CERTIFICATE_VERIFY_FAILED" in str(drop.error)
    assert "point SSL_CERT_FILE (or SSL_CERT_DIR) at that authority's PEM" in str(drop.error)
    assert collector.events() == [] and collector.request_log == []


@pytest.mark.usefixtures("trusted")
def test_a_certificate_for_another_host_is_refused(authority: trustme.CA, tmp_path: Path) -> None:
    elsewhere = https_collector(authority, tmp_path, "api.example.test")
    dropped: list[DroppedEvent] = []
    try:
        client = sender(elsewhere.url, dropped, device_id="ws_device_1", max_retry_time=0.5)
        client.track("purchase")
        assert client.flush(timeout=10.0)
        client.shutdown()
        assert elsewhere.events() == []
    finally:
        elsewhere.stop()
    [drop] = dropped
    assert drop.reason == "delivery_failed"
    assert "127.0.0.1" in str(drop.error) and "certificate" in str(drop.error).lower()


def test_a_collector_given_a_key_without_a_certificate_says_what_is_missing() -> None:
    with pytest.raises(ValueError, match="keyfile needs a certfile"):
        Collector(keyfile="server.key")


def test_a_collector_refuses_a_certificate_it_cannot_load_and_names_the_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "server.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match=r"cannot serve HTTPS with certfile='.*server\.pem'"):
        Collector(certfile=tmp_path / "server.pem")


@pytest.mark.parametrize("engine", [LeanAPI, AiohttpAPI])
def test_both_engines_say_how_to_trust_a_certificate_they_refuse(
    collector: Collector, engine: type[AsyncAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    settings = Settings.resolve({}, api_key=KEY, base_url=collector.url)
    with pytest.raises(DeliveryError, match="certificate verify failed") as info:
        run_on(engine, settings, lambda api: api.initialize_device())
    assert "point SSL_CERT_FILE (or SSL_CERT_DIR)" in str(info.value)
