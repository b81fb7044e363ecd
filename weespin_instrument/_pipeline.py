"""The pipeline: what every tracked call goes through, in order.

extract (through a ``schema=`` model) -> validate the name and ids -> enrich (identity, device,
trace context: :func:`~._enrich.build_event`) -> validate and scrub the payload in one pass ->
send. :func:`emit` is the whole of it; each step is one call in :func:`prepare` or :func:`send`.

The functions take the :class:`~._client.Client` first: the client binds them as its methods
(``client._pipeline(...)``, what the decorators' generated wrappers call), at no extra call.
"""

from __future__ import annotations

from sys import modules as _modules
from time import time
from typing import TYPE_CHECKING, Any

from . import _context
from ._context import _EMPTY, _identity, _visitor
from ._enrich import _NOT_CAPTURED as _CURRENT_SPAN
from ._enrich import _new_event, attach_trace, build_event, current_span
from ._event import Event
from ._reporting import ERROR, logger
from ._validate import checked_name, validate_identities
from .errors import ConfigurationError, InvalidEventError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ._client import Client
    from .transports import Transport

__all__ = ["deliver", "emit", "emit_payload", "prepare", "send", "send_built"]

#: ``checked=`` of a payload a call site's plan validated and cleared for the guard.
_CLEARED = 2


