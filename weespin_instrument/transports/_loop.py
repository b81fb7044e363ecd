"""The sender's event loop.

Example::

    loop = SenderLoop()
    loop.run_until_complete(main())
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["SenderLoop"]

_T = TypeVar("_T")


class SenderLoop(asyncio.SelectorEventLoop):
    """The sender's event loop: ``run_in_executor(None, ...)`` runs the call in a new thread.

    Host names are resolved with ``run_in_executor(None, getaddrinfo)`` (``loop.getaddrinfo``,
    by either engine) and the device is initialized the same way. asyncio's default
    executor, a ``ThreadPoolExecutor``, refuses work once the interpreter starts exiting
    (its module cannot even be imported then), which is exactly when the exit drain needs
    it. These calls are rare (DNS is cached, the device initialized once): a daemon thread
    each is cheap enough, and when threads can no longer start the call runs inline.

    Example::

        loop = SenderLoop()
        device_id = await loop.run_in_executor(None, devices.get)
    """

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]:
        if executor is not None:
            return super().run_in_executor(executor, func, *args)
        future: asyncio.Future[_T] = self.create_future()

        def run() -> None:
            try:
                result = func(*args)
            except BaseException as exc:
                self._resolve(future, None, exc)
            else:
                self._resolve(future, result, None)

        try:
            threading.Thread(target=run, name="weespin-sender-io", daemon=True).start()
        except RuntimeError:  # interpreter shutting down
            run()
        return future

    def _resolve(
        self, future: asyncio.Future[_T], result: _T | None, error: BaseException | None
    ) -> None:
        def settle() -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self.call_soon_threadsafe(settle)
