"""A client's transport, from start to end: started on the first event, drained by shutdown,
retired in the background when replaced or collected, drained at interpreter exit.

The functions take the :class:`~._client.Client` first; it binds them as its methods.
"""

from __future__ import annotations

import atexit
import threading
import time
import warnings
import weakref
from typing import TYPE_CHECKING

from . import _workers
from ._config import ENV_API_KEY
from ._reporting import ERROR, WARNING, logger
from .errors import ConfigurationError
from .transports import BaseTransport

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._client import Client
    from ._config import Settings
    from .transports import Transport

__all__ = ["retire", "shutdown", "start_transport"]


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


def start_transport(client: Client) -> Transport:
    """The client's transport, created (once, under its lock) from ``settings.transport``."""
    if client._misconfigured is not None:
        # Never a transport on settings that fell back from a bad environment (the
        # default base URL, say): what uses the transport directly is refused too.
        raise client._misconfigured
    if client._unconfigured is not None:
        raise client._unconfigured
    settings = client.settings
    with client._transport_lock:
        if client._transport is not None:
            return client._transport
        spec = settings.transport
        try:
            transport = _make_transport(spec, settings) if isinstance(spec, str) else spec
            if isinstance(transport, BaseTransport):
                transport.adopt(settings)  # configure(api_key=...) reaches instances
        except ConfigurationError as exc:
            client._unconfigured = exc  # every later event is dropped at once, and counted
            if not settings.strict:
                warnings.warn(
                    f"weespin-instrument is not configured ({exc}) Events are dropped and "
                    f"counted until you set {ENV_API_KEY} or call weespin.configure(...).",
                    RuntimeWarning,
                    stacklevel=4,
                )
            raise
        if isinstance(transport, BaseTransport):
            transport.attach(client.reporter)
        # A transport that sends to the Weespin API: the network guard may refuse it, and
        # events of a web visitor with no device yet wait for the device the API assigns.
        if getattr(transport, "needs_api", False):
            from ._guard import blocked_reason

            target = getattr(transport, "settings", settings)
            client._blocked = blocked_reason(getattr(target, "base_url", ""))
            client._detour = client._detour or client._blocked is not None
            client._needs_api = True
        client._transport = transport
        if not (client._detour or settings.disabled):
            client._ready = transport
        _clients_to_drain.add(client)
        # Dropped without shutdown(): deliver what it holds (bounded), then stop its
        # sender and close its sockets, off the thread that happened to collect it.
        finalizer = weakref.finalize(client, _retire_transport, transport, settings.exit_timeout)
        finalizer.atexit = False  # at exit, the exit drain does it (and reports what is left)
        _workers.install(_drain_at_exit)  # worker processes that skip atexit drain too
        return transport


def shutdown(client: Client, timeout: float | None, *, at_exit: bool = False) -> bool:
    """Flush (bounded by ``timeout``) and close the transport; warn about what is left."""
    with client._transport_lock:
        transport, client._closed = client._transport, True
        client._detour, client._ready = True, None
    _clients_to_drain.discard(client)
    if transport is None:
        return True
    reporter, awaiting = client.reporter, client.awaiting_device
    start = reporter.snapshot()
    before, cut_before = start.dropped.get("shutdown", 0), start.in_flight_at_exit
    # Events waiting for a web visitor's device (see devices.VisitorDevice) first.
    deadline = None if timeout is None else time.monotonic() + timeout
    waited = awaiting.wait(timeout) if awaiting.count else True
    for event in awaiting.abandon():
        reporter.dropped("shutdown", event=event)
    if deadline is not None:
        timeout = max(0.0, deadline - time.monotonic())
    delivered = transport.flush(timeout) and waited
    transport.close(0.0 if not delivered else timeout)
    reporter.wait_for_hooks(1.0 if timeout is None else min(timeout, 1.0))
    end = reporter.snapshot()
    left = end.dropped.get("shutdown", 0) - before
    cut = end.in_flight_at_exit - cut_before  # requests cut off: maybe delivered
    if left or cut:
        outbox = getattr(transport, "outbox", None)
        kept = (
            f"; they stay in the outbox {outbox.path} for the next process to send"
            if outbox is not None
            else ""
        )
        if cut:
            kept = f"; {cut} more were cut off in flight (maybe delivered){kept}"
        logger.log(
            ERROR if at_exit else WARNING,
            "weespin: %s with %d event(s) not delivered after %s s (last error: %s)%s",
            "exiting" if at_exit else "shut down",
            left,
            "no limit" if timeout is None else f"{timeout:.1f}",
            end.last_error or "none; the API may be slow",
            kept,
        )
    return delivered


def retire(client: Client) -> None:
    """Shut ``client`` down in a background thread, bounded by its ``exit_timeout``."""
    if client._closed:
        return
    timeout = client.settings.exit_timeout

    def run() -> None:
        try:
            shutdown(client, timeout)
        except Exception:
            logger.exception("weespin: error while shutting down a replaced client")

    _start_retiring(run, timeout + 1.0)  # its flush and close, then on_error hooks (1 s at most)


#: Clients whose transport started and that were not shut down: the exit hook drains them.
#: Weak references: a client dropped without shutdown() is retired by its finalizer.
_clients_to_drain: weakref.WeakSet[Client] = weakref.WeakSet()
#: Threads retiring clients or transports, with the time (monotonic) by which each is done:
#: the exit hook waits for them until then.
_retiring: dict[threading.Thread, float] = {}


def _start_retiring(work: Callable[[], None], timeout: float) -> None:
    def run() -> None:
        try:
            work()
        finally:
            _retiring.pop(threading.current_thread(), None)

    thread = threading.Thread(target=run, name="weespin-retire", daemon=True)
    _retiring[thread] = time.monotonic() + timeout
    try:
        thread.start()
    except RuntimeError:  # the interpreter is exiting: the exit drain has run
        _retiring.pop(thread, None)


def _retire_transport(transport: Transport, timeout: float) -> None:
    """The finalizer of a client collected without shutdown(): close its transport."""

    def run() -> None:
        try:
            transport.flush(timeout)
            transport.close(timeout)
        except Exception:
            logger.exception("weespin: error while closing a client dropped without shutdown()")

    _start_retiring(run, 2 * timeout)  # a flush, then a close, each bounded by timeout


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
            shutdown(client, max(0.0, left), at_exit=True)
        except Exception:
            logger.exception("weespin: error while delivering events at exit")
    for thread, done_by in list(_retiring.items()):
        thread.join(max(0.0, done_by - time.monotonic()))
