"""What a running collector knows besides its store: counters, injected faults, request log.

The server's event loop writes it; test threads read it and queue faults. Each piece is safe
to share: counters are plain ints (one writer), faults and the log are deques.

Example::

    state = RuntimeState(api_key=None, latency_ms=0.0)
    state.faults.push("/events", Fault(status=503, retry_after="1"), count=2)
    state.faults.take("/events")  # Fault(status=503, retry_after='1')
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import TypedDict

__all__ = ["Counters", "Fault", "FaultQueue", "RequestRecord", "RuntimeState"]

#: How many POST requests the request log keeps (the oldest are forgotten).
REQUEST_LOG_SIZE = 100_000


@dataclass
class Counters:
    """What the collector counted since it started.

    Example::

        Counters().snapshot()["events_stored"]  # 0
    """

    init_requests: int = 0
    event_requests: int = 0
    events_stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    unauthorized: int = 0
    failed_injected: int = 0
    devices_created: int = 0

    def snapshot(self) -> dict[str, int]:
        """The counters as a new dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Fault:
    """One injected failure: the status to answer and its ``Retry-After`` header, if any.

    Example::

        Fault(status=429, retry_after="2")
    """

    status: int
    retry_after: str | None = None


class FaultQueue:
    """Pending injected failures per target (``"/events"`` or ``"init"``), first in first out.

    Example::

        queue = FaultQueue()
        queue.push("init", Fault(500), count=1)
        queue.take("init")  # Fault(status=500, retry_after=None)
        queue.take("init")  # None
    """

    TARGETS = ("/events", "init")

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {target: deque() for target in self.TARGETS}

    def push(self, target: str, fault: Fault, *, count: int) -> None:
        """Make the next ``count`` requests to ``target`` fail with ``fault``."""
        self._queues[target].extend([fault] * count)

    def take(self, target: str) -> Fault | None:
        """The fault for the request arriving now, or ``None`` to handle it normally."""
        queue = self._queues[target]
        if not queue:
            return None
        try:
            return queue.popleft()
        except IndexError:  # emptied by another thread in between
            return None

    def pending(self, target: str) -> int:
        """How many failures are still queued for ``target``."""
        return len(self._queues[target])

    def clear(self) -> None:
        """Forget every pending failure."""
        for queue in self._queues.values():
            queue.clear()


class RequestRecord(TypedDict):
    """One POST the collector received, as :attr:`Collector.request_log` shows it.

    ``time`` is ``time.time()`` when the request arrived (before any injected latency) and
    ``monotonic`` the same moment on ``time.monotonic()`` (better for intervals);
    ``status`` is what was answered; ``event_id`` is the one the request carried
    (``None`` for init requests and bodies without one); ``client`` is the ``"host:port"``
    of the connection it came on, so requests that share one share it.

    Example::

        first, second = collector.request_log
        second["time"] - first["time"]  # how long the client waited before retrying
        first["client"] == second["client"]  # the connection was kept alive
    """

    time: float
    monotonic: float
    path: str
    status: int
    event_id: str | None
    client: str


class RuntimeState:
    """Everything the app's handlers share, mutable at run time.

    Example::

        state = RuntimeState(api_key="secret", latency_ms=50)
        state.latency_s  # 0.05
    """

    def __init__(self, *, api_key: str | None, latency_ms: float) -> None:
        self.api_key = api_key
        self.latency_s = latency_ms / 1000.0
        self.counters = Counters()
        self.faults = FaultQueue()
        self.log: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)
        #: Set (in the server's loop) when the server begins to shut down.
        self.stopping = asyncio.Event()
