"""Celery: a prefork worker on redis-server runs each task with the enqueuer's identity."""

from __future__ import annotations

from pathlib import Path

import pytest
from _celery import celery_client, celery_worker, redis_server

import weespin_instrument as weespin
from weespin_instrument.celery import _identity_from, _identity_headers
from weespin_instrument.collector import Collector
from weespin_instrument.context import Identity, current_identity

KEY = "celery-test-key"

pytest.importorskip("celery")


def test_the_identity_travels_as_two_headers_and_back() -> None:
    headers = _identity_headers(Identity(user_id="u_1", link_id="lnk_1", device_id="ws_web"))
    assert headers == {"weespin_user_id": "u_1", "weespin_link_id": "lnk_1"}

    class Request:
        def __init__(self, headers: dict[str, str]) -> None:
            self.headers = headers

    assert _identity_from(Request(headers)) == Identity(user_id="u_1", link_id="lnk_1")
    assert _identity_from(Request({})) == Identity()


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
    job.apply(headers=_identity_headers(Identity(user_id="u_9")))
    assert seen == [Identity(user_id="u_9")]
    assert current_identity() == Identity()  # restored after the task


TASKS = """
import os

from celery import Celery

import weespin_instrument as weespin
import weespin_instrument.celery

app = Celery("tasks", broker=os.environ["CELERY_BROKER_URL"])
app.conf.update(task_ignore_result=True, worker_hijack_root_logger=False)
weespin.configure(api_key="{key}", base_url="{url}")
weespin_instrument.celery.install()


@app.task(name="tasks.send_receipt")
def send_receipt(order_id):
    weespin.track("receipt_sent", {{"order_id": order_id, "pid": os.getpid()}})
"""


def test_a_prefork_worker_tracks_with_the_identity_of_each_enqueuing_request(
    collector: Collector, tmp_path: Path
) -> None:
    import weespin_instrument.celery

    tasks = TASKS.format(key=KEY, url=collector.url)
    with redis_server() as broker, celery_worker(tmp_path, tasks, broker, "--concurrency=2"):
        app = celery_client(broker)
        weespin_instrument.celery.install()  # the enqueuing side: this process
        for n in range(4):
            with weespin.identify(user_id=f"u_{n}", link_id=f"lnk_{n}"):
                app.send_task("tasks.send_receipt", args=(f"order-{n}",), ignore_result=True)
        app.send_task("tasks.send_receipt", args=("order-anonymous",), ignore_result=True)
        events = collector.wait_for(5, name="receipt_sent", timeout=60)
        app.close()
    by_order = {e["payload"]["order_id"]: e for e in events}
    for n in range(4):
        event = by_order[f"order-{n}"]
        assert (event["user_id"], event["link_id"]) == (f"u_{n}", f"lnk_{n}")
    anonymous = by_order["order-anonymous"]
    assert (anonymous["user_id"], anonymous["link_id"]) == (None, None)