def emit(
    client: Client,
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
    """The pipeline of one tracked call: :func:`prepare` the event, then :func:`send` it.

    Never raises outside strict mode: what is refused is dropped and counted with its reason.
    ``checked``: see :func:`prepare`.
    """
    settings = client.settings
    if settings.disabled:
        return None
    next(client._tracked)
    if client._misconfigured is not None:
        drop_misconfigured(client, name, origin)
        return None
    try:
        event = prepare(
            client, name, payload, user_id, link_id, device_id, origin, span, schema, checked
        )
        transport = client._transport or client._start_transport()
    except InvalidEventError as exc:
        sensitive_raise = exc.reason == "sensitive_data" and settings.sensitive_data == "raise"
        if settings.strict or sensitive_raise:
            raise
        client.reporter.dropped(exc.reason, event_name=_plain_name(name), error=exc, origin=origin)
        return None
    except ConfigurationError as exc:
        if settings.strict:
            raise
        event_name = _plain_name(name)
        client.reporter.dropped("not_configured", event_name=event_name, error=exc, origin=origin)
        return None
    return send(client, event, origin, transport)


def prepare(
    client: Client,
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
    """Extract, validate, enrich and scrub: the event to send, or raise InvalidEventError.

    ``checked``: @track_event validated the name when it decorated, and the payload is a dict
    it built (no copy needed); ``_CLEARED``: its plan also checked every value and found
    nothing for the guard (see ``_decorators``).
    """
    settings = client.settings
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
            event_name, payload, user_id, link_id, device_id,
            settings.device_id, settings.trace_correlation, span,
        )  # fmt: skip
        # validate and scrub: one pass over the payload
        if checked is not _CLEARED:
            owned = bool(checked) and schema is None
            redacted = client._scrub.clean(event, payload, origin=origin, owned=owned)
        elif event.user_id is None and event.link_id is None:
            redacted = 0  # the call site's plan checked the payload and the name already
        else:
            redacted = client._scrub.clean(event, payload, origin=origin, owned=True)
    except InvalidEventError:
        raise
    except Exception as exc:  # a user's object raised where nothing more precise caught it
        raise _user_object_error(name, origin, exc) from exc
    if redacted:
        client.reporter.count("redacted", redacted)
    return event


def emit_payload(
    client: Client,
    name: object,
    payload: object,
    origin: str | None = None,
    span: Any = _CURRENT_SPAN,
    cleared: bool = False,
) -> Event | None:
    """:func:`emit` for a call that gives only a name and a payload (``track()`` without ids
    nor ``schema``): a plain dict is checked against the plan of its ``(name, *keys)`` (see
    ``_plans.py``) and, when every value passes, only enrich and send are left. ``cleared``:
    a call site's plan validated the payload and cleared it for the guard already (see
    ``_generated._plan_checks``). Anything unusual (a transport not started yet, ids from
    identify() that the guard must see) takes :func:`emit`."""
    if not cleared:
        if type(payload) is not dict or type(name) is not str:
            return emit(client, name, payload, None, None, None, origin, span)
        # A copy first, in C and atomic: another thread may be changing the caller's dict.
        payload = payload.copy()
        try:
            check = client._plans.first[name]
        except KeyError:  # a name seen for the first time
            check = None
        if check is None or not check(payload):
            try:  # another key set of this name, or a value its check did not clear
                check = client._plans.check_for(name, payload)
            except Exception:  # a key's own __hash__ or __eq__ raised: the full way says what
                check = None
            if check is None or not check(payload):
                return emit(client, name, payload, None, None, None, origin, span)
    transport = client._ready
    if transport is None:  # not started, disabled, misconfigured, or more to do than send
        return emit(client, name, payload, None, None, None, origin, span, None, _CLEARED)
    if _identity.get() is _EMPTY:
        # build_event() for a call outside identify(), without its call: the call alone is a
        # tenth of what is left of a tracked call here.
        if span is _CURRENT_SPAN:  # what current_span() says without OpenTelemetry, uncalled
            span = current_span() if "opentelemetry.trace" in _modules else None
        event = _new_event(Event)
        event.name = name  # type: ignore[assignment]  # a str: checked above or by the site
        event.payload = payload  # type: ignore[assignment]  # the same: a plain dict
        event.user_id = event.link_id = None
        event.device_id = client.settings.device_id
        if _context.visitors_seen and (visitor := _visitor.get()) is not None:
            event.device_id = visitor.device_id  # a web app's visitor has a device of its own
        event.timestamp = time()
        event.span = span
        if span is not None and client.settings.trace_correlation:
            attach_trace(event, span)
    else:
        settings = client.settings
        event = build_event(
            name,  # type: ignore[arg-type]
            payload, None, None, None, settings.device_id, settings.trace_correlation, span,
        )  # fmt: skip
        if event.user_id is not None or event.link_id is not None:  # the guard looks at them
            return emit(client, name, payload, None, None, None, origin, span, None, _CLEARED)
    next(client._tracked)
    if _context.visitors_seen and event.device_id is None and client._needs_api:
        return send(client, event, origin, transport)  # a web visitor's, waiting for a device
    try:  # send's last step, all that is left of it here
        transport.send(event)
    except Exception as exc:
        _send_failed(client, event, origin, exc)
        return None
    return event


def send(client: Client, event: Event, origin: str | None, transport: Transport) -> Event | None:
    """The last step: hand ``event`` to the transport, unless this client may not."""
    if client._detour:  # closed, blocked, or an on_error hook to tell
        if client._closed:
            client.reporter.dropped("closed", event=event, origin=origin)
            return None
        if client._blocked is not None:
            from ._guard import block

            block(client.reporter, event, client._blocked, origin)
            return None
        if client.settings.on_error is not None:
            client.reporter.note_event(event)
    if event.device_id is None and client._needs_api and _context.visitors_seen:
        visitor = _visitor.get()
        if visitor is not None:  # a web visitor whose device is not known yet
            visitor.hold(client, event, origin)
            return event
    try:
        transport.send(event)
    except Exception as exc:
        _send_failed(client, event, origin, exc)
        return None
    return event


def deliver(
    client: Client, event: Event, origin: str | None = None, transport: Transport | None = None
) -> Event | None:
    """Hand an event :func:`send` held back (for a visitor's device) to the transport."""
    if transport is None:
        transport = client._transport
        if transport is None:
            if client._closed:
                client.reporter.dropped("closed", event=event, origin=origin)
                return None
            transport = client._start_transport()
    try:
        transport.send(event)
    except Exception as exc:
        _send_failed(client, event, origin, exc)
        return None
    return event


def send_built(
    client: Client, event: Event, origin: str | None, transport: Transport | None
) -> Event | None:
    """:meth:`Client.send <weespin_instrument.Client.send>`: an event built elsewhere, counted
    and dropped as :func:`emit`'s own; never raises."""
    target = client._transport if transport is None else transport
    if target is None:  # the client's own, not started yet
        if client._closed:
            client.reporter.dropped("closed", event=event, origin=origin)
            return None
        try:
            target = client._start_transport()
        except ConfigurationError as exc:
            client.reporter.dropped("not_configured", event=event, error=exc, origin=origin)
            return None
    try:
        if target is client._transport:
            return send(client, event, origin, target)
        if client._closed:  # what _send says of the client's own
            client.reporter.dropped("closed", event=event, origin=origin)
            return None
        if client.settings.on_error is not None:
            client.reporter.note_event(event)
        target.send(event)
    except Exception as exc:  # _send raised it in strict mode: counted here instead
        client.reporter.dropped("transport_error", event=event, error=exc, origin=origin)
        return None
    return event


def _send_failed(client: Client, event: Event, origin: str | None, exc: Exception) -> None:
    if client.settings.strict:
        raise exc
    client.reporter.dropped("transport_error", event=event, error=exc, origin=origin)


def drop_misconfigured(client: Client, name: object, origin: str | None) -> None:
    """Drop an event of a client whose environment is unusable; the first one logs why."""
    problem = client._misconfigured
    assert problem is not None
    if client.settings.strict:
        raise problem
    with client._transport_lock:
        first, client._misconfigured_seen = not client._misconfigured_seen, True
    if first:
        logger.log(
            ERROR,
            "weespin: %s Until this is fixed every event is dropped and counted as "
            "'misconfigured' (weespin.stats().dropped); your code runs as usual.",
            problem,
        )
    event_name = _plain_name(name)
    client.reporter.dropped(
        "misconfigured", event_name=event_name, error=problem, origin=origin, log=False
    )


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
