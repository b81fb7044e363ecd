"""Context managers that double as decorators of sync and async functions."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

__all__ = ["Block", "decorate_with"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class _SyncAndAsync(AbstractContextManager[Any], AbstractAsyncContextManager[Any], Protocol):
    pass


class Block(Generic[T]):
    """A block for ``with`` and ``async with`` that is also a decorator of sync and async
    functions, running each call in a fresh block: what ``identify()``, ``tracked()`` and
    ``flushing()`` are.

    A subclass writes ``__enter__`` (returning what ``as`` binds), ``__exit__``, ``_fresh()``
    (a new block with the same options, for one call) and ``_what()`` (how the decorator is
    named in errors). ``async with`` runs the same two methods; ``_exit_in_thread = True`` runs
    ``__exit__`` in a thread instead, for an exit that waits (a flush must not block the loop).

    Example::

        class quiet(Block[None]):
            def __enter__(self) -> None: ...
            def __exit__(self, *exc_info: object) -> None: ...
            def _fresh(self) -> quiet: return quiet()
            def _what(self) -> str: return "quiet()"
    """

    __slots__ = ()
    _exit_in_thread: ClassVar[bool] = False

    def __enter__(self) -> T:
        raise NotImplementedError

    def __exit__(self, exc_type: Any, exc: Any, tb: Any, /) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> T:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._exit_in_thread:
            import asyncio  # here, not at import: only async code gets here

            await asyncio.to_thread(self.__exit__, *exc_info)
        else:
            self.__exit__(*exc_info)

    def _fresh(self) -> Block[T]:
        raise NotImplementedError

    def _what(self) -> str:
        raise NotImplementedError

    def __call__(self, func: F) -> F:
        """Decorate a function or a coroutine function: each call runs in a fresh block."""
        return decorate_with(func, self._fresh, what=self._what())


def decorate_with(func: F, fresh: Callable[[], _SyncAndAsync], *, what: str) -> F:
    """Run each call of ``func`` inside a context manager made anew by ``fresh()``.

    Coroutine functions get ``async with``, so the context spans the awaited call.
    Generator functions are refused (``TypeError``): their body runs after the call has
    returned, outside the context, so the decorator would silently do the wrong thing.
    ``what`` names the decorator in that message.

    Example::

        def __call__(self, func: F) -> F:
            return decorate_with(func, lambda: identify(**self._fields), what="identify()")
    """
    import inspect  # here, not at import: inspect is heavy and only decorators need it

    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        name = getattr(func, "__qualname__", repr(func))
        raise TypeError(
            f"{what} cannot decorate the generator function {name}: its body runs after the "
            "call has returned, outside the block. Use a `with` block inside the generator "
            "instead (or @track_event, which sends its event when the generator is exhausted)."
        )
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            async with fresh():
                return await func(*args, **kwargs)

        return cast(F, async_wrapper)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with fresh():
            return func(*args, **kwargs)

    return cast(F, wrapper)
