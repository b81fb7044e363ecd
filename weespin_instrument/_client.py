"""The client: one configuration, one transport, one set of counters; runs the pipeline.

What a tracked call goes through is in ``_pipeline.py``; the transport's life (start,
shutdown, retire, the exit drain) in ``_lifecycle.py``. Both are functions of the client
that it binds as its methods.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from . import _lifecycle as lifecycle
from . import _pipeline as pipeline
from ._awaiting import AwaitingDevice
from ._config import TRANSPORT_NAMES, Settings
from ._pipeline import _CLEARED as _CLEARED  # what @track_event's generated wrappers pass
from ._plans import PayloadPlans
from ._reporting import Reporter, Stats
from .errors import ConfigurationError
from .transports import BaseTransport, Transport

if TYPE_CHECKING:
    from pydantic import BaseModel
    from typing_extensions import Unpack

    from ._config import Options
    from ._event import Event

__all__ = ["TRANSPORT_NAMES", "Client", "EventFields", "TrackFields"]


class EventFields(TypedDict, total=False):
    """The keywords of :meth:`Client.emit` and :meth:`Client.prepare`, all optional.

    ``user_id``, ``link_id``, ``device_id``: the event's identity (default: the current
    :func:`~weespin_instrument.identify` scope's, then the client's device). ``origin`` names
    the instrumented function, for error messages and logs. ``span``: the OpenTelemetry span
    current when the tracked call started (default: the current one now). ``schema``: a
    pydantic model the payload is validated and coerced through before the API's rules.

    Example::

        fields: EventFields = {"user_id": "u_42", "origin": "checkout()"}
        client.emit("purchase", {"amount": 19.99}, **fields)
    """

    user_id: object
    link_id: object
    device_id: object
    origin: str | None
    span: Any
    schema: type[BaseModel] | None


class TrackFields(TypedDict, total=False):
    """The keywords of :func:`~weespin_instrument.track` and :meth:`Client.track`, all optional.

    ``user_id``, ``link_id``, ``device_id``: the event's identity (default: the current
    :func:`~weespin_instrument.identify` scope's, then the client's device). ``schema``: a
    pydantic model the payload is validated and coerced through first; a payload it rejects
    is dropped and counted (``schema_mismatch``), or raises in strict mode.

    Example::

        weespin.track("share_link", {"channel": "email"}, user_id="u_42")
    """

    user_id: str | int | None
    link_id: str | None
    device_id: str | None
    schema: type[BaseModel] | None


_EVENT_FIELDS = frozenset(EventFields.__annotations__)
_TRACK_FIELDS = frozenset(TrackFields.__annotations__)


def _known_fields(call: str, fields: Mapping[str, Any], known: frozenset[str]) -> Any:
    """``fields``, once each key is in ``known`` (as a signature would check): ``call`` names
    the callable in the error, as Python's own message does (``"Client.emit()"``)."""
    unknown = fields.keys() - known
    if unknown:
        raise TypeError(f"{call} got an unexpected keyword argument {min(unknown)!r}")
    return fields


