"""Memory, console and null transports: no network, same pipeline."""

from __future__ import annotations

import io
import json

import pytest

from weespin_instrument import Client
from weespin_instrument.transports import ConsoleTransport, MemoryTransport, NullTransport


def test_memory_keeps_events_and_asserts_on_them() -> None:
    memory = MemoryTransport()
    client = Client(transport=memory)
    client.track("purchase", {"amount": 19.99, "currency": "EUR"}, user_id="u_1")
    client.track("purchase", {"amount": 5.0, "currency": "EUR"})
    assert memory.assert_tracked("purchase", amount=19.99).user_id == "u_1"
    memory.assert_tracked("purchase", currency="EUR", times=2)
    memory.assert_not_tracked("signup")
    assert len(memory.find("purchase", user_id="u_1")) == 1
    memory.clear()
    assert memory.events == []


def test_a_failed_assertion_lists_what_was_tracked() -> None:
    memory = MemoryTransport()
    Client(transport=memory).track("purchase", {"amount": 5.0})
    with pytest.raises(AssertionError) as info:
        memory.assert_tracked("purchase", amount=19.99)
    assert str(info.value) == (
        "expected event 'purchase', amount=19.99 at least once; tracked:\n"
        "  purchase {'amount': 5.0} user_id=None link_id=None"
    )


def test_console_writes_one_json_line_per_event() -> None:
    stream = io.StringIO()
    client = Client(transport=ConsoleTransport(stream), device_id="dev-1")
    client.track("share_link", {"channel": "email"})
    client.track("login")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event_name"] == "share_link"
    assert first["payload"] == {"channel": "email"}
    assert first["device_id"] == "dev-1"
    assert second["event_name"] == "login"


def test_console_by_name_writes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    Client(transport="console").track("login")
    assert json.loads(capsys.readouterr().out)["event_name"] == "login"


def test_none_validates_then_discards() -> None:
    client = Client(transport=NullTransport())
    assert client.track("login") is not None
    assert client.track("purchase", {"bad": [1]}) is None
    assert client.stats().dropped == {"invalid_payload": 1}
    assert client.stats().sent == 0
