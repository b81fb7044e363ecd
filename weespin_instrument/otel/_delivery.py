"""Where the span processor sends events: the client's own transport, whenever it can.

Order of choice: the ``delivery=`` transport given to the processor; else the client's
transport (one sender, one device, one set of counters for the process: ``weespin.flush()``
waits for span-derived events and ``weespin.stats()`` counts them; the ``weespin_events``
fixture captures them); when that transport is a ``SpanEventTransport``, its fallback if it
has one, else a ``BackgroundTransport`` built from the client's settings. Never a
``SpanEventTransport``: that would loop.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import TYPE_CHECKING

from ..errors import ConfigurationError
from ..transports import BaseTransport
from ._transport import SpanEventTransport

if TYPE_CHECKING:
    from .._client import Client
    from .._reporting import Reporter
    from ..transports import Transport

__all__ = ["Delivery", "flush_live_deliveries", "pending_in_deliveries"]

#: Seconds a replaced transport (the default client changed) gets to drain, off-thread.
RETIRE_TIMEOUT = 5.0


class Delivery:
    """One processor's way out to Weespin, thread-safe; ``get`` never touches the network.

    Example::

        delivery = Delivery(None)
        delivery.get(client).send(event)
        delivery.flush(5.0)
    """

    def __init__(self, given: Transport | None) -> None:
        if isinstance(given, SpanEventTransport):
            raise ConfigurationError(
                "WeespinSpanProcessor(delivery=SpanEventTransport(...)) would send every event "
                "back into a span, forever; pass a delivery transport such as "
                "BackgroundTransport(), or leave delivery= out."
            )
        self._given = given
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._transport: Transport | None = None
        self._owned = False
        self._error: ConfigurationError | None = None
        _live.add(self)

    def get(self, client: Client) -> Transport:
        """The transport for ``client``'s events; raises ``ConfigurationError`` (no API key)."""
        transport = self._transport
        if transport is not None and self._client is client:
            return transport
        with self._lock:
            if self._client is not client:
                self._retire()
                self._client, self._error = client, None
            if self._transport is None:
                if self._error is not None:
                    raise self._error
                try:
                    self._transport, self._owned = self._choose(client)
                except ConfigurationError as exc:
                    self._error = exc
                    raise
            return self._transport

    def flush(self, timeout: float | None) -> bool:
        """Wait for what was handed over so far; ``True`` if it all left in time."""
        transport = self._transport
        return True if transport is None else transport.flush(timeout)

    def close(self, timeout: float | None) -> bool:
        """Flush, then close the transport if it is ours (the given one counts as ours)."""
        with self._lock:
            transport, owned = self._transport, self._owned
        if transport is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        delivered = transport.flush(timeout)
        if owned:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            transport.close(remaining)
        return delivered

    def _choose(self, client: Client) -> tuple[Transport, bool]:
        given = self._given
        if given is not None:
            if isinstance(given, BaseTransport):
                given.adopt(client.settings)
                given.attach(client.reporter)
            return given, True
        from ..transports import BackgroundTransport

        configured = client.transport  # started now if it was not: it is the process's pipeline
        if not isinstance(configured, SpanEventTransport):
            return configured, False
        if configured.fallback is not None:
            return configured.fallback, False  # attached to the client's reporter with it
        transport = BackgroundTransport(settings=client.settings)
        transport.attach(client.reporter)
        return transport, True

    def _retire(self) -> None:
        old, owned = self._transport, self._owned
        self._transport = None
        if old is None:
            return
        if not owned:
            return
        if old is self._given:
            return  # re-attached to the new client on next use
        threading.Thread(
            target=old.close, args=(RETIRE_TIMEOUT,), name="weespin-otel-retire", daemon=True
        ).start()


_live: weakref.WeakSet[Delivery] = weakref.WeakSet()


def flush_live_deliveries(timeout: float | None) -> bool:
    """Flush every live processor's delivery (``SpanEventTransport.flush`` calls this)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    ok = True
    for delivery in list(_live):
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        ok = delivery.flush(remaining) and ok
    return ok


def pending_in_deliveries(reporter: Reporter) -> tuple[int, int]:
    """``(queued, in_flight)`` of the transports processors built for ``reporter``'s client."""
    queued = in_flight = 0
    for delivery in list(_live):
        transport = delivery._transport
        if not delivery._owned or not isinstance(transport, BaseTransport):
            continue
        if transport.reporter is reporter:
            waiting, sending = transport.pending()
            queued, in_flight = queued + waiting, in_flight + sending
    return queued, in_flight
