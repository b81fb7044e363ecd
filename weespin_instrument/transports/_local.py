"""Transports that never touch the network: memory, console, none."""

from __future__ import annotations

import itertools
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

from ._base import BaseTransport

if TYPE_CHECKING:
    from .._event import Event

__all__ = ["DETERMINISTIC_START", "ConsoleTransport", "MemoryTransport", "NullTransport"]

#: The first timestamp of :meth:`MemoryTransport.deterministic`: 2026-01-01T00:00:00Z.
DETERMINISTIC_START = 1_767_225_600.0


class MemoryTransport(BaseTransport):
    """Keeps events in a list: for your application's tests.

    Example::

        memory = MemoryTransport()
        weespin.configure(transport=memory)
        checkout(order, user)
        memory.assert_tracked("purchase", amount=19.99)
    """

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._numbers: itertools.count[int] | None = None
        self._start = DETERMINISTIC_START
        self._step = 1.0

    def send(self, event: Event) -> None:
        with self._lock:
            if self._numbers is not None:
                n = next(self._numbers)
                event._event_id = f"00000000-0000-4000-8000-{n:012d}"
                event.timestamp = self._start + (n - 1) * self._step
            self.events.append(event)
        self.reporter.count_sent()

    def deterministic(
        self, *, start: float = DETERMINISTIC_START, step: float = 1.0
    ) -> MemoryTransport:
        """Give the events sent from now on predictable ids and timestamps; returns ``self``.

        The n-th event gets ``event_id`` ``00000000-0000-4000-8000-00000000000n`` and the
        timestamp ``start + (n - 1) * step`` (epoch seconds; 2026-01-01T00:00:00Z first).

        Example::

            weespin_events.deterministic()
            weespin.track("signup")
            assert weespin_events.events[0].event_id == "00000000-0000-4000-8000-000000000001"
        """
        with self._lock:
            self._numbers = itertools.count(1)
            self._start, self._step = start, step
        return self

    def clear(self) -> None:
        """Forget the events kept so far."""
        with self._lock:
            self.events.clear()

    def find(self, name: str | None = None, /, **fields: Any) -> list[Event]:
        """The events named ``name`` whose payload (or identity) has every ``field=value``."""
        with self._lock:
            return [event for event in self.events if event.matches(name, **fields)]

    def assert_tracked(self, name: str, /, *, times: int | None = None, **fields: Any) -> Event:
        """Assert an event ``name`` with these fields was tracked (``times`` exactly, if given).

        Returns the last matching event. The assertion message lists what was tracked.
        """
        __tracebackhide__ = True  # pytest shows the test's line, not this one
        found = self.find(name, **fields)
        if found and (times is None or len(found) == times):
            return found[-1]
        wanted = ", ".join([repr(name), *(f"{k}={v!r}" for k, v in fields.items())])
        count = f"{times} time(s), found {len(found)}" if times is not None else "at least once"
        tracked = "\n".join(
            f"  {e.name} {e.payload} user_id={e.user_id!r} link_id={e.link_id!r}"
            for e in self.events
        )
        raise AssertionError(
            f"expected event {wanted} {count}; tracked:\n{tracked or '  (nothing)'}"
        )

    def assert_not_tracked(self, name: str, /, **fields: Any) -> None:
        """Assert no event ``name`` with these fields was tracked."""
        __tracebackhide__ = True
        found = self.find(name, **fields)
        if found:
            raise AssertionError(f"expected no {name!r} event, found {len(found)}: {found!r}")


class ConsoleTransport(BaseTransport):
    """Writes each event as one JSON line (the body ``POST /events`` would get).

    Example::

        weespin.configure(transport="console")   # or WEESPIN_TRANSPORT=console
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, event: Event) -> None:
        import json  # here: most processes never use the console transport

        line = json.dumps(event.to_wire(), separators=(",", ":"), ensure_ascii=False)
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(line + "\n")
        self.reporter.count_sent()

    def flush(self, timeout: float | None = None) -> bool:
        (self._stream or sys.stdout).flush()
        return True


class NullTransport(BaseTransport):
    """Discards events after validation (``transport="none"``): tracking code still runs.

    Example::

        weespin.configure(transport="none")
    """

    def send(self, event: Event) -> None:
        pass
