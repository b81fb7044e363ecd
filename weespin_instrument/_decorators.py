"""``@track_event``: one event per completed call, its payload pulled from arguments and result."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any, Protocol, SupportsIndex, TypeVar, cast

from . import _facade
from ._call_recipe import CallRecipe
from ._enrich import current_span
from ._extract import Call
from ._facade import get_client
from ._generated import generated_wrapper
from ._recipe import CLOSED, RAISED, RETURNED, OnException

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ._client import Client
    from ._extract import PayloadFrom

__all__ = ["EventDecorator", "OnException", "track_event"]

F = TypeVar("F")


class EventDecorator(Protocol):
    """What ``track_event(...)`` returns: a decorator that keeps the exact type it is given.

    Example::

        decorate: EventDecorator = weespin.track_event("purchase", payload_from="order.total")
        checkout = decorate(checkout)  # same signature, for mypy and pyright too
    """

    def __call__(self, func: F, /) -> F: ...


@functools.cache
def _event_function() -> type:
    """The decorated method, descriptor or callable object: a transparent wrapt proxy that
    pickles by reference. wrapt (which loads asyncio) is imported only when one is decorated.
    """
    import wrapt

    class _EventFunction(wrapt.FunctionWrapper[..., Any]):
        def __reduce_ex__(self, protocol: SupportsIndex) -> str:
            return str(self.__qualname__)

    return _EventFunction


def _callable_kind(func: Any) -> Any:
    target = func.__func__ if isinstance(func, (classmethod, staticmethod)) else func
    if inspect.isfunction(target) or inspect.ismethod(target):
        return target
    call = getattr(type(target), "__call__", None)  # noqa: B004 - a callable object's method
    return call if call is not None else target


class _Finishing:
    """Tracks a wrapped call's event when its ``with`` block ends; the block's exception passes.

    Returned: the event of ``result``. Raised an ``Exception``: its event when the recipe
    tracks errors. A generator closed early (``closes=True``): its ``closed`` event. The
    other exceptions (``KeyboardInterrupt``...) track nothing.
    """

    __slots__ = ("closes", "emit", "result", "span", "started", "track_errors")

    def __init__(
        self,
        recipe: CallRecipe,
        client: Client,
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        closes: bool = False,
    ) -> None:
        self.emit = functools.partial(recipe.emit, client, instance, args, kwargs)
        self.track_errors = recipe.track_errors
        self.closes = closes
        #: What the block returned (set by the block).
        self.result: Any = None
        self.span = current_span()
        self.started = perf_counter() if recipe.timing else 0.0

    def __enter__(self) -> _Finishing:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> None:
        if kind is None:
            outcome = RETURNED
        elif self.closes and issubclass(kind, GeneratorExit):
            outcome, error = CLOSED, None
        elif issubclass(kind, Exception) and self.track_errors:
            outcome = RAISED
        else:
            return
        self.emit(self.result, error, self.started, outcome, self.span)


def _sync_wrapper(recipe: CallRecipe) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        client = recipe.client or _facade._default or get_client()
        if client.settings.disabled:
            return wrapped(*args, **kwargs)
        with _Finishing(recipe, client, instance, args, kwargs) as call:
            call.result = wrapped(*args, **kwargs)
        return call.result

    return wrapper


def _async_wrapper(recipe: CallRecipe) -> Callable[..., Any]:
    async def wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        client = recipe.client or _facade._default or get_client()
        if client.settings.disabled:
            return await wrapped(*args, **kwargs)
        with _Finishing(recipe, client, instance, args, kwargs) as call:
            call.result = await wrapped(*args, **kwargs)
        return call.result

    return wrapper


def _driving(recipe: CallRecipe, run: Callable[..., Any]) -> Callable[..., Any]:
    """The wrapper of a generator function: ``run`` drives the generator each call returns."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        client = recipe.client or _facade._default or get_client()
        if client.settings.disabled:
            return wrapped(*args, **kwargs)
        return run(client, wrapped(*args, **kwargs), instance, args, kwargs)

    return wrapper


