"""``tracked()``: one event for a block of code, sync or async, or for each call of a function."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from time import perf_counter
from types import TracebackType
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

_new = object.__new__
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

    def __init__(
        self,
        name: str,
        payload: dict[str, Any],
        user_id: str | int | None,
        link_id: str | None,
    ) -> None:
        self.name = name
        #: The payload so far; a plain dict you may change.
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

    def keywords(self) -> dict[str, Any]:
        """The options as ``tracked()`` takes them."""
        return {key: getattr(self, key) for key in _OPTION_NAMES}


_OPTION_NAMES = ("user_id", "link_id", "timing", "on_exception", "client", "schema")
_RESERVED = frozenset(_OPTION_NAMES)
_DEFAULTS = _Options({}, where=lambda: "tracked()")


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


class tracked(Block[TrackedEvent]):
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

    __slots__ = ("_fields", "_name", "_open", "_options", "_outer", "_payload")
    _name: str
    _payload: Mapping[str, Any] | None
    _fields: dict[str, Any]
    _options: _Options
    #: The event of the innermost open block; the outer ones when one instance is re-entered.
    _open: TrackedEvent | None
    _outer: list[TrackedEvent] | None

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

        def __init__(self, name, /, payload=None, **fields):
            # The options come in with the fields and are taken out when there are any:
            # declared keyword-only, they would cost every block (CPython compares each
            # field's name with each parameter's name, twice, before it lands in **fields).
            self._name = name
            self._payload = payload
            self._fields = fields
            self._options = (
                _DEFAULTS if _RESERVED.isdisjoint(fields) else _Options.take(name, fields)
            )
            self._open = self._outer = None

        __signature__ = _Signature()

    def __enter__(self) -> TrackedEvent:
        payload = self._payload
        try:
            fields = {**payload, **self._fields} if payload else {**self._fields}
        except Exception:
            # A mapping that cannot be read: the pipeline reads it again at the end, and
            # reports (or, in strict mode, raises) it there, the way it reports any payload.
            fields = {"payload": payload, **self._fields}
        options = self._options
        event = _new(TrackedEvent)  # TrackedEvent(...) without its __init__: half the cost
        event.name = self._name
        event.payload = fields
        event.user_id = options.user_id
        event.link_id = options.link_id
        event._discarded = False
        event._started = perf_counter() if options.timing else 0.0
        # The span current when the block started: span events belong on it.
        event._span = current_span() if "opentelemetry.trace" in _modules else None
        if self._open is not None:  # re-entered: the outer block's event waits
            if self._outer is None:
                self._outer = []
            self._outer.append(self._open)
        self._open = event
        return event

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        event = self._open
        assert event is not None, "__exit__ without __enter__"
        self._open = self._outer.pop() if self._outer else None
        options = self._options
        if event._discarded:
            return
        if exc is not None and not (options.track_errors and isinstance(exc, Exception)):
            return
        client = options.client or _facade._default or get_client()
        payload: Any = event.payload
        if exc is not None or options.timing:
            try:
                payload = {**payload}
                outcome = RETURNED if exc is None else RAISED
                add_outcome(payload, exc, outcome, event._started if options.timing else None)
            except Exception:
                pass  # the payload is not a mapping any more: the pipeline reports it
        if event.user_id is None and event.link_id is None and options.schema is None:
            client._emit_payload(event.name, payload, None, event._span)  # what track() takes
        else:
            client._pipeline(
                event.name, payload, event.user_id, event.link_id, None, None, event._span,
                options.schema,
            )  # fmt: skip

    def _fresh(self) -> tracked:
        return tracked(self._name, self._payload, **self._options.keywords(), **self._fields)

    def _what(self) -> str:
        return f"tracked({self._name!r})"
