"""Delivery settings: configure() / Client() / WEESPIN_OUTBOX reach the background transport."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from weespin_instrument import Client, ConfigurationError, Settings
from weespin_instrument.collector import Collector
from weespin_instrument.transports import BackgroundTransport, HttpTransport


def test_client_settings_reach_the_background_transport(tmp_path: Path) -> None:
    client = Client(
        api_key="k",
        max_queue=7,
        overflow="drop_oldest",
        block_timeout=0.5,
        max_in_flight=3,
        outbox=tmp_path / "outbox.sqlite",
        exit_timeout=1.5,
    )
    transport = client.transport
    assert isinstance(transport, BackgroundTransport)
    assert (transport.max_queue, transport.overflow, transport.max_in_flight) == (
        7,
        "drop_oldest",
        3,
    )
    assert transport.block_timeout == 0.5
    assert transport.outbox is not None and transport.outbox.path == tmp_path / "outbox.sqlite"
    assert transport.max_event_age is None  # no age limit with an outbox
    assert client.settings.exit_timeout == 1.5
    client.shutdown()


def test_weespin_outbox_comes_from_the_environment(tmp_path: Path) -> None:
    path = str(tmp_path / "o.sqlite")
    assert Settings.resolve(environ={"WEESPIN_OUTBOX": path}).outbox == path
    assert Settings.resolve(environ={"WEESPIN_OUTBOX": " "}).outbox is None
    assert (
        Settings.resolve(environ={"WEESPIN_OUTBOX": path}, outbox="x.sqlite").outbox == "x.sqlite"
    )


@pytest.mark.parametrize(
    "options",
    [{"overflow": "drop_everything"}, {"max_queue": 0}, {"max_in_flight": 0}, {"exit_timeout": -1}],
)
def test_bad_delivery_settings_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        Settings.resolve(environ={}, **options)


def test_the_outbox_survives_a_restart(collector: Collector, tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    collector.set_latency(2000)
    first = Client(api_key="k", base_url=collector.url, device_id="ws_device_1", outbox=path)
    for n in range(5):
        first.track("open_app", {"n": n})
    first.shutdown(timeout=0.0)  # queued or cut off in flight: they stay in the outbox
    stats = first.stats()
    assert stats.sent == 0
    assert stats.dropped.get("shutdown", 0) + stats.in_flight_at_exit == 5
    collector.set_latency(0)
    second = BackgroundTransport(api_key="k", base_url=collector.url, outbox=path)
    assert second.flush(timeout=10.0)  # starts the sender for what the outbox holds
    assert sorted({row["payload"]["n"] for row in collector.events()}) == list(range(5))
    second.close()


def _dead_url() -> str:
    """A loopback port nobody listens on: every connection is refused."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("how", ["configure", "environment"])
def test_max_event_age_is_a_setting_events_expire_after_it_during_an_outage(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    options: dict[str, Any] = {"api_key": "k", "base_url": _dead_url(), "device_id": "ws_device_1"}
    if how == "configure":
        options["max_event_age"] = 0.3
    else:
        monkeypatch.setenv("WEESPIN_MAX_EVENT_AGE", "0.3")
    client = Client(**options)
    for n in range(5):
        client.track("open_app", {"n": n})
    transport = client.transport
    assert isinstance(transport, BackgroundTransport) and transport.max_event_age == 0.3
    assert client.flush(timeout=20.0)
    assert client.stats().dropped == {"delivery_failed": 5}
    client.shutdown()


def test_max_event_age_applies_with_an_outbox_and_inf_lifts_the_default(tmp_path: Path) -> None:
    url = _dead_url()
    with_outbox = Client(
        api_key="k", base_url=url, outbox=tmp_path / "o.sqlite", max_event_age=60.0
    )
    no_limit = Client(api_key="k", base_url=url, max_event_age=math.inf)
    default = Client(api_key="k", base_url=url)
    for client, expected in ((with_outbox, 60.0), (no_limit, None), (default, 600.0)):
        transport = client.transport
        assert isinstance(transport, BackgroundTransport)
        assert transport.max_event_age == expected
        client.shutdown()


def test_the_transports_own_max_event_age_wins_over_the_setting() -> None:
    transport = BackgroundTransport(api_key="k", base_url=_dead_url(), max_event_age=None)
    client = Client(transport=transport, max_event_age=5.0)
    assert client.settings.max_event_age == 5.0
    assert transport.max_event_age is None  # the transport's None: no limit
    client.shutdown()


@pytest.mark.parametrize("value", [0, -1, "600", True, math.nan])
def test_a_bad_max_event_age_is_refused_with_the_fix(value: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        Client(api_key="k", max_event_age=value)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"max_event_age={value!r} is not a number of seconds above 0; set "
        "configure(max_event_age=...) or WEESPIN_MAX_EVENT_AGE to e.g. 600, or to math.inf "
        "for no limit."
    )


@pytest.mark.parametrize("transport_type", [BackgroundTransport, HttpTransport])
def test_options_given_with_whole_settings_go_over_them(transport_type: type[Any]) -> None:
    settings = Settings.resolve(api_key="k", base_url="http://127.0.0.1:8765", timeout=5.0)
    transport = transport_type(settings=settings, timeout=1.0, max_attempts=2)
    assert (transport.settings.timeout, transport.settings.max_attempts) == (1.0, 2)
    assert transport.settings.base_url == "http://127.0.0.1:8765"
    transport.close()


@pytest.mark.parametrize("transport_type", [BackgroundTransport, HttpTransport])
def test_a_bad_option_given_with_whole_settings_is_refused(transport_type: type[Any]) -> None:
    settings = Settings.resolve(api_key="k")
    with pytest.raises(ConfigurationError, match="timeout"):
        transport_type(settings=settings, timeout=-1.0)
