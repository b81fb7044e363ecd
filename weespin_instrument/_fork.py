"""What a forked child must not share with its parent: one fork registry for the package.

A child of ``os.fork()`` has one thread, the one that forked. What other threads of the parent
held (a lock taken, a sender thread, an event loop, a connection pool) is in the child's
memory but has no thread behind it. Objects holding such state register here, once, when they
are made (:func:`at_fork`); the registry holds them weakly, and the package's own hooks,
given to ``os.register_at_fork`` once, call each live object's functions: ``before`` the
fork in the forking thread (latest registered first, as ``os.register_at_fork`` does),
``after_in_child`` in the child and ``after_in_parent`` in the parent (first registered
first).

What a child inherited from its parent's sender it keeps, unused, for ever
(:func:`keep_forever`): the child's copies of the parent's event loop, connection pool and
SQLite connection share kernel objects with the parent (the epoll instance, the TCP and TLS
streams, the database locks). Closing or even garbage-collecting them in the child runs
cleanup code (unregistering sockets from the shared epoll, sending a TLS close_notify,
closing the SQLite file) that would break the parent's connections. So the child never
releases them, not even during interpreter shutdown, when module globals are cleared: on
CPython the list holding them gets one reference that is never given back.

Example::

    class DeviceManager:
        def __init__(self) -> None:
            self._lock = threading.Lock()
            at_fork(self, after_in_child=DeviceManager._reset_after_fork)

        def _reset_after_fork(self) -> None:
            self._lock = threading.Lock()  # another thread may have held the parent's
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

__all__ = ["at_fork", "keep_forever"]

_T = TypeVar("_T")


class _Hooks(NamedTuple):
    # Functions of the object (``Class.method``, not a bound method: the registry must not
    # keep the object alive).
    before: Callable[[Any], object] | None
    after_in_child: Callable[[Any], object] | None
    after_in_parent: Callable[[Any], object] | None


_registry: weakref.WeakKeyDictionary[object, _Hooks] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def at_fork(
    obj: _T,
    *,
    before: Callable[[_T], object] | None = None,
    after_in_child: Callable[[_T], object] | None = None,
    after_in_parent: Callable[[_T], object] | None = None,
) -> None:
    """Call these functions with ``obj`` around every ``os.fork()`` while ``obj`` lives.

    Registering the same object again replaces its functions.

    Example::

        at_fork(self, before=Transport._wait_if_starting, after_in_child=Transport._after_fork)
    """
    with _lock:
        _registry[obj] = _Hooks(before, after_in_child, after_in_parent)
    if (before is not None or after_in_parent is not None) and not _around_registered:
        _register_around()


def _live() -> list[tuple[object, _Hooks]]:
    with _lock:
        return list(_registry.items())


def _run(entries: list[tuple[object, _Hooks]], field: int) -> None:
    for obj, hooks in entries:
        hook = hooks[field]
        if hook is None:
            continue
        try:
            hook(obj)
        except Exception:  # one object's failure does not leave the others unprepared
            import logging

            logging.getLogger("weespin_instrument").exception(
                "weespin: an at-fork hook of %s failed", type(obj).__qualname__
            )


def _before() -> None:
    _run(_live()[::-1], 0)


def _after_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a thread of the parent may have held it at fork time
    _run(_live(), 1)


def _after_in_parent() -> None:
    _run(_live(), 2)


_around_registered = False


def _register_around() -> None:
    # The hooks around the fork in the parent are registered after logging's own, so that
    # they run before it (before-hooks run latest registered first): logging's takes its
    # module lock until the fork is done, and a `before` function may wait for a thread
    # that logs (a sender starting up). Not at import: `import logging` is not cheap.
    global _around_registered
    import logging  # noqa: F401  (its at-fork hook first)

    with _lock:
        if _around_registered:
            return
        _around_registered = True
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before, after_in_parent=_after_in_parent)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_in_child)


_kept: list[object] = []
_pinned = False


def keep_forever(*objects: object) -> None:
    """Keep ``objects`` alive until the process ends, finalization included.

    Example::

        def _after_fork_in_child(self) -> None:
            keep_forever(self._sender, self._thread)
            self._sender = None
    """
    global _pinned
    _kept.extend(objects)
    if not _pinned and sys.implementation.name == "cpython":
        try:
            import ctypes

            ctypes.pythonapi.Py_IncRef(ctypes.py_object(_kept))
        except (ImportError, AttributeError, OSError):  # pragma: no cover - exotic builds
            return
        _pinned = True
