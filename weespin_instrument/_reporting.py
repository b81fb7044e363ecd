"""Accounting: what was sent, what was dropped and why; logged once, counted always."""

from __future__ import annotations

import itertools
import queue
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from ._fork import at_fork

if TYPE_CHECKING:
    import logging

    from ._event import Event

__all__ = [
    "DROP_REASONS",
    "ERROR",
    "WARNING",
    "DropReason",
    "DroppedEvent",
    "Reporter",
    "Stats",
    "drop_reason",
    "logger",
]

#: Log levels, as in :mod:`logging` (which loads on first log, not at import).
WARNING = 30
ERROR = 40


class _LazyLogger:
    # `import logging` costs more than the rest of the package's import: the logger is
    # created on first use.
    #
    # It has no handler of its own, on purpose (no NullHandler): when the application
    # configured no logging at all, Python's own last-resort handler prints WARNING and above
    # to stderr, so whatever loses data is seen. Only failures are logged at WARNING (each
    # once per cause, see Reporter), so a healthy run prints nothing. An application that
    # configures logging gets the same records through its own handlers instead; none is
    # ever added to the root logger. (`warnings` was the other way: it would show each
    # message once too, but filters hide it in production and it is not a log record.)
    __slots__ = ("_logger",)

    def __init__(self) -> None:
        self._logger: logging.Logger | None = None

    def __getattr__(self, name: str) -> Any:
        logger = self._logger
        if logger is None:
            import logging

            logger = logging.getLogger("weespin_instrument")
            self._logger = logger
        return getattr(logger, name)


#: The ``weespin_instrument`` logger.
logger = cast("logging.Logger", _LazyLogger())

DEBUG = 10


class DropReason(NamedTuple):
    """What one drop reason means: the row of :data:`DROP_REASONS` for it.

    Example::

        DROP_REASONS["delivery_failed"].failure  # True: the API was tried and did not take it
    """

    name: str
    #: The API was tried and did not take the event (counted in ``Stats.failed`` too).
    failure: bool
    #: A durable outbox keeps the event's row, for a later process to send.
    keeps_outbox_row: bool
    #: The level of the one log line per (origin, reason).
    level: int
    #: When it happens, for humans (docs, ``on_error`` hooks).
    meaning: str


def _reasons(*rows: DropReason) -> Mapping[str, DropReason]:
    return MappingProxyType({row.name: row for row in rows})


#: Every reason an event can be dropped for, in one table. A reason not listed here (a
#: third-party transport's own) counts as a drop that is not a failure, logged as a warning.
DROP_REASONS: Mapping[str, DropReason] = _reasons(
    DropReason("invalid_event", False, False, WARNING, "the event breaks the payload rules"),
    DropReason("invalid_payload", False, False, WARNING, "the payload breaks the payload rules"),
    DropReason("invalid_identity", False, False, WARNING, "a user_id / link_id is not valid"),
    DropReason("extraction_failed", False, False, WARNING, "a payload_from path failed"),
    DropReason("sensitive_data", False, False, WARNING, "sensitive data, policy drop_event"),
    DropReason("not_configured", False, False, WARNING, "no API key or no usable settings"),
    DropReason("misconfigured", False, False, ERROR, "a bad environment variable (logged once)"),
    DropReason("queue_full", False, False, WARNING, "the queue was full (per overflow)"),
    DropReason("closed", False, False, WARNING, "tracked after shutdown()"),
    DropReason("unauthorized", True, True, DEBUG, "the key was refused (401/403)"),
    DropReason("rejected", True, False, WARNING, "the API refused the event (4xx)"),
    DropReason("redirected", True, False, ERROR, "the API answered a redirect (3xx)"),
    DropReason("delivery_failed", True, False, WARNING, "retry budget spent, or too old"),
    DropReason("device_init_failed", True, True, WARNING, "the device init was refused"),
    DropReason("transport_error", True, False, ERROR, "a bug or I/O error in the transport"),
    DropReason(
        "shutdown", False, True, DEBUG, "still queued (or connecting) when the transport closed"
    ),
    DropReason("blocked_in_tests", False, False, WARNING, "a test aimed at a non-local API"),
    DropReason("no_recording_span", False, False, WARNING, "no span to record the event on"),
)

_OTHER = DropReason("other", False, False, WARNING, "a reason of a third-party transport")


def drop_reason(name: str) -> DropReason:
    """The :data:`DROP_REASONS` row of ``name`` (a neutral one for unknown names)."""
    return DROP_REASONS.get(name) or _OTHER._replace(name=name)


