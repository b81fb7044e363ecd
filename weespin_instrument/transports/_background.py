"""The default transport: the caller only enqueues; a sender thread delivers."""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from .._config import Settings
from ._base import BaseTransport
from ._http import HttpTransport

if TYPE_CHECKING:
    from .._event import Event
    from .._reporting import Reporter

__all__ = ["BackgroundTransport"]

OverflowPolicy = Literal["drop_newest", "drop_oldest"]


class BackgroundTransport(BaseTransport):
    """Queues events (bounded) and delivers them from a sender thread started on first use.

    ``send`` never waits on the network: when the queue is full the event is dropped and
    counted (``queue_full``). ``flush`` waits for the queue to drain; ``close`` drains
    with a deadline and counts what was left (``shutdown``). A forked child starts its own
    queue and thread; events queued in the parent before the fork stay the parent's.

    Example::

        weespin.configure(transport=BackgroundTransport(max_queue=50_000))
    """

    needs_api = True

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        max_queue: int = 10_000,
        overflow: OverflowPolicy = "drop_newest",
        **options: Any,
    ) -> None:
        super().__init__()
        self.delivery = HttpTransport(settings=settings, **options)
        self.delivery.attach(self.reporter)
        self.settings = self.delivery.settings
        self.max_queue = max_queue
        self.overflow = overflow
        self._start_lock = threading.Lock()
        self._reset()

    def __repr__(self) -> str:
        return f"BackgroundTransport(base_url={self.settings.base_url!r})"

    def attach(self, reporter: Reporter) -> None:
        super().attach(reporter)
        self.delivery.attach(reporter)

    def send(self, event: Event) -> None:
        if self._pid != os.getpid():
            self._reset()
        if self._thread is None:
            self._start()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            if self.overflow == "drop_oldest":
                self._drop_oldest()
                self._queue.put_nowait(event)
            else:
                self.reporter.dropped("queue_full", event=event)

    def flush(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                done.wait(remaining)
        return True

    def close(self, timeout: float | None = None) -> None:
        self.flush(timeout)
        self._stopping.set()
        thread = self._thread
        if thread is not None and self._pid == os.getpid():
            self._queue.put(None)
            thread.join(timeout)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self.reporter.dropped("shutdown", event=item)
            self._queue.task_done()
        self.delivery.close()

    def pending(self) -> tuple[int, int]:
        queued = self._queue.qsize()
        return (queued, max(0, self._queue.unfinished_tasks - queued))

    # -- internals ----------------------------------------------------------------------------

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._queue: queue.Queue[Event | None] = queue.Queue(self.max_queue)  # None: stop
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._start_lock = threading.Lock()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="weespin-sender", daemon=True)
                thread.start()
                self._thread = thread

    def _drop_oldest(self) -> None:
        try:
            oldest = self._queue.get_nowait()
        except queue.Empty:
            return
        self._queue.task_done()
        if oldest is not None:
            self.reporter.dropped("queue_full", event=oldest)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self.delivery.send(item)
            except Exception as exc:  # a bug of ours must not kill the sender
                self.reporter.dropped("transport_error", event=item, error=exc)
            finally:
                self._queue.task_done()
