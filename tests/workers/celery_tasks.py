"""A Celery app as users write it, for the prefork worker test (broker from CELERY_BROKER)."""

from __future__ import annotations

import os

from celery import Celery

import weespin_instrument as weespin
import weespin_instrument.celery

app = Celery("shop", broker=os.environ.get("CELERY_BROKER", "memory://"))
app.conf.update(task_ignore_result=True, worker_hijack_root_logger=False)
weespin_instrument.celery.install()


@app.task(name="send_receipt")
def send_receipt(order_id: str) -> None:
    weespin.track("receipt_sent", {"order_id": order_id, "pid": os.getpid()})
