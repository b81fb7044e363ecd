"""When to try a request again, and how long to wait first."""

from __future__ import annotations

import dataclasses
import random
import time
from email.utils import parsedate_to_datetime

from .errors import RateLimitedError, ServerError, WeespinError

__all__ = ["RetryPolicy", "parse_retry_after"]


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

    The n-th wait (n from 0) is uniform in ``[0, min(max_backoff, base * 2**n)]``; a
    ``Retry-After`` from the server replaces it, capped at ``max_backoff``.

    Example::

        policy = RetryPolicy(max_attempts=4, max_total=30.0)
        policy.delay(attempt=0, error=ServerError("503", status_code=503))  # 0..0.2 s
    """

    max_attempts: int = 4
    max_total: float = 30.0
    base: float = 0.2
    max_backoff: float = 10.0

    def delay(self, attempt: int, error: WeespinError) -> float:
        """How long to wait after failed attempt number ``attempt`` (0 = the first)."""
        retry_after = (
            error.retry_after if isinstance(error, (RateLimitedError, ServerError)) else None
        )
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        return random.uniform(0.0, min(self.max_backoff, self.base * (2**attempt)))

    def next_delay(self, attempt: int, error: WeespinError, elapsed: float) -> float | None:
        """The wait before the next attempt, or ``None`` when this error is final."""
        if not error.retryable or attempt + 1 >= self.max_attempts:
            return None
        wait = self.delay(attempt, error)
        if elapsed + wait > self.max_total:
            return None
        return wait
