"""What the sender does after one attempt: a decision, from what it knows, with no loop.

:func:`~._retry.outcome_of` says what an answer means (the mapping the synchronous client
shares); :func:`decide` adds what the sender knows at that moment (the job's history, the
time the breaker spent open, the retry policy, how often the client was paced in a row)
and answers what to do: settle the job, park it, or try it again after a delay, and what
the answer says about the API (up, down). The sender only applies it.

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

from ..errors import RateLimitedError, WeespinError
from ._retry import RetryPolicy, outcome_of

if TYPE_CHECKING:
    from ._jobs import Job

__all__ = ["Decision", "RecentAnswers", "Step", "decide"]

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
