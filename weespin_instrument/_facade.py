"""The default client and the module-level functions that use it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from ._client import _TRACK_FIELDS, Client, _known_fields
from ._wrapping import Block

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._client import TrackFields
    from ._config import Options
    from ._event import Event
    from ._reporting import Stats

__all__ = [
    "Flushing",
    "configure",
    "flush",
    "flushing",
    "get_client",
    "shutdown",
    "stats",
    "track",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_default: Client | None = None
_default_lock = threading.Lock()
#: Options that win over configure()'s while a test captures events (``weespin_events``),
#: so that application code configuring the library inside the test stays captured.
_captured_options: dict[str, Any] | None = None


def get_client() -> Client:
    """The default client; built from the environment on first use if never configured.

    Example::

        weespin.get_client().stats()
    """
    client = _default
    if client is not None:
        return client
    return _install(None)


def _install(new: Client | None) -> Client:
    global _default
    with _default_lock:
        if new is None:
            if _default is None:
                _default = Client()
            return _default
        old, _default = _default, new
    if old is not None:
        old.retire()
    return new


def swap_default(client: Client | None) -> Client | None:
    """Make ``client`` the default client as it is (nothing is shut down); return the old one.

    For tests, through :func:`weespin_instrument.testing.default_client`.
    """
    global _default
    with _default_lock:
        previous, _default = _default, client
    return previous


def configure(**options: Unpack[Options]) -> Client:
    """Configure the default client (optional: the environment is enough) and return it.

    Arguments left out (``None``) come from the environment, then from defaults. Nothing
    touches the network here; a previous default client is flushed and shut down in the
    background (within its ``exit_timeout``), so this never waits for a slow API.

    Raises :class:`ConfigurationError` for a bad argument. A bad environment variable does
    not raise: it is reported once, and events are dropped and counted as ``misconfigured``.

    ``transport``: ``"background"`` (default), ``"sync"``, ``"console"``, ``"memory"``,
    ``"none"``, or an instance. ``sensitive_data``: ``"redact"`` (default),
    ``"drop_event"``, ``"raise"`` or ``"off"``; ``sensitive_keys`` and ``sensitive_patterns``
    extend the guard (see ``docs/payload-rules.md``). ``allow_insecure_http=True`` allows a
    plain ``http://`` base URL to another host than this one. ``send_metadata=False`` sends only the
    fields the API documents (no ``event_id``, ``timestamp``, trace ids).

    Background transport (see ``docs/delivery.md``): ``max_queue`` (100,000 events held at
    most), ``overflow`` (``"drop_newest"``, ``"drop_oldest"`` or ``"block"``, waiting up to
    ``block_timeout`` seconds), ``max_in_flight`` (follows the round
    trip, 16 to 256 requests; a number fixes it), ``outbox`` (a SQLite file
    for durable delivery; ``WEESPIN_OUTBOX``), ``exit_timeout`` (5 s of delivery at exit),
    ``max_event_age`` (600 s an event may wait for an unreachable API, none with an outbox;
    ``math.inf``: no limit; ``WEESPIN_MAX_EVENT_AGE``).

    ``get_client().settings`` holds them by concern (``settings.api``, ``.retry``,
    ``.delivery``, ``.identity``, ``.scrubbing``); every table: ``docs/configuration.md``.

    Example::

        weespin.configure(api_key=os.environ["WEESPIN_API_KEY"], strict=settings.DEBUG)
    """
    captured = _captured_options
    if captured is not None:
        options = {**options, **captured}  # type: ignore[typeddict-item]
    return _install(Client(**options))


def track(
    name: str, payload: Mapping[str, Any] | None = None, **fields: Unpack[TrackFields]
) -> Event | None:
    """Track one event with the default client. Never raises outside strict mode.

    ``fields``: ``user_id``, ``link_id``, ``device_id`` (the event's identity) and ``schema``
    (a pydantic model the payload is validated and coerced through first; a payload it
    rejects is dropped and counted, ``schema_mismatch``, or raises in strict mode). A keyword
    that is none of them raises ``TypeError``.

    Example::

        weespin.track("share_link", {"channel": "email"}, user_id="u_42")
    """
    client = _default or get_client()
    if not fields:  # keywords cost a lookup each when not given: the common call has none
        return client._emit_payload(name, payload)
    return client._pipeline(name, payload, **_known_fields("track()", fields, _TRACK_FIELDS))


def flush(timeout: float | None = 5.0) -> bool:
    """Wait for the default client's events to leave; ``True`` if all did within ``timeout``.

    Example::

        weespin.flush(timeout=5.0)
    """
    client = _default
    return True if client is None else client.flush(timeout)


def shutdown(timeout: float | None = 5.0) -> bool:
    """Flush and close the default client. Events tracked after this are dropped
    (reason ``closed``) until :func:`configure` installs a new client.

    Example::

        weespin.shutdown()
    """
    client = _default
    return True if client is None else client.shutdown(timeout)


def stats() -> Stats:
    """The default client's counters (see :class:`Stats`).

    Example::

        weespin.stats().sent
    """
    return get_client().stats()


class Flushing(Block["Flushing"]):
    """Flushes a client when a block or a call ends; made by :func:`flushing`.

    ``delivered`` holds the last flush's result (``None`` before the first one).

    Example::

        with weespin.flushing(timeout=2.0) as done:
            handle(request)
        if not done.delivered:
            log.warning("some events may not have left")
    """

    _exit_in_thread = True  # under ``async with`` the flush waits in a thread, not on the loop

    def __init__(self, timeout: float | None = 5.0, client: Client | None = None) -> None:
        self.timeout = timeout
        self.client = client
        self.delivered: bool | None = None

    def __repr__(self) -> str:
        return f"flushing(timeout={self.timeout!r})"

    def flush(self) -> bool:
        """Flush now: the given client, else the default one (if there is one)."""
        client = self.client or _default
        self.delivered = True if client is None else client.flush(self.timeout)
        return self.delivered

    def __enter__(self) -> Flushing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flush()

    def _fresh(self) -> Flushing:
        return Flushing(self.timeout, self.client)

    def _what(self) -> str:
        return "flushing()"


@overload
def flushing(func: Callable[_P, _R], /) -> Callable[_P, _R]: ...


@overload
def flushing(timeout: float | None = 5.0, *, client: Client | None = None) -> Flushing: ...


def flushing(
    timeout: float | Callable[_P, _R] | None = 5.0, *, client: Client | None = None
) -> Flushing | Callable[_P, _R]:
    """Flush the default client (or ``client``) when a block or a function call ends.

    For short-lived handlers (serverless functions, task workers) that may be frozen or
    killed right after they return: their events leave before. A context manager (``with``
    and ``async with``) and a decorator of functions and coroutine functions; with or
    without arguments. The flush waits at most ``timeout`` seconds; an exception still
    propagates, after the flush. In async code the wait runs in a thread: the event loop
    keeps running.

    Example::

        @weespin.flushing(timeout=2.0)
        def handler(event, context):
            weespin.track("signup", {"plan": "pro"})

        async def job():
            async with weespin.flushing():
                weespin.track("export_done")
    """
    if callable(timeout):
        return Flushing()(timeout)
    return Flushing(timeout, client)
