"""De-duplication by ``event_id``: a retried event is answered 200 but stored once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from weespin_instrument.collector import Collector

EVENT = {"event_name": "purchase", "device_id": "ws_device_1", "event_id": "evt-1"}


def test_a_second_event_with_the_same_event_id_is_a_duplicate(
    http: httpx.Client, collector: Collector
) -> None:
    first = http.post("/events", json=EVENT)
    second = http.post("/events", json={**EVENT, "payload": {"retried": True}})

    assert first.json() == {"status": "ok", "event_id": "evt-1", "duplicate": False}
    assert second.status_code == 200
    assert second.json() == {"status": "ok", "event_id": "evt-1", "duplicate": True}
    [stored] = collector.events()
    assert stored["payload"] == {}, "the first one is kept"
    assert collector.stats()["events_stored"] == 1
    assert collector.stats()["duplicates"] == 1


def test_events_without_event_id_are_never_duplicates(
    http: httpx.Client, collector: Collector
) -> None:
    bare = {"event_name": "purchase", "device_id": "ws_device_1"}

    ids = {http.post("/events", json=bare).json()["event_id"] for _ in range(3)}

    assert len(ids) == 3
    assert len(collector.events()) == 3


def test_duplicates_sent_concurrently_are_still_stored_once(collector: Collector) -> None:
    async def send_all() -> list[bool]:
        async with httpx.AsyncClient(
            base_url=collector.url, headers={"Authorization": "k"}
        ) as client:
            responses = await asyncio.gather(
                *(client.post("/events", json=EVENT) for _ in range(20))
            )
        return [response.json()["duplicate"] for response in responses]

    duplicates = asyncio.run(send_all())

    assert sorted(duplicates) == [False] + [True] * 19
    assert len(collector.events()) == 1


def test_de_duplication_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "kept.sqlite"
    with Collector(db=db) as first:
        httpx.post(first.url + "/events", json=EVENT, headers={"Authorization": "k"})
    with Collector(db=db) as second:
        response = httpx.post(second.url + "/events", json=EVENT, headers={"Authorization": "k"})
        assert response.json()["duplicate"] is True
        assert len(second.events()) == 1
