"""``tracked()``: one event for a block of code, sync or async, or for each call of a function.

A block is its own event handle: ``with tracked(...) as event`` binds the ``tracked`` itself
(a :class:`TrackedEvent`), so a block costs one object, not two. A block makes that event
(its payload, ids, discarded flag) when its code first uses it, or when it starts for a
payload mapping, which is read then: the common block, which never uses it, sends its fields
as they were given. An instance entered again (re-entered, nested, or reused after its block
ended) gives each later block a fresh copy of itself, made with the same name, fields and
options.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from operator import attrgetter
from time import perf_counter
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from . import _facade
from ._enrich import current_span
from ._facade import get_client
from ._recipe import RAISED, RETURNED, add_outcome, check_on_exception
from ._wrapping import Block

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ._client import Client
    from ._recipe import OnException

__all__ = ["TrackedEvent", "tracked"]

F = TypeVar("F", bound=Callable[..., Any])

_modules = sys.modules


class TrackedEvent:
    """The event a ``tracked()`` block will send when it ends; fill it in as you go.

    Example::

        with weespin.tracked("signup", plan="pro") as event:
            user = create_user(email)
            event.set(referrer=ref)
            event.user_id = user.id
    """

    __slots__ = ("_discarded", "_span", "_started", "link_id", "name", "payload", "user_id")
    name: str
    #: The payload so far; a plain dict you may change.
    payload: dict[str, Any]
    user_id: str | int | None
    link_id: str | None

    def __init__(
        self,
        name: str,
        payload: dict[str, Any],
        user_id: str | int | None,
        link_id: str | None,
    ) -> None:
        self.name = name
        self.payload = payload
        self.user_id = user_id
        self.link_id = link_id
        self._discarded = False
        self._started = perf_counter()
        # The span current when the block started: span events belong on it.
        self._span = current_span()

    def __repr__(self) -> str:
        return f"TrackedEvent({self.name!r}, payload={self.payload!r}, user_id={self.user_id!r})"

    def set(self, **fields: Any) -> TrackedEvent:
        """Add or replace payload fields; returns the event, so calls chain."""
        self.payload.update(fields)
        return self

    def discard(self) -> None:
        """Send nothing for this block."""
        self._discarded = True

    @property
    def discarded(self) -> bool:
        """Whether :meth:`discard` was called."""
        return self._discarded


class _Options:
    """A ``tracked()``'s options besides its fields (a slotted class: read on every block)."""

    __slots__ = (
        "client", "link_id", "on_exception", "schema", "timing", "track_errors", "user_id",
    )  # fmt: skip

    def __init__(self, given: Mapping[str, Any], where: Callable[[], str]) -> None:
        get = given.get
        self.user_id: str | int | None = get("user_id")
        self.link_id: str | None = get("link_id")
        self.timing: bool = get("timing", False)
        self.on_exception: OnException = get("on_exception", "skip")
        self.client: Client | None = get("client")
        self.schema: type[BaseModel] | None = get("schema")
        self.track_errors = False
        if given:  # options a caller gave: check them
            self.track_errors = check_on_exception(self.on_exception, where)
            if self.schema is not None:
                from .events import check_schema

                check_schema(self.schema, where=where())

    @classmethod
    def take(cls, name: str, fields: dict[str, Any]) -> _Options:
        """Take the options out of ``fields`` (the keywords), checking them."""
        given = {key: fields.pop(key) for key in _OPTION_NAMES if key in fields}
        return cls(given, where=lambda: f"tracked({name!r})")


_OPTION_NAMES = ("user_id", "link_id", "timing", "on_exception", "client", "schema")
#: The keywords that are not payload fields: the options, and ``payload=``.
_NOT_FIELDS = frozenset({*_OPTION_NAMES, "payload"})
_DEFAULTS = _Options({}, where=lambda: "tracked()")
#: ``payload`` when none was given: an empty mapping no caller has (``None`` is a given one).
_NO_PAYLOAD: Mapping[str, Any] = MappingProxyType({})
# Where an instance is: never entered, in its own block, past it; plus _AGAIN while blocks
# entered later (fresh copies of it) are open. _FULL: it has options or a payload mapping, so
# its blocks go the full way in and out. _MADE: the block's event (payload, ids, discarded)
# is made, when the block first uses it (or, from a payload mapping, when it starts): the
# common block, whose event is its fields as given, makes nothing.
_FRESH, _OPEN, _ENDED, _AGAIN, _FULL, _MADE = 0, 1, 2, 4, 8, 16
_ENTERED = _OPEN | _ENDED
#: An instance in its own block, its event made: used by the block, or from a payload mapping.
_OPEN_AND_MADE = frozenset({_OPEN | _MADE, _FULL | _OPEN | _MADE})
#: Held while a block's event is made on first use: its code may use it from several threads.
_making = threading.Lock()


