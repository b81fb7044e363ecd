"""Worker processes deliver what they tracked before they exit, with no user code.

multiprocessing's children leave through ``os._exit()`` (no atexit): the drain runs in
multiprocessing's own exit hooks instead. Each start method, Pool and ProcessPoolExecutor.
"""

from __future__ import annotations

import multiprocessing
import re
from pathlib import Path

import pytest

from weespin_instrument.collector import Collector

from ._support import KEY, PythonRunner, free_port

pytestmark = pytest.mark.reliability

TASKS = 100

#: The module the workers import: it configures the default client, as an app would.
TASKS_MODULE = """
import weespin_instrument as weespin

weespin.configure(api_key={key!r}, base_url={url!r}, device_id="ws_device_1")


def work(n):
    weespin.track("job_done", {{"n": n}})
    return n
"""

POOL = """
import multiprocessing
import tasks

pool = multiprocessing.get_context({method!r}).Pool(4)
assert pool.map(tasks.work, range({count})) == list(range({count}))
pool.close()
pool.join()
"""

EXECUTOR = """
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
import tasks

context = multiprocessing.get_context({method!r})
with ProcessPoolExecutor(4, mp_context=context) as executor:
    assert list(executor.map(tasks.work, range({count}))) == list(range({count}))
"""

AVAILABLE = multiprocessing.get_all_start_methods()
METHODS = [method for method in ("fork", "forkserver", "spawn") if method in AVAILABLE]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["pool", "executor"])
def test_workers_that_end_normally_deliver_everything(
    collector: Collector, python: PythonRunner, tmp_path: Path, method: str, kind: str
) -> None:
    collector.set_latency(5)  # events still queued when each worker is told to stop
    (tmp_path / "tasks.py").write_text(TASKS_MODULE.format(key=KEY, url=collector.url))
    script = POOL if kind == "pool" else EXECUTOR
    process = python(script.format(method=method, count=TASKS))
    _, err = process.communicate(timeout=90)
    assert process.returncode == 0, err
    delivered = sorted(row["payload"]["n"] for row in collector.events())
    assert delivered == list(range(TASKS)), err


def test_a_worker_with_a_dead_api_exits_within_exit_timeout_and_says_what_it_lost(
    python: PythonRunner, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    module = TASKS_MODULE.format(key=KEY, url=dead).replace(
        'device_id="ws_device_1"', 'device_id="ws_device_1", exit_timeout=0.5'
    )
    (tmp_path / "tasks.py").write_text(module)
    process = python(POOL.format(method=METHODS[0], count=20))
    _, err = process.communicate(timeout=60)  # each worker gives up after 0.5 s
    assert process.returncode == 0, err
    # Each worker's one line says what it could not deliver, or cut off in flight unanswered.
    lost = re.findall(r"exiting with (\d+) event\(s\) not delivered", err)
    cut = re.findall(r"(\d+) more were cut off in flight", err)
    assert lost and sum(map(int, lost + cut)) == 20, err
