"""weespin_instrument.devices: new device ids on demand, and a visitor's device made lazily."""

from __future__ import annotations

import asyncio

import pytest

import weespin_instrument as weespin
from weespin_instrument import Client, ConfigurationError
from weespin_instrument.collector import Collector
from weespin_instrument.context import Identity, bound_identity
from weespin_instrument.devices import VisitorDevice, new_device_id, new_device_id_async

from .conftest import KEY, init_requests

pytestmark = pytest.mark.anyio


def test_new_device_id_is_one_init_with_the_default_clients_settings(
    client: Client, collector: Collector
) -> None:
    first, second = new_device_id(), new_device_id(client)
    assert first != second
    assert collector.devices() == [first, second]


async def test_new_device_id_async_does_the_same_without_blocking_the_loop(
    client: Client, collector: Collector
) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        for _ in range(50):
            ticks += 1
            await asyncio.sleep(0.005)

    collector.set_latency(200)
    ticker = asyncio.create_task(tick())
    device_id = await new_device_id_async()
    assert ticks > 1  # the loop ran meanwhile
    await ticker
    assert collector.devices() == [device_id]


def test_without_an_api_key_it_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEESPIN_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="WEESPIN_API_KEY"):
        new_device_id(Client(base_url="http://127.0.0.1:9"))


def test_a_visitor_device_is_initialized_once_for_many_events_and_only_when_needed(
    collector: Collector,
) -> None:
    client = Client(api_key=KEY, base_url=collector.url)
    visitor = VisitorDevice()
    with bound_identity(Identity(user_id="u_1"), visitor):
        assert not visitor.requested  # nothing tracked yet: nothing asked of the API
        for n in range(5):
            client.track("step", {"n": n})
    assert visitor.requested
    device_id = visitor.wait(5.0)
    assert client.flush(10.0)
    assert init_requests(collector) == 1
    assert {(e["device_id"], e["user_id"]) for e in collector.events()} == {(device_id, "u_1")}
    client.shutdown()


def test_flush_and_stats_count_events_waiting_for_a_visitors_device(collector: Collector) -> None:
    client = Client(api_key=KEY, base_url=collector.url)
    collector.set_latency(300)
    with bound_identity(Identity(), VisitorDevice()):
        client.track("signup")
    assert client.stats().queued == 1
    assert client.flush(0.0) is False
    assert client.flush(10.0) is True
    assert client.stats().sent == 1
    client.shutdown()


def test_a_refused_visitor_init_drops_its_events_with_a_reason(collector: Collector) -> None:
    client = Client(api_key=KEY, base_url=collector.url)
    collector.fail_next(1, status=403, path="init")
    visitor = VisitorDevice()
    with bound_identity(Identity(), visitor):
        client.track("signup")
    assert visitor.wait(5.0) is None
    assert client.flush(5.0)
    assert client.stats().dropped == {"device_init_failed": 1}
    client.shutdown()


def test_identify_device_id_inside_wins_over_the_visitor(collector: Collector) -> None:
    client = Client(api_key=KEY, base_url=collector.url)
    visitor = VisitorDevice()
    with bound_identity(Identity(), visitor), weespin.identify(device_id="ws_known"):
        client.track("signup")
    assert client.flush(5.0)
    assert not visitor.requested
    assert [e["device_id"] for e in collector.events()] == ["ws_known"]
    client.shutdown()


def test_memory_transports_need_no_device(collector: Collector) -> None:
    client = Client(transport="memory")
    visitor = VisitorDevice()
    with bound_identity(Identity(), visitor):
        assert client.track("signup") is not None
    assert not visitor.requested


def test_inside_a_test_run_new_device_id_refuses_hosts_other_than_this_machine() -> None:
    with pytest.raises(ConfigurationError, match="loopback hosts only"):
        new_device_id(Client(api_key=KEY, base_url="https://developer.weespin.io"))


def test_events_still_waiting_for_a_visitors_device_at_shutdown_are_counted_once(
    collector: Collector,
) -> None:
    client = Client(api_key=KEY, base_url=collector.url)
    collector.set_latency(1500)
    visitor = VisitorDevice()
    with bound_identity(Identity(), visitor):
        client.track("signup")
    assert client.shutdown(timeout=0.2) is False
    assert client.stats().dropped == {"shutdown": 1}
    assert visitor.wait(10.0) is not None  # the init ends later: the event is not sent twice
    assert client.stats().dropped == {"shutdown": 1}
    assert client.stats().sent == 0
    collector.set_latency(0)