#: Reasons that mean the API was tried and did not take the event.
FAILURE_REASONS = frozenset(name for name, row in DROP_REASONS.items() if row.failure)


class DroppedEvent(NamedTuple):
    """What the ``on_error`` hook receives for each event that will not be delivered.

    Example::

        def on_error(dropped: DroppedEvent) -> None:
            metrics.increment("weespin.dropped", tags={"reason": dropped.reason})

        weespin.configure(on_error=on_error)
    """

    #: Why: ``invalid_event``, ``sensitive_data``, ``not_configured``, ``misconfigured``
    #: (a bad environment variable, reported once), ``queue_full``,
    #: ``unauthorized``, ``rejected``, ``redirected``, ``delivery_failed``, ... (see
    #: :data:`DROP_REASONS`).
    reason: str
    event_name: str | None
    #: The event, when it got far enough to be built.
    event: Event | None = None
    error: BaseException | None = None
    #: The qualified name of the instrumented function, when there is one.
    origin: str | None = None

    @property
    def message(self) -> str:
        """One line for humans."""
        where = f"event {self.event_name!r}" if self.event_name else "an event"
        if self.origin:
            where += f" (from {self.origin})"
        detail = f": {self.error}" if self.error is not None else ""
        return f"weespin: dropped {where}, reason {self.reason}{detail}"


class Stats(NamedTuple):
    """A snapshot of a client's counters (``weespin.stats()``).

    Every tracked event ends up in exactly one of ``sent``, ``dropped`` (by reason) or,
    for now, ``queued`` / ``in_flight``. ``failed`` counts the dropped events whose
    delivery was attempted (reasons such as ``rejected`` or ``delivery_failed``).
    ``queued`` counts events waiting to be sent, including those waiting for a retry or
    for the end of an outage; ``in_flight``, those in a request right now, plus those that
    were in a request when the transport closed (``in_flight_at_exit``: their answer never
    came, so they may have been delivered). ``retried``
    counts requests that were a retry of an earlier attempt.

    Example::

        stats = weespin.stats()
        assert stats.dropped.get("invalid_event", 0) == 0, stats.last_error
    """

    tracked: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    redacted: int = 0
    #: Payload keys left out because their ``payload_from`` path failed at run time.
    missing_fields: int = 0
    queued: int = 0
    in_flight: int = 0
    dropped: Mapping[str, int] = MappingProxyType({})
    last_error: str | None = None
    #: Of ``in_flight``: requests cut off by ``shutdown()`` / exit; maybe delivered.
    in_flight_at_exit: int = 0
    #: Events the outbox could not make durable (it failed); they are delivered from memory.
    not_durable: int = 0

    @property
    def dropped_total(self) -> int:
        """All dropped events, whatever the reason."""
        return sum(self.dropped.values())


