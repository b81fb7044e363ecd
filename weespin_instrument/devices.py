"""Devices on demand: one per end user (a web visitor, a mobile install), not per process.

The Weespin API identifies a *device*: "store this ``device_info.device_id`` (in local
storage, a cookie, or your database) and include it in all subsequent tracking calls".
A server process has its own device (initialized lazily by the transports); the functions
here get new ones for the people using the app, from any framework:

- :func:`new_device_id` and :func:`new_device_id_async`: one ``POST /initialize-device``
  (retried on transient failures) with the default client's settings, or a given client's.
- :class:`VisitorDevice`: the device of a visitor who has none yet, initialized only when
  an event tracked for them needs it, once, off the caller's path. The web middlewares
  (:mod:`weespin_instrument.web`, :mod:`weespin_instrument.django`) are built on it.

Example::

    from weespin_instrument.devices import new_device_id

    user.weespin_device_id = user.weespin_device_id or new_device_id()
    with weespin.identify(device_id=user.weespin_device_id):
        checkout(order, user)
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import TYPE_CHECKING, Any

from ._reporting import logger
from .errors import ConfigurationError

if TYPE_CHECKING:
    import asyncio

    from ._client import Client
    from ._config import Settings
    from ._event import Event

__all__ = ["VisitorDevice", "new_device_id", "new_device_id_async"]

#: The reason counted for events whose visitor's device could not be initialized.
_DEVICE_INIT_FAILED = "device_init_failed"


def _settings_of(client: Client | None) -> Settings:
    if client is None:
        from ._facade import get_client

        client = get_client()
    return client.settings


def new_device_id(client: Client | None = None) -> str:
    """A new device id from the API: one ``POST /initialize-device``, on this thread.

    Uses ``client``'s settings (default: the default client's: ``WEESPIN_API_KEY``, ...).
    Transient failures are retried with backoff (``max_attempts``, ``max_retry_time``);
    what is left raises a :class:`~weespin_instrument.WeespinError`
    (:class:`~weespin_instrument.ConfigurationError` without an API key).

    Example::

        device_id = new_device_id()
        response.set_cookie("weespin_device_id", device_id)
    """
    return _initialize(_settings_of(client))


async def new_device_id_async(client: Client | None = None) -> str:
    """:func:`new_device_id` for async code: the event loop keeps running meanwhile.

    Example::

        device_id = await new_device_id_async()
    """
    return await _initialize_async(_settings_of(client))


def _refuse_if_blocked(settings: Settings) -> None:
    from ._guard import blocked_reason

    reason = blocked_reason(settings.base_url)  # inside a test run: loopback hosts only
    if reason is not None:
        raise ConfigurationError(reason)


def _initialize(settings: Settings) -> str:
    from .transports._retry import RetryPolicy, retrying
    from .transports._sync_client import SyncAPI

    _refuse_if_blocked(settings)
    api = SyncAPI(settings)
    try:
        return retrying(api.initialize_device, RetryPolicy.from_settings(settings))
    finally:
        api.close()


async def _initialize_async(settings: Settings) -> str:
    from .transports._engines import async_api
    from .transports._protocol import require_api_key
    from .transports._retry import RetryPolicy, retrying_async

    _refuse_if_blocked(settings)
    require_api_key(settings)
    api = async_api(settings, max_connections=1)
    await api.open()
    try:
        return await retrying_async(api.initialize_device, RetryPolicy.from_settings(settings))
    finally:
        await api.close()


class VisitorDevice:
    """The device of one visitor who has none yet, initialized when an event needs it.

    Put it in the identity context (``bound_identity(identity, visitor)``, as the web
    middlewares do): an event tracked there with no other device waits for it. The first
    such event starts one initialization, on ``loop`` when given (an ASGI
    app's loop), else on a thread of its own; the tracked call returns at once. Once known,
    the id goes on every waiting event and on later ones. Nothing is initialized if nothing
    is tracked, nor for transports that do not talk to the API (memory, console).

    ``client`` chooses whose settings initialize the device (default: the client that
    tracked the first event). When the initialization fails for good, the waiting events
    are dropped and counted (``device_init_failed``).

    Example::

        visitor = VisitorDevice()
        with bound_identity(Identity(user_id="u_42"), visitor):
            handle(request)                     # tracks events: one init starts
        if visitor.requested and (device_id := visitor.wait(2.0)):
            response.set_cookie("weespin_device_id", device_id)
    """

    def __init__(
        self, *, loop: asyncio.AbstractEventLoop | None = None, client: Client | None = None
    ) -> None:
        self._loop = loop
        self._client = client
        self._lock = threading.Lock()
        self._resolved = threading.Event()
        self._held: list[tuple[Client, Event, str | None]] = []
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._task: Any = None
        #: The device id once initialized.
        self.device_id: str | None = None
        #: Why the initialization failed, if it did.
        self.error: BaseException | None = None
        #: Whether an event asked for the device (an initialization started).
        self.requested = False

    def __repr__(self) -> str:
        state = self.device_id or ("failed" if self.error else "pending" if self.requested else "")
        return f"VisitorDevice({state or 'not requested'})"

    def hold(self, client: Client, event: Event, origin: str | None = None) -> None:
        """Give ``event`` its device now if known, else keep it until it is (the client
        calls this for events that have no device)."""
        with self._lock:
            device_id, error = self.device_id, self.error
            start = False
            if device_id is None and error is None:
                self._held.append((client, event, origin))
                client.awaiting_device.add(event)
                start, self.requested = not self.requested, True
        if device_id is not None:
            event.device_id = device_id
            client._deliver(event, origin)
        elif error is not None:
            client.reporter.dropped(_DEVICE_INIT_FAILED, event=event, error=error, origin=origin)
        elif start:
            self._start((self._client or client).settings)

    def wait(self, timeout: float | None) -> str | None:
        """Block until the device is known (or failed, or ``timeout``); its id or ``None``."""
        self._resolved.wait(timeout)
        return self.device_id

    async def wait_async(self, timeout: float | None) -> str | None:
        """:meth:`wait` without blocking the event loop.

        Example::

            device_id = await visitor.wait_async(2.0)
        """
        import asyncio

        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if not self._resolved.is_set():
                self._waiters.append((loop, future))
            else:
                future.set_result(None)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(future, timeout)
        return self.device_id

    # -- internals ----------------------------------------------------------------------------

    def _start(self, settings: Settings) -> None:
        # Imported here, not on the thread below concurrently with the sender's imports.
        from .transports import _sync_client  # noqa: F401
        from .transports._engines import engine_module

        loop = self._loop
        # On the app's loop once the HTTP engine is loaded (the sender loads it on its own
        # thread); before that, a thread: importing it on the loop would stall every request.
        if loop is not None and not loop.is_closed() and engine_module(settings) in sys.modules:
            import asyncio

            try:
                self._task = asyncio.run_coroutine_threadsafe(self._run_async(settings), loop)
                return
            except RuntimeError:  # the loop closed meanwhile: use a thread
                pass
        threading.Thread(
            target=self._run, args=(settings,), name="weespin-visitor-device", daemon=True
        ).start()

    def _run(self, settings: Settings) -> None:
        try:
            self._settle(_initialize(settings), None)
        except BaseException as exc:
            self._settle(None, exc)

    async def _run_async(self, settings: Settings) -> None:
        try:
            device_id = await _initialize_async(settings)
        except Exception as exc:
            self._settle(None, exc)
        else:
            self._settle(device_id, None)

    def _settle(self, device_id: str | None, error: BaseException | None) -> None:
        with self._lock:
            self.device_id, self.error = device_id, error
            held, self._held = self._held, []
            waiters, self._waiters = self._waiters, []
            self._resolved.set()
        if error is not None:
            level = "error" if isinstance(error, ConfigurationError) else "warning"
            getattr(logger, level)(
                "weespin: a visitor's device could not be initialized (%s); %d event(s) dropped",
                error,
                len(held),
            )
        for client, event, origin in held:
            if not client.awaiting_device.claim(event):
                continue  # shutdown counted it already
            try:
                if device_id is not None:
                    event.device_id = device_id
                    client._deliver(event, origin)
                else:
                    client.reporter.dropped(
                        _DEVICE_INIT_FAILED, event=event, error=error, origin=origin
                    )
            except Exception:  # strict mode raising from a thread nobody waits on
                logger.exception("weespin: delivering a visitor's event failed")
            finally:
                client.awaiting_device.done()
        for loop, future in waiters:
            # A closed loop raises RuntimeError: nobody waits there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_future, future)


def _settle_future(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
