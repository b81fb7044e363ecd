"""The module-level functions drive one default client, built from the environment if needed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel

import weespin_instrument as weespin
from weespin_instrument.collector import Collector
from weespin_instrument.testing import default_client
from weespin_instrument.transports import MemoryTransport


@pytest.fixture(autouse=True)
def isolated_default_client() -> Iterator[None]:
    """Each test starts without a default client and leaves none behind."""
    with default_client(None):
        yield
        weespin.shutdown(timeout=1.0)


def test_the_environment_is_enough(collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEESPIN_API_KEY", "env-key-1234")
    monkeypatch.setenv("WEESPIN_BASE_URL", collector.url)
    weespin.track("signup", {"plan": "pro"})
    assert weespin.flush(timeout=10.0)
    assert [row["event_name"] for row in collector.events()] == ["signup"]
    assert weespin.stats().sent == 1


def test_configure_replaces_the_default_client_and_flushes_the_old_one() -> None:
    first, second = MemoryTransport(), MemoryTransport()
    weespin.configure(transport=first)
    weespin.track("signup")
    client = weespin.configure(transport=second)
    weespin.track("login")
    assert weespin.get_client() is client
    assert [e.name for e in first.events] == ["signup"]
    assert [e.name for e in second.events] == ["login"]


def test_flush_and_shutdown_without_any_event_are_free() -> None:
    assert weespin.flush() is True
    assert weespin.shutdown() is True


def test_shutdown_keeps_the_configuration_and_drops_later_events() -> None:
    memory = MemoryTransport()
    weespin.configure(transport=memory)
    weespin.track("signup")
    assert weespin.shutdown() is True
    weespin.track("login")
    assert [e.name for e in memory.events] == ["signup"]
    assert weespin.stats().dropped == {"closed": 1}


def test_the_pytest_fixture_captures_events_in_strict_mode(
    weespin_events: MemoryTransport,
) -> None:
    weespin.track("purchase", {"amount": 19.99, "currency": "EUR"})
    weespin_events.assert_tracked("purchase", amount=19.99, currency="EUR")
    with pytest.raises(weespin.InvalidEventError):
        weespin.track("purchase", {"amount": float("inf")})


def test_every_error_strict_mode_raises_is_importable_from_the_package() -> None:
    from weespin_instrument import errors

    for name in ("AuthenticationError", "RejectedError", "DeliveryError", "InvalidEventError"):
        assert getattr(weespin, name) is getattr(errors, name)
        assert name in weespin.__all__


@pytest.mark.parametrize("track", ["track", "Client.track"])  # named as Python names them
def test_track_takes_the_identity_and_a_schema_by_keyword_and_refuses_any_other_keyword(
    track: str,
) -> None:
    client = weespin.configure(transport="memory")
    call = weespin.track if track == "track" else client.track
    for keyword in ("usr_id", "origin"):  # a typo, and a keyword only Client.emit() takes
        with pytest.raises(
            TypeError, match=rf"^{track}\(\) got an unexpected keyword argument '{keyword}'$"
        ):
            call("purchase", {"amount": 1.5}, **{keyword: "u_1"})
    with pytest.raises(TypeError):  # keywords only, as before
        call("purchase", {"amount": 1.5}, "u_1")  # type: ignore[misc]
    event = call("purchase", {"amount": 1.5}, user_id="u_1", link_id="l_1", device_id="d_1")
    assert event is not None
    assert (event.user_id, event.link_id, event.device_id) == ("u_1", "l_1", "d_1")
    assert call("purchase", {"amount": 1.5}, user_id=None) is not None  # None: not given

    class Purchase(BaseModel):
        amount: float

    coerced = call("purchase", {"amount": "1.5"}, schema=Purchase)
    assert coerced is not None and coerced.payload == {"amount": 1.5}
    assert client.stats().tracked == 3
