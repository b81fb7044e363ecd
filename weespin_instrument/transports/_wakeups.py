"""How the sender is woken: by a caller (one byte on a socket pair), or by its own alarm.

A caller that finds the sender idle writes one byte to a :class:`WakePipe` the sender's loop
watches: the cheapest wake-up a thread can give (``call_soon_threadsafe`` builds a handle and
takes a lock, about 5x the cost). The sender sets its :class:`Alarm` for the next moment
something may change by itself (a retry falls due, a pause ends, the linger ends): one timer,
the earliest moment wins.

Example::

    pipe = WakePipe()
    loop.add_reader(pipe.reader.fileno(), on_wake)   # on_wake calls pipe.drain()
    pipe.writer.send(b"\\0")                          # from any thread
    alarm = Alarm(loop, pump, context)
    alarm.after(0.5)                                  # pump() in 0.5 s, unless sooner asked
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import socket
from collections.abc import Callable

__all__ = ["Alarm", "WakePipe"]


class WakePipe:
    """A non-blocking socket pair: callers write to :attr:`writer`, the loop reads :attr:`reader`.

    Example::

        pipe = WakePipe()
        pipe.writer.send(b"\\0")
        pipe.drain()
    """

    __slots__ = ("reader", "writer")

    def __init__(self) -> None:
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        self.writer.setblocking(False)

    def drain(self) -> None:
        """Read every pending wake-up byte (one look serves them all)."""
        try:
            while self.reader.recv(4096):
                pass
        except OSError:  # drained (BlockingIOError), or closed at shutdown
            pass

    def close(self) -> None:
        """Close both ends: a late caller's send now fails quietly (no fd to reuse)."""
        self.writer.close()
        self.reader.close()


class Alarm:
    """One timer on ``loop`` calling ``callback``: :meth:`after` keeps the earliest moment asked.

    Example::

        alarm = Alarm(loop, pump, contextvars.Context())
        alarm.after(2.0)
        alarm.after(0.5)  # now in 0.5 s; the 2 s one is gone
    """

    __slots__ = ("_callback", "_context", "_due", "_handle", "_loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        callback: Callable[[], object],
        context: contextvars.Context,
    ) -> None:
        self._loop = loop
        self._callback = callback
        self._context = context
        self._handle: asyncio.TimerHandle | None = None
        self._due = math.inf

    def after(self, delay: float) -> None:
        """Call back in ``delay`` seconds (at least a millisecond), unless set sooner already."""
        due = self._loop.time() + max(delay, 0.001)
        if self._handle is not None:
            if self._due <= due:
                return
            self._handle.cancel()
        self._due = due
        self._handle = self._loop.call_at(due, self._ring, context=self._context)

    def cancel(self) -> None:
        """Call nothing back (until set again)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._due = math.inf

    def _ring(self) -> None:
        self._handle = None
        self._due = math.inf
        self._callback()