def _made_when_used(name: str) -> Any:
    """A block's event attribute ``name``, made when first used, kept in ``_`` + ``name``."""
    kept = "_" + name
    read = attrgetter(kept)

    def get(self: tracked) -> Any:
        if not self._state & _MADE:
            self._make_once()
        return read(self)

    def put(self: tracked, value: Any) -> None:
        if not self._state & _MADE:
            self._make_once()
        setattr(self, kept, value)

    return property(get, put)


class _Signature:
    """``tracked``'s signature as documented, for :func:`inspect.signature` and ``help()``:
    the options keyword-only, though the runtime ``__init__`` takes them with the fields."""

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is not None:
            return None  # an instance is a decorator: inspect reads its __call__
        import inspect

        parameter = inspect.Parameter
        return inspect.Signature(
            [
                parameter("name", parameter.POSITIONAL_ONLY),
                parameter("payload", parameter.POSITIONAL_OR_KEYWORD, default=None),
                *(parameter(key, parameter.KEYWORD_ONLY, default=getattr(_DEFAULTS, key))
                  for key in _OPTION_NAMES),
                parameter("fields", parameter.VAR_KEYWORD),
            ]
        )  # fmt: skip


class tracked(TrackedEvent, Block[TrackedEvent]):
    """Track one event for a block: ``with``, ``async with``, or as a decorator.

    The event is sent when the block ends. Options are keyword-only with these reserved
    names; every other keyword is a payload field, and ``payload=`` (a mapping) carries any
    key, reserved names included. If the block raises, ``on_exception="skip"`` (the default)
    sends nothing and ``"track"`` sends the event with ``error`` set to the exception's class
    name; the exception propagates either way. Re-entrant and nestable; as a decorator, each
    call gets a fresh event. ``schema=`` (a pydantic model) validates and coerces the payload
    when the block ends, before the API's rules (see :mod:`weespin_instrument.events`).

    Example::

        with weespin.tracked("signup", plan="pro", timing=True) as event:
            event.user_id = create_user(email).id

        @weespin.tracked("nightly_export")
        def export() -> None: ...
    """

    # _payload, _user_id, _link_id: the event's, once made (see _MADE); TrackedEvent's
    # attributes of these names are properties here, which make them when first used.
    __slots__ = (
        "_again", "_fields", "_given", "_link_id", "_name", "_options", "_payload", "_state",
        "_user_id",
    )  # fmt: skip
    _name: str
    _given: Mapping[str, Any] | None
    #: The fields as given: each block's payload starts as a copy.
    _fields: dict[str, Any]
    _options: _Options
    _state: int
    #: The fresh copies open in later blocks, innermost last (set while ``_state`` says so).
    _again: list[tracked]
    _payload: dict[str, Any]
    _user_id: str | int | None
    _link_id: str | None

    if TYPE_CHECKING:

        def __init__(
            self,
            name: str,
            /,
            payload: Mapping[str, Any] | None = None,
            *,
            user_id: str | int | None = None,
            link_id: str | None = None,
            timing: bool = False,
            on_exception: OnException = "skip",
            client: Client | None = None,
            schema: type[BaseModel] | None = None,
            **fields: Any,
        ) -> None: ...

    else:

        def __init__(self, name, payload=_NO_PAYLOAD, /, **fields):
            # Options and payload= come in with the fields and are taken out when there are
            # any: declared as parameters, they would cost every block (CPython compares each
            # field's name with each named parameter's, twice, before it lands in **fields).
            self.name = self._name = name
            self._given = payload
            self._fields = fields
            if _NOT_FIELDS.isdisjoint(fields):
                self._options = _DEFAULTS
                self._state = _FRESH if payload is _NO_PAYLOAD else _FULL
            else:
                self._options = self._take(fields)
                self._state = _FULL

        __signature__ = _Signature()

        # To a type checker, TrackedEvent's attributes.
        payload = _made_when_used("payload")
        user_id = _made_when_used("user_id")
        link_id = _made_when_used("link_id")

    def _take(self, fields: dict[str, Any]) -> _Options:
        """Take ``payload=`` and the options out of ``fields``, checking them."""
        if "payload" in fields:
            if self._given is not _NO_PAYLOAD:
                raise TypeError("tracked.__init__() got multiple values for argument 'payload'")
            self._given = fields.pop("payload")
        return _Options.take(self._name, fields)

    def set(self, **fields: Any) -> TrackedEvent:
        """Add or replace payload fields; returns the event, so calls chain."""
        if not self._state & _MADE:
            self._make_once()
        self._payload.update(fields)
        return self

    def discard(self) -> None:
        """Send nothing for this block."""
        if not self._state & _MADE:
            self._make_once()
        self._discarded = True

    @property
    def discarded(self) -> bool:
        """Whether :meth:`discard` was called."""
        return bool(self._state & _MADE) and self._discarded

    def __repr__(self) -> str:
        if not self._state & _ENTERED:
            return f"tracked({self._name!r})"
        return super().__repr__()

    def __enter__(self) -> TrackedEvent:
        state = self._state
        if not state:
            self._state = _OPEN
        elif state & _ENTERED:  # entered before: this block gets a fresh copy
            return self._enter_again()
        else:  # options or a payload mapping (or its event used before the block)
            self._state = state & _FULL | _OPEN  # made again, if at all
            if self._given is not _NO_PAYLOAD:
                self._make()  # the mapping is read when the block starts
            if self._options.timing:
                self._started = perf_counter()
        # The span current when the block started: span events belong on it.
        self._span = current_span() if "opentelemetry.trace" in _modules else None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state == _OPEN and exc is None:
            # The common block: no options, no exception, its event unused, so its fields as
            # given (the pipeline copies them); what track() takes.
            self._state = _ENDED
            client = _facade._default or get_client()
            client._emit_payload(self.name, self._fields, None, self._span)
        elif (
            exc is None
            and self._state in _OPEN_AND_MADE
            and self._options is _DEFAULTS
            and self._user_id is None
            and self._link_id is None
            and not self._discarded
        ):  # the same, its event made (used by the block, or from a payload mapping)
            self._state ^= _ENTERED  # open -> ended
            client = _facade._default or get_client()
            client._emit_payload(self.name, self._payload, None, self._span)
        else:
            self._exit_other(exc_type, exc, tb)

    def _make(self) -> None:
        """Make this block's event from its payload mapping, fields and options."""
        given = self._given
        fields = self._fields
        try:
            self._payload = {**given, **fields} if given else {**fields}
        except Exception:
            # A mapping that cannot be read: the pipeline reads it again at the end, and
            # reports (or, in strict mode, raises) it there, the way it reports any payload.
            self._payload = {"payload": given, **fields}
        options = self._options
        self._user_id = options.user_id
        self._link_id = options.link_id
        self._discarded = False
        self._state |= _MADE  # last: a thread that sees it finds the event made

    def _make_once(self) -> None:
        """Make this block's event on its first use, however many threads use it first."""
        _making.acquire()  # (a with statement costs twice as much)
        try:
            if not self._state & _MADE:
                self._make()
        finally:
            _making.release()

    def _enter_again(self) -> TrackedEvent:
        """Enter a fresh copy: this instance is open, or its block has ended."""
        again = self._fresh()
        if not self._state & _AGAIN:
            self._again = []
            self._state += _AGAIN
        self._again.append(again)
        return again.__enter__()

    def _exit_other(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Exit the innermost later block (a fresh copy's), or this one the full way."""
        state = self._state
        if state & _AGAIN:
            again = self._again
            block = again.pop()
            if not again:
                self._state = state - _AGAIN
            block.__exit__(exc_type, exc, tb)
            return
        assert state & _ENTERED == _OPEN, "__exit__ without __enter__"
        self._state = state ^ _ENTERED  # open -> ended
        self._send(exc)

    def _send(self, exc: BaseException | None) -> None:
        """Send this block's event, whatever its options and however the block ended."""
        options = self._options
        if exc is not None and not (options.track_errors and isinstance(exc, Exception)):
            return
        if not self._state & _MADE:  # its event unused: its fields and options as given
            payload: Any = self._fields
            user_id, link_id = options.user_id, options.link_id
        elif self._discarded:
            return
        else:
            payload, user_id, link_id = self._payload, self._user_id, self._link_id
        client = options.client or _facade._default or get_client()
        if exc is not None or options.timing:
            try:
                payload = {**payload}
                outcome = RETURNED if exc is None else RAISED
                add_outcome(payload, exc, outcome, self._started if options.timing else None)
            except Exception:
                pass  # the payload is not a mapping any more: the pipeline reports it
        if user_id is None and link_id is None and options.schema is None:
            client._emit_payload(self.name, payload, None, self._span)
        else:
            client._pipeline(
                self.name, payload, user_id, link_id, None, None, self._span, options.schema
            )

    def _fresh(self) -> tracked:
        block = tracked(self._name, self._given, **self._fields)
        if self._options is not _DEFAULTS:  # checked once, when this one was made
            block._options = self._options
            block._state = _FULL
        return block

    def _what(self) -> str:
        return f"tracked({self._name!r})"
