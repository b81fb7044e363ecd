"""The client: one configuration, one transport, one set of counters; runs the pipeline."""

from __future__ import annotations

import atexit
import threading
import time
import warnings
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import _context, _workers
from ._config import ENV_API_KEY, TRANSPORT_NAMES, Settings
from ._context import _visitor
from ._enrich import _NOT_CAPTURED as _CURRENT_SPAN
from ._enrich import build_event
from ._reporting import ERROR, WARNING, Reporter, Stats, logger
from ._validate import checked_name, validate_identities
from .devices import AwaitingDevice
from .errors import ConfigurationError, InvalidEventError
from .transports import BaseTransport, Transport

if TYPE_CHECKING:
    from pydantic import BaseModel
    from typing_extensions import Unpack

    from ._config import Options
    from ._event import Event

__all__ = ["TRANSPORT_NAMES", "Client"]

#: ``checked=`` of a payload a call site's plan validated and cleared for the guard.
_CLEARED = 2

#: Seconds the exit hook waits for queued events by default (``exit_timeout`` setting).
EXIT_DRAIN_TIMEOUT: float = Settings._field_defaults["exit_timeout"]


def _make_transport(name: str, settings: Settings) -> Transport:
    from . import transports

    if name == "background":
        return transports.BackgroundTransport(settings=settings)
    if name == "sync":
        return transports.HttpTransport(settings=settings)
    if name == "console":
        return transports.ConsoleTransport()
    if name == "memory":
        return transports.MemoryTransport()
    return transports.NullTransport()


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
        self._count_tracked = self.reporter.count_tracked
        self._scrub = settings.scrubbing.scrubber()
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
        self,
        name: str,
        payload: Mapping[str, Any] | None = None,
        *,
        user_id: str | int | None = None,
        link_id: str | None = None,
        device_id: str | None = None,
        schema: type[BaseModel] | None = None,
    ) -> Event | None:
        """Track one event now. Returns it, or ``None`` when it was dropped or disabled.

        Outside strict mode this never raises: invalid events are dropped and counted.
        ``schema``: a pydantic model the payload is validated through first (see
        :mod:`weespin_instrument.events`).

        Example::

            client.track("share_link", {"channel": "email"}, user_id="u_42")
        """
        return self.emit(
            name, payload, user_id=user_id, link_id=link_id, device_id=device_id, schema=schema
        )

    def emit(
        self,
        name: object,
        payload: Mapping[str, Any] | None,
        *,
        user_id: object = None,
        link_id: object = None,
        device_id: object = None,
        origin: str | None = None,
        span: Any = _CURRENT_SPAN,
        schema: type[BaseModel] | None = None,
    ) -> Event | None:
        """The pipeline behind every tracked call: :meth:`prepare` the event, then send it.

        ``origin`` names the instrumented function, for error messages and logs; ``span``
        is the OpenTelemetry span current when the tracked call started (default: now).
        """
        return self._pipeline(name, payload, user_id, link_id, device_id, origin, span, schema)

    def _pipeline(
        self,
        name: object,
        payload: object,
        user_id: object = None,
        link_id: object = None,
        device_id: object = None,
        origin: str | None = None,
        span: Any = _CURRENT_SPAN,
        schema: type[BaseModel] | None = None,
        checked: object = False,
    ) -> Event | None:
        # emit() with positional arguments: what @track_event's generated wrapper calls.
        settings = self.settings
        if settings.disabled:
            return None
        self._count_tracked()
        if self._misconfigured is not None:
            self._drop_misconfigured(name, origin)
            return None
        try:
            event = self._prepare(
                name, payload, user_id, link_id, device_id, origin, span, schema, checked
            )
            transport = self._transport or self._start_transport()
        except InvalidEventError as exc:
            sensitive_raise = exc.reason == "sensitive_data" and settings.sensitive_data == "raise"
            if settings.strict or sensitive_raise:
                raise
            self.reporter.dropped(
                exc.reason,
                event_name=_plain_name(name),
                error=exc,
                origin=origin,
            )
            return None
        except ConfigurationError as exc:
            if settings.strict:
                raise
            event_name = _plain_name(name)
            self.reporter.dropped("not_configured", event_name=event_name, error=exc, origin=origin)
            return None
        return self._send(event, origin, transport)

    def _emit_cleared(
        self, name: str, payload: dict[str, Any], origin: str | None, span: Any
    ) -> Event | None:
        # The pipeline for a payload its call site's plan validated and cleared for the guard
        # (see _decorators._plan_checks): only enrich and send are left. Anything unusual (a
        # transport not started yet, ids from identify() that the guard must see) takes the
        # full pipeline.
        transport = self._transport
        settings = self.settings
        if transport is None or settings.disabled or self._misconfigured is not None:
            return self._pipeline(name, payload, None, None, None, origin, span, None, _CLEARED)
        event = build_event(
            name, payload, None, None, None, settings.device_id, settings.trace_correlation, span
        )
        if event.user_id is not None or event.link_id is not None:  # the guard looks at them
            return self._pipeline(name, payload, None, None, None, origin, span, None, _CLEARED)
        self._count_tracked()
        if self._detour or (event.device_id is None and self._needs_api and _context.visitors_seen):
            return self._send(event, origin, transport)
        try:  # _send's last step, all that is left of it here
            transport.send(event)
        except Exception as exc:
            self._send_failed(event, origin, exc)
            return None
        return event

    def prepare(
        self,
        name: object,
        payload: Mapping[str, Any] | None,
        *,
        user_id: object = None,
        link_id: object = None,
        device_id: object = None,
        origin: str | None = None,
        span: Any = _CURRENT_SPAN,
        schema: type[BaseModel] | None = None,
    ) -> Event:
        """Extract, validate, enrich and scrub, without sending: the event :meth:`emit` sends.

        Raises :class:`InvalidEventError` whatever the mode; nothing is counted. For code that
        delivers events itself (the OpenTelemetry bridge does). ``schema`` (a pydantic model)
        validates and coerces the payload before the API's rules.
        """
        return self._prepare(name, payload, user_id, link_id, device_id, origin, span, schema)

    def _prepare(
        self,
        name: object,
        payload: object,
        user_id: object = None,
        link_id: object = None,
        device_id: object = None,
        origin: str | None = None,
        span: Any = _CURRENT_SPAN,
        schema: type[BaseModel] | None = None,
        checked: object = False,
    ) -> Event:
        # The pipeline, in order. ``checked``: @track_event validated the name when it
        # decorated, and the payload is a dict it built (no copy needed); ``CLEARED``: its
        # plan also checked every value and found nothing for the guard (see _decorators).
        settings = self.settings
        try:
            if schema is not None:  # extract: through the user's model first
                from .events import validate_payload

                payload = validate_payload(schema, name, payload)  # type: ignore[arg-type]
            # validate what the call gave
            event_name: str = name if checked else checked_name(name, origin)  # type: ignore[assignment]
            if user_id is not None or link_id is not None or device_id is not None:
                user_id, link_id, device_id = validate_identities(
                    event_name, user_id, link_id, device_id, origin
                )
            # enrich with what the context knows
            event = build_event(
                event_name,
                payload,
                user_id,
                link_id,
                device_id,
                settings.device_id,
                settings.trace_correlation,
                span,
            )
            # validate and scrub: one pass over the payload
            if checked is not _CLEARED:
                redacted = self._scrub.clean(
                    event, payload, origin=origin, owned=bool(checked) and schema is None
                )
            elif event.user_id is None and event.link_id is None:
                redacted = 0  # the call site's plan checked the payload and the name already
            else:
                redacted = self._scrub.clean(event, payload, origin=origin, owned=True)
        except InvalidEventError:
            raise
        except Exception as exc:  # a user's object raised where nothing more precise caught it
            raise _user_object_error(name, origin, exc) from exc
        if redacted:
            self.reporter.count("redacted", redacted)
        return event

    def _send(self, event: Event, origin: str | None, transport: Transport) -> Event | None:
        """The last step: hand ``event`` to the transport, unless this client may not."""
        if self._detour:  # closed, blocked, or an on_error hook to tell
            if self._closed:
                self.reporter.dropped("closed", event=event, origin=origin)
                return None
            if self._blocked is not None:
                from ._guard import block

                block(self.reporter, event, self._blocked, origin)
                return None
            if self.settings.on_error is not None:
                self.reporter.note_event(event)
        if event.device_id is None and self._needs_api and _context.visitors_seen:
            visitor = _visitor.get()
            if visitor is not None:  # a web visitor whose device is not known yet
                visitor.hold(self, event, origin)
                return event
        try:
            transport.send(event)
        except Exception as exc:
            self._send_failed(event, origin, exc)
            return None
        return event

    def _send_failed(self, event: Event, origin: str | None, exc: Exception) -> None:
        if self.settings.strict:
            raise exc
        self.reporter.dropped("transport_error", event=event, error=exc, origin=origin)

    def _deliver(
        self, event: Event, origin: str | None = None, transport: Transport | None = None
    ) -> Event | None:
        if transport is None:
            transport = self._transport
            if transport is None:
                if self._closed:
                    self.reporter.dropped("closed", event=event, origin=origin)
                    return None
                transport = self._start_transport()
        try:
            transport.send(event)
        except Exception as exc:
            if self.settings.strict:
                raise
            self.reporter.dropped("transport_error", event=event, error=exc, origin=origin)
            return None
        return event

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
        if self._closed:
            return
        thread = threading.Thread(target=self._retire, name="weespin-retire", daemon=True)
        _retiring.add(thread)
        thread.start()

    def _retire(self) -> None:
        try:
            self._shutdown(self.settings.exit_timeout)
        except Exception:
            logger.exception("weespin: error while shutting down a replaced client")
        finally:
            _retiring.discard(threading.current_thread())

    def _shutdown(self, timeout: float | None, *, at_exit: bool = False) -> bool:
        with self._transport_lock:
            transport, self._closed = self._transport, True
            self._detour = True
        _clients_to_drain.discard(self)
        if transport is None:
            return True
        start = self.reporter.snapshot()
        before, cut_before = start.dropped.get("shutdown", 0), start.in_flight_at_exit
        # Events waiting for a web visitor's device (see devices.VisitorDevice) first.
        deadline = None if timeout is None else time.monotonic() + timeout
        waited = self.awaiting_device.wait(timeout) if self.awaiting_device.count else True
        for event in self.awaiting_device.abandon():
            self.reporter.dropped("shutdown", event=event)
        if deadline is not None:
            timeout = max(0.0, deadline - time.monotonic())
        delivered = transport.flush(timeout) and waited
        transport.close(0.0 if not delivered else timeout)
        self.reporter.wait_for_hooks(1.0 if timeout is None else min(timeout, 1.0))
        end = self.reporter.snapshot()
        left = end.dropped.get("shutdown", 0) - before
        cut = end.in_flight_at_exit - cut_before  # requests cut off: maybe delivered
        if left or cut:
            outbox = getattr(transport, "outbox", None)
            kept = (
                f"; they stay in the outbox {outbox.path} for the next process to send"
                if outbox is not None
                else ""
            )
            last = end.last_error
            if cut:
                kept = f"; {cut} more were cut off in flight (maybe delivered){kept}"
            logger.log(
                ERROR if at_exit else WARNING,
                "weespin: %s with %d event(s) not delivered after %s s (last error: %s)%s",
                "exiting" if at_exit else "shut down",
                left,
                "no limit" if timeout is None else f"{timeout:.1f}",
                last or "none; the API may be slow",
                kept,
            )
        return delivered

    def stats(self) -> Stats:
        """Counters: tracked, sent, failed, retried, redacted, queued, dropped by reason.

        Example::

            client.stats().dropped  # {'invalid_event': 2}
        """
        transport = self._transport
        queued, in_flight = transport.pending() if isinstance(transport, BaseTransport) else (0, 0)
        queued += self.awaiting_device.count
        return self.reporter.snapshot(queued=queued, in_flight=in_flight)

    # -- internals ----------------------------------------------------------------------------

    def _drop_misconfigured(self, name: object, origin: str | None) -> None:
        problem = self._misconfigured
        assert problem is not None
        if self.settings.strict:
            raise problem
        with self._transport_lock:
            first, self._misconfigured_seen = not self._misconfigured_seen, True
        if first:
            logger.log(
                ERROR,
                "weespin: %s Until this is fixed every event is dropped and counted as "
                "'misconfigured' (weespin.stats().dropped); your code runs as usual.",
                problem,
            )
        event_name = _plain_name(name)
        self.reporter.dropped(
            "misconfigured", event_name=event_name, error=problem, origin=origin, log=False
        )

    def _start_transport(self) -> Transport:
        if self._misconfigured is not None:
            # Never a transport on settings that fell back from a bad environment (the
            # default base URL, say): what uses the transport directly is refused too.
            raise self._misconfigured
        if self._unconfigured is not None:
            raise self._unconfigured
        with self._transport_lock:
            if self._transport is not None:
                return self._transport
            spec = self.settings.transport
            try:
                transport = _make_transport(spec, self.settings) if isinstance(spec, str) else spec
                if isinstance(transport, BaseTransport):
                    transport.adopt(self.settings)  # configure(api_key=...) reaches instances
            except ConfigurationError as exc:
                self._unconfigured = exc  # every later event is dropped at once, and counted
                if not self.settings.strict:
                    warnings.warn(
                        f"weespin-instrument is not configured ({exc}) Events are dropped and "
                        f"counted until you set {ENV_API_KEY} or call weespin.configure(...).",
                        RuntimeWarning,
                        stacklevel=4,
                    )
                raise
            if isinstance(transport, BaseTransport):
                transport.attach(self.reporter)
            if getattr(transport, "needs_api", False):
                from ._guard import blocked_reason

                target = getattr(transport, "settings", self.settings)
                self._blocked = blocked_reason(getattr(target, "base_url", ""))
                self._detour = self._detour or self._blocked is not None
            #: Whether the transport talks to the API (and so may hold for a visitor's device).
            self._needs_api = bool(getattr(transport, "needs_api", False))
            self._transport = transport
            _clients_to_drain.add(self)
            # Dropped without shutdown(): deliver what it holds (bounded), then stop its
            # sender and close its sockets, off the thread that happened to collect it.
            retire = weakref.finalize(
                self, _retire_transport, transport, self.settings.exit_timeout
            )
            retire.atexit = False  # at exit, the exit drain does it (and reports what is left)
            _workers.install(_drain_at_exit)  # worker processes that skip atexit drain too
            return transport


