"""Celery: a prefork worker on redis-server runs each task with the enqueuer's identity."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import weespin_instrument as weespin
from weespin_instrument.celery import identity_from, identity_headers
from weespin_instrument.collector import Collector
from weespin_instrument.context import Identity, current_identity

ROOT = Path(__file__).resolve().parents[2]
KEY = "celery-test-key"

pytest.importorskip("celery")


def test_the_identity_travels_as_two_headers_and_back() -> None:
    headers = identity_headers(Identity(user_id="u_1", link_id="lnk_1", device_id="ws_web"))
    assert headers == {"weespin_user_id": "u_1", "weespin_link_id": "lnk_1"}

    class Request:
        def __init__(self, headers: dict[str, str]) -> None:
            self.headers = headers

    assert identity_from(Request(headers)) == Identity(user_id="u_1", link_id="lnk_1")
    assert identity_from(Request({})) == Identity()


def test_an_eager_task_runs_inside_the_enqueuers_identity(
    monkeypatch: pytest.MonkeyPatch, weespin_events: object
) -> None:
    from celery import Celery

    import weespin_instrument.celery

    app = Celery("eager", broker="memory://")
    app.conf.task_always_eager = True
    seen: list[Identity] = []

    @app.task
    def job() -> None:
        seen.append(current_identity())

    weespin_instrument.celery.install()
    job.apply(headers=identity_headers(Identity(user_id="u_9")))
    assert seen == [Identity(user_id="u_9")]
    assert current_identity() == Identity()  # restored after the task


@pytest.fixture
def worker(redis_url: str, collector: Collector, tmp_path: Path) -> Iterator[str]:
    """``celery worker --pool=prefork -c 2`` on the test's redis-server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEESPIN_")}
    env.update(
        WEESPIN_API_KEY=KEY,
        WEESPIN_BASE_URL=collector.url,
        CELERY_BROKER=redis_url,
        PYTHONPATH=str(ROOT),
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.workers.celery_tasks",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield redis_url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_a_prefork_worker_tracks_with_the_identity_of_each_enqueuing_request(
    worker: str, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELERY_BROKER", worker)
    from tests.workers import celery_tasks

    celery_tasks.app.conf.broker_url = worker
    for n in range(4):
        with weespin.identify(user_id=f"u_{n}", link_id=f"lnk_{n}"):
            celery_tasks.send_receipt.delay(f"order-{n}")
    celery_tasks.send_receipt.delay("order-anonymous")
    events = collector.wait_for(5, name="receipt_sent", timeout=60)
    by_order = {e["payload"]["order_id"]: e for e in events}
    for n in range(4):
        event = by_order[f"order-{n}"]
        assert (event["user_id"], event["link_id"]) == (f"u_{n}", f"lnk_{n}")
    assert (by_order["order-anonymous"]["user_id"], by_order["order-anonymous"]["link_id"]) == (
        None,
        None,
    )
    celery_tasks.app.close()
