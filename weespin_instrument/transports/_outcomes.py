"""What the sender does after one attempt: a decision, from what it knows, with no loop.

:func:`~._retry.outcome_of` says what an answer means (the mapping the synchronous client
shares); :func:`decide` adds what the sender knows at that moment (the job's history, the
time the breaker spent open, the retry policy, how often the client was paced in a row)
and answers what to do: settle the job, park it, or try it again after a delay, and what
the answer says about the API (up, down). :class:`ApiState` keeps what the sender knows of
the API (the breaker, the in-flight limit, the recent answers) and applies to it what each
decision says; the sender does the rest (settle, park, retry).

Example::

    decision = decide(error, job, now=loop.time(), open_time=breaker.open_time(now),
                      policy=policy)
    if decision.step is Step.RETRY:
        ...  # try again in decision.delay seconds
"""

from __future__ import annotations

import enum
from collections import deque
from typing import TYPE_CHECKING, NamedTuple

from .._reporting import logger
from ..errors import APIError, AuthenticationError, RateLimitedError, ServerError, WeespinError
from ._breaker import CircuitBreaker
from ._concurrency import InFlightLimit
from ._retry import RetryPolicy, outcome_of

if TYPE_CHECKING:
    from .._config import Settings
    from .._reporting import Reporter
    from ._jobs import Job

__all__ = ["ApiState", "Decision", "RecentAnswers", "Step", "decide"]

#: Recent answers the rate-limit share is computed over, and the fewest distinct events
#: among its 429s for it to count.
_RATE_WINDOW = 20
_RATE_MIN_EVENTS = 4


class Step(enum.Enum):
    """What happens to the job."""

    #: Delivered: settle it as sent.
    SENT = "sent"
    #: Dropped with the decision's ``reason``.
    DROP = "drop"
    #: The key was refused: drop it as ``unauthorized`` and stop delivery for good.
    STOP = "stop"
    #: The server paces the client as a whole: nothing is sent for ``delay`` seconds; the job
    #: goes back in line, no attempt charged.
    PAUSE = "pause"
    #: The event's own failure, charged to its budget: it tries again in ``delay`` seconds.
    RETRY = "retry"


class Decision(NamedTuple):
    """:func:`decide`'s answer.

    Example::

        Decision(Step.RETRY, "delivery_failed", delay=0.4, api_up=False)
    """

    step: Step
    #: The drop reason (``DROP``, ``STOP``).
    reason: str | None = None
    #: Seconds to wait (``PAUSE``: everything; ``RETRY``: this job).
    delay: float = 0.0
    #: What the answer says of the API, for the breaker: ``True`` it answered (close it),
    #: ``False`` an outage-type failure, ``None`` nothing to tell.
    api_up: bool | None = None
    #: With ``api_up=False``: how long the server said it is down (``Retry-After``), capped.
    down_for: float | None = None


_SENT = Decision(Step.SENT, api_up=True)


def decide(
    error: WeespinError | None,
    job: Job,
    *,
    now: float,
    open_time: float,
    policy: RetryPolicy,
    rate_limited_share: float = 0.0,
    pauses: int = 0,
) -> Decision:
    """What to do with ``job`` after an attempt that ended with ``error`` (``None``: a 2xx).

    ``open_time``: the breaker's :meth:`~._breaker.CircuitBreaker.open_time` at ``now``
    (time spent open is left out of the job's budget); ``rate_limited_share``: from
    :class:`RecentAnswers`; ``pauses``: the client's rate-limit pauses in a row so far.

    >>> from weespin_instrument.transports._jobs import Job
    >>> decide(None, Job(None, 1), now=0.0, open_time=0.0, policy=RetryPolicy()).step
    <Step.SENT: 'sent'>
    """
    outcome = outcome_of(error, rate_limited_share=rate_limited_share)
    action = outcome.action
    if action == "sent" or error is None:
        return _SENT
    if action == "stop":
        return Decision(Step.STOP, outcome.reason or "unauthorized")
    if action == "drop":  # the API is up; it refused this event
        return Decision(Step.DROP, outcome.reason or "rejected", api_up=True)
    if action == "pause":
        wait = outcome.wait
        if wait is None:
            wait = max(policy.base, policy.delay(pauses + 1, error))
        return Decision(Step.PAUSE, delay=min(wait, policy.max_backoff), api_up=True)
    # "retry": a 429 is an answer (the API is up); anything else an outage-type failure.
    api_up = isinstance(error, RateLimitedError)
    down_for = None
    if not api_up and outcome.wait is not None:
        down_for = min(outcome.wait, policy.max_backoff)
    # The time the breaker spent open (an outage: nothing was sent) is left out of the budget.
    elapsed = now - job.first_sent - (open_time - job.open_at_first)
    delay = policy.next_delay(job.failures, error, elapsed)
    if delay is None:
        reason = outcome.reason or "delivery_failed"
        return Decision(Step.DROP, reason, api_up=api_up, down_for=down_for)
    return Decision(Step.RETRY, delay=delay, api_up=api_up, down_for=down_for)


