"""How many requests the sender keeps in flight: enough to cover the round trip, no more.

Little's law: throughput = requests in flight / round-trip time. One fixed number is wrong
at both ends: 64 in flight give 315 events/s at 200 ms round trips, and hold 64 connections
open to an API a millisecond away, where a few deliver all that the API (or our CPU) can
take. So the limit follows the round trip, the way TCP Vegas sizes its window:

- the *base* round trip is the distance to the API: the lowest seen (a higher sample pulls
  it up very slowly, so an API that moved away is learned again);
- the share of a round trip spent queueing is ``1 - base / rtt`` (``rtt``: a moving
  average of the recent ones; nothing moves before :data:`WARM_UP` answers, so that the
  base is not taken from the first, slow, answers of a busy start). Little of it (under
  :data:`GROW_BELOW`): more requests at once mean more throughput, the limit grows by one
  per answer (it doubles each round trip). Most of it (over :data:`SHRINK_ABOVE`): more
  requests only wait longer (the API or our CPU is the bottleneck), it shrinks by one.
- an overload signal (a timeout, a 5xx, a 429) halves it.

A far API thus gets many requests at once (up to ``cap``), a near one few (``floor``). It is
a decision only: fed round trips and outcomes, it answers a number. No clock, no loop, no
I/O: :class:`~._engine.Sender` feeds it and obeys it.

Example::

    limit = InFlightLimit(cap=256)
    limit.value  # 16 to start with
    for _ in range(WARM_UP + 1):
        limit.answered(0.200)  # 200 ms round trips, nothing queued: grow
    limit.value  # 17
    limit.overloaded()
    limit.value  # 16: halved, never below the floor
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_CAP",
    "DEFAULT_FLOOR",
    "GROW_BELOW",
    "SHRINK_ABOVE",
    "WARM_UP",
    "InFlightLimit",
]

#: Requests in flight at most, by default (and connections in the pool).
DEFAULT_CAP = 256
#: Requests in flight at least (unless the cap is lower), and to start with.
DEFAULT_FLOOR = 16
#: Grow while less than this share of the round trip is spent queueing.
GROW_BELOW = 0.3
#: Shrink while more than this share is.
SHRINK_ABOVE = 0.6
#: Answers seen before the limit moves.
WARM_UP = 32
#: How far a higher round trip pulls the base round trip up (a lower one sets it).
_DRIFT = 0.0002
#: Weight of a new round trip in the recent average.
_SMOOTHING = 0.1


class InFlightLimit:
    """The in-flight limit, recomputed from each round trip and outcome; see the module.

    ``cap``: never more (``max_in_flight`` when given); ``floor``: never fewer.
    ``InFlightLimit.fixed(n)`` is the limit of a user who asked for exactly ``n``.

    Example::

        limit = InFlightLimit(cap=256)
        for _ in range(132):
            limit.answered(0.200)  # far, and nothing queues: more at once
        limit.value  # 116
    """

    __slots__ = ("answers", "base_rtt", "cap", "floor", "rtt", "value")

    def __init__(self, *, cap: int = DEFAULT_CAP, floor: int = DEFAULT_FLOOR) -> None:
        self.cap = max(1, cap)
        self.floor = max(1, min(floor, self.cap))
        #: The distance to the API as a round trip, in seconds (``None``: no answer yet).
        self.base_rtt: float | None = None
        #: The recent round trips' moving average, in seconds.
        self.rtt = 0.0
        self.answers = 0
        #: The limit now: how many requests may be in flight.
        self.value = self.floor

    @classmethod
    def fixed(cls, limit: int) -> InFlightLimit:
        """A limit that never moves (``max_in_flight`` given explicitly).

        Example::

            InFlightLimit.fixed(64).value  # 64, whatever happens
        """
        return cls(cap=limit, floor=limit)

    def __repr__(self) -> str:
        return f"InFlightLimit(value={self.value}, floor={self.floor}, cap={self.cap})"

    def answered(self, rtt: float) -> None:
        """The API answered (any status but an overload) after ``rtt`` seconds."""
        base = self.base_rtt
        if base is None or rtt <= base:
            self.base_rtt = base = rtt
        else:
            self.base_rtt = base = base + _DRIFT * (rtt - base)
        first = self.answers == 0
        self.rtt = recent = rtt if first else self.rtt + _SMOOTHING * (rtt - self.rtt)
        self.answers += 1
        if self.answers <= WARM_UP:
            return
        queueing = 1.0 - base / recent if recent > 0.0 else 0.0
        if queueing < GROW_BELOW:
            self.value = min(self.value + 1, self.cap)
        elif queueing > SHRINK_ABOVE:
            self.value = max(self.value - 1, self.floor)

    def overloaded(self) -> None:
        """A timeout, a 5xx or a 429: the API (or the path to it) has too much to do."""
        self.value = max(self.value // 2, self.floor)
