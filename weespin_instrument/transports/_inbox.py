"""The inbox: where callers leave events for the sender, without a lock.

Callers append to a :class:`collections.deque` (atomic under the GIL) and signal the
sender only when it said it was idle, so a burst of calls costs one wake-up, not one per
event. The sender pops from the left. Counters the sender alone writes (``taken``,
``on_wire``) are read by callers for the queue bound and for stats; a read that races a
write is off by one for an instant, which both uses tolerate.

A flush is a :class:`FlushMarker` appended like an event: when the sender reaches it,
everything queued before it has been taken, so the flush is done once the events the
sender holds at that moment have settled (sent or dropped). The inbox keeps the markers
it has armed (:meth:`Inbox.reached`, :meth:`Inbox.settled`): the sender's side needs no
list of its own.

Example::

    inbox = Inbox()
    inbox.items.append(event)
    inbox.held()  # 1
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._event import Event

__all__ = ["FlushMarker", "Inbox"]


class FlushMarker:
    """A flush request travelling through the inbox; ``done`` is set when it completes.

    ``seq``: the sender's event sequence number when it reached the marker; events with a
    lower number were queued before the flush. ``pending``: how many of those still settle.
    """

    __slots__ = ("done", "pending", "seq")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.seq = 0
        self.pending = 0


class Inbox:
    """The state callers and the sender share. One per process (a forked child makes its own).

    Example::

        inbox = Inbox()
        inbox.items.append(event)
        if inbox.idle:
            inbox.idle = False
            wake_the_sender()
    """

    __slots__ = (
        "_armed",
        "_deferred",
        "idle",
        "items",
        "markers_added",
        "markers_reached",
        "on_wire",
        "seq",
        "space",
        "taken",
        "want_space",
    )

    def __init__(self) -> None:
        self.items: deque[Event | FlushMarker] = deque()
        #: Set by the sender when it has nothing left to take; the next caller wakes it.
        self.idle = True
        #: Events the sender took and has not settled yet (written by the sender only).
        self.taken = 0
        #: Of those, how many are in a request right now (written by the sender only).
        self.on_wire = 0
        #: Flush markers put in ``items`` (by callers, under the transport's flush lock) and
        #: taken out (by the sender): two counters, so neither side writes the other's.
        self.markers_added = 0
        self.markers_reached = 0
        #: A caller waits for room (overflow "block"); the sender sets ``space`` on settling.
        self.want_space = False
        self.space = threading.Event()
        #: The sequence number of the last event the sender took (written by the sender only).
        self.seq = 0
        #: Markers reached, waiting for the events taken before them (the sender's side).
        self._armed: list[FlushMarker] = []
        #: Markers reached while an outbox backlog was still to be taken.
        self._deferred: list[FlushMarker] = []

    def held(self) -> int:
        """Events queued or in the sender's hands: what the queue bound counts."""
        markers = self.markers_added - self.markers_reached
        return len(self.items) - markers + self.taken

    def pending(self) -> tuple[int, int]:
        """``(queued, in_flight)`` for stats: in flight means in a request right now."""
        on_wire = self.on_wire
        return (max(0, self.held() - on_wire), on_wire)

    def pop_oldest(self) -> Event | None:
        """Take out the oldest queued event (overflow ``"drop_oldest"``), if one is first in
        line (a flush marker stays where it is)."""
        items = self.items
        try:
            oldest = items.popleft()
        except IndexError:
            return None  # everything held is in the sender's hands
        if isinstance(oldest, FlushMarker):
            items.appendleft(oldest)
            return None
        return oldest

    def wait_for_room(self, limit: int, timeout: float) -> bool:
        """Wait (a caller, overflow ``"block"``) until fewer than ``limit`` events are held;
        ``False`` if ``timeout`` seconds passed first."""
        deadline = time.monotonic() + timeout
        while self.held() >= limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.space.clear()
            self.want_space = True
            if self.held() < limit:
                break
            self.space.wait(min(remaining, 0.05))  # bounded: a missed signal costs 50 ms
        return True

    def drain(self) -> Iterator[Event]:
        """Empty the queue (the sender is gone): its events, in order; a flush marker on the
        way is done once the events before it were handed out."""
        items = self.items
        while items:
            try:
                item = items.popleft()
            except IndexError:
                break
            if isinstance(item, FlushMarker):
                item.done.set()
            else:
                yield item

    # -- the sender's side -----------------------------------------------------------------------

    def took(self) -> int:
        """The sender took an event over (from here or from an outbox): its sequence number."""
        self.taken += 1
        self.seq += 1
        return self.seq

    def reached(self, marker: FlushMarker, *, defer: bool = False) -> None:
        """The sender reached ``marker``; with ``defer``, it waits for :meth:`arm_deferred`
        (an outbox backlog is to be taken first)."""
        self.markers_reached += 1
        if defer:
            self._deferred.append(marker)
        else:
            self._arm(marker)

    def arm_deferred(self) -> None:
        """The backlog is taken: the deferred markers now wait for what the sender holds."""
        markers, self._deferred = self._deferred, []
        for marker in markers:
            self._arm(marker)

    def settled(self, seq: int) -> None:
        """The event numbered ``seq`` was sent or dropped (and counted so, ``taken`` already
        lowered): count it off the flushes waiting for it; wake a caller waiting for room."""
        if self._armed:
            for marker in list(self._armed):
                if seq <= marker.seq:
                    marker.pending -= 1
                    if marker.pending <= 0:
                        marker.done.set()
                        self._armed.remove(marker)
        if self.want_space:
            self.want_space = False
            self.space.set()

    def release_markers(self) -> None:
        """The sender stops: every flush waiting on it returns."""
        for marker in self._armed + self._deferred:
            marker.done.set()
        self._armed.clear()
        self._deferred.clear()

    def _arm(self, marker: FlushMarker) -> None:
        pending = self.taken  # every event taken so far was queued before the marker
        if pending <= 0:
            marker.done.set()
            return
        marker.seq = self.seq
        marker.pending = pending
        self._armed.append(marker)
