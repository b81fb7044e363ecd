"""The sender: one asyncio loop in one thread, keeping enough requests in flight for the distance.

Everything here runs on the sender's loop, so its state needs no lock; callers reach it only
through the :class:`~._inbox.Inbox` and :meth:`Sender.wake` / :meth:`Sender.stop`.

Requests are sent by worker coroutines, as many as :class:`~._concurrency.InFlightLimit`
allows (it follows the observed round trip; ``max_in_flight``, when given, fixes it). A
worker that gets an answer takes its next job at once, in the same step: a response costs no
extra trip through the event loop, no new task (measured: task-per-request scheduling costs
about 40% more CPU per request than long-lived workers). Jobs come from the
:class:`~._jobs.JobQueue` (parked, retries due, recovered from the outbox, the inbox).

What an answer means, and what follows, is :func:`~._outcomes.decide`'s (a pure function,
built on :func:`~._retry.outcome_of`, the mapping the synchronous client shares): an
event's own failures are charged to it (a poison event is dropped when its budget ends,
while the others keep flowing), a client-wide rate limit pauses all. The sender applies
the decision.

``pump()`` starts workers while there are jobs, slots, and the breaker and the device allow
it. It runs when a caller wakes an idle sender, when a worker sees more work than workers,
and when a timer it set fires (a retry falls due, the breaker or a server's pause ends, or
the :data:`LINGER` after the last job ends: the sender looks once more before going idle).

The device is initialized here, on the loop: the sender awaits ``POST /initialize-device``
itself and reads or writes the device store only in an executor thread
(:meth:`~.._device.DeviceManager.load` / :meth:`~.._device.DeviceManager.save`).

Example::

    sender = Sender(inbox=inbox, settings=settings, reporter=reporter, devices=devices)
    threading.Thread(target=sender.run, daemon=True).start()
    sender.wake()   # after appending to inbox.items
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import math
import socket
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
from ._inbox import Inbox
from ._jobs import Job, JobQueue
from ._outcomes import RecentAnswers, Step, decide
from ._retry import RetryPolicy

if TYPE_CHECKING:
    from .._config import Settings
    from .._device import DeviceManager
    from .._event import Event
    from .._reporting import Reporter
    from ._outbox import Outbox

__all__ = ["Sender"]

#: Seconds between outbox heartbeats (which also claim rows of processes that died).
HEARTBEAT_EVERY = 5.0
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
        self.outbox = outbox
        self.on_refused = on_refused
        self.jobs = JobQueue(inbox, expire=self._expire, max_event_age=max_event_age, outbox=outbox)
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
        #: This process's device id once known (events carrying their own skip it).
        self.device_id: str | None = settings.device_id or devices.device_id
        self._context = contextvars.Context()  # callbacks never run in a caller's context
        self._tasks: set[asyncio.Task[None]] = set()
        self._workers = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = math.inf
        self._device_task: asyncio.Task[None] | None = None
        self._device_failures = 0
        self._device_retry_at = 0.0
        #: Rate-limit pauses in a row, and the recent answers' share of 429s.
        self._pauses = 0
        self._answers = RecentAnswers()
        self._refused: AuthenticationError | None = None
        self._stopping = False
        self._stopped: asyncio.Future[None] | None = None
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

    # -- the thread ------------------------------------------------------------------------------

    def run(self) -> None:
        """The sender thread's body: run the loop until :meth:`stop`."""
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
            now = self.loop.time()
            while self._workers < self.limit.value:
                job = self._next(now)
                if job is None:
                    return
                self._workers += 1
                self.jobs.in_hand.add(job)
                task = self.loop.create_task(self._work(job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except Exception:  # a bug of ours must not stall delivery: try again shortly
            logger.exception("weespin: error in the sender; retrying in 1 s")
            self._wake_at(1.0)

    def _next(self, now: float) -> Job | None:
        """The job to send now, or ``None`` after arranging to be called when there is one."""
        if self._stopping:
            return None
        jobs = self.jobs
        if self._refused is not None:
            jobs.drop_all(self._drop_unauthorized)
            self._go_idle(now)
            return None
        breaker = self.breaker
        blocked = breaker.blocked_for(now)
        if blocked is None:
            return None  # the probe's worker goes on when it completes
        if blocked > 0.0:
            jobs.sweep_expired(now)
            self._wake_at(blocked)
            return None
        job = jobs.take(now, probing=breaker.state == "half_open")
        if job is None:
            self._go_idle(now)
            return None
        if job.event.device_id is None and self.device_id is None:
            jobs.park(job, first=True)
            jobs.sweep_expired(now)
            self._ensure_device(now)
            return None
        breaker.started()
        if job.sends:
            self.reporter.count("retried")
        else:
            job.first_sent = now
            job.open_at_first = breaker.open_time(now)
        job.sends += 1
        return job

    def _go_idle(self, now: float) -> None:
        due = self.jobs.next_retry()
        if due is not None:
            self._wake_at(due - now)
        if self.jobs.took_fresh:  # busy since the last look: linger again after this
            self.jobs.took_fresh = False
            self._linger_due = None
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
        in_hand = self.jobs.in_hand
        try:
            # Our own requests must not become spans (in this task's context only).
            with suppress_instrumentation():
                while job is not None:
                    await self._deliver(job)
                    in_hand.discard(job)
                    if self._workers > self.limit.value:
                        return  # the limit went down: one worker fewer
                    now = self.loop.time()
                    job = self._next(now)
                    if job is not None:
                        in_hand.add(job)
                        if self._workers < self.limit.value and self.jobs.more_waiting(now):
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
            self.jobs.in_hand.discard(job)
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
        """Apply :func:`~._outcomes.decide`'s decision on this answer."""
        now = self.loop.time()
        breaker = self.breaker
        share = self._answers.add(job.seq, rate_limited=isinstance(error, RateLimitedError))
        decision = decide(
            error,
            job,
            now=now,
            open_time=breaker.open_time(now),
            policy=self.policy,
            rate_limited_share=share,
            pauses=self._pauses,
        )
        step = decision.step
        if step is Step.SENT:
            breaker.success(now)
            self._pauses = 0
            if self._outage_logged:
                self._outage_logged = False
                logger.info("weespin: the API answers again; delivery resumed")
            self._settle(job, None)
            return
        assert error is not None
        self._last_error = error
        if error.retryable:
            self.reporter.note_failure(error)
        if decision.api_up:
            breaker.success(now)
        elif decision.api_up is not None:
            breaker.failure(now, fresh=job.failures == 0)
            if breaker.is_open:
                self._log_outage(error)
                if decision.down_for is not None:  # down, and it said for how long: no probe
                    breaker.pause(now + decision.down_for)
        if step is Step.STOP:
            assert isinstance(error, AuthenticationError)
            self._settle(job, decision.reason, error)
            self._refuse(error)
        elif step is Step.DROP:
            self._settle(job, decision.reason, error)
        elif step is Step.PAUSE:  # the client as a whole waits: no attempt charged
            self._pauses += 1
            breaker.pause(now + decision.delay, now=now)
            self.jobs.park(job)
        else:  # Step.RETRY
            job.failures += 1
            self.jobs.retry_at(now + decision.delay, job)

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
        outbox = self.outbox
        if reason is None:
            self.reporter.count_sent()
            if outbox is not None and outbox.forget(event.event_id):
                self.loop.call_soon(outbox.discard_forgotten, context=self._context)
        elif reason == _IN_FLIGHT:
            self.reporter.count(_IN_FLIGHT)
        else:
            self.reporter.dropped(reason, event=event, error=error)
            if (
                outbox is not None
                and not drop_reason(reason).keeps_outbox_row
                and outbox.forget(event.event_id)
            ):
                self.loop.call_soon(outbox.discard_forgotten, context=self._context)
        inbox.settled(job.seq)

    def _expire(self, job: Job) -> None:
        """Drop ``job``: older than ``max_event_age`` (the queue found it so)."""
        last = f": last error: {self._last_error}" if self._last_error is not None else ""
        max_age = self.jobs.max_event_age or 0.0
        error = DeliveryError(f"not delivered within max_event_age ({max_age:g} s){last}")
        self._settle(job, "delivery_failed", error)

    def _refuse(self, error: AuthenticationError) -> None:
        if self._refused is None:
            self._refused = error
            self.jobs.closed = True
            if self.on_refused is not None:
                self.on_refused(error)
            logger.error(
                "weespin: %s Delivery is stopped: every event of this process is dropped from "
                "now on (counted as 'unauthorized' in weespin.stats()) until a client with a "
                "valid key is configured.",
                error,
            )
        self.jobs.drop_all(lambda job: self._settle(job, "unauthorized", error))

    def _drop_unauthorized(self, job: Job) -> None:
        self._settle(job, "unauthorized", self._refused)

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
            device_id = await self._device()
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

    async def _device(self) -> str:
        """This process's device: the store's (read in a thread), else one ``POST`` of ours."""
        devices = self.devices
        loop = self.loop
        device_id = devices.device_id
        if device_id is not None:
            return device_id
        try:
            device_id = await loop.run_in_executor(None, self._load_device)
            if device_id is None:  # ours to initialize: the store is held for us meanwhile
                with suppress_instrumentation():
                    device_id = await self.api.initialize_device()
                await loop.run_in_executor(None, devices.save, device_id)
        except BaseException:
            # Let go of the store (not awaited: the sender may be stopping).
            loop.run_in_executor(None, devices.release)
            raise
        return device_id

    def _load_device(self) -> str | None:
        # In an executor thread. Stopped meanwhile: nobody would let go of the store.
        device_id = self.devices.load()
        if self._stopping:
            self.devices.release()
        return device_id

    def _device_failed(self, error: WeespinError, *, permanent: bool = False) -> None:
        self._last_error = error
        self.reporter.note_failure(error)
        self._device_failures += 1
        delay = self.policy.delay(min(self._device_failures - 1, 16), error)
        self._device_retry_at = self.loop.time() + max(delay, self.policy.base)
        if permanent:
            # A configuration problem (wrong init path...): the waiting events cannot go.
            logger.error("weespin: device initialization refused: %s", error)
            keep: list[Job] = []
            while (job := self.jobs.take(self.loop.time())) is not None:
                if job.event.device_id is None:
                    self._settle(job, "device_init_failed", error)
                else:
                    keep.append(job)
            self.jobs.parked.extend(keep)
        elif self._device_failures == 1:
            logger.warning(
                "weespin: device initialization failed (%s); retrying with backoff, events wait",
                error,
            )

    # -- the outbox and stopping -----------------------------------------------------------------

    def _heartbeat(self) -> None:
        if self._stopping or self.outbox is None:
            return
        try:
            self.jobs.backlog = self.outbox.heartbeat()
        except Exception:
            logger.exception("weespin: could not update the outbox")
        self.loop.call_later(HEARTBEAT_EVERY, self._heartbeat, context=self._context)
        if self.jobs.backlog > 0:
            self.pump()

    def _begin_stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self.jobs.closed = True
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
        jobs = self.jobs
        for job in jobs.in_hand:
            self._settle(job, "shutdown")
        jobs.in_hand.clear()
        jobs.drop_all(self._drop_at_shutdown)
        self.inbox.release_markers()
        if self.outbox is not None:
            self.outbox.discard_forgotten()
        self.loop.remove_reader(self._wake_reader.fileno())
        self._waker.close()  # a caller's wake() now fails quietly (no fd to reuse)
        self._wake_reader.close()
        await self.api.close()

    def _drop_at_shutdown(self, job: Job) -> None:
        self._settle(job, "shutdown")


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    error = context.get("exception")
    logger.error("weespin: sender loop: %s", context.get("message"), exc_info=error)
