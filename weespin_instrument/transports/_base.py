"""The transport protocol, and the base class the built-in transports share."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .._config import Settings
from .._reporting import Reporter

if TYPE_CHECKING:
    from .._event import Event

__all__ = ["BaseTransport", "Transport", "settings_from"]


class Transport(Protocol):
    """Where validated events go. Three methods; ``send`` must never raise for delivery.

    Example::

        class ListTransport:
            def __init__(self) -> None:
                self.events: list[Event] = []

            def send(self, event: Event) -> None:
                self.events.append(event)

            def flush(self, timeout: float | None = None) -> bool:
                return True

            def close(self, timeout: float | None = None) -> None:
                pass

        weespin.configure(transport=ListTransport())
    """

    def send(self, event: Event) -> None:
        """Take one event. Delivery problems are reported, not raised."""
        ...

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything sent so far has left; ``True`` if it all did in time."""
        ...

    def close(self, timeout: float | None = None) -> None:
        """Flush (bounded by ``timeout``) and release resources."""
        ...


class BaseTransport:
    """Shared plumbing: a :class:`Reporter` that a client replaces with its own.

    Subclass it to have your transport's outcomes counted in ``weespin.stats()``.

    Example::

        class PrintTransport(BaseTransport):
            def send(self, event: Event) -> None:
                print(event.name, event.payload)
                self.reporter.count_sent()
    """

    #: Whether this transport sends to the Weespin API (the HTTP ones do): the pytest plugin's
    #: network guard may refuse it, and an event of a web visitor with no device yet waits
    #: for the device the API assigns (a client reads it once, when it adopts the transport).
    needs_api: bool = False

    def __init__(self) -> None:
        self.reporter = Reporter()

    def adopt(self, settings: Settings) -> None:
        """Take the settings of the client adopting this transport, for what was not given
        to the constructor (a client calls this before its first event). Raises
        :class:`~weespin_instrument.ConfigurationError` when the transport cannot work."""

    def attach(self, reporter: Reporter) -> None:
        """Count outcomes in ``reporter`` (a client calls this when it adopts the transport)."""
        self.reporter = reporter

    def send(self, event: Event) -> None:
        raise NotImplementedError

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> None:
        self.flush(timeout)

    def pending(self) -> tuple[int, int]:
        """``(queued, in_flight)`` events, for stats."""
        return (0, 0)


def settings_from(
    settings: Settings | None, options: Mapping[str, Any]
) -> tuple[Settings, dict[str, Any] | None]:
    """A transport's settings, and the options it was given to keep over an adopting
    client's settings (``None`` with whole ``settings``: nothing to keep).

    ``options`` (``None`` means "not given") go over ``settings``; without ``settings`` they
    are resolved with the environment and the defaults.

    Example::

        settings, given = settings_from(None, {"base_url": "http://127.0.0.1:8765"})
        given  # {"base_url": "http://127.0.0.1:8765"}
    """
    given = {k: os.fspath(v) if k == "outbox" else v for k, v in options.items() if v is not None}
    if settings is None:
        return Settings.resolve(**given), given
    if given:
        settings = settings._replace(**given)
        settings._check()
    return settings, None
