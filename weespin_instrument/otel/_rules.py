"""Rules that turn spans and span events someone else created into Weespin events.

Everything is checked when the rule is built (names, paths, option types) by the recipe every
source of events shares (:mod:`weespin_instrument._recipe`), with span paths
(:mod:`._paths`); matching and extraction at span end are a name test and a few dictionary
reads.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from opentelemetry.trace import SpanKind

from .._recipe import Recipe
from ._paths import MISSING, CompiledPath, MatchedSpanEvent, compile_event_path, compile_span_path

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["Derived", "NameMatcher", "SpanEventRule", "SpanRule"]

S = TypeVar("S")

#: How a rule picks names: exact string, glob (``*``, ``?``, ``[...]``) or a predicate.
NameMatcher = str | Callable[[str], bool]
#: ``payload_from`` of a rule: a path, paths, ``{payload_key: path}`` or a callable.
RulePayloadFrom = str | Iterable[str] | Mapping[str, str] | Callable[[Any], Mapping[str, Any]]

_GLOB_CHARACTERS = frozenset("*?[")


@dataclasses.dataclass
class Derived:
    """What a rule extracted from one span or span event."""

    payload: dict[str, Any]
    user_id: Any
    link_id: Any
    #: Paths that found nothing (their keys were left out).
    missing: list[str]


def _name_test(matcher: object, where: str) -> Callable[[str], bool]:
    if isinstance(matcher, str) and matcher:
        if _GLOB_CHARACTERS.isdisjoint(matcher):
            return matcher.__eq__
        pattern = re.compile(fnmatch.translate(matcher))
        return lambda name: pattern.match(name) is not None
    if callable(matcher):
        return matcher
    raise TypeError(
        f"{where}: the name to match must be a non-empty string (exact, or a glob such as "
        f"'POST /checkout*') or a callable taking the name, not {matcher!r}."
    )


class _Rule(Generic[S]):
    """The machinery shared by :class:`SpanRule` and :class:`SpanEventRule`."""

    _kind = ""
    _name_option = ""

    def __init__(
        self,
        name: NameMatcher,
        event: str,
        payload_from: RulePayloadFrom | None,
        payload: Mapping[str, Any] | None,
        user_id_from: str | None,
        link_id_from: str | None,
        when: Callable[[S], bool] | None,
    ) -> None:
        shown = name if isinstance(name, str) else getattr(name, "__qualname__", repr(name))
        self.description = f"{self._kind}({self._name_option}={shown!r}, event={event!r})"
        where = self.description
        self._recipe: Recipe[Callable[[S], Any], S] = Recipe(
            event,
            where,
            functools.partial(self._compile, where=where),
            payload_from=payload_from,
            payload=payload,
            user_id_from=user_id_from,
            link_id_from=link_id_from,
            when=when,
            name_option="event=",
        )
        self._matches = _name_test(name, where)
        self.event = event
        self.payload_from = payload_from
        self.payload = payload
        self.user_id_from = user_id_from
        self.link_id_from = link_id_from
        self.when = when

    def __repr__(self) -> str:
        return self.description

    def _compile(self, path: object, where: str) -> CompiledPath[S]:
        raise NotImplementedError

    def matches(self, name: str) -> bool:
        """Whether this rule applies to a span (or span event) called ``name``."""
        return bool(self._matches(name))

    def derive(self, source: S) -> Derived | None:
        """The event's fields from ``source``; ``None`` when ``when`` says no.

        Exceptions from user callables (``when``, ``payload_from``) propagate: the
        processor counts them.
        """
        recipe = self._recipe
        if recipe.when is not None and not recipe.when(source):
            return None
        payload = dict(recipe.static)
        missing: list[str] = []
        for field in recipe.fields:
            value = field.get(source)
            if value is MISSING:
                missing.append(field.path)
            else:
                payload[field.key] = value
        if recipe.payload_fn is not None:
            payload.update(recipe.payload_fn(source))
        return Derived(
            payload,
            _identity(recipe.user, source, missing),
            _identity(recipe.link, source, missing),
            missing,
        )


def _identity(path: CompiledPath[S] | None, source: S, missing: list[str]) -> Any:
    if path is None:
        return None
    value = path.get(source)
    if value is MISSING:
        missing.append(path.path)
        return None
    return value


class SpanRule(_Rule["ReadableSpan"]):
    """Derive a Weespin event from each finished span whose name matches.

    ``span_name``: the exact name, a glob (``fnmatch``, case-sensitive: ``"POST /checkout*"``)
    or a callable taking the name. Paths start at ``attributes``, ``resource``, ``status``,
    ``name`` or ``duration_ms``; after ``attributes.`` / ``resource.`` the rest is one
    attribute key, dots included. ``payload_from`` is a path, a list of paths (the payload key
    is the attribute key, or the last segment for the other roots), ``{payload_key: path}``
    or a callable taking the ``ReadableSpan``. ``when`` takes the ``ReadableSpan``. A path
    that finds nothing leaves its key out. Unknown roots raise ``TypeError`` here.

    ``kind``: a ``SpanKind`` or a collection of them; only spans of that kind match. Web
    framework instrumentations name their inner spans after the request too (FastAPI's
    ``POST /checkout http receive`` and ``http send`` are ``INTERNAL``), so a glob over
    request names wants ``kind=SpanKind.SERVER``.

    Example::

        SpanRule("POST /checkout", event="purchase", kind=SpanKind.SERVER,
                 payload_from={"amount": "attributes.order.total", "ok": "status"},
                 user_id_from="attributes.enduser.id",
                 when=lambda span: span.status.is_ok)
    """

    _kind = "SpanRule"
    _name_option = "span_name"

    def __init__(
        self,
        span_name: NameMatcher,
        event: str,
        *,
        payload_from: RulePayloadFrom | None = None,
        payload: Mapping[str, Any] | None = None,
        user_id_from: str | None = None,
        link_id_from: str | None = None,
        when: Callable[[ReadableSpan], bool] | None = None,
        kind: SpanKind | Iterable[SpanKind] | None = None,
    ) -> None:
        self.span_name = span_name
        super().__init__(span_name, event, payload_from, payload, user_id_from, link_id_from, when)
        self.kind = kind
        self._kinds = None if kind is None else _kinds(kind, self.description)

    def derive(self, source: ReadableSpan) -> Derived | None:
        """The event's fields from the span; ``None`` when its kind or ``when`` says no."""
        if self._kinds is not None and source.kind not in self._kinds:
            return None
        return super().derive(source)

    def _compile(self, path: object, where: str) -> CompiledPath[ReadableSpan]:
        return compile_span_path(path, where=where)


