"""The jobs the sender holds: waiting in the inbox, parked, retrying, recovered, in hand.

A :class:`Job` is one event in the sender's hands and its delivery history. The
:class:`JobQueue` owns where the next one comes from, oldest first: jobs parked by an
outage or a rate limit, retries that fell due, events a dead process left in the outbox
(loaded a chunk at a time), the inbox. Jobs older than ``max_event_age`` are dropped on
the way instead. :meth:`JobQueue.settle` accounts for a job once, when it
leaves the sender's hands: counted sent or dropped, its outbox row let go, the flushes
waiting for it counted down. No loop, no clock of its own (the sender passes ``now``), no
lock: only the sender's thread uses it.

Example::

    queue = JobQueue(inbox, reporter)
    inbox.items.append(event)
    job = queue.take(now=0.0)   # Job(event, seq=1): the inbox's event, now held
    queue.retry_at(0.5, job)    # it failed: again at 0.5
    queue.take(now=0.1)         # None: nothing due yet
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING

from .._reporting import drop_reason, logger
from ..errors import DeliveryError
from ._inbox import FlushMarker, Inbox
from ._outcomes import Step

if TYPE_CHECKING:
    from .._event import Event
    from .._reporting import Reporter
    from ._outbox import Outbox
    from ._outcomes import Decision

__all__ = ["BACKLOG_CHUNK", "IN_FLIGHT", "Job", "JobQueue"]

#: Outbox rows left by dead processes are loaded at most this many at a time.
BACKLOG_CHUNK = 500
#: :meth:`JobQueue.settle`'s reason for a request cut off at shutdown: its outcome is unknown.
IN_FLIGHT = "in_flight_at_exit"


class Job:
    """One event in the sender's hands, and its delivery history."""

    __slots__ = (
        "body",
        "event",
        "failures",
        "first_sent",
        "open_at_first",
        "sends",
        "seq",
    )

    def __init__(self, event: Event, seq: int) -> None:
        self.event = event
        self.seq = seq
        self.sends = 0
        #: Failed attempts charged to the event's own retry budget.
        self.failures = 0
        self.first_sent = 0.0
        #: The breaker's open time when the event was first sent (left out of its budget).
        self.open_at_first = 0.0
        self.body: bytes | None = None

    def __lt__(self, other: Job) -> bool:  # for the retry heap's ties
        return self.seq < other.seq

    def __repr__(self) -> str:
        return f"Job({self.event.name!r}, seq={self.seq}, sends={self.sends})"


