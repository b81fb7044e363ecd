"""The default transport: the caller only enqueues; a sender thread delivers concurrently."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from .._config import OverflowPolicy, Settings
from .._device import DeviceManager
from .._fork import at_fork, keep_forever
from .._options import DEFAULT_MAX_EVENT_AGE
from ..errors import AuthenticationError, ConfigurationError
from ._base import BaseTransport, settings_from
from ._inbox import FlushMarker, Inbox

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .._config import Options
    from .._event import Event
    from ._engine import Sender
    from ._outbox import Outbox

__all__ = ["DEFAULT_MAX_EVENT_AGE", "BackgroundTransport"]

#: Extra seconds :meth:`BackgroundTransport.close` allows the sender to stop after its timeout.
_STOP_GRACE = 1.0
#: Seconds a fork waits for a sender that is still starting (importing aiohttp).
_FORK_WAIT = 10.0
_DEFAULT: Any = object()

_getpid = os.getpid


def _no_api_key() -> ConfigurationError:
    return ConfigurationError(
        "no Weespin API key: set WEESPIN_API_KEY or call configure(api_key=...)."
    )


class BackgroundTransport(BaseTransport):
    """Queues events (bounded) and delivers them from one sender thread, many at a time.

    ``send`` only appends to a queue: no lock, no network, about a microsecond. The sender
    thread, started on the first event, keeps as many requests in flight as the round trip
    needs (16 to 256; ``max_in_flight`` fixes the number) over aiohttp keep-alive
    connections, retries transient failures (exponential backoff,
    full jitter, ``Retry-After``), waits out outages behind a circuit breaker, and accounts
    for every event: sent, or dropped with a reason in ``stats()``.

    - ``max_queue``: events held at most (queued, waiting for a retry, or in flight);
      100,000 by default, room for a cold burst (at most ~45 MB of small events).
      When full, ``overflow`` decides: ``"drop_newest"`` (default) drops the new event,
      ``"drop_oldest"`` the oldest queued one, ``"block"`` waits up to ``block_timeout``
      seconds for room, then drops (never inside a running event loop: there it drops).
    - ``max_event_age``: seconds an event may wait for an unreachable API before it is
      dropped (``delivery_failed``); default: the ``max_event_age`` setting (600 s, no limit
      with an outbox); ``None``: no limit.
    - ``outbox``: a SQLite file; each event is committed there before ``send`` returns and
      removed once the API accepted it; what a dead process left is sent by the next one.
    - A 401/403 stops delivery for good: one error is logged, every event is dropped and
      counted (``unauthorized``).
    - A forked child gets its own queue, thread and connections. Events queued in the parent
      before the fork stay the parent's: the child neither sends nor counts them.

    Settings not given are read from ``settings``, else the environment (``WEESPIN_*``).

    Example::

        weespin.configure(transport=BackgroundTransport(max_queue=50_000, overflow="drop_oldest"))
        weespin.configure(outbox="/var/lib/myapp/weespin-outbox.sqlite")  # the same, by name
    """

    needs_api = True

    def __init__(self, *, settings: Settings | None = None, **options: Unpack[Options]) -> None:
        super().__init__()
        #: Given here, it wins over the setting and ``None`` means no limit (see the docstring).
        self._max_event_age = options.pop("max_event_age", _DEFAULT)
        #: Options given here, kept over the settings of a client that adopts this transport.
        settings, self._given = settings_from(settings, options)
        if not settings.api_key and self._given is None:
            raise _no_api_key()
        self.outbox: Outbox | None = None
        self._refusal: str | None = None  # "closed" or "unauthorized": send() drops at once
        #: Whether send() has more to do than an append (see _admit): a refusal, an outbox.
        self._detour = False
        self._use(settings)
        self._auth_error: AuthenticationError | None = None
        self._reset()
        at_fork(self, before=_before_fork, after_in_child=BackgroundTransport._after_fork)

    def __repr__(self) -> str:
        return f"BackgroundTransport(base_url={self.settings.base_url!r})"

    def adopt(self, settings: Settings) -> None:
        """Take the adopting client's settings (``configure(api_key=..., base_url=...)``) for
        every option not given to the constructor; raise if there is still no API key."""
        if self._given is not None and self._thread is None:  # nothing sent yet
            merged = settings._replace(transport="background", **self._given)
            merged._check()
            self._use(merged)
        if not self.settings.api_key:
            raise _no_api_key()

    def _use(self, settings: Settings) -> None:
        self.settings = settings
        self.max_queue = settings.max_queue
        self.overflow: OverflowPolicy = settings.overflow
        self.block_timeout = settings.block_timeout
        self.max_in_flight = settings.max_in_flight
        self.outbox = _outbox_for(settings, self.outbox)
        self._detour = self._refusal is not None or self.outbox is not None
        given_age = self._max_event_age  # else the setting: configure(max_event_age=...)
        self.max_event_age = settings.delivery.age_limit if given_age is _DEFAULT else given_age
        self.devices = DeviceManager(store=settings.device_store)

    # -- the caller's side -----------------------------------------------------------------------

    def send(self, event: Event) -> None:
        """Queue ``event`` for delivery. Never waits on the network; never raises for delivery.

        With an outbox, returns once the event is committed to it (a short transaction).
        """
        if self._pid != _getpid():
            self._after_fork()
        inbox = self._inbox
        items = inbox.items
        if (self._detour or len(items) + inbox.taken >= self.max_queue) and not self._admit(
            event, inbox
        ):  # refused, full, or for the outbox first
            return
        items.append(event)
        if inbox.idle:
            inbox.idle = False
            self._wake()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event queued before this call has been sent or dropped.

        ``True`` if that happened within ``timeout`` seconds (``None``: no limit). Called from
        the sender's own thread (an ``on_error`` hook), it cannot wait and returns ``False``.

        Example::

            transport.flush(timeout=2.0)
        """
        if self._pid != _getpid():
            self._after_fork()
        inbox = self._inbox
        if self._thread is None:
            backlog = 0
            if self.outbox is not None and self._refusal is None:
                backlog = self.outbox.backlog()
            if not inbox.items and not backlog:
                return True
            if self._refusal is not None or not self._start():
                return not inbox.items
        else:
            sender = self._sender
            if sender is not None and not inbox.held() and not sender.jobs.backlog:
                return True
            if self._in_sender_thread():
                return False
        marker = FlushMarker()
        with self._flush_lock:
            inbox.markers_added += 1
            inbox.items.append(marker)
        if inbox.idle:
            inbox.idle = False
            self._wake()
        elif self._sender is not None:
            self._sender.wake()  # it may be lingering: look now, not when the linger ends
        return marker.done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush (bounded by ``timeout``), stop the sender, count what is left as ``shutdown``.

        Idempotent. Events sent after this are dropped as ``closed``. With an outbox, what
        was not delivered stays in it for the next process.

        Example::

            transport.close(timeout=5.0)
        """
        if self._pid != _getpid():
            self._after_fork()
        started = time.monotonic()
        if self._refusal != "closed":
            self.flush(timeout)
        self._refusal, self._detour = "closed", True
        thread = self._thread
        stopped = True
        if thread is not None:
            left = 0.0 if timeout is None else max(0.0, timeout - (time.monotonic() - started))
            if not self._ready.wait(left + _STOP_GRACE):  # a sender still starting: let it
                with self._start_lock:
                    self._abandoned = True  # too late: it must not take what we count now
            if self._sender is not None:
                self._sender.stop()
            thread.join(left + _STOP_GRACE)
            stopped = not thread.is_alive()
            if not stopped:
                logging.getLogger("weespin_instrument").warning(
                    "weespin: the sender did not stop within %.1f s; the %d event(s) it holds "
                    "are neither delivered nor dropped yet (stats: queued, in_flight)",
                    left + _STOP_GRACE,
                    self._inbox.taken,
                )
        self._drain("shutdown")
        if self.outbox is not None and stopped:
            self.outbox.release()

    def pending(self) -> tuple[int, int]:
        """``(queued, in_flight)``: events waiting (or waiting for a retry), and in a request."""
        if self._pid != _getpid():
            return (0, 0)
        return self._inbox.pending()

    # -- internals -------------------------------------------------------------------------------

    def _reset(self) -> None:
        self._pid = _getpid()
        self._inbox = Inbox()
        self._sender: Sender | None = None  # set by the sender thread once it runs
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        #: close() gave up waiting for the sender to start: it must not start any more.
        self._abandoned = False
        self._start_lock: threading.Lock = threading.Lock()
        self._flush_lock = threading.Lock()

    def _after_fork(self) -> None:
        # Runs in the child (at-fork hook, or the pid check as a fallback). The parent's
        # sender, loop, connections and queued events stay the parent's: never touched here.
        if self._pid == _getpid():
            return
        if self._sender is not None:
            keep_forever(self._sender, self._thread)
        if self.outbox is not None:
            self.outbox.after_fork()
        self._reset()

    def _wake(self) -> None:
        sender = self._sender
        if sender is not None:
            sender.wake()
        elif self._thread is None and not self._start():
            self._inbox.idle = True
        # else: the sender is starting; its first pump takes everything queued so far.

    def _start(self) -> bool:
        """Start the sender thread (once); ``False`` if it cannot start."""
        with self._start_lock:
            if self._thread is not None:
                return True
            thread = threading.Thread(
                target=self._run_sender, args=(self._inbox,), name="weespin-sender", daemon=True
            )
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down: nothing can deliver any more
                return False
            self._thread = thread
            return True

    def _run_sender(self, inbox: Inbox) -> None:
        # The sender thread: aiohttp and asyncio are imported here, not on a caller's send().
        # Until _ready is set, a fork waits (see _before_fork): a child forked while this
        # thread holds an import lock would deadlock on its first import of the same module.
        try:
            from . import _engine  # noqa: F401 - the slow part: asyncio and aiohttp load here

            with self._start_lock:
                sender = None if self._abandoned else _new_sender(self, inbox)
                self._sender = sender
        except Exception:
            logging.getLogger("weespin_instrument").exception("weespin: the sender cannot start")
            self._ready.set()
            return
        self._ready.set()
        if sender is not None:
            sender.run()

    def _in_sender_thread(self) -> bool:
        thread = self._thread
        return thread is not None and thread.ident == threading.get_ident()

    def _on_refused(self, error: AuthenticationError) -> None:
        self._auth_error = error
        if self._refusal is None:
            self._refusal, self._detour = "unauthorized", True

    def _refuse(self, event: Event) -> None:
        if self._refusal == "unauthorized":
            self.reporter.dropped(
                "unauthorized", event=event, error=self._auth_error, level=logging.DEBUG
            )
        else:
            self.reporter.dropped("closed", event=event)

    def _admit(self, event: Event, inbox: Inbox) -> bool:
        """Whether ``event`` may be queued, when it takes more than an append: the transport
        refuses events, the queue is full, or the event is written to the outbox first."""
        if self._refusal is not None:
            self._refuse(event)
            return False
        if len(inbox.items) + inbox.taken >= self.max_queue and not self._make_room(event, inbox):
            return False
        if self.outbox is not None and not self.outbox.add(event):
            self.reporter.count("not_durable")  # still delivered, from memory
        return True

    def _make_room(self, event: Event, inbox: Inbox) -> bool:
        """The queue is full: apply the overflow policy. ``True`` if ``event`` may be queued."""
        if self.overflow == "drop_oldest":
            oldest = inbox.pop_oldest()
            if oldest is not None:
                if self.outbox is not None:
                    self.outbox.discard([oldest.event_id])
                self.reporter.dropped("queue_full", event=oldest)
                return True
        elif (
            self.overflow == "block"
            and not self._in_sender_thread()
            and not _in_event_loop()  # never block an event loop
            and inbox.wait_for_room(self.max_queue, self.block_timeout)
        ):
            return True
        self.reporter.dropped("queue_full", event=event)
        return False

    def _drain(self, reason: str) -> None:
        for event in self._inbox.drain():
            self.reporter.dropped(reason, event=event, level=logging.DEBUG)


def _in_event_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _outbox_for(settings: Settings, current: Outbox | None) -> Outbox | None:
    """The outbox ``settings`` name: ``current`` if it is that one (same file, same API)."""
    if settings.outbox is None:
        return None
    from ._outbox import Outbox, destination_of  # sqlite3: only with an outbox

    destination = destination_of(settings.base_url, settings.api_key)
    if current is not None and (os.fspath(current.path), current.destination) == (
        settings.outbox,
        destination,
    ):
        return current
    return Outbox(settings.outbox, destination=destination)


def _new_sender(transport: BackgroundTransport, inbox: Inbox) -> Sender:
    """The sender of ``transport``, made in its thread (aiohttp is imported there)."""
    from ._engine import Sender

    if transport.settings.base_url.startswith("https:"):
        from ._async_api import ssl_context

        ssl_context()  # imports certifi and ssl now, not during a request
    sender = Sender(
        inbox=inbox,
        settings=transport.settings,
        reporter=transport.reporter,
        devices=transport.devices,
        max_in_flight=transport.max_in_flight,
        max_event_age=transport.max_event_age,
        outbox=transport.outbox,
        on_refused=transport._on_refused,
    )
    if transport.outbox is not None:
        sender.jobs.backlog = transport.outbox.backlog()
    return sender


def _before_fork(transport: BackgroundTransport) -> None:
    thread = transport._thread
    starting = thread is not None and not transport._ready.is_set()
    if starting and transport._pid == _getpid() and not transport._in_sender_thread():
        transport._ready.wait(_FORK_WAIT)
