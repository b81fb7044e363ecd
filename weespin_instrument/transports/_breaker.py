"""The circuit breaker: during an outage, back off as a whole, probe, resume by itself.

Per-event retries suit a healthy API that fails now and then. When the API is down, every
event retrying on its own schedule hammers it and burns each event's budget; instead the
sender asks the breaker before each request. After ``threshold`` consecutive outage
failures (connection errors, 5xx, timeouts) of *fresh* events (their first failure) it
opens: nothing is sent for a backoff that doubles with each failed probe (with jitter,
capped), then one request goes through as a probe. Any success closes it. An event that
failed before failing again says nothing about the API (it may be a payload the server
chokes on: a poison event), so it neither opens the breaker nor, as a probe, reopens it.
A server that rate limits the client (429 on most requests) pauses sending as a whole,
independently of the failure count.

:meth:`CircuitBreaker.open_time` is the time spent open so far: the sender leaves it out
of the events' retry budgets, so an outage does not burn them.

Example::

    breaker = CircuitBreaker(threshold=5, base=0.5, cap=10.0)
    breaker.blocked_for(now=0.0)  # 0.0: send
    for _ in range(5):
        breaker.failure(now=0.0)
    breaker.blocked_for(now=0.0)  # > 0: wait that long, then probe
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal

__all__ = ["CircuitBreaker"]

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Decides whether a request may start now. Not thread-safe: the sender owns it.

    ``blocked_for(now)`` answers ``0.0`` (go), a number of seconds (ask again then), or
    ``None`` (a probe is in flight: ask again when it completes). Call :meth:`started`
    when a request starts, then :meth:`success` or :meth:`failure` with its outcome.

    Example::

        wait = breaker.blocked_for(loop.time())
        if wait == 0.0:
            breaker.started()
            ...  # send, then breaker.success() or breaker.failure(loop.time())
    """

    def __init__(
        self,
        *,
        threshold: int = 10,
        base: float = 0.5,
        cap: float = 10.0,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.threshold = max(1, threshold)
        self.base = base
        self.cap = max(base, cap)
        self._uniform = uniform
        self.state: State = "closed"
        self._failures = 0
        self._opened = 0  # consecutive openings: the backoff exponent
        self._reopen_at = 0.0
        self._paused_until = 0.0
        self._probing = False
        self._opened_at = 0.0
        self._open_total = 0.0
        self._paused_total = 0.0
        self._counted_until = 0.0
        #: How many times it opened since it was created (for tests and diagnostics).
        self.openings = 0

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self.state!r}, failures={self._failures})"

    @property
    def is_open(self) -> bool:
        """Whether an outage is assumed (open, or half-open waiting for its probe)."""
        return self.state != "closed"

    def blocked_for(self, now: float) -> float | None:
        """``0.0`` if a request may start now, else seconds to wait, or ``None`` (probing)."""
        wait = self._paused_until - now
        if self.state == "open":
            if now < self._reopen_at:
                return max(wait, self._reopen_at - now)
            self._close_period(self._reopen_at)
            self.state = "half_open"
        if self.state == "half_open" and self._probing:
            return None
        return wait if wait > 0.0 else 0.0

    def started(self) -> None:
        """A request starts now (in half-open state, it is the probe)."""
        if self.state == "half_open":
            self._probing = True

    def open_time(self, now: float) -> float:
        """Seconds spent open or paused (not sending) since it was created, up to ``now``."""
        paused = self._paused_total - max(0.0, self._counted_until - now)
        if self.state == "open":
            return self._open_total + paused + max(0.0, min(now, self._reopen_at) - self._opened_at)
        return self._open_total + paused

    def success(self, now: float | None = None) -> None:
        """The API answered (any answer but a 5xx / 408 / 429 counts): close."""
        if self.state == "open" and now is not None:
            self._close_period(now)
        self.state = "closed"
        self._failures = 0
        self._opened = 0
        self._probing = False

    def failure(self, now: float, *, fresh: bool = True) -> None:
        """An outage-type failure: connection error, timeout, 5xx or 408.

        ``fresh``: the event's first failure. A repeat failure only ends a probe.
        """
        if self.state == "open":
            return  # a request started before the breaker opened: already counted
        if self.state == "half_open":
            if fresh:
                self._open(now)
            else:
                self._probing = False  # the next request probes
            return
        if not fresh:
            return
        self._failures += 1
        if self._failures >= self.threshold:
            self._open(now)

    def pause(self, until: float, *, now: float | None = None) -> None:
        """The server asked for a pause (``Retry-After``, 429): send nothing before ``until``.

        With ``now``, the pause counts in :meth:`open_time` (a rate limit of the client while
        the breaker is closed: no event's budget runs meanwhile).
        """
        if now is not None:
            start = max(now, self._counted_until)
            self._paused_total += max(0.0, until - start)
            self._counted_until = max(self._counted_until, until)
        self._paused_until = max(self._paused_until, until)

    def _close_period(self, end: float) -> None:
        self._open_total += max(0.0, min(end, self._reopen_at) - self._opened_at)

    def _open(self, now: float) -> None:
        self._opened_at = now
        delay = min(self.cap, self.base * (2**self._opened))
        # "Equal jitter": never less than half the delay, so a fleet does not probe in step.
        self._reopen_at = now + self._uniform(delay / 2, delay)
        self._opened = min(self._opened + 1, 30)
        self._failures = 0
        self._probing = False
        self.state = "open"
        self.openings += 1