def _plain_name(name: object) -> str | None:
    """The event name as a plain ``str`` for reports (a subclass's own methods may raise).

    ``type()``, not ``isinstance()``: the latter trusts a faked ``__class__``.
    """
    if type(name) is str:
        return name
    return str.__str__(name) if issubclass(type(name), str) else None


def _user_object_error(name: object, origin: str | None, exc: Exception) -> InvalidEventError:
    event_name = _plain_name(name)
    where = f"event {event_name!r}" if event_name else "an event"
    if origin:
        where += f" (from {origin})"
    return InvalidEventError(
        f"{where}: reading its values raised {type(exc).__qualname__}. Pass plain values "
        "(str, int, float, bool, dicts of them) instead of the object that raised.",
        event_name=event_name,
        reason="invalid_event",
    )


#: Clients whose transport started and that were not shut down: the exit hook drains them.
#: Weak references: a client dropped without shutdown() is retired by its finalizer.
_clients_to_drain: weakref.WeakSet[Client] = weakref.WeakSet()
#: Threads shutting down clients replaced by configure(): the exit hook waits for them.
_retiring: set[threading.Thread] = set()


def _retire_transport(transport: Transport, timeout: float) -> None:
    """The finalizer of a client collected without shutdown(): close its transport."""

    def retire() -> None:
        try:
            transport.flush(timeout)
            transport.close(timeout)
        except Exception:
            logger.exception("weespin: error while closing a client dropped without shutdown()")
        finally:
            _retiring.discard(threading.current_thread())

    thread = threading.Thread(target=retire, name="weespin-retire", daemon=True)
    _retiring.add(thread)
    try:
        thread.start()
    except RuntimeError:  # the interpreter is exiting: the exit drain has run
        _retiring.discard(thread)


@atexit.register
def _drain_at_exit() -> None:
    # One deadline for all clients, counted from the start of the drain: their senders work
    # in parallel, so waiting for them one after the other costs no extra time.
    started = time.monotonic()
    for client in list(_clients_to_drain):
        if client._closed:
            continue
        left = client.settings.exit_timeout - (time.monotonic() - started)
        try:
            client._shutdown(max(0.0, left), at_exit=True)
        except Exception:
            logger.exception("weespin: error while delivering events at exit")
    for thread in list(_retiring):
        deadline = EXIT_DRAIN_TIMEOUT - (time.monotonic() - started)
        thread.join(max(0.0, deadline))
