"""Helpers for the reliability group: free ports, clean environments, a fault storm."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable

from weespin_instrument.collector import Collector

KEY = "reliability-test-key"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEESPIN_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


PythonRunner = Callable[[str], "subprocess.Popen[str]"]


class FaultStorm:
    """Keeps about ``rate`` of the requests to ``/events`` failing, alternating 500 and 429.

    A helper thread tops up the collector's fault queue (``fail_next``) whenever fewer than
    ``rate`` of the requests so far were failed. The 429s carry ``Retry-After``.
    Bounded: it stops after ``max_faults`` faults or ``max_seconds``, whichever comes first.
    """

    def __init__(
        self,
        collector: Collector,
        *,
        rate: float = 0.3,
        retry_after: int = 1,
        max_faults: int = 5_000,
        max_seconds: float = 120.0,
    ) -> None:
        self.collector = collector
        self.rate = rate
        self.retry_after = retry_after
        self.max_faults = max_faults
        self.max_seconds = max_seconds
        self.pushed = {500: 0, 429: 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-storm", daemon=True)

    def __enter__(self) -> FaultStorm:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.wait(0.003) and time.monotonic() < deadline:
            stats = self.collector.stats()
            pushed = sum(self.pushed.values())
            if pushed > stats["failed_injected"] or pushed >= self.max_faults:
                continue  # the queued ones are not used up yet
            wanted = int(self.rate * (stats["event_requests"] + 10)) - pushed
            for _ in range(max(0, min(wanted, 20))):
                status = 500 if self.pushed[500] <= self.pushed[429] else 429
                retry_after = self.retry_after if status == 429 else None
                self.collector.fail_next(1, status=status, retry_after=retry_after)
                self.pushed[status] += 1
