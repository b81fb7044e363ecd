"""``Client.send``: an event built elsewhere is counted and dropped as ``emit``'s own are."""

from __future__ import annotations

import pytest

from weespin_instrument import Client, DroppedEvent, Event
from weespin_instrument.collector import Collector
from weespin_instrument.transports import BaseTransport, MemoryTransport

KEY = "client-send-key"


class ExplodingTransport(BaseTransport):
    def send(self, event: Event) -> None:
        raise RuntimeError("transport bug")


def test_a_prepared_event_reaches_the_collector_and_is_counted_sent(collector: Collector) -> None:
    client = Client(api_key=KEY, base_url=collector.url, transport="sync")
    event = client.prepare("purchase", {"amount": 19.99}, user_id="u_42", origin="a bridge")
    assert client.send(event, origin="a bridge") is event
    [row] = collector.events()
    assert (row["event_name"], row["payload"], row["user_id"]) == (
        "purchase",
        {"amount": 19.99},
        "u_42",
    )
    assert row["event_id"] == event.event_id
    stats = client.stats()
    assert (stats.tracked, stats.sent, stats.dropped) == (0, 1, {})  # whoever built it counts it


def test_after_shutdown_it_is_dropped_as_closed_whichever_transport() -> None:
    memory, elsewhere = MemoryTransport(), MemoryTransport()
    client = Client(transport=memory)
    client.track("before")
    client.shutdown()
    assert client.send(Event("late")) is None
    assert client.send(Event("late_elsewhere"), transport=elsewhere) is None
    assert [e.name for e in memory.events] == ["before"]
    assert elsewhere.events == []
    assert client.stats().dropped == {"closed": 2}


def test_a_transport_that_raises_is_counted_never_raised_even_in_strict_mode() -> None:
    seen: list[DroppedEvent] = []
    client = Client(transport=ExplodingTransport(), strict=True, on_error=seen.append)
    with pytest.raises(RuntimeError, match="transport bug"):
        client.track("emitted")  # emit raises in strict mode
    assert client.send(Event("sent"), origin="a bridge") is None  # send never does
    assert client.send(Event("elsewhere"), transport=ExplodingTransport()) is None
    client.flush(timeout=5.0)
    assert client.stats().dropped == {"transport_error": 2}
    assert [(d.reason, d.event_name) for d in seen] == [
        ("transport_error", "sent"),
        ("transport_error", "elsewhere"),
    ]


def test_without_an_api_key_it_is_counted_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEESPIN_API_KEY", raising=False)
    client = Client(base_url="http://127.0.0.1:9", transport="sync")
    with pytest.warns(RuntimeWarning, match="not configured"):
        assert client.send(Event("open_app")) is None
    assert client.stats().dropped == {"not_configured": 1}


def test_another_transport_gets_the_event_and_the_client_keeps_its_own_for_the_rest() -> None:
    own, elsewhere = MemoryTransport(), MemoryTransport()
    client = Client(transport=own)
    client.track("tracked")
    assert client.send(Event("forwarded"), transport=elsewhere) is not None
    assert [e.name for e in own.events] == ["tracked"]
    assert [e.name for e in elsewhere.events] == ["forwarded"]
