"""Extract: paths compiled once into getters over a call's arguments and result.

A path is a root (a parameter name, or ``return``) followed by attribute names or mapping
keys: ``"order.total"``, ``"return.id"``. Compiling checks every root against the
signature, so a typo fails when the decorator is applied, and leaves the per-call work to
a few tuple indexings and ``getattr`` calls (no ``inspect.Signature.bind`` per call).
The forms of ``payload_from`` around the paths are the recipe's (:mod:`._recipe`).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._recipe import Field

__all__ = [
    "Call",
    "Getter",
    "PathError",
    "PayloadFrom",
    "Signature",
    "compile_field",
    "compile_path",
]

#: A getter reads one value from (positional args, keyword args, result).
Getter = Callable[[tuple[Any, ...], Mapping[str, Any], Any], Any]

RETURN = "return"
_NO_DEFAULT = inspect.Parameter.empty


@dataclasses.dataclass(frozen=True)
class Call:
    """One completed call, as ``payload_from=callable`` and ``when=`` see it.

    Example::

        @track_event("purchase", payload_from=lambda call: {"n": len(call.args["items"])})
        def checkout(items: list[str]) -> None: ...
    """

    #: The bound arguments by name (defaults filled in).
    args: Mapping[str, Any]
    #: The return value (the awaited value for a coroutine, the returned value of a
    #: generator); ``None`` when the call raised or a generator was closed early.
    result: Any = None
    #: The exception the call raised, if any.
    exception: BaseException | None = None


PayloadFrom = str | Iterable[str] | Mapping[str, str] | Callable[[Call], Mapping[str, Any]]


class PathError(LookupError):
    """A path could not be followed at run time (missing attribute or key, ``None``)."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"path {path!r}: {detail}")
        self.path = path
        self.detail = detail


