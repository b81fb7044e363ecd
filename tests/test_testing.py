"""The pytest plugin shipped with the package: fixtures, assertions, and the network guard."""

from __future__ import annotations

import pytest

import weespin_instrument as weespin
from weespin_instrument.collector import Collector
from weespin_instrument.testing import default_client, use_memory_client
from weespin_instrument.transports import MemoryTransport

PRODUCTION = "https://developer.weespin.io"


def test_default_client_installs_a_client_for_a_block_and_puts_the_old_one_back() -> None:
    outer, outer_memory = use_memory_client()
    inner, inner_memory = use_memory_client()
    with default_client(outer):
        with default_client(inner):
            weespin.track("inside")
        weespin.track("outside")
        assert weespin.get_client() is outer
    assert [e.name for e in inner_memory.events] == ["inside"]
    assert [e.name for e in outer_memory.events] == ["outside"]
    assert not inner.closed, "the caller owns the client: nothing is shut down"


# -- the assertion API --------------------------------------------------------------------------


def test_assert_tracked_matches_payload_fields_identity_and_a_count(
    weespin_events: MemoryTransport,
) -> None:
    weespin.track("purchase", {"amount": 19.99, "currency": "EUR"}, user_id="u_1")
    weespin.track("purchase", {"amount": 5.0, "currency": "EUR"}, user_id="u_2", link_id="lnk")

    last = weespin_events.assert_tracked("purchase", currency="EUR", times=2)
    assert last.payload["amount"] == 5.0, "the last matching event is returned"
    weespin_events.assert_tracked("purchase", user_id="u_1", amount=19.99)
    weespin_events.assert_tracked("purchase", link_id="lnk")
    with pytest.raises(AssertionError, match=r"expected event 'purchase' 1 time\(s\), found 2"):
        weespin_events.assert_tracked("purchase", times=1)


def test_find_assert_not_tracked_and_clear(weespin_events: MemoryTransport) -> None:
    weespin.track("signup", {"plan": "pro"}, user_id="u_1")
    weespin.track("login", user_id="u_1")

    assert [e.name for e in weespin_events.find(user_id="u_1")] == ["signup", "login"]
    assert weespin_events.find("signup", plan="free") == []
    weespin_events.assert_not_tracked("signup", plan="free")
    with pytest.raises(AssertionError, match="expected no 'login' event, found 1"):
        weespin_events.assert_not_tracked("login")

    weespin_events.clear()
    assert weespin_events.events == []
    weespin_events.assert_not_tracked("signup")


def test_deterministic_ids_and_timestamps_on_request(weespin_events: MemoryTransport) -> None:
    weespin_events.deterministic()
    weespin.track("signup")
    weespin.track("login")

    first, second = weespin_events.events
    assert (first.event_id, first.timestamp_iso) == (
        "00000000-0000-4000-8000-000000000001", "2026-01-01T00:00:00.000Z",
    )  # fmt: skip
    assert (second.event_id, second.timestamp_iso) == (
        "00000000-0000-4000-8000-000000000002", "2026-01-01T00:00:01.000Z",
    )  # fmt: skip
    assert second.to_wire()["event_id"] == second.event_id


def test_without_deterministic_ids_are_random(weespin_events: MemoryTransport) -> None:
    weespin.track("signup")
    weespin.track("signup")
    first, second = weespin_events.events
    assert first.event_id != second.event_id
    assert not first.event_id.startswith("00000000-")