def _generator_wrapper(recipe: CallRecipe) -> Callable[..., Any]:
    def run(
        client: Client,
        generator: Generator[Any, Any, Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Generator[Any, Any, Any]:
        with _Finishing(recipe, client, instance, args, kwargs, closes=True) as call:
            call.result = yield from generator
        return call.result

    return _driving(recipe, run)


def _async_generator_wrapper(recipe: CallRecipe) -> Callable[..., Any]:
    async def run(
        client: Client,
        agen: AsyncGenerator[Any, Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> AsyncGenerator[Any, Any]:
        with _Finishing(recipe, client, instance, args, kwargs, closes=True):
            try:
                value = await agen.__anext__()
            except StopAsyncIteration:
                return
            while True:
                try:
                    sent = yield value
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as thrown:
                    try:
                        value = await agen.athrow(thrown)
                    except StopAsyncIteration:
                        return
                else:
                    try:
                        value = await agen.asend(sent)
                    except StopAsyncIteration:
                        return

    return _driving(recipe, run)


def track_event(
    name: str,
    payload_from: PayloadFrom | None = None,
    *,
    payload: Mapping[str, Any] | None = None,
    user_id_from: str | None = None,
    link_id_from: str | None = None,
    when: Callable[[Call], bool] | None = None,
    timing: bool = False,
    on_exception: OnException = "skip",
    client: Client | None = None,
    schema: type[BaseModel] | None = None,
) -> EventDecorator:
    """Track an event each time the decorated callable completes.

    Works on functions, coroutine functions, generator and async generator functions,
    methods, classmethods and staticmethods (put ``@track_event`` outside), and callable
    objects. The decorated callable keeps its name, signature, docstring and kind, and its
    return values and exceptions pass through untouched.

    ``payload_from``: a path (``"sku"``), paths (``["sku", "quantity"]``; the key is the last
    segment), a mapping ``{payload_key: path}``, or a callable taking a :class:`Call` and
    returning a mapping. A path starts at a parameter name or ``return`` and goes on through
    attributes (or keys, for mappings). Unknown roots raise ``TypeError`` right here.

    ``payload``: static fields. ``user_id_from`` / ``link_id_from``: paths. ``when``: a
    predicate on the :class:`Call`. ``timing=True`` adds ``duration_ms``.
    ``on_exception="track"`` also sends the event of a call that raised, with ``error`` set to
    the exception's class name (``"skip"``, the default, sends nothing then). A generator
    closed before it is exhausted sends its event once, with ``outcome="closed"`` and without
    the fields that needed its return value. ``schema``: a pydantic model the payload is
    validated and coerced through before the API's rules (see :mod:`weespin_instrument.events`);
    a model that is not one raises ``TypeError`` here.

    Example::

        @weespin.track_event(
            "purchase",
            payload_from={"amount": "order.total", "order_id": "return.id"},
            user_id_from="user.id",
        )
        def checkout(order: Order, user: User) -> Receipt: ...
    """

    def decorate(func: F) -> F:
        if not callable(func) and not isinstance(func, (classmethod, staticmethod)):
            raise TypeError(f"@track_event({name!r}) needs a callable, got {type(func).__name__}.")
        kind = _callable_kind(func)
        is_async_generator = inspect.isasyncgenfunction(kind)
        recipe = CallRecipe(
            func,
            name,
            client=client,
            allow_return=not is_async_generator,
            schema=schema,
            payload_from=payload_from,
            payload=payload,
            user_id_from=user_id_from,
            link_id_from=link_id_from,
            when=when,
            timing=timing,
            on_exception=on_exception,
        )
        if is_async_generator:
            wrapper = _async_generator_wrapper(recipe)
        elif inspect.isgeneratorfunction(kind):
            wrapper = _generator_wrapper(recipe)
        elif inspect.iscoroutinefunction(kind):
            wrapper = _async_wrapper(recipe)
        else:
            generated = generated_wrapper(func, recipe)
            if generated is not None:
                return cast(F, generated)
            wrapper = _sync_wrapper(recipe)
        return cast(F, _event_function()(cast(Callable[..., Any], func), wrapper))

    return decorate
