"""Context managers that double as decorators of sync and async functions."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Protocol, TypeVar, cast

__all__ = ["decorate_with"]

F = TypeVar("F", bound=Callable[..., Any])


class _SyncAndAsync(AbstractContextManager[Any], AbstractAsyncContextManager[Any], Protocol):
    pass


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
