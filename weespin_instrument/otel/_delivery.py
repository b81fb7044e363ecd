"""Where the span processor sends events: the client's own transport, whenever it can.

Order of choice: the ``delivery=`` transport given to the processor; else the client's
transport (one sender, one device, one set of counters for the process: ``weespin.flush()``
waits for span-derived events and ``weespin.stats()`` counts them; the ``weespin_events``
fixture captures them); when that transport is a ``SpanEventTransport``, the transport it
forwards by (:meth:`~SpanEventTransport.delivery_transport`: its fallback, or one it built).
Never a ``SpanEventTransport``: that would loop. Only the given transport is the processor's
to close; the others are flushed by ``provider.force_flush()`` and by the client.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from ..errors import ConfigurationError
from ..transports import BaseTransport
from ._transport import SpanEventTransport

if TYPE_CHECKING:
    from .._client import Client
    from ..transports import Transport

__all__ = ["Delivery"]


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
        self._error: ConfigurationError | None = None

    def get(self, client: Client) -> Transport:
        """The transport for ``client``'s events; raises ``ConfigurationError`` (no API key)."""
        transport = self._transport
        if transport is not None and self._client is client:
            return transport
        with self._lock:
            if self._client is not client:  # the given one is attached to the new client below
                self._client, self._transport, self._error = client, None, None
            if self._transport is None:
                if self._error is not None:
                    raise self._error
                try:
                    self._transport = self._choose(client)
                except ConfigurationError as exc:
                    self._error = exc
                    raise
            return self._transport

    def flush(self, timeout: float | None) -> bool:
        """Wait for what was handed over so far; ``True`` if it all left in time."""
        transport = self._transport
        return True if transport is None else transport.flush(timeout)

    def close(self, timeout: float | None) -> bool:
        """Flush, then close the transport if it is the processor's own (the given one)."""
        with self._lock:
            transport = self._transport
        if transport is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        delivered = transport.flush(timeout)
        if transport is self._given:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            transport.close(remaining)
        return delivered

    def _choose(self, client: Client) -> Transport:
        given = self._given
        if given is not None:
            if isinstance(given, BaseTransport):
                given.adopt(client.settings)
                given.attach(client.reporter)
            return given
        configured = client.transport  # started now if it was not: it is the process's pipeline
        if isinstance(configured, SpanEventTransport):
            return configured.delivery_transport()
        return configured