class RecentAnswers:
    """The share of recent answers that were a 429, once they came to several events.

    A few events drawing 429 again and again is their problem, not a rate limit of the
    client (which meets every event): below :data:`_RATE_MIN_EVENTS` distinct events the
    share is 0.

    Example::

        answers = RecentAnswers()
        share = answers.add(job.seq, rate_limited=True)
    """

    __slots__ = ("_recent",)

    def __init__(self) -> None:
        #: Of the recent answers, the events that drew a 429 (0: another answer).
        self._recent: deque[int] = deque(maxlen=_RATE_WINDOW)

    def add(self, seq: int, *, rate_limited: bool) -> float:
        """Note the answer to event ``seq``; return the rate-limited share now."""
        recent = self._recent
        recent.append(seq if rate_limited else 0)
        limited = [seq for seq in recent if seq]
        if len(set(limited)) < _RATE_MIN_EVENTS:
            return 0.0
        return len(limited) / len(recent)


class ApiState:
    """What the sender knows of the API, kept up to date by each answer (see :meth:`judge`).

    It owns the circuit breaker, the in-flight limit, the recent answers' share of 429s,
    the rate-limit pauses in a row and the last error; the sender asks it before each
    request (``breaker``, ``limit``) and after each answer.

    Example::

        state = ApiState.for_settings(settings, reporter)
        decision = state.judge(job, error, now=loop.time(), rtt=0.004)
    """

    def __init__(
        self,
        policy: RetryPolicy,
        reporter: Reporter,
        *,
        breaker: CircuitBreaker,
        limit: InFlightLimit,
    ) -> None:
        self.policy = policy
        self.reporter = reporter
        self.breaker = breaker
        self.limit = limit
        #: The last error an attempt (or the device initialization) ended with.
        self.last_error: WeespinError | None = None
        #: The API refused the key: delivery is stopped for good.
        self.refused: AuthenticationError | None = None
        self._pauses = 0
        self._answers = RecentAnswers()
        self._outage_logged = False

    @classmethod
    def for_settings(
        cls, settings: Settings, reporter: Reporter, *, max_in_flight: int | None = None
    ) -> ApiState:
        """The sender's: retries and breaker from ``settings``; the in-flight limit adaptive,
        or fixed at ``max_in_flight``."""
        policy = RetryPolicy.from_settings(settings)
        limit = InFlightLimit() if max_in_flight is None else InFlightLimit.fixed(max_in_flight)
        breaker = CircuitBreaker(cap=max(settings.max_backoff, 0.5))
        return cls(policy, reporter, breaker=breaker, limit=limit)

    def judge(self, job: Job, error: WeespinError | None, *, now: float, rtt: float) -> Decision:
        """The decision on ``job``'s attempt, what it taught applied to the breaker and limit."""
        if not job.failures:  # an event that failed before says nothing of the API (poison)
            self._follow_round_trip(error, rtt)
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
        if error is None:
            breaker.success(now)
            self._pauses = 0
            if self._outage_logged:
                self._outage_logged = False
                logger.info("weespin: the API answers again; delivery resumed")
            return decision
        self.last_error = error
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
        if decision.step is Step.PAUSE:  # the client as a whole waits
            self._pauses += 1
            breaker.pause(now + decision.delay, now=now)
        return decision

    def refuse(self, error: AuthenticationError) -> bool:
        """The key was refused; ``True`` the first time (then one error is logged)."""
        if self.refused is not None:
            return False
        self.refused = error
        logger.error(
            "weespin: %s Delivery is stopped: every event of this process is dropped from "
            "now on (counted as 'unauthorized' in weespin.stats()) until a client with a "
            "valid key is configured.",
            error,
        )
        return True

    def _follow_round_trip(self, error: WeespinError | None, rtt: float) -> None:
        """Feed the in-flight limit: a round trip, or a sign the API is overloaded."""
        if isinstance(error, (RateLimitedError, ServerError)) or (
            error is not None and not isinstance(error, APIError)  # a timeout, a reset
        ):
            self.limit.overloaded()
        else:
            self.limit.answered(rtt)

    def _log_outage(self, error: WeespinError) -> None:
        if not self._outage_logged:
            self._outage_logged = True
            logger.warning(
                "weespin: the API is unreachable (%s); events wait and sending resumes by "
                "itself (probing with backoff up to %.0f s)",
                error,
                self.breaker.cap,
            )
