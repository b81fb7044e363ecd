"""The recipe of an event: what a source turns into one, checked once when it is declared.

Every source of events (a ``@track_event`` call, a ``tracked()`` block, a span an
OpenTelemetry rule matches) is described the same way: an event name, a static
``payload``, ``payload_from`` in one of its four forms (a path, paths, ``{payload_key:
path}``, or a callable), identity getters (``user_id_from`` / ``link_id_from``), ``when``, and
how the outcome shows in the payload (``on_exception``, ``error``, ``duration_ms``). This
module owns those options: their checks, their error messages and the outcome fields.

How a path reads its value is the source's business: each source hands over its own path
compiler (function arguments and the return value in :mod:`._extract`, span paths in
:mod:`.otel._paths`, where ``attributes.order.total`` reads the one key ``order.total``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from time import perf_counter
from typing import Any, Generic, Literal, TypeVar

__all__ = [
    "CLOSED",
    "RAISED",
    "RETURNED",
    "Field",
    "OnException",
    "PathCompiler",
    "Recipe",
    "add_outcome",
    "check_on_exception",
    "compile_payload_from",
]

#: What ``on_exception=`` takes: ``"skip"`` sends nothing for a call or block that raised,
#: ``"track"`` sends its event with ``error`` set to the exception's class name.
OnException = Literal["skip", "track"]

#: How a call or a block ended: it returned, it raised, or (a generator) it was closed early.
RETURNED, RAISED, CLOSED = "returned", "raised", "closed"

G = TypeVar("G")
S = TypeVar("S")


class Field(Generic[G]):
    """One path, checked and compiled: the payload key it gives by default and its getter.

    ``reads_result``: the path reads a call's return value (``"return.id"``).

    Example::

        Field("total", "order.total", getter)
    """

    __slots__ = ("get", "key", "path", "reads_result")

    def __init__(self, key: str, path: str, get: G, reads_result: bool = False) -> None:
        self.key = key
        self.path = path
        self.get = get
        self.reads_result = reads_result

    def __repr__(self) -> str:
        return f"Field({self.key!r}, {self.path!r})"

    def named(self, key: str) -> Field[G]:
        """The same path, giving the payload key ``key``."""
        return Field(key, self.path, self.get, self.reads_result)


#: A source's path compiler: checks one path (raising ``TypeError`` that names the source,
#: the path and what is valid) and compiles it into a :class:`Field`.
PathCompiler = Callable[[object], Field[G]]


def check_on_exception(on_exception: object, where: str | Callable[[], str]) -> bool:
    """Whether ``on_exception`` says to track a call or block that raised.

    ``where`` names the source in the error; a callable is called only then.

    Example::

        check_on_exception("track", "tracked('signup')")  # True
    """
    if on_exception == "skip" or on_exception == "track":
        return on_exception == "track"
    where = where() if callable(where) else where
    raise TypeError(f"{where}: on_exception must be 'skip' or 'track', not {on_exception!r}.")


def add_outcome(
    payload: dict[str, Any], error: BaseException | None, outcome: str, started: float | None
) -> None:
    """Add the fields saying how a call or block ended to ``payload`` (changed in place).

    ``error`` (the exception's class name) when it raised, ``outcome="closed"`` for a generator
    closed before it was exhausted, ``duration_ms`` when ``started`` (a ``perf_counter()``
    reading) is given.

    Example::

        add_outcome(payload, ValueError("x"), RAISED, None)  # payload["error"] == "ValueError"
    """
    if error is not None:
        payload["error"] = type(error).__name__
    elif outcome == CLOSED:
        payload["outcome"] = CLOSED
    if started is not None:
        payload["duration_ms"] = (perf_counter() - started) * 1000.0


def compile_payload_from(
    payload_from: object, compile_path: PathCompiler[G], *, where: str
) -> tuple[Field[G], ...]:
    """Compile the declarative forms of ``payload_from``: a path, paths, ``{key: path}``.

    A lone path or a list takes each field's key from the path compiler; two paths giving the
    same key raise ``TypeError`` suggesting the mapping form. (The callable form is the
    recipe's: :class:`Recipe` keeps it apart.)

    Example::

        compile_payload_from(["order.total", "user.id"], compile_path, where="@track_event(...)")
    """
    if payload_from is None:
        return ()
    if isinstance(payload_from, Mapping):
        fields = []
        for key, path in payload_from.items():
            if not isinstance(key, str) or not key:
                raise TypeError(
                    f"{where}: payload_from keys must be non-empty strings, got {key!r}."
                )
            fields.append(compile_path(path).named(key))
        return tuple(fields)
    if isinstance(payload_from, str):
        return (compile_path(payload_from),)
    if not isinstance(payload_from, Iterable):
        raise TypeError(
            f"{where}: payload_from must be a path, a list of paths, a mapping "
            f"{{payload_key: path}} or a callable, got {type(payload_from).__name__}."
        )
    seen: dict[str, str] = {}
    fields = []
    for path in payload_from:
        field = compile_path(path)
        if field.key in seen:
            first, key = seen[field.key], field.key
            raise TypeError(
                f"{where}: paths {first!r} and {field.path!r} both give the payload key "
                f"{key!r}. Name the keys with a mapping: "
                f"payload_from={{'{key}': {first!r}, 'other_{key}': {field.path!r}}}."
            )
        seen[field.key] = field.path
        fields.append(field)
    return tuple(fields)


class Recipe(Generic[G, S]):
    """What one source's events are made of, checked when the source is declared.

    ``G`` is the type of the source's getters, ``S`` what ``when`` and a ``payload_from``
    callable receive (a :class:`~weespin_instrument.Call`, a span). Mistakes raise
    ``TypeError`` naming ``where`` (the decorator and function, or the rule).

    Example::

        recipe = Recipe("purchase", "@track_event('purchase') on checkout", compile_path,
                        payload_from={"amount": "order.total"}, user_id_from="user.id")
        recipe.fields[0].key  # 'amount'
    """

    __slots__ = (
        "fields",
        "link",
        "name",
        "payload_fn",
        "static",
        "timing",
        "track_errors",
        "user",
        "when",
    )

    def __init__(
        self,
        name: str,
        where: str,
        compile_path: PathCompiler[G],
        *,
        payload_from: object = None,
        payload: Mapping[str, Any] | None = None,
        user_id_from: str | None = None,
        link_id_from: str | None = None,
        when: Callable[[S], bool] | None = None,
        on_exception: OnException = "skip",
        timing: bool = False,
        name_option: str = "the event name",
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            detail = "" if name_option == "the event name" else " (the Weespin event name)"
            raise TypeError(f"{where}: {name_option} must be a non-empty string{detail}.")
        self.track_errors = check_on_exception(on_exception, where)
        if payload is not None and not isinstance(payload, Mapping):
            raise TypeError(f"{where}: payload= must be a mapping of static fields.")
        if when is not None and not callable(when):
            raise TypeError(f"{where}: when= must be a callable returning a bool.")
        self.name = name
        #: The static fields, copied: every event starts from them.
        self.static: dict[str, Any] = dict(payload or {})
        self.payload_fn: Callable[[S], Mapping[str, Any]] | None = None
        self.fields: tuple[Field[G], ...] = ()
        if callable(payload_from) and not isinstance(payload_from, str):
            self.payload_fn = payload_from
        else:
            self.fields = compile_payload_from(payload_from, compile_path, where=where)
        self.user = None if user_id_from is None else compile_path(user_id_from)
        self.link = None if link_id_from is None else compile_path(link_id_from)
        self.when = when
        self.timing = timing