def test_an_assertion_failure_shows_the_tests_line_not_the_plugins(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import weespin_instrument as weespin

        def test_checkout(weespin_events):
            weespin.track("signup", {"plan": "pro"})
            weespin_events.assert_tracked("purchase", amount=19.99)
        """
    )
    result = pytester.runpytest("-p", "no:randomly")

    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert '>       weespin_events.assert_tracked("purchase", amount=19.99)' in output
    assert "expected event 'purchase', amount=19.99 at least once; tracked:" in output
    assert "signup {'plan': 'pro'}" in output
    assert "raise AssertionError" not in output
    assert "_local.py" not in output


# -- the weespin_collector fixture ---------------------------------------------------------------


def test_weespin_collector_receives_the_default_clients_events_over_http(
    weespin_collector: Collector,
) -> None:
    weespin.track("signup", {"plan": "pro"}, user_id="u_42")
    assert weespin.flush(timeout=10.0)

    [stored] = weespin_collector.wait_for(1, name="signup")
    assert (stored["payload"], stored["user_id"]) == ({"plan": "pro"}, "u_42")
    assert weespin.get_client().settings.base_url == weespin_collector.url


# -- the network guard ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:the weespin pytest plugin kept")
def test_inside_a_test_session_no_client_reaches_a_host_that_is_not_this_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEESPIN_API_KEY", "wsk_exported_in_the_shell")
    monkeypatch.delenv("WEESPIN_BASE_URL", raising=False)
    for transport in ("background", "sync"):
        client = weespin.Client(transport=transport)
        assert client.settings.base_url == PRODUCTION
        with default_client(client):
            weespin.track("purchase", {"amount": 1})
            assert weespin.flush(timeout=1.0)
        stats = client.stats()
        assert (stats.sent, stats.dropped) == (0, {"blocked_in_tests": 1}), transport
        assert "kept an event from https://developer.weespin.io" in (stats.last_error or "")
        assert "--weespin-allow-network" in (stats.last_error or "")
        client.shutdown()


def test_loopback_and_reserved_names_stay_reachable() -> None:
    from weespin_instrument._guard import is_local_url

    local = ["http://127.0.0.1:1", "http://127.5.0.1", "http://[::1]:80", "http://localhost:9",
             "http://api.localhost", "http://weespin.invalid", "http://x.test"]  # fmt: skip
    remote = [PRODUCTION, "http://10.0.0.1", "http://192.168.1.1", "http://localhost.weespin.io"]
    assert [is_local_url(url) for url in local] == [True] * len(local)
    assert [is_local_url(url) for url in remote] == [False] * len(remote)


GUARDED_TEST = """
import warnings
import weespin_instrument as weespin

def test_sends_to_production():
    client = weespin.Client(api_key="k", base_url="https://developer.weespin.io")
    for _ in range(3):
        client.track("purchase")
    print("STATS", dict(client.stats().dropped))
    print("BLOCKED", client._blocked is not None)
    client.shutdown(timeout=0)
"""


def test_one_warning_per_session_says_why_and_how_to_opt_in(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(GUARDED_TEST)
    result = pytester.runpytest("-p", "no:randomly", "-s")

    result.assert_outcomes(passed=1, warnings=1)
    output = result.stdout.str()
    assert "STATS {'blocked_in_tests': 3}" in output
    assert output.count("the weespin pytest plugin kept an event from") == 1


@pytest.mark.parametrize(
    ("args", "ini"),
    [(["--weespin-allow-network"], None), ([], "[pytest]\nweespin_allow_network = true\n")],
    ids=["option", "ini"],
)
def test_the_run_can_opt_in(pytester: pytest.Pytester, args: list[str], ini: str | None) -> None:
    if ini:
        pytester.makeini(ini)
    # Only the transport is looked at: nothing is sent, never to a real host.
    pytester.makepyfile(GUARDED_TEST.replace("range(3)", "range(0)"))
    result = pytester.runpytest("-p", "no:randomly", "-s", *args)

    result.assert_outcomes(passed=1)
    assert "BLOCKED False" in result.stdout.str()


@pytest.mark.filterwarnings("ignore:the weespin pytest plugin kept")
def test_the_outer_session_stays_guarded_after_an_inner_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    pytester.runpytest("-p", "no:randomly", "--weespin-allow-network")

    client = weespin.Client(api_key="k", base_url=PRODUCTION, transport="sync")
    client.track("purchase")
    assert client.stats().dropped == {"blocked_in_tests": 1}
    client.shutdown()
