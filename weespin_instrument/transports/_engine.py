"""The sender: one asyncio loop in one thread, keeping enough requests in flight for the distance.

Everything here runs on the sender's loop, so its state needs no lock; callers reach it only
through the :class:`~._inbox.Inbox` and :meth:`Sender.wake` / :meth:`Sender.stop`.

Requests are sent by worker coroutines, as many as :class:`~._concurrency.InFlightLimit`
allows (it follows the observed round trip; ``max_in_flight``, when given, fixes it). A
worker that gets an answer takes its next job at once, in the same step: a response costs no
extra trip through the event loop, no new task (measured: task-per-request scheduling costs
about 40% more CPU per request than long-lived workers). While the sender lingers it stops
instead (:func:`worker_goes_on`): what trickles in waits for the linger's look and goes out
as one batch. Jobs come from the :class:`~._jobs.JobQueue` (parked, retries due, recovered
from the outbox, the inbox).

What an answer means, and what follows, is :func:`~._outcomes.decide`'s (a pure function,
built on :func:`~._retry.outcome_of`, the mapping the synchronous client shares): an
event's own failures are charged to it (a poison event is dropped when its budget ends,
while the others keep flowing), a client-wide rate limit pauses all.
:class:`~._outcomes.ApiState` (breaker, in-flight limit, recent answers) learns from each
answer; the job queue does with the job what the decision says.

``pump()`` starts workers while there are jobs, slots, and the breaker and the device allow
it. It runs when a caller wakes an idle sender, when a worker sees more work than workers,
and when its :class:`~._wakeups.Alarm` rings (a retry falls due, the breaker or a server's
pause ends, or the :data:`LINGER` after the last job ends: it looks once more before going
idle). The device is initialized on this loop too (:class:`~._device_init.DeviceInit`).

Example::

    sender = Sender(inbox=inbox, settings=settings, reporter=reporter, devices=devices)
    threading.Thread(target=sender.run, daemon=True).start()
    sender.wake()   # after appending to inbox.items
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._reporting import logger
from .._suppress import suppress_instrumentation
from ..errors import AuthenticationError, WeespinError
from ._device_init import DeviceInit
from ._engines import async_api
from ._inbox import Inbox
from ._jobs import IN_FLIGHT, Job, JobQueue
from ._loop import SenderLoop
from ._outcomes import ApiState, Step
from ._protocol import encode_body
from ._wakeups import Alarm, WakePipe

if TYPE_CHECKING:
    from .._config import Settings
    from .._device import DeviceManager
    from .._event import Event
    from .._reporting import Reporter
    from ._outbox import Outbox

__all__ = ["Sender"]

#: Seconds between outbox heartbeats (which also claim rows of processes that died).
HEARTBEAT_EVERY = 5.0
#: Seconds the sender stays awake after its last job before it goes idle. Events that
#: trickle in meanwhile wait for its next look and go out together, without a wake-up each
#: (:func:`worker_goes_on`): a trickle costs a batch's trips through the loop, not an
#: event's, so it costs about what a burst costs. The price is a delay: an event that finds
#: the sender lingering leaves at its next look, at most this long after it was tracked (a
#: flush does not wait; PostHog's Python SDK sends every 5 s, Segment's every 0.5 s).
#: Measured with the lean engine on a quiet machine (``benchmarks/delivery.py --paced-only
#: --linger-ms N``, one event every 2 ms, CPU per event against a burst's, 5 interleaved
#: runs each): 50 ms 1.45-1.53x (median 1.49), 75 ms 1.28-1.49x (median 1.35), 100 ms
#: 1.30-1.62x (median 1.37); 12 ms (the linger before) 1.8-2.0x. Beyond 75 ms nothing
#: is gained: the sender's own CPU per paced event is already the burst's (0.93-1.04x), the
#: rest is the caller's thread waking to track. The batch is in flight together; with aiohttp's
#: ~70 objects per request a longer linger brought full garbage collections (loop stalls in
#: a web app), the lean engine's few objects do not (``benchmarks/web_app.py``: 3 young
#: collections per 6,000 requests at 75 ms, none full, no stall).
LINGER = 0.075


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
        self.settings = settings
        self.on_refused = on_refused
        #: Created here so callers can wake the sender before its thread runs.
        self.loop = SenderLoop()
        self._context = contextvars.Context()  # callbacks never run in a caller's context
        self.jobs = JobQueue(
            inbox,
            reporter,
            later=self._soon,
            last_error=lambda: self.state.last_error,
            max_event_age=max_event_age,
            outbox=outbox,
        )
        self.state = ApiState.for_settings(settings, reporter, max_in_flight=max_in_flight)
        #: Requests in flight at most: adaptive, or fixed when ``max_in_flight`` is given.
        self.limit = self.state.limit
        self.api = async_api(settings, max_connections=self.limit.cap)
        self.device = DeviceInit(
            devices, self.api, self.state, self.jobs, refuse=self._refuse, then=self._next_pass
        )
        self.device.device_id = settings.device_id or devices.device_id  # given: none to make
        #: A caller wakes an idle sender with one byte on this pair: no handle, no lock.
        self._pipe = WakePipe()
        self._waker = self._pipe.writer
        self._alarm = Alarm(self.loop, self.pump, self._context)
        #: While the sender lingers (see :data:`LINGER`), when it goes idle.
        self._linger_due: float | None = None
        #: Whether the sender lingers now: a worker stops at its answer (see worker_goes_on).
        self._lingering = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._workers = 0
        self._stopping = False
        self._stopped: asyncio.Future[None] | None = None

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
        self.loop.add_reader(self._pipe.reader.fileno(), self._on_wake)
        if self.jobs.outbox is not None:
            self._context.run(self._heartbeat)
        self._context.run(self.pump)
        await self._stopped
        await self._shutdown()

    # -- scheduling ------------------------------------------------------------------------------

    def _on_wake(self) -> None:
        self._pipe.drain()
        self.pump()

    def pump(self) -> None:
        """Start what may start now; arrange to be called again when more may."""
        if self._stopping:
            return
        self._lingering = False  # looking now
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
            self._alarm.after(1.0)

    def _next(self, now: float) -> Job | None:
        """The job to send now, or ``None`` after arranging to be called when there is one."""
        if self._stopping:
            return None
        jobs = self.jobs
        if self.state.refused is not None:
            jobs.drop_all("unauthorized", self.state.refused)
            self._go_idle(now)
            return None
        breaker = self.state.breaker
        blocked = breaker.blocked_for(now)
        if blocked is None:
            return None  # the probe's worker goes on when it completes
        if blocked > 0.0:
            jobs.sweep_expired(now)
            self._alarm.after(blocked)
            return None
        job = jobs.take(now, probing=breaker.state == "half_open")
        if job is None:
            self._go_idle(now)
            return None
        if job.event.device_id is None and self.device.device_id is None:
            jobs.park(job, first=True)
            jobs.sweep_expired(now)
            wait = self.device.ensure(now)
            if wait > 0.0:
                self._alarm.after(wait)
            return None
        breaker.started()
        if job.sends:
            self.state.reporter.count("retried")
        else:
            job.first_sent = now
            job.open_at_first = breaker.open_time(now)
        job.sends += 1
        return job

    def _go_idle(self, now: float) -> None:
        due = self.jobs.next_retry()
        if due is not None:
            self._alarm.after(due - now)
        if self.jobs.took_fresh:  # busy since the last look: linger again after this
            self.jobs.took_fresh = False
            self._linger_due = None
        linger_due = self._linger_due
        if linger_due is None:
            linger_due = self._linger_due = now + LINGER
        if now + 0.001 < linger_due:  # a timer may fire a little early: close enough
            self._alarm.after(linger_due - now)
            self._lingering = True
            return  # still awake: callers append without waking us
        self._linger_due = None
        inbox = self.jobs.inbox
        inbox.idle = True
        if inbox.items:  # a caller appended after we looked, and may not have woken us
            inbox.idle = False
            self.loop.call_soon(self.pump, context=self._context)

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
                    if not worker_goes_on(
                        self._workers, self.limit.value, lingering=self._lingering
                    ):
                        return
                    now = self.loop.time()
                    job = self._next(now)
                    if job is not None:
                        in_hand.add(job)
                        if self._workers < self.limit.value and self.jobs.more_waiting(now):
                            self.pump()  # e.g. a probe succeeded: bring the others back
        finally:
            self._workers -= 1

    async def _deliver(self, job: Job) -> None:
        inbox = self.jobs.inbox
        error: WeespinError | None = None
        inbox.on_wire += 1
        started = 0.0
        try:
            body = job.body
            if body is None:
                body = job.body = self._encode(job.event)
            started = self.loop.time()
            await self.api.send_event(body)
        except asyncio.CancelledError:
            # Cut off by shutdown. While the API answers, the server may have stored it:
            # neither sent nor dropped. During an outage (the breaker open), or connecting
            # still (nothing written), it was not.
            self.jobs.in_hand.discard(job)
            unsent = self.state.breaker.is_open or self.api.never_written(asyncio.current_task())
            self.jobs.settle(job, "shutdown" if unsent else IN_FLIGHT)
            raise
        except WeespinError as exc:
            error = exc
        except Exception as exc:  # a bug of ours, or an error aiohttp should have wrapped
            self.jobs.settle(job, "transport_error", exc)
            return
        finally:
            inbox.on_wire -= 1
        now = self.loop.time()
        decision = self.state.judge(job, error, now=now, rtt=now - started)
        self.jobs.follow(job, decision, error, now)
        if decision.step is Step.STOP:
            assert isinstance(error, AuthenticationError)
            self._refuse(error)

    def _encode(self, event: Event) -> bytes:
        device_id = event.device_id or self.device.device_id
        body = event.to_wire(device_id, metadata=self.settings.send_metadata)
        return encode_body(body)

    # -- outcomes --------------------------------------------------------------------------------

    def _refuse(self, error: AuthenticationError) -> None:
        if self.state.refuse(error):  # the first refusal: delivery stops for good
            self.jobs.closed = True
            if self.on_refused is not None:
                self.on_refused(error)
        self.jobs.drop_all("unauthorized", error)

    def _soon(self, callback: Callable[[], object]) -> None:
        self.loop.call_soon(callback, context=self._context)

    def _next_pass(self) -> None:
        if not self._stopping:
            self._soon(self.pump)

    # -- the outbox and stopping -----------------------------------------------------------------

    def _heartbeat(self) -> None:
        if self._stopping:
            return
        backlog = self.jobs.heartbeat()
        self.loop.call_later(HEARTBEAT_EVERY, self._heartbeat, context=self._context)
        if backlog:
            self.pump()

    def _begin_stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self.jobs.closed = True
        self._alarm.cancel()
        for task in self._tasks:
            task.cancel()
        self.device.cancel()
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    async def _shutdown(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        jobs = self.jobs
        for job in jobs.in_hand:
            jobs.settle(job, "shutdown")
        jobs.in_hand.clear()
        jobs.drop_all("shutdown")
        jobs.inbox.release_markers()
        if jobs.outbox is not None:
            jobs.outbox.discard_forgotten()
        self.loop.remove_reader(self._pipe.reader.fileno())
        self._pipe.close()  # a caller's wake() now fails quietly
        await self.api.close()


def worker_goes_on(workers: int, limit: int, *, lingering: bool) -> bool:
    """Whether a worker that got its answer takes the next job itself: not when the limit
    went down (one worker fewer), nor while the sender lingers (what trickles in meanwhile
    waits for the linger's look and goes out with the rest, as one batch).

    Example::

        worker_goes_on(4, 16, lingering=False)  # True: a busy sender's worker goes on
        worker_goes_on(4, 16, lingering=True)   # False: the next look takes what came
    """
    return workers <= limit and not lingering


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    error = context.get("exception")
    logger.error("weespin: sender loop: %s", context.get("message"), exc_info=error)
