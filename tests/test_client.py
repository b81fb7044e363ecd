"""The client runs the pipeline: enrich, validate, scrub, transport; and accounts for everything."""

from __future__ import annotations

import logging
import warnings

import pytest

from weespin_instrument import Client, DroppedEvent, InvalidEventError, identify
from weespin_instrument.collector import Collector
from weespin_instrument.transports import MemoryTransport

KEY = "wsk_test_DO_NOT_LEAK_abcdef123456_LAST"


@pytest.fixture
def sync_client(collector: Collector) -> Client:
    return Client(api_key=KEY, base_url=collector.url, transport="sync")


def test_track_goes_through_real_http_into_the_collector(
    sync_client: Client, collector: Collector
) -> None:
    event = sync_client.track("purchase", {"amount": 19.99, "currency": "EUR"}, user_id="u_42")
    assert event is not None
    [stored] = collector.events()
    assert stored["event_name"] == "purchase"
    assert stored["payload"] == {"amount": 19.99, "currency": "EUR"}
    assert stored["user_id"] == "u_42"
    assert stored["event_id"] == event.event_id
    assert stored["device_id"].startswith("ws_device_")
    assert stored["timestamp"].endswith("Z")
    stats = sync_client.stats()
    assert (stats.tracked, stats.sent, stats.dropped_total) == (1, 1, 0)


def test_the_device_is_initialized_once_for_many_events(
    sync_client: Client, collector: Collector
) -> None:
    for n in range(5):
        sync_client.track("open_app", {"n": n})
    assert collector.stats()["init_requests"] == 1
    assert len({row["device_id"] for row in collector.events()}) == 1


def test_an_explicit_device_id_skips_initialization(collector: Collector) -> None:
    client = Client(api_key=KEY, base_url=collector.url, transport="sync", device_id="dev-1")
    client.track("open_app")
    client.track("open_app", device_id="dev-2")
    with identify(device_id="dev-3"):
        client.track("open_app")
    assert [row["device_id"] for row in collector.events()] == ["dev-1", "dev-2", "dev-3"]
    assert collector.stats()["init_requests"] == 0


def test_identify_fills_user_and_link_and_explicit_values_win(
    sync_client: Client, collector: Collector
) -> None:
    with identify(user_id="u_1", link_id="lnk_1"):
        sync_client.track("signup")
        with identify(user_id=42):
            sync_client.track("login")
        sync_client.track("purchase", user_id="u_explicit")
    sync_client.track("share_link")
    rows = [(r["event_name"], r["user_id"], r["link_id"]) for r in collector.events()]
    assert rows == [
        ("signup", "u_1", "lnk_1"),
        ("login", "42", "lnk_1"),
        ("purchase", "u_explicit", "lnk_1"),
        ("share_link", None, None),
    ]


def test_send_metadata_false_sends_only_documented_fields(collector: Collector) -> None:
    client = Client(api_key=KEY, base_url=collector.url, transport="sync", send_metadata=False)
    client.track("signup", {"plan": "pro"})
    [stored] = collector.events()
    assert stored["timestamp"] is None
    assert stored["trace_id"] is None
    assert stored["payload"] == {"plan": "pro"}


def test_an_invalid_event_is_dropped_counted_and_reported_outside_strict_mode(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    reports: list[DroppedEvent] = []
    client = Client(api_key=KEY, base_url=collector.url, transport="sync", on_error=reports.append)
    for _ in range(3):
        assert client.track("purchase", {"items": ["a", "b"]}) is None
    stats = client.stats()
    assert stats.dropped == {"invalid_payload": 3}
    assert stats.sent == 0
    assert [r.reason for r in reports] == ["invalid_payload"] * 3
    assert isinstance(reports[0].error, InvalidEventError)
    assert reports[0].event_name == "purchase"
    warnings_logged = [r for r in caplog.records if r.name == "weespin_instrument"]
    assert len(warnings_logged) == 1, "logged once per (origin, reason)"
    assert "payload key 'items'" in warnings_logged[0].getMessage()
    assert collector.events() == []


def test_strict_mode_raises_at_the_call_site() -> None:
    client = Client(transport=MemoryTransport(), strict=True)
    with pytest.raises(InvalidEventError) as info:
        client.track("purchase", {"amount": float("nan")})
    assert info.value.key == "amount"
    assert info.value.event_name == "purchase"


def test_a_failing_on_error_hook_never_reaches_the_caller() -> None:
    def broken_hook(report: DroppedEvent) -> None:
        raise RuntimeError("hook bug")

    client = Client(transport=MemoryTransport(), on_error=broken_hook)
    assert client.track("", {}) is None
    assert client.stats().dropped == {"invalid_event": 1}


def test_unconfigured_use_warns_once_and_drops_with_the_reason_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WEESPIN_API_KEY", raising=False)
    client = Client(transport="sync")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.track("signup")
        client.track("signup")
    assert len(caught) == 1
    assert "WEESPIN_API_KEY" in str(caught[0].message)
    assert client.stats().dropped == {"not_configured": 2}


def test_disabled_tracking_does_nothing(collector: Collector) -> None:
    client = Client(api_key=KEY, base_url=collector.url, transport="sync", disabled=True)
    assert client.track("signup", {"plan": "pro"}) is None
    assert client.stats().tracked == 0
    assert collector.stats()["event_requests"] == 0


def test_sensitive_values_are_redacted_by_default(
    sync_client: Client, collector: Collector
) -> None:
    sync_client.track("signup", {"plan": "pro", "password": "hunter2"})
    [stored] = collector.events()
    assert stored["payload"] == {"plan": "pro", "password": "[REDACTED]"}
    assert sync_client.stats().redacted == 1


def test_the_sensitive_data_raise_policy_raises_even_outside_strict_mode() -> None:
    client = Client(transport=MemoryTransport(), sensitive_data="raise")
    with pytest.raises(InvalidEventError) as info:
        client.track("signup", {"password": "hunter2"})
    assert info.value.reason == "sensitive_data"
    assert "hunter2" not in str(info.value)


def test_a_refused_key_is_counted_logged_once_and_never_leaked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    reports: list[DroppedEvent] = []
    with Collector(api_key="the-right-key") as collector:
        client = Client(
            api_key=KEY, base_url=collector.url, transport="sync", on_error=reports.append
        )
        client.track("signup")
        client.track("signup")
    assert client.stats().dropped == {"unauthorized": 2}
    assert client.stats().failed == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    everything = caplog.text + "".join(str(r.error) + repr(r) for r in reports)
    everything += repr(client) + str(client.stats())
    assert KEY not in everything
    assert KEY[:12] not in everything
    assert "…LAST" in caplog.text


def test_events_after_shutdown_are_dropped_as_closed() -> None:
    memory = MemoryTransport()
    client = Client(transport=memory)
    client.track("signup")
    assert client.shutdown() is True
    assert client.track("login") is None
    assert client.stats().dropped == {"closed": 1}
    assert [e.name for e in memory.events] == ["signup"]


@pytest.mark.parametrize("method", ["emit", "prepare"])
def test_emit_and_prepare_refuse_a_keyword_that_is_not_one_of_their_fields(method: str) -> None:
    client = Client(api_key="k", transport="memory")
    call = getattr(client, method)
    for keyword in ("usr_id", "checked"):  # a typo, and the pipeline's own argument
        with pytest.raises(TypeError, match=f"Client.{method}.. got an unexpected keyword"):
            call("purchase", {"amount": 1.5}, **{keyword: 2})
    event = call("purchase", {"amount": 1.5}, user_id="u_1", origin="checkout()", schema=None)
    assert event is not None and event.user_id == "u_1"
