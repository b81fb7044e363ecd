"""Starting and stopping: free ports, context manager, databases kept or removed, restarts."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from weespin_instrument.collector import Collector

EVENT = {"event_name": "signup", "device_id": "ws_device_1"}
AUTH = {"Authorization": "k"}


def test_start_returns_the_collector_serving_on_a_free_local_port() -> None:
    collector = Collector().start()
    try:
        assert collector.port > 0
        assert collector.url == f"http://127.0.0.1:{collector.port}"
        assert httpx.get(collector.url + "/healthz").json() == {"status": "ok"}
    finally:
        collector.stop()


def test_as_a_context_manager_it_starts_and_stops() -> None:
    with Collector() as collector:
        url = collector.url
        assert httpx.get(url + "/healthz").status_code == 200

    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/healthz")


def test_without_db_the_temporary_database_is_removed_at_stop() -> None:
    with Collector() as collector:
        path = collector.db_path
        httpx.post(collector.url + "/events", json=EVENT, headers=AUTH)
        assert path.exists()

    assert not path.exists()
    assert not path.parent.exists()


def test_with_db_the_file_is_kept_and_reopened(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    with Collector(db=db) as first:
        httpx.post(first.url + "/events", json=EVENT, headers=AUTH)

    assert db.exists()
    with Collector(db=db) as second:
        assert [event["event_name"] for event in second.events()] == ["signup"]
        assert second.stats()["events_total"] == 1
        assert second.stats()["events_stored"] == 0, "counters are per run"


def test_a_restart_on_the_same_port_and_db_recovers_after_an_outage(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    with httpx.Client(headers=AUTH) as client:  # one keep-alive pool across the outage
        first = Collector(db=db).start()
        port = first.port
        client.post(first.url + "/events", json={**EVENT, "payload": {"n": 1}})
        first.stop()

        with pytest.raises(httpx.TransportError):
            client.post(f"http://127.0.0.1:{port}/events", json=EVENT)

        with Collector(port=port, db=db) as second:
            response = client.post(second.url + "/events", json={**EVENT, "payload": {"n": 2}})
            assert response.status_code == 200
            assert [event["payload"]["n"] for event in second.events()] == [1, 2]


def test_a_taken_port_is_an_error(collector: Collector) -> None:
    with pytest.raises(OSError):
        Collector(port=collector.port).start()


def test_it_starts_once() -> None:
    collector = Collector()
    with collector, pytest.raises(RuntimeError, match="starts once"):
        collector.start()
    with pytest.raises(RuntimeError, match="starts once"):
        collector.start()


def test_stop_is_idempotent_and_a_never_started_collector_can_be_stopped() -> None:
    Collector().stop()
    collector = Collector().start()
    collector.stop()
    collector.stop()


def test_helpers_need_a_running_collector() -> None:
    collector = Collector()
    with pytest.raises(RuntimeError, match="not started"):
        collector.events()
    with pytest.raises(RuntimeError, match="not started"):
        _ = collector.url
    collector.start().stop()
    with pytest.raises(RuntimeError, match="stopped"):
        collector.events()


def test_the_port_stays_known_after_stop_for_a_restart() -> None:
    collector = Collector().start()
    collector.stop()

    with Collector(port=collector.port) as again:
        assert again.port == collector.port


def test_it_listens_on_the_loopback_only_by_default(collector: Collector) -> None:
    with socket.create_connection(("127.0.0.1", collector.port), timeout=5):
        pass
    assert collector.host == "127.0.0.1"


def test_stop_answers_requests_still_waiting_out_their_latency() -> None:
    import threading

    collector = Collector(latency_ms=30_000).start()
    answers: list[int] = []

    def post() -> None:
        response = httpx.post(collector.url + "/events", json=EVENT, headers=AUTH, timeout=20)
        answers.append(response.status_code)

    sender = threading.Thread(target=post)
    sender.start()
    for _ in range(500):  # bounded: until the request has arrived
        if collector.stats()["event_requests"]:
            break
        threading.Event().wait(0.01)
    collector.stop()
    sender.join(timeout=20)

    assert answers == [503]


def test_repr_names_the_url_and_state() -> None:
    collector = Collector()
    assert "not started" in repr(collector)
    with collector:
        assert collector.url in repr(collector)
        assert "running" in repr(collector)
    assert "stopped" in repr(collector)


@pytest.mark.parametrize(
    ("options", "word"), [({"latency_ms": -1}, "latency_ms"), ({"api_key": ""}, "api_key")]
)
def test_impossible_options_are_refused_at_once(options: dict[str, Any], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        Collector(**options)
