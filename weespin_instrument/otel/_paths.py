"""Paths over finished spans and span events, compiled once when a rule is built.

A span path starts at ``attributes``, ``resource``, ``status``, ``name`` or ``duration_ms``.
After ``attributes.`` / ``resource.`` the rest of the path is ONE attribute key, dots
included: ``attributes.order.total`` reads the key ``order.total`` (OpenTelemetry keys are
dotted names, never nested objects). ``status`` is the status code's name (``"OK"``,
``"ERROR"``, ``"UNSET"``), ``status.description`` its description, ``duration_ms`` is
``(end - start) / 1e6``.

A span event path starts at ``attributes`` (the span event's), ``name`` (the span event's),
``resource`` (its span's) or ``span.`` followed by a span path (the enclosing span's:
``span.attributes.http.route``, ``span.status``, ``span.duration_ms``).

A value missing at run time is :data:`MISSING`: the rule leaves that key out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._recipe import Field

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = [
    "MISSING",
    "CompiledPath",
    "MatchedSpanEvent",
    "compile_event_path",
    "compile_span_path",
]

S = TypeVar("S")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: What a getter returns when the span has no such value.
MISSING: Any = _Missing()

_SPAN_ROOTS = "'attributes.<key>', 'resource.<key>', 'status', 'status.description', 'name', "
_SPAN_ROOTS += "'duration_ms'"
_EVENT_ROOTS = (
    "'attributes.<key>' (the span event's), 'name', 'resource.<key>', and 'span.' followed by "
    f"a span path ({_SPAN_ROOTS})"
)


@dataclasses.dataclass(frozen=True)
class MatchedSpanEvent:
    """A span event someone else recorded, with its span: what ``SpanEventRule`` reads.

    ``when=`` and ``payload_from=`` callables of a :class:`SpanEventRule` receive it.

    Example::

        SpanEventRule("exception", event="app_error",
                      when=lambda match: match.span.name.startswith("POST "))
    """

    #: The span event's name.
    name: str
    #: The span event's attributes.
    attributes: Mapping[str, Any]
    #: The span event's time, in nanoseconds since the epoch.
    timestamp: int
    #: The finished span the event belongs to.
    span: ReadableSpan


#: One span (or span event) path, checked, with its getter and the payload key it gives.
CompiledPath = Field[Callable[[S], Any]]


def _lookup(attributes: Mapping[str, Any] | None, key: str) -> Any:
    if attributes is None:
        return MISSING
    return attributes.get(key, MISSING)


def _duration_ms(span: ReadableSpan) -> Any:
    start, end = span.start_time, span.end_time
    if start is None or end is None:
        return MISSING
    return (end - start) / 1e6


def _description(span: ReadableSpan) -> Any:
    description = span.status.description
    return MISSING if description is None else description


def _span_attribute(key: str) -> Callable[[ReadableSpan], Any]:
    def get(span: ReadableSpan) -> Any:
        return _lookup(span.attributes, key)

    return get


def _resource_attribute(key: str) -> Callable[[ReadableSpan], Any]:
    def get(span: ReadableSpan) -> Any:
        return _lookup(span.resource.attributes, key)

    return get


def _split(path: object, *, where: str, roots: str) -> tuple[str, str]:
    if not isinstance(path, str) or not path or path.startswith(".") or path.endswith("."):
        raise TypeError(
            f"{where}: {path!r} is not a span path. Start it at one of {roots}, "
            "e.g. 'attributes.order.total'."
        )
    root, _, rest = path.partition(".")
    return root, rest


def _bad(where: str, path: str, why: str, roots: str) -> TypeError:
    return TypeError(f"{where}: path {path!r} {why}. Valid roots: {roots}.")


def compile_span_path(
    path: object, *, where: str, shown: str | None = None
) -> CompiledPath[ReadableSpan]:
    """Check ``path`` against the span roots and compile its getter.

    Raises ``TypeError`` naming ``where`` (the rule), the path and the valid roots.

    Example::

        compile_span_path("attributes.order.total", where="SpanRule(...)").get(span)
    """
    root, rest = _split(path, where=where, roots=_SPAN_ROOTS)
    shown = shown or str(path)
    if root in ("attributes", "resource"):
        if not rest:
            raise _bad(where, shown, f"names no key after {root!r}", _SPAN_ROOTS)
        getter = _span_attribute if root == "attributes" else _resource_attribute
        return Field(rest, shown, getter(rest))
    if root == "status" and rest in ("", "description"):
        if rest:
            return Field("description", shown, _description)
        return Field("status", shown, lambda span: span.status.status_code.name)
    if root == "name" and not rest:
        return Field("name", shown, lambda span: span.name)
    if root == "duration_ms" and not rest:
        return Field("duration_ms", shown, _duration_ms)
    if root in ("status", "name", "duration_ms"):
        raise _bad(where, shown, f"goes below {root!r}, which has no such field", _SPAN_ROOTS)
    raise _bad(where, shown, f"starts at {root!r}, which is not a span path root", _SPAN_ROOTS)


def _event_attribute(key: str) -> Callable[[MatchedSpanEvent], Any]:
    def get(match: MatchedSpanEvent) -> Any:
        return _lookup(match.attributes, key)

    return get


def compile_event_path(path: object, *, where: str) -> CompiledPath[MatchedSpanEvent]:
    """Check ``path`` against the span event roots and compile its getter.

    Example::

        compile_event_path("span.attributes.http.route", where="SpanEventRule(...)")
    """
    root, rest = _split(path, where=where, roots=_EVENT_ROOTS)
    shown = str(path)
    if root == "span":
        if not rest:
            raise _bad(where, shown, "needs a span path after 'span.'", _EVENT_ROOTS)
        inner = compile_span_path(rest, where=where, shown=shown)
        span_get = inner.get
        return Field(inner.key, shown, lambda match: span_get(match.span))
    if root == "attributes":
        if not rest:
            raise _bad(where, shown, "names no key after 'attributes'", _EVENT_ROOTS)
        return Field(rest, shown, _event_attribute(rest))
    if root == "resource":
        if not rest:
            raise _bad(where, shown, "names no key after 'resource'", _EVENT_ROOTS)
        resource_get = _resource_attribute(rest)
        return Field(rest, shown, lambda match: resource_get(match.span))
    if root == "name":
        if rest:
            raise _bad(where, shown, "goes below 'name', which has no such field", _EVENT_ROOTS)
        return Field("name", shown, lambda match: match.name)
    if root in ("status", "duration_ms"):
        raise _bad(
            where,
            shown,
            f"starts at {root!r}: a span event has none; write 'span.{root}'",
            _EVENT_ROOTS,
        )
    raise _bad(
        where, shown, f"starts at {root!r}, which is not a span event path root", _EVENT_ROOTS
    )
