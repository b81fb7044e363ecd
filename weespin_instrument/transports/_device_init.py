"""This process's device, initialized on the sender's loop: one attempt at a time, with backoff.

The sender awaits ``POST /initialize-device`` itself; the device store (which may be a
file, or anything a user wrote) is read and written only in an executor thread, through
:meth:`~.._device.DeviceManager.load` and :meth:`~.._device.DeviceManager.save`. A store
that finds nothing stays locked for us until the answer is saved (one device for the
processes sharing it). A failed attempt waits a backoff before the next one; events that
need a device wait meanwhile (the sender parks them).

Example::

    device = DeviceInit(devices, api, state, jobs, refuse=sender.refuse, then=sender.pump)
    wait = device.ensure(loop.time())  # starts an attempt, or says how long to wait first
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING

from .._reporting import logger
from .._suppress import suppress_instrumentation
from ..errors import AuthenticationError, DeliveryError, RejectedError, WeespinError

if TYPE_CHECKING:
    from .._device import DeviceManager
    from ._async_api import AsyncAPI
    from ._jobs import JobQueue
    from ._outcomes import ApiState

__all__ = ["DeviceInit"]


@dataclass(eq=False, repr=False)
class DeviceInit:
    """Initializes the device on the sender's loop, one attempt at a time (:meth:`ensure`).

    How an attempt ended: success (:attr:`device_id` is set; the API answered, so the
    breaker closes); the key refused (``refuse(error)``: delivery stops); the API refusing
    to initialize (a configuration problem, retrying will not help: the events waiting for
    the device are dropped as ``device_init_failed``); another failure (tried again after a
    backoff, the events wait). Then ``then()`` (the sender pumps again).

    Example::

        device = DeviceInit(devices, api, state, jobs, refuse=print, then=print)
        device.ensure(loop.time())
    """

    devices: DeviceManager
    api: AsyncAPI
    state: ApiState
    jobs: JobQueue
    _: KW_ONLY
    refuse: Callable[[AuthenticationError], object]
    then: Callable[[], object]

    def __post_init__(self) -> None:
        #: This process's device id once known.
        self.device_id = self.devices.device_id
        #: Set when the sender stops: an attempt's store lock is let go at once.
        self.stopping = False
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._retry_at = 0.0

    def ensure(self, now: float) -> float:
        """Start an attempt unless one runs; ``> 0``: the seconds to wait before one may."""
        if self._task is not None:
            return 0.0
        if now < self._retry_at:
            return self._retry_at - now
        self._task = asyncio.get_running_loop().create_task(self._attempt())
        return 0.0

    def cancel(self) -> None:
        """Stop: cancel the attempt running, if any."""
        self.stopping = True
        if self._task is not None:
            self._task.cancel()

    async def _attempt(self) -> None:
        error: WeespinError | None = None
        try:
            self.device_id = await self._device()
        except WeespinError as exc:
            error = exc
        except Exception as exc:  # e.g. the device store could not be read
            error = DeliveryError(f"{type(exc).__name__}: {exc}")
        finally:
            self._task = None
        if error is None:
            self._failures = 0
            self.state.breaker.success(asyncio.get_running_loop().time())
        elif isinstance(error, AuthenticationError):
            self.refuse(error)
        else:
            self._failed(error)
        self.then()

    async def _device(self) -> str:
        """The store's device (read in a thread), else the one our ``POST`` returns."""
        devices = self.devices
        loop = asyncio.get_running_loop()
        device_id = devices.device_id
        if device_id is not None:
            return device_id
        try:
            device_id = await loop.run_in_executor(None, self._load)
            if device_id is None:  # ours to initialize: the store is held for us meanwhile
                with suppress_instrumentation():
                    device_id = await self.api.initialize_device()
                await loop.run_in_executor(None, devices.save, device_id)
        except BaseException:
            # Let go of the store (not awaited: the sender may be stopping).
            loop.run_in_executor(None, devices.release)
            raise
        return device_id

    def _load(self) -> str | None:
        # In an executor thread. Stopped meanwhile: nobody would let go of the store.
        device_id = self.devices.load()
        if self.stopping:
            self.devices.release()
        return device_id

    def _failed(self, error: WeespinError) -> None:
        self.state.last_error = error
        self.state.reporter.note_failure(error)
        self._failures += 1
        policy = self.state.policy
        delay = policy.delay(min(self._failures - 1, 16), error)
        now = asyncio.get_running_loop().time()
        self._retry_at = now + max(delay, policy.base)
        if isinstance(error, RejectedError):
            logger.error("weespin: device initialization refused: %s", error)
            self.jobs.drop_without_device(now, "device_init_failed", error)
        elif self._failures == 1:
            logger.warning(
                "weespin: device initialization failed (%s); retrying with backoff, events wait",
                error,
            )