def _kinds(kind: object, where: str) -> frozenset[SpanKind]:
    kinds = (kind,) if isinstance(kind, SpanKind) else kind
    if isinstance(kinds, Iterable) and not isinstance(kinds, str):
        found = tuple(kinds)
        if found and all(isinstance(k, SpanKind) for k in found):
            return frozenset(found)
    raise TypeError(
        f"{where}: kind= must be a SpanKind or a collection of them "
        f"(from opentelemetry.trace import SpanKind; kind=SpanKind.SERVER), not {kind!r}."
    )


class SpanEventRule(_Rule[MatchedSpanEvent]):
    """Derive a Weespin event from each span event (someone else's) whose name matches.

    ``event_name`` matches like ``SpanRule.span_name``. Paths: ``attributes.<key>`` and
    ``name`` are the span event's, ``resource.<key>`` its span's resource, and ``span.``
    followed by a span path reads the enclosing span (``span.attributes.http.route``,
    ``span.status``, ``span.duration_ms``). ``when`` and a ``payload_from`` callable take a
    :class:`MatchedSpanEvent`. Span events recorded by ``SpanEventTransport`` never match:
    the processor forwards those as they are.

    Example::

        SpanEventRule("exception", event="app_error",
                      payload_from={"type": "attributes.exception.type",
                                    "route": "span.attributes.http.route"})
    """

    _kind = "SpanEventRule"
    _name_option = "event_name"

    def __init__(
        self,
        event_name: NameMatcher,
        event: str,
        *,
        payload_from: RulePayloadFrom | None = None,
        payload: Mapping[str, Any] | None = None,
        user_id_from: str | None = None,
        link_id_from: str | None = None,
        when: Callable[[MatchedSpanEvent], bool] | None = None,
    ) -> None:
        self.event_name = event_name
        super().__init__(event_name, event, payload_from, payload, user_id_from, link_id_from, when)

    def _compile(self, path: object, where: str) -> CompiledPath[MatchedSpanEvent]:
        return compile_event_path(path, where=where)
