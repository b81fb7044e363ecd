"""Fault injection: ``fail_next`` (statuses, ``Retry-After``, init paths) and latency."""

from __future__ import annotations

import httpx
import pytest

from weespin_instrument.collector import Collector

EVENT = {"event_name": "purchase", "device_id": "ws_device_1", "event_id": "evt-42"}


def test_the_next_requests_fail_with_503_and_store_nothing(
    http: httpx.Client, collector: Collector
) -> None:
    collector.fail_next(2)

    statuses = [http.post("/events", json=EVENT).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert len(collector.events()) == 1
    assert collector.stats()["failed_injected"] == 2
    assert collector.stats()["event_requests"] == 3


def test_an_injected_failure_has_a_json_body_and_the_retry_after_header(
    http: httpx.Client, collector: Collector
) -> None:
    collector.fail_next(1, status=429, retry_after=2)

    response = http.post("/events", json=EVENT)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"] == "injected_failure"
    assert "429" in response.json()["message"]


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [(1, "1"), (0.25, "0.25"), (3.0, "3"), ("Wed, 21 Oct 2015 07:28:00 GMT", None)],
)
def test_retry_after_is_written_as_given(
    http: httpx.Client, collector: Collector, retry_after: float | str, header: str | None
) -> None:
    collector.fail_next(1, retry_after=retry_after)

    response = http.post("/events", json=EVENT)

    assert response.headers["Retry-After"] == (header or retry_after)


def test_without_retry_after_there_is_no_header(http: httpx.Client, collector: Collector) -> None:
    collector.fail_next(1, status=500)

    assert "Retry-After" not in http.post("/events", json=EVENT).headers


def test_failures_queue_up_in_order(http: httpx.Client, collector: Collector) -> None:
    collector.fail_next(1, status=429)
    collector.fail_next(2, status=500)

    statuses = [http.post("/events", json=EVENT).status_code for _ in range(4)]

    assert statuses == [429, 500, 500, 200]


def test_init_failures_target_both_init_paths_and_leave_events_alone(
    http: httpx.Client, collector: Collector
) -> None:
    collector.fail_next(2, status=502, path="init")

    assert http.post("/events", json=EVENT).status_code == 200
    assert http.post("/initialize-device").status_code == 502
    assert http.post("/events/initialize").status_code == 502
    assert http.post("/initialize-device").status_code == 200
    assert len(collector.devices()) == 1
    assert collector.stats()["init_requests"] == 3


def test_injected_failures_come_before_the_key_check(collector: Collector) -> None:
    collector.fail_next(1)

    assert httpx.post(collector.url + "/events", json=EVENT).status_code == 503


def test_the_request_log_shows_every_attempt_with_its_event_id(
    http: httpx.Client, collector: Collector
) -> None:
    collector.fail_next(2, status=503)
    for _ in range(3):
        http.post("/events", json=EVENT)
    http.post("/initialize-device")
    http.post("/events", content=b"not json")

    log = collector.request_log

    assert [(r["path"], r["status"], r["event_id"]) for r in log] == [
        ("/events", 503, "evt-42"),
        ("/events", 503, "evt-42"),
        ("/events", 200, "evt-42"),
        ("/initialize-device", 200, None),
        ("/events", 400, None),
    ]
    assert [r["monotonic"] for r in log] == sorted(r["monotonic"] for r in log)
    assert all(isinstance(r["time"], float) for r in log)


def test_the_request_log_skips_reads(http: httpx.Client, collector: Collector) -> None:
    http.get("/api/events")
    http.get("/healthz")

    assert collector.request_log == []


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"path": "/elsewhere"}, "path"),
        ({"status": 200}, "status"),
        ({"status": 302}, "status"),
        ({"retry_after": -1}, "retry_after"),
    ],
)
def test_fail_next_refuses_what_it_cannot_inject(
    collector: Collector, kwargs: dict[str, object], word: str
) -> None:
    with pytest.raises(ValueError, match=word):
        collector.fail_next(1, **kwargs)  # type: ignore[arg-type]


def test_latency_delays_the_posts(http: httpx.Client, collector: Collector) -> None:
    collector.set_latency(2_000)

    with pytest.raises(httpx.ReadTimeout):
        http.post("/events", json=EVENT, timeout=0.2)
    assert http.get("/healthz", timeout=1).status_code == 200, "reads are not delayed"

    collector.set_latency(0)
    assert http.post("/events", json=EVENT, timeout=1).status_code == 200


def test_latency_can_be_set_at_start() -> None:
    with Collector(latency_ms=2_000) as slow, pytest.raises(httpx.ReadTimeout):
        httpx.post(slow.url + "/initialize-device", headers={"Authorization": "k"}, timeout=0.2)


def test_latency_cannot_be_negative(collector: Collector) -> None:
    with pytest.raises(ValueError, match="latency"):
        collector.set_latency(-1)
