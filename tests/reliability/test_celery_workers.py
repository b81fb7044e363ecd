"""Celery prefork children recycled by --max-tasks-per-child deliver what they tracked.

billiard's children leave through ``os._exit()`` right after the ``worker_process_shutdown``
signal: the client connects its exit drain to that signal by itself (no user code).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from _celery import celery_client, celery_worker, redis_server

from weespin_instrument.collector import Collector

from ._support import KEY

pytestmark = pytest.mark.reliability

TASKS = 200
PER_CHILD = 20

TASKS_MODULE = """
import os

from celery import Celery

import weespin_instrument as weespin

broker = os.environ["CELERY_BROKER_URL"]
app = Celery("tasks", broker=broker, backend=broker)
weespin.configure(api_key={key!r}, base_url={url!r}, device_id="ws_device_1")


@app.task
def work(n):
    weespin.track("job_done", {{"n": n}})
    return os.getpid()
"""


@pytest.mark.parametrize("latency_ms", [0, 300], ids=["fast-api", "slow-api"])
def test_recycled_prefork_children_deliver_everything(
    collector: Collector, tmp_path: Path, latency_ms: int
) -> None:
    collector.set_latency(latency_ms)
    source = TASKS_MODULE.format(key=KEY, url=collector.url)
    with (
        redis_server() as broker,
        celery_worker(
            tmp_path, source, broker, "--concurrency=2", f"--max-tasks-per-child={PER_CHILD}"
        ),
    ):
        app = celery_client(broker)
        results = [app.send_task("tasks.work", args=(n,)) for n in range(TASKS)]
        pids = {result.get(timeout=60) for result in results}
        assert len(pids) >= TASKS // PER_CHILD, "the children were not recycled"
        deadline = time.monotonic() + 30  # the live children deliver theirs meanwhile
        while len(collector.events()) < TASKS and time.monotonic() < deadline:
            time.sleep(0.1)
        delivered = sorted(row["payload"]["n"] for row in collector.events())
        assert delivered == list(range(TASKS))
