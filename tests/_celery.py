"""Real Celery workers for tests: a ``redis-server`` of our own and a prefork worker on it.

Reusable by any test that needs Celery (delivery from recycled children, task identity):

    with redis_server() as broker, celery_worker(tmp_path, TASKS, broker, "--concurrency=2"):
        app = celery_client(broker)
        app.send_task("tasks.work", args=(1,)).get(timeout=30)

``TASKS`` is the source of a ``tasks`` module (written to ``tmp_path``) that defines a Celery
``app`` reading its broker from ``CELERY_BROKER_URL``. Everything listens on 127.0.0.1 only,
on free ports; every process started is stopped (then killed) on the way out.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = ["celery_client", "celery_worker", "redis_server", "require_celery"]


def require_celery() -> None:
    """Skip the calling test, with the reason, when Celery or redis-server is missing."""
    pytest.importorskip("celery", reason="celery is not installed (pip install -e '.[dev]')")
    pytest.importorskip("redis", reason="redis-py is not installed (celery[redis])")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def redis_server() -> Iterator[str]:
    """A throw-away ``redis-server`` on 127.0.0.1 (no persistence); yields its URL."""
    require_celery()
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="weespin-redis-")
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def celery_worker(
    folder: Path, tasks_source: str, broker: str, *args: str, ready_timeout: float = 60
) -> Iterator[subprocess.Popen[str]]:
    """``celery -A tasks worker --pool=prefork ARGS`` in ``folder``; yields once it is ready.

    Stopped with SIGTERM (a warm shutdown: running tasks finish, children exit normally).
    """
    (folder / "tasks.py").write_text(tasks_source)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEESPIN_", "CELERY_"))}
    env.update(CELERY_BROKER_URL=broker, PYTHONUNBUFFERED="1", PYTHONPATH=str(folder))
    log = folder / "celery-worker.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasks", "worker", "--pool=prefork",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO",
         f"--logfile={log}", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + ready_timeout
        while " ready." not in (log.read_text() if log.exists() else ""):
            if process.poll() is not None:
                raise RuntimeError(f"the celery worker exited: {process.communicate()[1]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the celery worker was not ready: {log.read_text()}")
            time.sleep(0.1)
        yield process
    finally:
        _stop(process, timeout=60)


def celery_client(broker: str) -> Any:
    """A Celery app to send tasks to the worker by name (``send_task``), results in redis."""
    from celery import Celery

    return Celery("weespin-tests", broker=broker, backend=broker)
