"""``tracked()``: one event for a block of code, sync or async, or for each call of a function."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from . import _facade
from ._enrich import current_span
from ._facade import get_client
from ._wrapping import decorate_with

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ._client import Client
    from ._decorators import OnException

__all__ = ["TrackedEvent", "tracked"]

F = TypeVar("F", bound=Callable[..., Any])


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


class tracked:
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

    __slots__ = (
        "_client",
        "_fields",
        "_link_id",
        "_name",
        "_on_exception",
        "_payload",
        "_schema",
        "_stack",
        "_timing",
        "_user_id",
    )

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
    ) -> None:
        if on_exception not in ("skip", "track"):
            raise TypeError(
                f"tracked({name!r}): on_exception must be 'skip' or 'track', not {on_exception!r}."
            )
        if schema is not None:
            from .events import check_schema

            check_schema(schema, where=f"tracked({name!r})")
        self._schema = schema
        self._name = name
        self._payload = payload
        self._fields = fields
        self._user_id = user_id
        self._link_id = link_id
        self._timing = timing
        self._on_exception = on_exception
        self._client = client
        self._stack: list[TrackedEvent] = []

    def __enter__(self) -> TrackedEvent:
        try:
            fields = {**self._payload, **self._fields} if self._payload else dict(self._fields)
        except Exception:
            # A mapping that cannot be read: the pipeline reads it again at the end, and
            # reports (or, in strict mode, raises) it there, the way it reports any payload.
            fields = {"payload": self._payload, **self._fields}
        event = TrackedEvent(self._name, fields, self._user_id, self._link_id)
        self._stack.append(event)
        return event

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        event = self._stack.pop()
        if event.discarded or (exc is not None and not isinstance(exc, Exception)):
            return
        if exc is not None and self._on_exception != "track":
            return
        client = self._client or _facade._default or get_client()
        payload: Any = event.payload
        try:
            if exc is not None:
                payload = {**payload, "error": type(exc).__name__}
            if self._timing:
                payload = {**payload, "duration_ms": (perf_counter() - event._started) * 1000.0}
        except Exception:
            pass  # the payload is not a mapping any more: emit() reports it
        client._pipeline(
            event.name, payload, event.user_id, event.link_id, None, None, event._span, self._schema
        )

    async def __aenter__(self) -> TrackedEvent:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _fresh(self) -> tracked:
        return tracked(
            self._name,
            self._payload,
            user_id=self._user_id,
            link_id=self._link_id,
            timing=self._timing,
            on_exception=self._on_exception,
            client=self._client,
            schema=self._schema,
            **self._fields,
        )

    def __call__(self, func: F) -> F:
        return decorate_with(func, self._fresh, what=f"tracked({self._name!r})")
