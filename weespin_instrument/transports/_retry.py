"""What an answer means, when to try a request again, and how long to wait first.

:func:`outcome_of` is the one mapping from an HTTP answer (or a failed request) to what
happens next, shared by the synchronous transport and the background sender;
:class:`RetryPolicy` says how long an event may keep trying; :func:`retrying` and
:func:`retrying_async` run one call of a one-attempt client under a policy.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeVar

from ..errors import AuthenticationError, RateLimitedError, RejectedError, ServerError, WeespinError

if TYPE_CHECKING:
    from .._config import Settings

__all__ = [
    "Action",
    "Outcome",
    "RetryPolicy",
    "outcome_of",
    "parse_retry_after",
    "retrying",
    "retrying_async",
]

_T = TypeVar("_T")

#: ``sent``: delivered. ``retry``: this event tries again (charged to its own budget).
#: ``pause``: the whole client waits (``wait`` seconds), the event goes back in line
#: uncharged. ``stop``: delivery stops for good (a refused key). ``drop``: this event is
#: dropped with ``reason``.
Action = Literal["sent", "retry", "pause", "stop", "drop"]

#: Below this share of 429s among recent answers a 429 is the event's own failure.
RATE_LIMITED_SHARE = 0.5


class Outcome(NamedTuple):
    """What one attempt's answer means (see :func:`outcome_of`).

    Example::

        outcome_of(ServerError("503", status_code=503))
        # Outcome(action='retry', reason='delivery_failed', wait=None, error=ServerError(...))
    """

    action: Action
    #: The drop reason: of a ``drop`` or ``stop``, or of a ``retry`` whose budget ends.
    reason: str | None = None
    #: Seconds the server asked for (``Retry-After``), if it did.
    wait: float | None = None
    error: WeespinError | None = None


_SENT = Outcome("sent")


def outcome_of(error: WeespinError | None, *, rate_limited_share: float = 0.0) -> Outcome:
    """What to do after an attempt that ended with ``error`` (``None``: a 2xx).

    ``rate_limited_share`` is the share of 429s among the client's recent answers: a 429
    pauses the whole client only when most requests get one (the server paces the
    client); a 429 on one event while the others go through is that event's own failure.

    >>> outcome_of(None).action
    'sent'
    >>> outcome_of(RateLimitedError("429"), rate_limited_share=0.9).action
    'pause'
    >>> outcome_of(RateLimitedError("429"), rate_limited_share=0.1).action
    'retry'
    """
    if error is None:
        return _SENT
    if isinstance(error, AuthenticationError):
        return Outcome("stop", "unauthorized", None, error)
    if isinstance(error, RejectedError):
        status = error.status_code or 0
        reason = "redirected" if 300 <= status < 400 else "rejected"
        return Outcome("drop", reason, None, error)
    if not error.retryable:
        return Outcome("drop", "rejected", None, error)
    wait = error.retry_after if isinstance(error, (RateLimitedError, ServerError)) else None
    if isinstance(error, RateLimitedError) and rate_limited_share >= RATE_LIMITED_SHARE:
        return Outcome("pause", "delivery_failed", wait, error)
    return Outcome("retry", "delivery_failed", wait, error)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    >>> parse_retry_after("3")
    3.0
    >>> parse_retry_after("soon") is None
    True
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time.

    The n-th wait (n from 0) is uniform in ``[0, min(cap, max_backoff, base * 2**n)]``; a
    ``Retry-After`` from the server replaces it, capped at ``max_backoff``. An event keeps
    trying while its next wait still ends within ``max_retry_time`` seconds of retrying and it
    made fewer than ``max_attempts`` attempts. The defaults (30 s, 20 attempts, waits
    capped at 5 s) lose about 0.003 % of events to an API that fails half of all requests
    at random and about 0.35 % to one that fails 70 % (``docs/delivery.md``).

    Example::

        policy = RetryPolicy(max_attempts=20, max_retry_time=30.0)
        policy.delay(attempt=0, error=ServerError("503", status_code=503))  # 0..0.2 s
    """

    max_attempts: int = 20
    max_retry_time: float = 30.0
    base: float = 0.2
    max_backoff: float = 10.0
    #: The exponential backoff's own cap: short enough for many attempts within the budget.
    cap: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The policy ``configure(max_attempts=..., max_retry_time=..., max_backoff=...)`` set."""
        return cls(
            max_attempts=settings.max_attempts,
            max_retry_time=settings.max_retry_time,
            max_backoff=settings.max_backoff,
        )

    def delay(self, attempt: int, error: WeespinError) -> float:
        """How long to wait after failed attempt number ``attempt`` (0 = the first)."""
        retry_after = (
            error.retry_after if isinstance(error, (RateLimitedError, ServerError)) else None
        )
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        ceiling = min(self.cap, self.max_backoff, self.base * (2 ** min(attempt, 30)))
        return random.uniform(0.0, ceiling)

    def next_delay(self, attempt: int, error: WeespinError, elapsed: float) -> float | None:
        """The wait before the next attempt, or ``None`` when this error is final."""
        if not error.retryable or attempt + 1 >= self.max_attempts:
            return None
        wait = self.delay(attempt, error)
        if elapsed + wait > self.max_retry_time:
            return None
        return wait


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def retrying(
    call: Callable[[], _T],
    policy: RetryPolicy,
    *,
    pause: Callable[[float], bool] = _sleep,
    on_retry: Callable[[], object] | None = None,
) -> _T:
    """``call()`` again after each transient failure, as ``policy`` allows; the last error
    is raised when an error is final, the budget spent, or ``pause`` returned ``True``.

    ``pause(seconds)`` waits between attempts and returns ``True`` to stop early (a closing
    transport passes ``threading.Event.wait``); ``on_retry`` runs before each new attempt.

    Example::

        device_id = retrying(api.initialize_device, RetryPolicy.from_settings(settings))
    """
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return call()
        except WeespinError as error:
            wait = policy.next_delay(attempt, error, time.monotonic() - started)
            if wait is None or pause(wait):
                raise
        attempt += 1
        if on_retry is not None:
            on_retry()


async def retrying_async(call: Callable[[], Awaitable[_T]], policy: RetryPolicy) -> _T:
    """:func:`retrying` for a coroutine: the loop keeps running during the waits.

    Example::

        device_id = await retrying_async(api.initialize_device, policy)
    """
    import asyncio

    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return await call()
        except WeespinError as error:
            wait = policy.next_delay(attempt, error, time.monotonic() - started)
            if wait is None:
                raise
        attempt += 1
        await asyncio.sleep(wait)
