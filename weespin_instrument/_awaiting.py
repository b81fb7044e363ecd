"""A client's events held for a web visitor's device (see :class:`~.devices.VisitorDevice`).

Client state: counted in ``stats().queued``, waited for by ``flush()``, dropped and counted at
shutdown. Its own module so that the client needs nothing of ``devices.py`` (which reaches the
default client) to hold them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._event import Event

__all__ = ["AwaitingDevice"]


class AwaitingDevice:
    """A client's events waiting for a visitor's device: counted in ``stats().queued`` and
    waited for by ``flush()``; what is still waiting at shutdown is dropped and counted.

    Example::

        awaiting = AwaitingDevice()
        awaiting.add(event)
        if awaiting.claim(event):
            ...  # send it, then:
            awaiting.done()
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held: dict[int, Event] = {}
        self._count = 0

    @property
    def count(self) -> int:
        """Events held or being handed to the transport."""
        return self._count

    def add(self, event: Event) -> None:
        with self._changed:
            self._held[id(event)] = event
            self._count += 1

    def claim(self, event: Event) -> bool:
        """Take ``event`` back to deliver it; ``False`` if shutdown already dropped it."""
        with self._changed:
            return self._held.pop(id(event), None) is not None

    def done(self) -> None:
        """A claimed event reached the transport (or was dropped)."""
        with self._changed:
            self._count -= 1
            if self._count <= 0:
                self._changed.notify_all()

    def abandon(self) -> list[Event]:
        """Every event still held (for shutdown to count); they will not be delivered."""
        with self._changed:
            events = list(self._held.values())
            self._held.clear()
            self._count -= len(events)
            self._changed.notify_all()
            return events

    def wait(self, timeout: float | None) -> bool:
        """Wait until nothing is held; ``True`` if that happened within ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count <= 0, timeout)
