"""Delivery settings: configure() / Client() / WEESPIN_OUTBOX reach the background transport."""

from __future__ import annotations

from pathlib import Path

import pytest

from weespin_instrument import Client, ConfigurationError, Settings
from weespin_instrument.collector import Collector
from weespin_instrument.transports import BackgroundTransport


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
