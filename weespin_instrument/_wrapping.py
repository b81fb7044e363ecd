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


def decorate_with(func: F, fresh: Callable[[], _SyncAndAsync]) -> F:
    """Run each call of ``func`` inside a context manager made anew by ``fresh()``.

    Coroutine functions get ``async with``, so the context spans the awaited call.

    Example::

        def __call__(self, func: F) -> F:
            return decorate_with(func, lambda: identify(**self._fields))
    """
    import inspect  # here, not at import: inspect is heavy and only decorators need it

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