@dataclass(slots=True, eq=False, repr=False)
class JobQueue:
    """Where the sender's next job comes from; see the module docstring.

    A job found older than ``max_event_age`` is dropped (``delivery_failed``, with
    ``last_error()`` in the message); ``later(callback)`` runs ``callback`` soon, once (the
    sender's loop: it batches the outbox's removals). With an ``outbox``, the
    :attr:`backlog` rows it left for us are loaded when nothing recovered is left, and
    flush markers reached meanwhile wait for them (:meth:`~._inbox.Inbox.reached` with
    ``defer``) unless the queue is :attr:`closed`.

    Example::

        queue = JobQueue(inbox, reporter, later=loop.call_soon, max_event_age=600.0)
        job = queue.take(loop.time())
        queue.settle(job, None)  # sent
    """

    inbox: Inbox
    reporter: Reporter
    _: KW_ONLY
    later: Callable[[Callable[[], object]], object] = lambda callback: callback()
    last_error: Callable[[], object] = lambda: None
    max_event_age: float | None = None
    outbox: Outbox | None = None
    #: Outbox rows left by dead processes not loaded yet.
    backlog: int = field(default=0, init=False)
    #: Jobs sent back to the front of the line (an outage, a rate limit, no device yet).
    parked: deque[Job] = field(default_factory=deque, init=False)
    #: ``(due, job)``: a heap of jobs that failed and try again at ``due``.
    retries: list[tuple[float, Job]] = field(default_factory=list, init=False)
    #: Jobs loaded from the outbox's backlog.
    recovered: deque[Job] = field(default_factory=deque, init=False)
    #: Jobs handed to workers (a worker cancelled before it starts still holds one).
    in_hand: set[Job] = field(default_factory=set, init=False)
    #: Set when a job was taken from the inbox (the sender clears it: it is busy).
    took_fresh: bool = field(default=False, init=False)
    #: Nothing more will be sent (stopping, or the key refused): markers stop waiting.
    closed: bool = field(default=False, init=False)
    _last_sweep: float = field(default=0.0, init=False)

    def __len__(self) -> int:
        """Jobs held here (not in hand, not in the inbox)."""
        return len(self.parked) + len(self.retries) + len(self.recovered)

    # -- putting back ----------------------------------------------------------------------------

    def park(self, job: Job, *, first: bool = False) -> None:
        """Send ``job`` again as soon as sending may go on (``first``: before the others)."""
        if first:
            self.parked.appendleft(job)
        else:
            self.parked.append(job)

    def retry_at(self, due: float, job: Job) -> None:
        """Send ``job`` again once ``now`` reaches ``due``."""
        heapq.heappush(self.retries, (due, job))

    def next_retry(self) -> float | None:
        """When the earliest retry falls due, if any is waiting."""
        return self.retries[0][0] if self.retries else None

    # -- taking ----------------------------------------------------------------------------------

    def take(self, now: float, *, probing: bool = False) -> Job | None:
        """The next job to send, oldest first; expired ones are expired on the way.

        A probe (``probing``: the breaker half-open) prefers an event that has not failed
        yet: probes rotate through the waiting events instead of retrying the failing ones.
        """
        parked = self.parked
        while parked:
            job = parked.popleft()
            if not self.expired(job):
                return job
        if probing:
            return self._take_fresh() or self._take_retry(now)
        return self._take_retry(now) or self._take_fresh()

    def more_waiting(self, now: float) -> bool:
        """Whether a job could be taken now (without taking it)."""
        return bool(self.inbox.items or self.parked or self.recovered) or (
            bool(self.retries) and self.retries[0][0] <= now
        )

    def pop_event(self) -> Event | None:
        """The next event of the inbox, flush markers reached on the way; ``None`` if empty."""
        items = self.inbox.items
        while items:
            try:
                item = items.popleft()
            except IndexError:  # a caller's drop_oldest emptied it meanwhile
                return None
            if isinstance(item, FlushMarker):
                # Wait for the outbox backlog to be taken too.
                self.inbox.reached(item, defer=self.backlog > 0 and not self.closed)
                continue
            return item
        return None

    def new_job(self, event: Event) -> Job:
        """Take ``event`` over: it now counts as held by the sender."""
        return Job(event, self.inbox.took())

    def expired(self, job: Job) -> bool:
        """Whether ``job`` is older than ``max_event_age``; if so it was dropped."""
        max_age = self.max_event_age
        if max_age is None or time.time() - job.event.timestamp <= max_age:
            return False
        last_error = self.last_error()
        last = f": last error: {last_error}" if last_error is not None else ""
        error = DeliveryError(f"not delivered within max_event_age ({max_age:g} s){last}")
        self.settle(job, "delivery_failed", error)
        return True

    def sweep_expired(self, now: float) -> None:
        """While nothing can be sent, drop events older than ``max_event_age`` (oldest
        first), at most once a second."""
        if self.max_event_age is None or now - self._last_sweep < 1.0:
            return
        self._last_sweep = now
        parked = self.parked
        for _ in range(len(parked)):
            job = parked.popleft()
            if not self.expired(job):
                parked.append(job)
        limit = time.time() - self.max_event_age
        while (event := self.pop_event()) is not None:
            if event.timestamp > limit:
                self.inbox.items.appendleft(event)  # the oldest is young enough: so are the rest
                break
            self.expired(self.new_job(event))

    def drop_all(self, reason: str, error: BaseException | None = None) -> None:
        """Drop every job held but not in hand, then every event of the inbox."""
        held: list[Job] = [*self.parked, *(job for _, job in self.retries), *self.recovered]
        self.parked.clear()
        self.retries.clear()
        self.recovered.clear()
        for job in held:
            self.settle(job, reason, error)
        while (event := self.pop_event()) is not None:
            # One at a time: a flush marker on the way counts the events before it right.
            self.settle(self.new_job(event), reason, error)

    def drop_without_device(self, now: float, reason: str, error: BaseException) -> None:
        """Drop the jobs that wait for this process's device (it cannot be had)."""
        keep: list[Job] = []
        while (job := self.take(now)) is not None:
            if job.event.device_id is None:
                self.settle(job, reason, error)
            else:
                keep.append(job)
        self.parked.extend(keep)

    # -- settling --------------------------------------------------------------------------------

    def settle(self, job: Job, reason: str | None, error: BaseException | None = None) -> None:
        """Account for a job once: sent (``reason is None``), dropped with ``reason``, or
        cut off in flight (:data:`IN_FLIGHT`: its row stays in the outbox)."""
        inbox = self.inbox
        inbox.taken -= 1
        event = job.event
        outbox = self.outbox
        if reason is None:
            self.reporter.count_sent()
            if outbox is not None and outbox.forget(event.event_id):
                self.later(outbox.discard_forgotten)
        elif reason == IN_FLIGHT:
            self.reporter.count(IN_FLIGHT)
        else:
            self.reporter.dropped(reason, event=event, error=error)
            if (
                outbox is not None
                and not drop_reason(reason).keeps_outbox_row
                and outbox.forget(event.event_id)
            ):
                self.later(outbox.discard_forgotten)
        inbox.settled(job.seq)

    def follow(self, job: Job, decision: Decision, error: BaseException | None, now: float) -> None:
        """Do with ``job`` what ``decision`` says: settle it, put it back in line, or retry it."""
        step = decision.step
        if step is Step.SENT:
            self.settle(job, None)
        elif step is Step.PAUSE:  # uncharged: back in line
            self.parked.append(job)
        elif step is Step.RETRY:  # charged to the event's own budget
            job.failures += 1
            heapq.heappush(self.retries, (now + decision.delay, job))
        else:  # DROP, STOP
            self.settle(job, decision.reason, error)

    def heartbeat(self) -> bool:
        """Tell the outbox we are alive (it claims dead processes' rows): any to take?"""
        assert self.outbox is not None
        try:
            self.backlog = self.outbox.heartbeat()
        except Exception:
            logger.exception("weespin: could not update the outbox")
        return self.backlog > 0

    def _take_retry(self, now: float) -> Job | None:
        retries = self.retries
        while retries and retries[0][0] <= now:
            job = heapq.heappop(retries)[1]
            if not self.expired(job):
                return job
        return None

    def _take_fresh(self) -> Job | None:
        recovered = self.recovered
        if not recovered and self.backlog > 0:
            self._load_backlog()
        while recovered:
            job = recovered.popleft()
            if not self.expired(job):
                return job
        while (event := self.pop_event()) is not None:
            self.took_fresh = True
            job = self.new_job(event)
            if not self.expired(job):
                return job
        return None

    def _load_backlog(self) -> None:
        outbox = self.outbox
        assert outbox is not None
        room = min(BACKLOG_CHUNK, self.backlog)
        events = outbox.take_backlog(room)
        self.backlog = 0 if len(events) < room else self.backlog - len(events)
        self.recovered.extend(self.new_job(event) for event in events)
        if self.backlog <= 0:
            self.inbox.arm_deferred()
