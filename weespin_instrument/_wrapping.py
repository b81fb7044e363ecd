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


def exact_signature_source(func: Callable[..., Any], reserved: frozenset[str]) -> tuple[str, str]:
    """``(parameters, call)`` source for a wrapper with ``func``'s exact parameters.

    ``parameters`` declares them (each default as ``None``: the caller sets the wrapper's
    ``__defaults__`` and ``__kwdefaults__`` to ``func``'s); ``call`` passes them on, positional
    ones by position. Raises ``ValueError`` when ``func`` is not a plain function whose code
    states its own parameters (a ``__wrapped__`` or ``__signature__`` says otherwise), or when
    a parameter is named like one of ``reserved`` (the wrapper's own names).

    Example::

        exact_signature_source(lambda a, /, b=1, *c, d, **e: None, frozenset())
        # ('a, /, b=None, *c, d, **e', 'a, b, *c, d=d, **e')
    """
    import inspect

    if not inspect.isfunction(func) or hasattr(func, "__wrapped__"):
        raise ValueError("not a plain function")
    if "__signature__" in getattr(func, "__dict__", {}):
        raise ValueError("a __signature__ of its own")
    code = func.__code__
    positional = code.co_argcount
    keyword_only = code.co_kwonlyargcount
    names = code.co_varnames[: positional + keyword_only]
    var_positional = var_keyword = None
    index = positional + keyword_only
    if code.co_flags & inspect.CO_VARARGS:
        var_positional, index = code.co_varnames[index], index + 1
    if code.co_flags & inspect.CO_VARKEYWORDS:
        var_keyword = code.co_varnames[index]
    every = {*names, var_positional, var_keyword} - {None}
    if every & reserved or any(not str(n).isidentifier() for n in every):
        raise ValueError("a parameter is named like the wrapper's own")
    defaults = len(func.__defaults__ or ())
    kwdefaults = func.__kwdefaults__ or {}
    declared: list[str] = []
    passed: list[str] = []
    for i, name in enumerate(names[:positional]):
        declared.append(f"{name}=None" if i >= positional - defaults else name)
        passed.append(name)
        if i + 1 == code.co_posonlyargcount:
            declared.append("/")
    if var_positional:
        declared.append(f"*{var_positional}")
        passed.append(f"*{var_positional}")
    elif keyword_only:
        declared.append("*")
    for name in names[positional:]:
        declared.append(f"{name}=None" if name in kwdefaults else name)
        passed.append(f"{name}={name}")
    if var_keyword:
        declared.append(f"**{var_keyword}")
        passed.append(f"**{var_keyword}")
    return ", ".join(declared), ", ".join(passed)