class Signature:
    """A function's parameters, read once, with a getter per parameter name.

    Example::

        sig = Signature.of(checkout)
        sig.getter("order")((order, user), {}, None) is order
    """

    def __init__(self, parameters: Iterable[inspect.Parameter]) -> None:
        self.parameters = list(parameters)
        self.names = [p.name for p in self.parameters]
        self._named = frozenset(
            p.name for p in self.parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )

    @classmethod
    def of(cls, func: Callable[..., Any]) -> Signature:
        """The signature of ``func``; for methods, ``self``/``cls`` included."""
        target = func.__func__ if isinstance(func, (classmethod, staticmethod)) else func
        signature = inspect.signature(target, follow_wrapped=True)
        return cls(signature.parameters.values())

    def describe(self) -> str:
        """``order, user, *items, **options`` for error messages."""
        parts = []
        for p in self.parameters:
            prefix = "*" if p.kind == p.VAR_POSITIONAL else "**" if p.kind == p.VAR_KEYWORD else ""
            parts.append(prefix + p.name)
        return ", ".join(parts)

    def getter(self, name: str) -> Getter:
        """A getter for parameter ``name`` over a call's full positional args and kwargs."""
        for index, p in enumerate(self.parameters):
            if p.name != name:
                continue
            default = None if p.default is _NO_DEFAULT else p.default
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                return _positional_getter(index, name, default, p.kind == p.POSITIONAL_ONLY)
            if p.kind == p.KEYWORD_ONLY:
                return lambda args, kwargs, result: kwargs.get(name, default)
            if p.kind == p.VAR_POSITIONAL:
                return lambda args, kwargs, result: args[index:]
            named = self._named
            return lambda args, kwargs, result: {k: v for k, v in kwargs.items() if k not in named}
        raise KeyError(name)

    def positional_index(self, name: str) -> tuple[int, Any] | None:
        """``(index, default)`` of a positional-or-keyword parameter, else ``None``."""
        for index, p in enumerate(self.parameters):
            if p.name == name and p.kind == p.POSITIONAL_OR_KEYWORD:
                return index, None if p.default is _NO_DEFAULT else p.default
        return None

    def binder(self) -> Callable[[tuple[Any, ...], Mapping[str, Any]], dict[str, Any]]:
        """A function binding (args, kwargs) to a dict by parameter name, defaults applied."""
        getters = [(name, self.getter(name)) for name in self.names]

        def bind(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
            return {name: get(args, kwargs, None) for name, get in getters}

        return bind


def _positional_getter(index: int, name: str, default: Any, positional_only: bool) -> Getter:
    if positional_only:
        return lambda args, kwargs, result: args[index] if len(args) > index else default

    def get(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any) -> Any:
        if len(args) > index:
            return args[index]
        return kwargs.get(name, default)

    return get


_MAPPING_TYPES: dict[type, bool] = {dict: True}


def _step(path: str, value: Any, segment: str) -> Any:
    """One segment of a path: an attribute, or a key when ``value`` is a mapping."""
    kind = type(value)
    is_mapping = _MAPPING_TYPES.get(kind)
    if is_mapping is None:  # once per type: isinstance against an ABC is slow
        is_mapping = _MAPPING_TYPES[kind] = isinstance(value, Mapping)
    if not is_mapping:
        try:
            return getattr(value, segment)
        except AttributeError:
            detail = (
                f"None before {segment!r}"
                if value is None
                else f"{kind.__name__} object has no attribute {segment!r}"
            )
            raise PathError(path, detail) from None
    try:
        return value[segment]
    except KeyError:
        raise PathError(path, f"no key {segment!r}") from None


def _follow(path: str, root: Getter, segments: tuple[str, ...]) -> Getter:
    if not segments:
        return root
    if len(segments) == 1:
        (segment,) = segments

        def get_one(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any) -> Any:
            return _step(path, root(args, kwargs, result), segment)

        return get_one

    def get(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any) -> Any:
        value = root(args, kwargs, result)
        for segment in segments:
            value = _step(path, value, segment)
        return value

    return get


def split_path(path: object, *, where: str) -> tuple[str, tuple[str, ...]]:
    """``"order.total"`` -> ``("order", ("total",))``; refuses empty segments."""
    if not isinstance(path, str) or not path or any(not s for s in path.split(".")):
        raise TypeError(
            f"{where}: {path!r} is not a path. Write a parameter name, optionally followed by "
            "attribute names or keys, separated by dots (e.g. 'order.total' or 'return.id')."
        )
    root, *rest = path.split(".")
    return root, tuple(rest)


def compile_path(
    path: object, signature: Signature, *, where: str, allow_return: bool = True
) -> tuple[Getter, bool]:
    """A getter for ``path`` and whether it reads the return value.

    Raises ``TypeError`` naming ``where`` (decorator and function), the path and the
    parameters that exist when the root is unknown.
    """
    root, segments = split_path(path, where=where)
    if root == RETURN and allow_return:
        return _follow(str(path), lambda args, kwargs, result: result, segments), True
    if root not in signature.names:
        roots = signature.describe() or "no parameters"
        also = "; or 'return' for the return value" if allow_return else ""
        raise TypeError(
            f"{where}: path {path!r} starts at {root!r}, which is not a parameter. "
            f"Parameters: {roots}{also}."
        )
    positional = signature.positional_index(root)
    if positional is not None and len(segments) == 1:
        index, default = positional
        return _attribute_of_positional(str(path), index, root, default, segments[0]), False
    return _follow(str(path), signature.getter(root), segments), False


def _attribute_of_positional(
    path: str, index: int, name: str, default: Any, segment: str
) -> Getter:
    # The most common path, "order.total", in one closure: no call to a root getter.
    def get(args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any) -> Any:
        value = args[index] if len(args) > index else kwargs.get(name, default)
        if _MAPPING_TYPES.get(type(value)) is False:  # a type seen before, not a mapping
            try:
                return getattr(value, segment)
            except AttributeError:
                pass  # _step says why
        return _step(path, value, segment)

    return get


def compile_field(
    path: object, signature: Signature, *, where: str, allow_return: bool = True
) -> Field[Getter]:
    """``path`` compiled as a payload field: its key is the path's last segment.

    Example::

        compile_field("order.total", Signature.of(checkout), where="...").key  # 'total'
    """
    get, reads_result = compile_path(path, signature, where=where, allow_return=allow_return)
    return Field(str(path).rsplit(".", 1)[-1], str(path), get, reads_result)