class Client:
    """A configured tracker. Most code uses the default one through the module functions.

    Nothing happens at construction: no thread, no network. The transport is created on
    the first event, and the device is initialized when the first event needs one.

    Example::

        client = Client(api_key="wsk_…", base_url="http://127.0.0.1:8765", transport="sync")
        client.track("signup", {"plan": "pro"}, user_id="u_42")
        client.flush(timeout=5.0)
    """

    def __init__(self, *, settings: Settings | None = None, **options: Unpack[Options]) -> None:
        misconfigured = None
        if settings is None:
            # Bad explicit options raise here; a bad environment is reported on first use.
            settings, misconfigured = Settings.resolve_lazily(**options)
        elif options:
            raise ConfigurationError(
                "pass either settings= or individual options to Client(), not both."
            )
        #: Why the environment could not be used: every event is dropped as ``misconfigured``.
        self._misconfigured = misconfigured
        self.settings = settings
        self.reporter = Reporter(on_error=settings.on_error)
        #: The reporter's tracked counter: ``next(client._tracked)`` is ``count_tracked()``
        #: without calling a method-wrapper (most of the cost of the count on the hot path).
        self._tracked = self.reporter._tracked
        self._scrub = settings.scrubbing.scrubber()
        #: track()'s plans, per (event name, *keys): see _plans.py.
        self._plans = PayloadPlans(self._scrub)
        self._transport: Transport | None = None
        self._transport_lock = threading.Lock()
        self._unconfigured: ConfigurationError | None = None
        self._misconfigured_seen = False
        #: Set by the pytest plugin's network guard: why this client's events may not leave.
        self._blocked: str | None = None
        self._needs_api = False
        self._closed = False
        #: Whether sending has more to do than send: see _send.
        self._detour = settings.on_error is not None
        #: The started transport while an event needs nothing but sending (not disabled, no
        #: detour): track()'s one test before it sends (see _pipeline.emit_payload).
        self._ready: Transport | None = None
        #: Events waiting for a web visitor's device (see :class:`~.devices.VisitorDevice`).
        self.awaiting_device = AwaitingDevice()

    def __repr__(self) -> str:
        transport = self.settings.transport
        name = transport if isinstance(transport, str) else type(transport).__name__
        return (
            f"Client(base_url={self.settings.base_url!r}, api_key={self.settings.key_hint!r}, "
            f"transport={name!r})"
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` was called: events tracked now are dropped (``closed``)."""
        return self._closed

    @property
    def transport(self) -> Transport:
        """The transport, created on first access."""
        return self._transport or self._start_transport()

    def track(
        self, name: str, payload: Mapping[str, Any] | None = None, **fields: Unpack[TrackFields]
    ) -> Event | None:
        """Track one event now. Returns it, or ``None`` when it was dropped or disabled.

        Outside strict mode this never raises: invalid events are dropped and counted.
        ``fields``: ``user_id``, ``link_id``, ``device_id`` and ``schema`` (see
        :class:`TrackFields`); a keyword that is none of them raises ``TypeError``.

        Example::

            client.track("share_link", {"channel": "email"}, user_id="u_42")
        """
        if not fields:  # keywords cost a lookup each when not given: the common call has none
            return self._emit_payload(name, payload)
        return self._pipeline(
            name, payload, **_known_fields("Client.track()", fields, _TRACK_FIELDS)
        )

    def emit(
        self, name: object, payload: Mapping[str, Any] | None, **fields: Unpack[EventFields]
    ) -> Event | None:
        """The pipeline behind every tracked call: :meth:`prepare` the event, then send it.

        ``fields``: see :class:`EventFields`.

        Example::

            client.emit("purchase", {"amount": 19.99}, user_id="u_42", origin="checkout()")
        """
        return self._pipeline(
            name, payload, **_known_fields("Client.emit()", fields, _EVENT_FIELDS)
        )

    def send(
        self, event: Event, *, origin: str | None = None, transport: Transport | None = None
    ) -> Event | None:
        """Send an event built elsewhere, counted and dropped exactly as :meth:`emit`'s own.

        For code that builds events itself: with :meth:`prepare`, or from another system's
        records (the OpenTelemetry bridge rebuilds them from span events). The event is neither
        validated nor counted as tracked again: whoever built it did. It is dropped and counted
        as ``closed`` after :meth:`shutdown`, ``not_configured`` when no transport can start,
        ``transport_error`` when the transport raises, ``blocked_in_tests`` under the pytest
        network guard; it waits for a new web visitor's device; ``on_error`` hears of each
        drop. ``transport``: where it goes instead of the client's own transport (a bridge's
        own delivery; the guard and the visitor's device concern the client's own). Returns
        the event, or ``None`` when it was dropped. Unlike :meth:`emit` it never raises, strict
        mode included: its callers (a span processor's ``on_end``) must not fail.

        Example::

            event = client.prepare("purchase", {"amount": 19.99}, origin="my bridge")
            client.send(event, origin="my bridge")
        """
        return pipeline.send_built(self, event, origin, transport)

    # The pipeline (see _pipeline.py): _pipeline is emit() with positional arguments.
    _pipeline = pipeline.emit
    _emit_payload = pipeline.emit_payload
    _prepare = pipeline.prepare
    _send = pipeline.send
    _deliver = pipeline.deliver

    def prepare(
        self, name: object, payload: Mapping[str, Any] | None, **fields: Unpack[EventFields]
    ) -> Event:
        """Extract, validate, enrich and scrub, without sending: the event :meth:`emit` sends.

        Raises :class:`InvalidEventError` whatever the mode; nothing is counted. For code that
        delivers events itself (the OpenTelemetry bridge does). ``fields``: see
        :class:`EventFields`.

        Example::

            event = client.prepare("purchase", {"amount": 19.99}, origin="my bridge")
        """
        return self._prepare(
            name, payload, **_known_fields("Client.prepare()", fields, _EVENT_FIELDS)
        )

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until every event tracked so far has left; ``True`` if all did in time.

        Example::

            ok = client.flush(timeout=2.0)
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.awaiting_device.count and not self.awaiting_device.wait(timeout):
            return False
        transport = self._transport
        if transport is None:
            if not self.settings.outbox or self._closed:
                return True
            try:  # rows a dead process left in the outbox wait for a sender: start it
                transport = self._start_transport()
            except ConfigurationError:
                return True
        delivered = transport.flush(
            None if deadline is None else max(0.0, deadline - time.monotonic())
        )
        # on_error calls for the sender's drops run on their own thread: they are part of it.
        self.reporter.wait_for_hooks(
            None if deadline is None else max(0.0, deadline - time.monotonic())
        )
        return delivered

    def shutdown(self, timeout: float | None = 5.0) -> bool:
        """Flush (bounded by ``timeout``), then close the transport. Idempotent.

        Events still queued after the deadline are counted as dropped (``shutdown``) and
        one warning says how many.

        Example::

            client.shutdown(timeout=5.0)
        """
        return self._shutdown(timeout)

    def retire(self) -> None:
        """Shut down in a background thread, bounded by ``exit_timeout``; return at once.

        What :func:`configure` does with the client it replaces. The exit hook still waits
        (within ``exit_timeout``) for a retiring client's events.

        Example::

            old_client.retire()
        """
        lifecycle.retire(self)

    def stats(self) -> Stats:
        """Counters: tracked, sent, failed, retried, redacted, queued, dropped by reason.

        Example::

            client.stats().dropped  # {'invalid_event': 2}
        """
        transport = self._transport
        queued, in_flight = transport.pending() if isinstance(transport, BaseTransport) else (0, 0)
        queued += self.awaiting_device.count
        return self.reporter.snapshot(queued=queued, in_flight=in_flight)

    # The transport's life (see _lifecycle.py).
    _start_transport = lifecycle.start_transport
    _shutdown = lifecycle.shutdown
