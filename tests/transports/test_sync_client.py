"""The sync API client: raw-key Authorization, typed errors; under the retry policy, retries
for transient failures only (the loop the sync transport and ``new_device_id`` run)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from _faults import FaultServer, Status

from weespin_instrument import Settings
from weespin_instrument.collector import Collector
from weespin_instrument.errors import (
    AuthenticationError,
    DeliveryError,
    RateLimitedError,
    RejectedError,
    ServerError,
)
from weespin_instrument.transports._protocol import encode_body
from weespin_instrument.transports._retry import RetryPolicy, retrying
from weespin_instrument.transports._sync_client import SyncAPI

KEY = "wsk_live_TOPSECRET_9a8b7c6d5e4f_Zk9Q"
T = TypeVar("T")


def api_for(url: str, **options: object) -> SyncAPI:
    return SyncAPI(Settings.resolve({}, api_key=KEY, base_url=url, **options))


def with_retries(api: SyncAPI, call: Callable[[], T]) -> T:
    """One call under the retry policy of the client's settings."""
    return retrying(call, RetryPolicy.from_settings(api.settings))


def body(device_id: str, event_id: str = "7f0c3a52-5c2e-4d6b-9a7e-1f0e2d3c4b5a") -> bytes:
    return encode_body(
        {
            "event_name": "purchase",
            "device_id": device_id,
            "payload": {"amount": 19.99},
            "event_id": event_id,
        }
    )


def test_initialize_then_send_reaches_the_collector(collector: Collector) -> None:
    api = api_for(collector.url)
    device_id = api.initialize_device()
    api.send_event(body(device_id))
    [stored] = collector.events()
    assert stored["event_name"] == "purchase"
    assert stored["device_id"] == device_id
    assert stored["payload"] == {"amount": 19.99}


def test_both_init_paths_work(collector: Collector) -> None:
    api = api_for(collector.url, init_path="/events/initialize")
    assert api.initialize_device().startswith("ws_device_")


@pytest.fixture
def keyed_collector() -> Iterator[Collector]:
    with Collector(api_key="the-right-key-1234") as running:
        yield running


def test_a_refused_key_names_the_setting_and_hides_the_key(
    keyed_collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api = api_for(keyed_collector.url)
    with pytest.raises(AuthenticationError) as info:
        with_retries(api, api.initialize_device)
    error = info.value
    assert error.status_code == 401
    assert "WEESPIN_API_KEY" in str(error)
    assert "…Zk9Q" in str(error)
    texts = [str(error), repr(error), error.body, repr(api), caplog.text]
    for text in texts:
        assert KEY not in text
        assert KEY[:-4] not in text
    assert keyed_collector.stats()["unauthorized"] == 1, "401 is never retried"


def test_transient_failures_are_retried_with_the_same_body(collector: Collector) -> None:
    api = api_for(collector.url, max_backoff=0.05)
    device_id = api.initialize_device()
    collector.fail_next(2, status=503)
    sent = body(device_id, event_id="11111111-2222-4333-8444-555555555555")
    with_retries(api, lambda: api.send_event(sent))
    attempts = [r for r in collector.request_log if r["path"] == "/events"]
    assert [r["status"] for r in attempts] == [503, 503, 200]
    assert {r["event_id"] for r in attempts} == {"11111111-2222-4333-8444-555555555555"}
    assert len(collector.events()) == 1


def test_retry_after_is_honoured(collector: Collector) -> None:
    api = api_for(collector.url)
    device_id = api.initialize_device()
    collector.fail_next(1, status=429, retry_after=1)
    with_retries(api, lambda: api.send_event(body(device_id)))
    first, second = [r for r in collector.request_log if r["path"] == "/events"]
    assert first["status"] == 429
    assert second["status"] == 200
    assert second["time"] - first["time"] >= 0.95


def test_giving_up_raises_the_last_typed_error(collector: Collector) -> None:
    api = api_for(collector.url, max_attempts=3, max_backoff=0.01)
    device_id = api.initialize_device()
    collector.fail_next(3, status=500)
    with pytest.raises(ServerError) as info:
        with_retries(api, lambda: api.send_event(body(device_id)))
    assert info.value.status_code == 500
    assert collector.stats()["failed_injected"] == 3

    collector.fail_next(1, status=429)
    api = api_for(collector.url, max_attempts=1)
    with pytest.raises(RateLimitedError):
        with_retries(api, lambda: api.send_event(body(device_id)))


@pytest.mark.parametrize("status", [400, 404, 422])
def test_client_errors_are_not_retried(collector: Collector, status: int) -> None:
    api = api_for(collector.url, max_backoff=0.01)
    device_id = api.initialize_device()
    collector.fail_next(1, status=status)
    with pytest.raises(RejectedError) as info:
        with_retries(api, lambda: api.send_event(body(device_id)))
    assert info.value.status_code == status
    assert len([r for r in collector.request_log if r["path"] == "/events"]) == 1


def test_an_invalid_event_is_rejected_by_the_collector_not_retried(collector: Collector) -> None:
    api = api_for(collector.url)
    device_id = api.initialize_device()
    with pytest.raises(RejectedError) as info:
        with_retries(
            api,
            lambda: api.send_event(
                encode_body({"event_name": "", "device_id": device_id, "payload": {}})
            ),
        )
    assert info.value.status_code == 400
    assert "event_name" in str(info.value)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_api_is_a_delivery_error_after_bounded_retries() -> None:
    api = api_for(f"http://127.0.0.1:{free_port()}", max_attempts=3, max_backoff=0.01, timeout=2.0)
    with pytest.raises(DeliveryError, match="POST /initialize-device failed: ConnectError"):
        with_retries(api, api.initialize_device)


def test_a_retry_after_sent_twice_is_read_as_the_async_engines_read_it_the_first_one() -> None:
    # Two header lines (names differ only in case): a proxy added its own after the API's.
    # httpx joins them ("5, 300"), which no Retry-After parses: the pause was lost.
    twice = Status(429, {"Retry-After": "5", "retry-after": "300"}, b'{"detail": "slow down"}')
    with FaultServer(lambda request: twice) as server:
        api = api_for(server.url)
        with pytest.raises(RateLimitedError) as info:
            api.send_event(body("ws_device_1"))
    assert info.value.retry_after == 5.0
