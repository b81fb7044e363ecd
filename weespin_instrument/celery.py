"""Celery: a task's events carry the identity of the code that enqueued it.

A task enqueued while handling a request (inside the web middlewares, or any
``weespin.identify(...)``) carries that request's ``user_id`` and ``link_id`` in its
message headers; the worker runs the task inside the same identity, so what the task
tracks is about the same visitor. The device stays the worker's own (the service's
device, see ``device_store``): a task is not the visitor's browser.

One line in the module that creates the Celery app (it is imported by the workers and by
the code that enqueues)::

    app = Celery("shop", broker="redis://127.0.0.1:6379/0")
    weespin_instrument.celery.install()

Headers: ``weespin_user_id`` and ``weespin_link_id`` (left out when unset). An identity
the task sets itself (``weespin.identify(...)`` inside it) wins, as everywhere.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ._context import Identity, bound_identity, current_identity
from ._reporting import logger

__all__ = ["HEADERS", "install", "uninstall"]

#: Message header -> the identity field it carries.
HEADERS = {"weespin_user_id": "user_id", "weespin_link_id": "link_id"}

_UID = "weespin_instrument.celery"
#: The identity blocks of the tasks running in this process, by task id.
_running: dict[str, contextlib.ExitStack] = {}


def install() -> None:
    """Connect to Celery's signals (idempotent): publish, task start, task end.

    Example::

        weespin_instrument.celery.install()
    """
    from celery import signals

    signals.before_task_publish.connect(_on_publish, weak=False, dispatch_uid=_UID)
    signals.task_prerun.connect(_on_task_start, weak=False, dispatch_uid=_UID)
    signals.task_postrun.connect(_on_task_end, weak=False, dispatch_uid=_UID)


def uninstall() -> None:
    """Disconnect what :func:`install` connected.

    Example::

        weespin_instrument.celery.uninstall()
    """
    from celery import signals

    signals.before_task_publish.disconnect(dispatch_uid=_UID)
    signals.task_prerun.disconnect(dispatch_uid=_UID)
    signals.task_postrun.disconnect(dispatch_uid=_UID)


def _identity_headers(identity: Identity) -> dict[str, str]:
    """The message headers that carry ``identity`` to the worker.

    Example::

        _identity_headers(Identity(user_id="u_42"))  # {'weespin_user_id': 'u_42'}
    """
    fields = identity._asdict()
    return {header: fields[name] for header, name in HEADERS.items() if fields[name] is not None}


def _identity_from(request: Any) -> Identity:
    """The identity a task's request (``task.request``) carries in its headers."""
    found: dict[str, str] = {}
    headers = getattr(request, "headers", None) or {}
    for header, name in HEADERS.items():
        value = getattr(request, header, None) or headers.get(header)
        if isinstance(value, str) and value:
            found[name] = value
    return Identity(**found)


def _on_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    try:
        if headers is not None:
            for header, value in _identity_headers(current_identity()).items():
                headers.setdefault(header, value)
    except Exception:  # enqueuing never fails because of us
        logger.exception("weespin: could not add the identity to a Celery task's headers")


def _on_task_start(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id is None or task is None:
        return
    try:
        identity = _identity_from(task.request)
        if identity == Identity():
            return
        stack = contextlib.ExitStack()
        stack.enter_context(bound_identity(identity))
        _running[task_id] = stack
    except Exception:
        logger.exception("weespin: could not read the identity of a Celery task")


def _on_task_end(task_id: str | None = None, **_: Any) -> None:
    stack = _running.pop(task_id, None) if task_id is not None else None
    if stack is not None:
        try:
            stack.close()
        except Exception:  # another context than the one it started in
            logger.exception("weespin: could not restore the identity after a Celery task")
