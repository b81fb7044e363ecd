"""The sender: one asyncio loop in one thread, keeping enough requests in flight for the distance.

Everything here runs on the sender's loop, so its state needs no lock; callers reach it only
through the :class:`~._inbox.Inbox` and :meth:`Sender.wake` / :meth:`Sender.stop`.

Requests are sent by worker coroutines, as many as :class:`~._concurrency.InFlightLimit`
allows (it follows the observed round trip; ``max_in_flight``, when given, fixes it). A
worker that gets an answer takes its next job at once, in the same step: a response costs no
extra trip through the event loop, no new task (measured: task-per-request scheduling costs
about 40% more CPU per request than long-lived workers). Jobs come, in order, from: events
parked by an outage or a rate limit, retries that fell due, events a dead process left in
the outbox, the inbox.

What an answer means comes from :func:`~._retry.outcome_of`, the mapping the synchronous
client uses too: an event's own failures are charged to it (a poison event is dropped when
its budget ends, while the others keep flowing), a client-wide rate limit pauses all.

``pump()`` starts workers while there are jobs, slots, and the breaker and the device allow
it. It runs when a caller wakes an idle sender, when a worker sees more work than workers,
and when a timer it set fires (a retry falls due, the breaker or a server's pause ends, or
the :data:`LINGER` after the last job ends: the sender looks once more before going idle).

Example::

    sender = Sender(inbox=inbox, settings=settings, reporter=reporter, devices=devices)
    threading.Thread(target=sender.run, daemon=True).start()
    sender.wake()   # after appending to inbox.items
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import heapq
import json
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._reporting import drop_reason, logger
from .._suppress import suppress_instrumentation
from ..errors import (
    APIError,
    AuthenticationError,
    DeliveryError,
    RateLimitedError,
    RejectedError,
    ServerError,
    WeespinError,
)
from ._aio import AsyncAPI, SenderLoop
from ._breaker import CircuitBreaker
from ._concurrency import InFlightLimit
from ._inbox import FlushMarker, Inbox
from ._retry import RetryPolicy, outcome_of

if TYPE_CHECKING:
    from .._config import Settings
    from .._device import DeviceManager
    from .._event import Event
    from .._reporting import Reporter
    from ._outbox import Outbox

__all__ = ["Sender"]

#: Seconds between outbox heartbeats (which also claim rows of processes that died).
HEARTBEAT_EVERY = 5.0
#: Outbox rows left by dead processes are loaded at most this many at a time.
BACKLOG_CHUNK = 500
#: Recent answers the rate-limit share is computed over, and the fewest distinct events
#: among its 429s for it to count.
_RATE_WINDOW = 20
_RATE_MIN_EVENTS = 4
#: ``_settle``'s reason for a request cut off at shutdown: its outcome is unknown.
_IN_FLIGHT = "in_flight_at_exit"
#: Seconds the sender stays awake after its last job before it goes idle. Events that
#: trickle in meanwhile are taken by its next look, without a wake-up each: a trickle
#: coalesces into small batches instead of costing every caller a wake-up. Measured at one
#: event every 2 ms (``benchmarks/delivery.py``): CPU per event 2.2x a burst's at 5 ms,
#: 1.8x at 10 ms, 1.6-1.8x at 20 ms, 1.25-1.47x at 50 ms; but at 50 ms the larger batches
#: cost the uvicorn benchmark (``benchmarks/web_app.py``) one loop stall over 20 ms per
#: 6,000 requests in 4 runs of 4, none at 20 ms: 20 ms it stays. A flush does not wait for it.
LINGER = 0.020
#: ``json.dumps(..., separators=...)`` builds an encoder per call: build it once.
_to_json = json.JSONEncoder(separators=(",", ":")).encode


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


class Sender:
    """Delivers what callers leave in ``inbox``; see the module docstring.

    Example::

        sender = Sender(inbox=inbox, settings=settings, reporter=reporter, devices=devices)
        thread = threading.Thread(target=sender.run, name="weespin-sender", daemon=True)
        thread.start()
    """

    def __init__(
        self,
        *,
        inbox: Inbox,
        settings: Settings,
        reporter: Reporter,
        devices: DeviceManager,
        max_in_flight: int | None = None,
        max_event_age: float | None = None,
        outbox: Outbox | None = None,
        on_refused: Callable[[AuthenticationError], object] | None = None,
    ) -> None:
        self.inbox = inbox
        self.settings = settings
        self.reporter = reporter
        self.devices = devices
        #: Requests in flight at most: adaptive, or fixed when ``max_in_flight`` is given.
        self.limit = (
            InFlightLimit() if max_in_flight is None else InFlightLimit.fixed(max_in_flight)
        )
        self.max_event_age = max_event_age
        self.outbox = outbox
        self.on_refused = on_refused
        self.policy = RetryPolicy(
            max_attempts=settings.max_attempts,
            max_total=settings.max_retry_time,
            max_backoff=settings.max_backoff,
        )
        self.breaker = CircuitBreaker(cap=max(settings.max_backoff, 0.5))
        self.api = AsyncAPI(settings, max_connections=self.limit.cap)
        #: Created here so callers can wake the sender before its thread runs.
        self.loop = SenderLoop()
        #: A caller wakes an idle sender with one byte on this pair: no handle, no lock.
        self._wake_reader, self._waker = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._waker.setblocking(False)
        #: While the sender lingers (see :data:`LINGER`), when it goes idle.
        self._linger_due: float | None = None
        self.thread_ident: int | None = None
        #: This process's device id once known (events carrying their own skip it).
        self.device_id: str | None = settings.device_id or devices.device_id
        #: Outbox rows left by dead processes not loaded yet.
        self.backlog = 0
        self._context = contextvars.Context()  # callbacks never run in a caller's context
        self._tasks: set[asyncio.Task[None]] = set()
        self._workers = 0
        #: Jobs handed to workers (a worker cancelled before it starts still holds one).
        self._in_hand: set[Job] = set()
        self._parked: deque[Job] = deque()
        self._retries: list[tuple[float, Job]] = []
        self._recovered: deque[Job] = deque()
        self._markers: list[FlushMarker] = []
        self._deferred_markers: list[FlushMarker] = []
        self._seq = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = math.inf
        self._device_task: asyncio.Task[None] | None = None
        self._device_failures = 0
        self._device_retry_at = 0.0
        self._rate_limited = 0
        #: Of the recent answers, the events that drew a 429 (0: another answer).
        self._recent_429: deque[int] = deque(maxlen=_RATE_WINDOW)
        self._refused: AuthenticationError | None = None
        self._stopping = False
        self._stopped: asyncio.Future[None] | None = None
        self._delivered_ids: list[str] = []
        self._last_sweep = 0.0
        self._last_error: WeespinError | None = None
        self._outage_logged = False

    # -- called from other threads ---------------------------------------------------------------

    def wake(self) -> None:
        """Make the sender pump (callers: after appending to an idle sender's inbox).

        One byte on a socket pair the loop watches: the cheapest wake-up a thread can give
        (``call_soon_threadsafe`` builds a handle and takes a lock, about 5x the cost).
        """
        try:  # noqa: SIM105 - contextlib.suppress() would cost more than the send
            self._waker.send(b"\0")
        except OSError:  # full: a wake-up is pending anyway; closed: the sender stopped
            pass

    def stop(self) -> None:
        """Stop sending: cancel requests, report what is held as ``shutdown``, close the pool."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._begin_stop, context=self._context)

    def initialize_blocking(self) -> str:
        """The device initialization :class:`DeviceManager` calls, from an executor thread."""
        if threading.get_ident() == self.thread_ident:
            raise DeliveryError("the device cannot be initialized from the sender's own thread")
        future = asyncio.run_coroutine_threadsafe(self._initialize_request(), self.loop)
        try:
            return future.result(timeout=self.settings.timeout * 2 + 1.0)
        except concurrent.futures.TimeoutError:  # not the builtin one on Python 3.10
            future.cancel()
            raise DeliveryError(f"POST {self.settings.init_path} timed out") from None

    # -- the thread ------------------------------------------------------------------------------

    def run(self) -> None:
        """The sender thread's body: run the loop until :meth:`stop`."""
        self.thread_ident = threading.get_ident()
        loop = self.loop
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(_log_loop_error)
        try:
            loop.run_until_complete(self._main())
        except BaseException:  # pragma: no cover - a bug of ours; close() accounts for events
            logger.exception("weespin: the sender stopped on an error")
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    async def _main(self) -> None:
        self._stopped = self.loop.create_future()
        await self.api.open()
        self.loop.add_reader(self._wake_reader.fileno(), self._on_wake)
        if self.outbox is not None:
            self._context.run(self._heartbeat)
        self._context.run(self.pump)
        await self._stopped
        await self._shutdown()

    # -- scheduling ------------------------------------------------------------------------------

    def _on_wake(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except OSError:  # drained (BlockingIOError), or closed at shutdown
            pass
        self.pump()

    def pump(self) -> None:
        """Start what may start now; arrange to be called again when more may."""
        if self._stopping:
            return
        try:
            self._pump()
        except Exception:  # a bug of ours must not stall delivery: try again shortly
            logger.exception("weespin: error in the sender; retrying in 1 s")
            self._wake_at(1.0)

    def _pump(self) -> None:
        now = self.loop.time()
        while self._workers < self.limit.value:
            job = self._next(now)
            if job is None:
                return
            self._workers += 1
            self._in_hand.add(job)
            task = self.loop.create_task(self._work(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _next(self, now: float) -> Job | None:
        """The job to send now, or ``None`` after arranging to be called when there is one."""
        if self._stopping:
            return None
        if self._refused is not None:
            self._drop_all("unauthorized", self._refused)
            self._go_idle(now)
            return None
        blocked = self.breaker.blocked_for(now)
        if blocked is None:
            return None  # the probe's worker goes on when it completes
        if blocked > 0.0:
            self._sweep_expired(now)
            self._wake_at(blocked)
            return None
        job = self._take(now)
        if job is None:
            self._go_idle(now)
            return None
        if job.event.device_id is None and self.device_id is None:
            self._parked.appendleft(job)
            self._sweep_expired(now)
            self._ensure_device(now)
            return None
        self.breaker.started()
        if job.sends:
            self.reporter.count("retried")
        else:
            job.first_sent = now
            job.open_at_first = self.breaker.open_time(now)
        job.sends += 1
        return job

    def _more_waiting(self) -> bool:
        return bool(self.inbox.items or self._parked or self._recovered) or (
            bool(self._retries) and self._retries[0][0] <= self.loop.time()
        )

    def _take(self, now: float) -> Job | None:
        """The next job to send, oldest first; expired ones are dropped on the way.

        A probe (the breaker half-open) prefers an event that has not failed yet: probes
        rotate through the waiting events instead of always retrying the same failing ones.
        """
        while self._parked:
            job = self._parked.popleft()
            if not self._expired(job):
                return job
        if self.breaker.state == "half_open":
            return self._take_fresh() or self._take_retry(now)
        return self._take_retry(now) or self._take_fresh()

    def _take_retry(self, now: float) -> Job | None:
        retries = self._retries
        while retries and retries[0][0] <= now:
            job = heapq.heappop(retries)[1]
            if not self._expired(job):
                return job
        return None

    def _take_fresh(self) -> Job | None:
        if not self._recovered and self.backlog > 0:
            self._load_backlog()
        while self._recovered:
            job = self._recovered.popleft()
            if not self._expired(job):
                return job
        while (event := self._pop_event()) is not None:
            self._linger_due = None  # busy: linger again after this
            job = self._new_job(event)
            if not self._expired(job):
                return job
        return None

    def _pop_event(self) -> Event | None:
        """The next event of the inbox, flush markers reached on the way; ``None`` if empty."""
        items = self.inbox.items
        while items:
            try:
                item = items.popleft()
            except IndexError:  # a caller's drop_oldest emptied it meanwhile
                return None
            if isinstance(item, FlushMarker):
                self._reached(item)
                continue
            return item
        return None

    def _new_job(self, event: Event) -> Job:
        """Take ``event`` over from the inbox: it now counts as held by the sender."""
        self._seq += 1
        self.inbox.taken += 1
        return Job(event, self._seq)

    def _go_idle(self, now: float) -> None:
        if self._retries:
            self._wake_at(self._retries[0][0] - now)
        linger_due = self._linger_due
        if linger_due is None:
            linger_due = self._linger_due = now + LINGER
        if now + 0.001 < linger_due:  # a timer may fire a little early: close enough
            self._wake_at(linger_due - now)
            return  # still awake: callers append without waking us
        self._linger_due = None
        inbox = self.inbox
        inbox.idle = True
        if inbox.items:  # a caller appended after we looked, and may not have woken us
            inbox.idle = False
            self.loop.call_soon(self.pump, context=self._context)

    def _wake_at(self, delay: float) -> None:
        due = self.loop.time() + max(delay, 0.001)
        if self._timer is not None:
            if self._timer_due <= due:
                return
            self._timer.cancel()
        self._timer_due = due
        self._timer = self.loop.call_at(due, self._on_timer, context=self._context)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_due = math.inf
        self.pump()

    # -- requests --------------------------------------------------------------------------------

    async def _work(self, job: Job | None) -> None:
        """A worker: send ``job``, then the next, until there is none to send now."""
        try:
            # Our own requests must not become spans (in this task's context only).
            with suppress_instrumentation():
                while job is not None:
                    await self._deliver(job)
                    self._in_hand.discard(job)
                    if self._workers > self.limit.value:
                        return  # the limit went down: one worker fewer
                    job = self._next(self.loop.time())
                    if job is not None:
                        self._in_hand.add(job)
                    more = job is not None and self._workers < self.limit.value
                    if more and self._more_waiting():
                        self.pump()  # e.g. a probe succeeded: bring the others back
        finally:
            self._workers -= 1

    async def _deliver(self, job: Job) -> None:
        inbox = self.inbox
        error: WeespinError | None = None
        inbox.on_wire += 1
        started = 0.0
        try:
            body = job.body
            if body is None:
                body = job.body = self._encode(job.event)
            started = self.loop.time()
            await self.api.post_event(body)
        except asyncio.CancelledError:
            # Cut off by shutdown. While the API answers, the server may have stored it:
            # neither sent nor dropped. During an outage (the breaker open) it was not.
            self._in_hand.discard(job)
            self._settle(job, "shutdown" if self.breaker.is_open else _IN_FLIGHT)
            raise
        except WeespinError as exc:
            error = exc
        except Exception as exc:  # a bug of ours, or an error aiohttp should have wrapped
            self._settle(job, "transport_error", exc)
            return
        finally:
            inbox.on_wire -= 1
        self._follow_round_trip(job, error, self.loop.time() - started)
        self._outcome(job, error)

    def _follow_round_trip(self, job: Job, error: WeespinError | None, rtt: float) -> None:
        """Feed the in-flight limit: a round trip, or a sign the API is overloaded.

        An event that failed before says nothing about the API (a poison event): skipped.
        """
        if job.failures:
            return
        if isinstance(error, (RateLimitedError, ServerError)) or (
            error is not None and not isinstance(error, APIError)  # a timeout, a reset
        ):
            self.limit.overloaded()
        else:
            self.limit.answered(rtt)

    def _encode(self, event: Event) -> bytes:
        device_id = event.device_id or self.device_id
        body = event.to_wire(device_id, metadata=self.settings.send_metadata)
        return _to_json(body).encode()

    def _outcome(self, job: Job, error: WeespinError | None) -> None:
        now = self.loop.time()
        breaker = self.breaker
        # The share of recent answers that were a 429, once they came to several events: a
        # few events drawing 429 again and again is their problem, not a rate limit of the
        # client (which meets every event).
        recent = self._recent_429
        recent.append(job.seq if isinstance(error, RateLimitedError) else 0)
        limited = [seq for seq in recent if seq]
        share = 0.0
        if len(set(limited)) >= _RATE_MIN_EVENTS:
            share = len(limited) / len(recent)
        outcome = outcome_of(error, rate_limited_share=share)
        action = outcome.action
        if action == "sent":
            breaker.success(now)
            self._rate_limited = 0
            if self._outage_logged:
                self._outage_logged = False
                logger.info("weespin: the API answers again; delivery resumed")
            self._settle(job, None)
            return
        assert error is not None
        self._last_error = error
        if error.retryable:
            self.reporter.note_failure(error)
        if action == "stop":
            assert isinstance(error, AuthenticationError)
            self._settle(job, "unauthorized", error)
            self._refuse(error)
            return
        if action == "drop":
            breaker.success(now)  # the API is up; it refused this event
            self._settle(job, outcome.reason or "rejected", error)
            return
        if action == "pause":
            # The server paces the client as a whole: pause everything, charge no attempt.
            breaker.success(now)
            self._rate_limited += 1
            wait = outcome.wait
            if wait is None:
                wait = max(self.policy.base, self.policy.delay(self._rate_limited, error))
            breaker.pause(now + min(wait, self.policy.max_backoff), now=now)
            self._parked.append(job)
            return
        # "retry": the event's own failure, charged to its budget. The time the breaker
        # spent open (an outage: nothing was sent) is left out of that budget.
        if isinstance(error, RateLimitedError):
            breaker.success(now)  # an answer: the API is up
        else:
            breaker.failure(now, fresh=job.failures == 0)
            if breaker.is_open:
                self._log_outage(error)
                if outcome.wait is not None:  # down, and it said for how long: no probe before
                    breaker.pause(now + min(outcome.wait, self.policy.max_backoff))
        job.failures += 1
        elapsed = now - job.first_sent - (breaker.open_time(now) - job.open_at_first)
        delay = self.policy.next_delay(job.failures - 1, error, elapsed)
        if delay is None:
            self._settle(job, outcome.reason or "delivery_failed", error)
            return
        heapq.heappush(self._retries, (now + delay, job))

    def _log_outage(self, error: WeespinError) -> None:
        if not self._outage_logged:
            self._outage_logged = True
            logger.warning(
                "weespin: the API is unreachable (%s); events wait and sending resumes by "
                "itself (probing with backoff up to %.0f s)",
                error,
                self.breaker.cap,
            )

    # -- outcomes --------------------------------------------------------------------------------

    def _settle(self, job: Job, reason: str | None, error: BaseException | None = None) -> None:
        """Account for a job once: sent (``reason is None``), dropped with ``reason``, or
        cut off in flight (``_IN_FLIGHT``: its row stays in the outbox)."""
        inbox = self.inbox
        inbox.taken -= 1
        event = job.event
        if reason is None:
            self.reporter.count_sent()
            if self.outbox is not None:
                self._forget(event.event_id)
        elif reason == _IN_FLIGHT:
            self.reporter.count(_IN_FLIGHT)
        else:
            self.reporter.dropped(reason, event=event, error=error)
            if self.outbox is not None and not drop_reason(reason).keeps_outbox_row:
                self._forget(event.event_id)
        if self._markers:
            self._count_down(job.seq)
        if inbox.want_space:
            inbox.want_space = False
            inbox.space.set()

    def _expired(self, job: Job) -> bool:
        max_age = self.max_event_age
        if max_age is None or time.time() - job.event.timestamp <= max_age:
            return False
        last = f": last error: {self._last_error}" if self._last_error is not None else ""
        error = DeliveryError(f"not delivered within max_event_age ({max_age:g} s){last}")
        self._settle(job, "delivery_failed", error)
        return True

    def _sweep_expired(self, now: float) -> None:
        """While nothing can be sent, drop events older than ``max_event_age`` (oldest first)."""
        if self.max_event_age is None or now - self._last_sweep < 1.0:
            return
        self._last_sweep = now
        for _ in range(len(self._parked)):
            job = self._parked.popleft()
            if not self._expired(job):
                self._parked.append(job)
        limit = time.time() - self.max_event_age
        while (event := self._pop_event()) is not None:
            if event.timestamp > limit:
                self.inbox.items.appendleft(event)  # the oldest is young enough: so are the rest
                break
            self._expired(self._new_job(event))

    def _refuse(self, error: AuthenticationError) -> None:
        if self._refused is None:
            self._refused = error
            if self.on_refused is not None:
                self.on_refused(error)
            logger.error(
                "weespin: %s Delivery is stopped: every event of this process is dropped from "
                "now on (counted as 'unauthorized' in weespin.stats()) until a client with a "
                "valid key is configured.",
                error,
            )
        self._drop_all("unauthorized", error)

    def _drop_all(self, reason: str, error: BaseException | None) -> None:
        """Drop every event held but not in a request (in-flight ones settle on their own)."""
        held: list[Job] = [*self._parked, *(job for _, job in self._retries), *self._recovered]
        self._parked.clear()
        self._retries.clear()
        self._recovered.clear()
        for job in held:
            self._settle(job, reason, error)
        while (event := self._pop_event()) is not None:
            self._settle(self._new_job(event), reason, error)

    # -- flush markers ---------------------------------------------------------------------------

    def _reached(self, marker: FlushMarker) -> None:
        self.inbox.markers_reached += 1
        if self.backlog > 0 and not self._stopping and self._refused is None:
            self._deferred_markers.append(marker)  # wait for the outbox backlog to be taken too
            return
        self._arm(marker)

    def _arm(self, marker: FlushMarker) -> None:
        pending = self.inbox.taken  # every event taken so far was queued before the marker
        if pending <= 0:
            marker.done.set()
            return
        marker.seq = self._seq
        marker.pending = pending
        self._markers.append(marker)

    def _count_down(self, seq: int) -> None:
        for marker in list(self._markers):
            if seq <= marker.seq:
                marker.pending -= 1
                if marker.pending <= 0:
                    marker.done.set()
                    self._markers.remove(marker)

    # -- the device ------------------------------------------------------------------------------

    def _ensure_device(self, now: float) -> None:
        if self._device_task is not None:
            return
        if now < self._device_retry_at:
            self._wake_at(self._device_retry_at - now)
            return
        self._device_task = self.loop.create_task(self._initialize())

    async def _initialize(self) -> None:
        try:
            device_id = await self.loop.run_in_executor(None, self.devices.get)
        except AuthenticationError as exc:
            self._refuse(exc)
        except RejectedError as exc:
            self._device_failed(exc, permanent=True)
        except WeespinError as exc:
            self._device_failed(exc)
        except Exception as exc:  # e.g. the device store could not be read
            self._device_failed(DeliveryError(f"{type(exc).__name__}: {exc}"))
        else:
            self.device_id = device_id
            self._device_failures = 0
            self.breaker.success(self.loop.time())
        finally:
            self._device_task = None
            if not self._stopping:
                self.loop.call_soon(self.pump, context=self._context)

    async def _initialize_request(self) -> str:
        with suppress_instrumentation():
            return await self.api.initialize_device()

    def _device_failed(self, error: WeespinError, *, permanent: bool = False) -> None:
        self._last_error = error
        self.reporter.note_failure(error)
        self._device_failures += 1
        delay = self.policy.delay(min(self._device_failures - 1, 16), error)
        self._device_retry_at = self.loop.time() + max(delay, self.policy.base)
        if permanent:
            # A configuration problem (wrong init path...): the waiting events cannot go.
            logger.error("weespin: device initialization refused: %s", error)
            self._drop_waiting_for_device(error)
        elif self._device_failures == 1:
            logger.warning(
                "weespin: device initialization failed (%s); retrying with backoff, events wait",
                error,
            )

    def _drop_waiting_for_device(self, error: WeespinError) -> None:
        keep: list[Job] = []
        while True:
            job = self._take(self.loop.time())
            if job is None:
                break
            if job.event.device_id is None:
                self._settle(job, "device_init_failed", error)
            else:
                keep.append(job)
        self._parked.extend(keep)

    # -- the outbox ------------------------------------------------------------------------------

    def _forget(self, event_id: str) -> None:
        if not self._delivered_ids:
            self.loop.call_soon(self._discard_delivered, context=self._context)
        self._delivered_ids.append(event_id)

    def _discard_delivered(self) -> None:
        ids, self._delivered_ids = self._delivered_ids, []
        if self.outbox is not None and ids:
            try:
                self.outbox.discard(ids)
            except Exception:
                logger.exception("weespin: could not update the outbox; events may be resent")

    def _load_backlog(self) -> None:
        assert self.outbox is not None
        room = min(BACKLOG_CHUNK, self.backlog)
        try:
            events = self.outbox.take_recovered(room)
        except Exception:
            logger.exception("weespin: could not read the outbox")
            events = []
        self.backlog = 0 if len(events) < room else self.backlog - len(events)
        self._recovered.extend(self._new_job(event) for event in events)
        if self.backlog <= 0 and self._deferred_markers:
            markers, self._deferred_markers = self._deferred_markers, []
            for marker in markers:
                self._arm(marker)

    def _heartbeat(self) -> None:
        if self._stopping or self.outbox is None:
            return
        try:
            self.backlog = self.outbox.heartbeat()
        except Exception:
            logger.exception("weespin: could not update the outbox")
        self.loop.call_later(HEARTBEAT_EVERY, self._heartbeat, context=self._context)
        if self.backlog > 0:
            self.pump()

    # -- stopping --------------------------------------------------------------------------------

    def _begin_stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
        for task in self._tasks:
            task.cancel()
        if self._device_task is not None:
            self._device_task.cancel()
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    async def _shutdown(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for job in self._in_hand:
            self._settle(job, "shutdown")
        self._in_hand.clear()
        self._drop_all("shutdown", None)
        for marker in self._markers + self._deferred_markers:
            marker.done.set()
        self._markers.clear()
        self._deferred_markers.clear()
        self._discard_delivered()
        self.loop.remove_reader(self._wake_reader.fileno())
        self._waker.close()  # a caller's wake() now fails quietly (no fd to reuse)
        self._wake_reader.close()
        await self.api.close()


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    error = context.get("exception")
    logger.error("weespin: sender loop: %s", context.get("message"), exc_info=error)
