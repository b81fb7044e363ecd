"""Who the current events are about: identity carried by ``contextvars``."""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec, TypeVar

from ._wrapping import Block

if TYPE_CHECKING:
    from .devices import VisitorDevice

__all__ = ["Identity", "bound_identity", "current_identity", "current_visitor", "identify", "wrap"]

P = ParamSpec("P")
R = TypeVar("R")


class Identity(NamedTuple):
    """The identity fields an event inherits from its context.

    Example::

        with identify(user_id="u_42"):
            current_identity().user_id  # 'u_42'
    """

    user_id: str | None = None
    link_id: str | None = None
    device_id: str | None = None


_EMPTY = Identity()
_identity: contextvars.ContextVar[Identity] = contextvars.ContextVar(
    "weespin_identity", default=_EMPTY
)
#: A web visitor whose device is not known yet (set with the identity by the web middlewares).
_visitor: contextvars.ContextVar[VisitorDevice | None] = contextvars.ContextVar(
    "weespin_visitor", default=None
)


#: Whether a web visitor was ever bound in this process: until then no event looks one up.
visitors_seen = False


def current_visitor() -> VisitorDevice | None:
    """The new web visitor of the current request, whose device is initialized on demand.

    Example::

        current_visitor()  # None outside a request of a new visitor
    """
    return _visitor.get()


def current_identity() -> Identity:
    """The identity in force here (set by :func:`identify`).

    Example::

        current_identity().user_id  # None outside identify(...)
    """
    return _identity.get()


@contextmanager
def bound_identity(identity: Identity, visitor: VisitorDevice | None = None) -> Iterator[Identity]:
    """Make ``identity`` the one in force inside the block (what the web middlewares use).

    ``visitor``: the device of a new visitor, used by events that have no device of their
    own (an ``identify(device_id=...)`` inside wins over it).

    Example::

        with bound_identity(Identity(user_id="u_42"), VisitorDevice()):
            handle(request)
    """
    global visitors_seen
    if visitor is not None:
        visitors_seen = True
    token = _identity.set(identity)
    visitor_token = _visitor.set(visitor)
    try:
        yield identity
    finally:
        _visitor.reset(visitor_token)
        _identity.reset(token)


class identify(Block[Identity]):
    """Attach a user, a link or a device to every event tracked inside.

    A context manager (sync and async) and a decorator. Nested calls override the fields
    they set and restore the outer ones on exit; values flow across ``await`` and into
    asyncio tasks created inside. Threads start with an empty context: carry it with
    :func:`weespin_instrument.context.wrap`.

    Example::

        with weespin.identify(user_id="u_42", link_id="lnk_9f3"):
            checkout(order, user)            # its events carry u_42 and lnk_9f3

        @weespin.identify(user_id="system")
        def nightly_job() -> None: ...
    """

    __slots__ = ("_fields", "_tokens")

    def __init__(
        self,
        user_id: str | int | None = None,
        link_id: str | None = None,
        device_id: str | None = None,
    ) -> None:
        self._fields: dict[str, Any] = {
            name: str(value)
            for name, value in (
                ("user_id", user_id),
                ("link_id", link_id),
                ("device_id", device_id),
            )
            if value is not None
        }
        self._tokens: list[contextvars.Token[Identity]] = []

    def __enter__(self) -> Identity:
        identity = _identity.get()._replace(**self._fields)
        self._tokens.append(_identity.set(identity))
        return identity

    def __exit__(self, *exc_info: object) -> None:
        _identity.reset(self._tokens.pop())

    def _fresh(self) -> identify:
        return identify(**self._fields)

    def _what(self) -> str:
        return "identify()"


def wrap(func: Callable[P, R]) -> Callable[P, R]:
    """Bind ``func`` to the current context, to run it in another thread with it.

    Example::

        with weespin.identify(user_id="u_42"):
            executor.submit(weespin.context.wrap(send_receipt), order)
    """
    context = contextvars.copy_context()

    @functools.wraps(func)
    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(func, *args, **kwargs)

    return run_in_context
