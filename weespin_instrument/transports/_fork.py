"""What a forked child inherited from its parent's sender, it keeps, unused, for ever.

A child's copies of the parent's event loop, connection pool and SQLite connection share
kernel objects with the parent: the epoll instance, the TCP (and TLS) streams, the database
locks. Closing or even garbage-collecting them in the child runs cleanup code (unregistering
sockets from the shared epoll, sending a TLS close_notify, closing the SQLite file) that
would break the parent's connections. So the child never releases them, not even during
interpreter shutdown, when module globals are cleared: on CPython the list holding them
gets one reference that is never given back.

Example::

    def _after_fork_in_child(self) -> None:
        keep_forever(self._sender, self._thread)
        self._sender = None
"""

from __future__ import annotations

import sys

__all__ = ["keep_forever"]

_kept: list[object] = []
_pinned = False


def keep_forever(*objects: object) -> None:
    """Keep ``objects`` alive until the process ends, finalization included."""
    global _pinned
    _kept.extend(objects)
    if not _pinned and sys.implementation.name == "cpython":
        try:
            import ctypes

            ctypes.pythonapi.Py_IncRef(ctypes.py_object(_kept))
        except (ImportError, AttributeError, OSError):  # pragma: no cover - exotic builds
            return
        _pinned = True
