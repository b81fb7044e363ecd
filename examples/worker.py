"""A job worker: a pool of forked processes, one device for the service, a user per job.

Run it with ``python examples/worker.py``: no account and no network needed. It starts
the embedded collector, then does what task workers do (Celery's prefork pool works the
same way; see docs/web.md for Celery itself):

- ``weespin.web.preload()`` in the parent imports the HTTP engine once, before forking;
- ``device_store=FileDeviceStore(...)``: every worker process, and the next run of the
  service, uses one device for the service, instead of one per process;
- each job runs inside ``weespin.identify(user_id=...)`` (the Celery integration does this
  from the task's headers);
- nothing to do at the end: each worker process delivers what it tracked as it exits.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from pathlib import Path

import weespin_instrument as weespin
from weespin_instrument.collector import Collector
from weespin_instrument.web import preload


def run_job(job: tuple[str, int]) -> int:
    user, n = job
    with weespin.identify(user_id=user):
        weespin.track("report_exported", {"rows": n * 100, "worker_pid": os.getpid()})
    return os.getpid()


def main() -> None:
    with Collector() as collector, tempfile.TemporaryDirectory() as state:
        store = weespin.FileDeviceStore(Path(state) / "service-device")
        weespin.configure(api_key="worker-example-key", base_url=collector.url, device_store=store)
        preload()
        jobs = [(f"u_{n % 3}", n) for n in range(9)]
        pool = multiprocessing.get_context("fork").Pool(3)
        pids = set(pool.map(run_job, jobs))
        pool.close()  # the workers end normally (not `with Pool()`, which terminates them)
        pool.join()
        weespin.shutdown()
        rows = collector.events()
        print(f"{len(jobs)} jobs on {len(pids)} worker processes; events stored:")
        for row in rows:
            print(f"  {row['event_name']} user={row['user_id']} device={row['device_id']}")
        devices = {row["device_id"] for row in rows}
        print(f"devices: {sorted(devices)} (the store holds {store.load()})")
        if len(rows) != len(jobs) or devices != {store.load()}:
            raise SystemExit(f"worker: expected {len(jobs)} events on one device, got {rows}")


if __name__ == "__main__":
    main()