class Reporter:
    """Counts outcomes, logs each (origin, reason) once, and calls the ``on_error`` hook.

    Shared by a client and its transport. Thread-safe.

    Example::

        reporter = Reporter(on_error=print)
        reporter.dropped("queue_full", event_name="purchase")
        reporter.snapshot().dropped  # {'queue_full': 1}
    """

    def __init__(self, on_error: Callable[[DroppedEvent], object] | None = None) -> None:
        self.on_error = on_error
        # The two counters bumped once per event use itertools.count: next() is atomic
        # under the GIL and costs a fraction of a lock round trip. Its only read is next()
        # too: each snapshot takes one tick of each, and subtracts the ticks it took.
        self._tracked = itertools.count()
        self._sent = itertools.count()
        self._reads = 0
        #: Count one tracked event (the hot path calls this bound method directly).
        self.count_tracked = self._tracked.__next__
        #: Count one delivered event.
        self.count_sent = self._sent.__next__
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._logged: set[tuple[str | None, str]] = set()
        self._last_error: str | None = None
        #: Hook calls for drops seen on the sender's thread run on their own thread.
        self._hooks = _HookThread()
        self._from_hook: set[str] = set()
        at_fork(self, after_in_child=Reporter._after_fork_in_child)

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name`` (``retried``, ``redacted``, ``missing_fields``).

        ``tracked`` and ``sent`` have their own cheaper methods: :attr:`count_tracked` and
        :attr:`count_sent`.
        """
        with self._lock:
            self._counts[name] += n

    def dropped(
        self,
        reason: str,
        *,
        event_name: str | None = None,
        event: Event | None = None,
        error: BaseException | None = None,
        origin: str | None = None,
        level: int | None = None,
        log: bool = True,
    ) -> None:
        """Account for one event that will not be delivered (``level``: the reason's own).

        ``log=False`` when the caller already logged the cause once for all events.
        """
        if event is not None and event_name is None:
            event_name = event.name
        row = drop_reason(reason)
        if level is None:
            level = row.level
        report = DroppedEvent(reason, event_name, event, error, origin)
        with self._lock:
            self._dropped[reason] += 1
            if row.failure:
                self._counts["failed"] += 1
            if error is not None:
                self._last_error = f"{reason}: {error}"
            first_time = log and (origin or event_name, reason) not in self._logged
            if first_time:
                self._logged.add((origin or event_name, reason))
        if first_time:
            logger.log(level, "%s (logged once per origin and reason)", report.message)
        if self.on_error is None or _in_hook.active:
            return  # a drop caused by the hook itself does not call it again
        if event is not None and event.event_id in self._from_hook:
            self._from_hook.discard(event.event_id)
            return
        if threading.current_thread().name.startswith(_SENDER_THREADS):
            self._hooks.submit(self._call_hook, report)
        else:
            self._call_hook(report)

    def _call_hook(self, report: DroppedEvent) -> None:
        hook = self.on_error
        if hook is None:
            return
        _in_hook.active = True
        try:
            hook(report)
        except Exception:
            if ("on_error", "hook_failed") not in self._logged:
                self._logged.add(("on_error", "hook_failed"))
                logger.exception("weespin: the on_error hook raised; ignoring")
        finally:
            _in_hook.active = False

    def note_event(self, event: Event) -> None:
        """Called for each event accepted: remember those tracked from inside the hook.

        Their drop, if any, does not call the hook again: one tracked from the hook cannot
        cause a storm of hook calls.
        """
        if _in_hook.active and len(self._from_hook) < _MAX_FROM_HOOK:
            self._from_hook.add(event.event_id)

    def wait_for_hooks(self, timeout: float | None) -> None:
        """Wait (bounded) until hook calls handed off by the sender have run."""
        self._hooks.wait(timeout)

    def note_failure(self, error: BaseException) -> None:
        """Remember a failed attempt as the last error (the event itself may still go)."""
        with self._lock:
            self._last_error = f"attempt failed: {error}"

    def _after_fork_in_child(self) -> None:
        # Another thread (a sender) may have held the lock at fork time: in the child, that
        # thread does not exist and would never release it.
        self._lock = threading.Lock()
        self._hooks = _HookThread()

    def snapshot(self, *, queued: int = 0, in_flight: int = 0) -> Stats:
        """The counters now, as a :class:`Stats`."""
        with self._lock:
            reads, self._reads = self._reads, self._reads + 1
            return Stats(
                tracked=next(self._tracked) - reads,
                sent=next(self._sent) - reads,
                failed=self._counts["failed"],
                retried=self._counts["retried"],
                redacted=self._counts["redacted"],
                missing_fields=self._counts["missing_fields"],
                queued=queued,
                in_flight=in_flight + self._counts["in_flight_at_exit"],
                dropped=dict(self._dropped),
                last_error=self._last_error,
                in_flight_at_exit=self._counts["in_flight_at_exit"],
                not_durable=self._counts["not_durable"],
            )


#: Threads whose drops are reported to the hook from another thread (the hook may call
#: shutdown(), which joins them; and a slow hook must not stall delivery).
_SENDER_THREADS = "weespin-sender"
_MAX_FROM_HOOK = 10_000


class _InHook(threading.local):
    active = False


_in_hook = _InHook()


#: Seconds the hook thread waits for work before it ends (the next drop starts another).
_HOOK_THREAD_IDLE = 10.0


class _HookThread:
    """One daemon thread, started on first use, that runs hook calls in order; it ends when
    idle, so clients that are done with hold no thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Callable[[DroppedEvent], None], DroppedEvent]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def submit(self, call: Callable[[DroppedEvent], None], report: DroppedEvent) -> None:
        with self._lock:
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="weespin-on-error", daemon=True
                )
                self._thread.start()
        self._queue.put((call, report))

    def wait(self, timeout: float | None) -> None:
        if threading.current_thread() is self._thread:
            return  # shutdown() called from the hook: it cannot wait for itself
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        while True:
            try:
                call, report = self._queue.get(timeout=_HOOK_THREAD_IDLE)
            except queue.Empty:
                with self._lock:
                    if self._pending == 0:  # submit() counts before it queues: none coming
                        self._thread = None
                        return
                continue
            try:
                call(report)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
