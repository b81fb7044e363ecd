"""Worker processes deliver: the exit drain hooked where worker processes really exit.

``atexit`` runs only when the interpreter exits normally. Worker processes often do not:

- ``multiprocessing`` children (``Pool`` workers, ``ProcessPoolExecutor`` workers, plain
  ``Process`` targets, with the fork, forkserver or spawn start method) end through
  ``os._exit()`` after running multiprocessing's own exit hooks
  (``multiprocessing.util._exit_function``, which runs the ``Finalize`` callbacks);
- Celery's prefork children (billiard) leave through ``os._exit()`` too, recycled by
  ``--max-tasks-per-child`` or at worker shutdown, right after the
  ``worker_process_shutdown`` signal.

:func:`install` (called by a client when its transport starts) registers the exit drain
in whichever of these the process has, once per process; no user code is needed. The
drain is the one of ``atexit`` (bounded by ``exit_timeout``); it runs once, whichever
hook comes first.

Example::

    install(drain_at_exit)  # in Client._start_transport
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

__all__ = ["install"]

_installed: dict[str, int] = {}  # hook name -> pid it was installed in
#: Run before multiprocessing's other finalizers (which may close queues and pipes).
_EXIT_PRIORITY = 100


def install(drain: Callable[[], object]) -> None:
    """Hook ``drain`` into the exit paths of worker processes this process may be."""
    pid = os.getpid()
    if "multiprocessing" in sys.modules and _installed.get("multiprocessing") != pid:
        _installed["multiprocessing"] = pid
        _hook_multiprocessing(drain)
    if "celery" in sys.modules and _installed.get("celery") != pid:
        _installed["celery"] = pid
        _hook_celery(drain)


def _hook_multiprocessing(drain: Callable[[], object]) -> None:
    import multiprocessing
    from multiprocessing import util

    if multiprocessing.parent_process() is None:
        # The main process: atexit runs here. Its forked children (fork start method) start
        # with an empty finalizer registry, then run the after-fork hooks: register there.
        util.register_after_fork(_AFTER_FORK, lambda _: _register_finalizer(drain))
        return
    _register_finalizer(drain)


def _register_finalizer(drain: Callable[[], object]) -> None:
    from multiprocessing import util

    _installed["multiprocessing"] = os.getpid()
    util.Finalize(None, drain, exitpriority=_EXIT_PRIORITY)


class _Token:
    """The object multiprocessing's after-fork registry is keyed on (weakly: kept here)."""


_AFTER_FORK = _Token()


def _hook_celery(drain: Callable[[], object]) -> None:
    try:
        from celery import signals
    except Exception:  # pragma: no cover - a broken Celery install: nothing to hook
        return

    def on_worker_process_shutdown(*args: object, **kwargs: object) -> None:
        drain()

    # Connected in the worker's main process, it is inherited by every forked child; the
    # signal is sent in the child only, just before it exits.
    signals.worker_process_shutdown.connect(
        on_worker_process_shutdown, weak=False, dispatch_uid="weespin_instrument.drain"
    )
