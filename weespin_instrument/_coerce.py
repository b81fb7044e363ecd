"""Coercions: what each type of value becomes in a flat payload, or why it is refused.

One handler per kind of value, found by the value's exact type in :data:`_HANDLERS` (other
types are classified once by :func:`_classify`, and cached). A handler stores the converted
value under its key, flattens a nested one under dotted keys, or raises. Adding a coercion
is adding a handler and a line in :func:`_classify`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import suppress
from datetime import date, datetime, time, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any

from ._messages import (
    _T_BYTES,
    _T_DECIMAL_RANGE,
    _T_DEPTH,
    _T_ENUM,
    _T_INT_RANGE,
    _T_KEY_EMPTY,
    _T_KEY_TYPE,
    _T_NOT_FINITE,
    _T_NOT_UNICODE,
    _T_OBJECT,
    _T_SEQUENCE,
    INT_MAX,
    INT_MIN,
    MAX_DEPTH,
    _key_error,
    _leaf_name,
    _raised_error,
    _short_repr,
    _type_name,
    is_unicode,
)
from .errors import InvalidEventError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._event import Payload

    # A handler stores `value` (converted, or flattened) under `key` in `out`, or raises.
    _Handler = Callable[[Payload, str, Any, int, str, str | None], None]


def _is_uuid(kind: type) -> bool:
    uuid_module = sys.modules.get("uuid")
    return uuid_module is not None and issubclass(kind, uuid_module.UUID)


def _is_decimal(kind: type) -> bool:
    decimal_module = sys.modules.get("decimal")
    return decimal_module is not None and issubclass(kind, decimal_module.Decimal)


class _Collision(Exception):
    """Two values flattened to one key; turned into an InvalidEventError at the top."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _put(out: Payload, key: str, value: str | int | float | bool) -> None:
    if key in out:
        raise _Collision(key)
    out[key] = value


def _keep(out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None) -> None:
    _put(out, key, value)


def _str(out: Payload, key: str, value: str, depth: int, event: str, origin: str | None) -> None:
    if not is_unicode(value):
        problem = _T_NOT_UNICODE.format(what="the str value", name=_leaf_name(key))
        raise _key_error(event, origin, key, problem)
    _put(out, key, value)


def _int(out: Payload, key: str, value: int, depth: int, event: str, origin: str | None) -> None:
    if not INT_MIN <= value <= INT_MAX:
        problem = _T_INT_RANGE.format(low=INT_MIN, high=INT_MAX, name=_leaf_name(key))
        raise _key_error(event, origin, key, problem)
    _put(out, key, value)


def _leave_out(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    return None


def _float(out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None) -> None:
    # x - x is 0.0 for every finite float and NaN for NaN and both infinities. A subclass's
    # own arithmetic is not called: it may raise, or lie.
    value = float.__float__(value)
    if value - value == 0.0:
        _put(out, key, value)
        return
    what = "float NaN" if value != value else "float infinity" if value > 0 else "float -infinity"
    raise _key_error(event, origin, key, _T_NOT_FINITE.format(what=what))


def _str_subclass(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    _str(out, key, str.__str__(value), depth, event, origin)


def _int_subclass(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    _int(out, key, int.__index__(value), depth, event, origin)


def _decimal(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    if not value.is_finite():
        what = "Decimal NaN" if value.is_nan() else f"Decimal {'-' if value < 0 else ''}Infinity"
        raise _key_error(event, origin, key, _T_NOT_FINITE.format(what=what))
    number = float(value)
    if number - number != 0.0:
        raise _key_error(event, origin, key, _T_DECIMAL_RANGE.format(name=_leaf_name(key)))
    _put(out, key, number)


def _datetime(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    if value.tzinfo is not None and value.utcoffset() is not None:
        # datetime.max west of UTC (a "never" sentinel) has no UTC form: keep its own offset.
        with suppress(OverflowError):
            value = value.astimezone(timezone.utc)
    _str(out, key, str.__str__(value.isoformat()), depth, event, origin)


def _isoformat(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    _str(out, key, str.__str__(value.isoformat()), depth, event, origin)


def _to_str(out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None) -> None:
    _str(out, key, str(value), depth, event, origin)


def _enum(out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None) -> None:
    inner = value.value
    handler = _HANDLERS.get(type(inner)) or _handler_for(type(inner))
    if handler in _REFUSERS:
        member = f"{type(value).__qualname__}.{value.name}"
        problem = _T_ENUM.format(
            member=member, type=_type_name(inner), enum=type(value).__qualname__
        )
        raise _key_error(event, origin, key, problem)
    handler(out, key, inner, depth, event, origin)


def _mapping(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    # A plain dict is copied first (atomic): another thread may be changing it.
    _flatten(
        out, key, (value.copy() if type(value) is dict else value).items(), depth, event, origin
    )


def _model(out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None) -> None:
    _flatten(out, key, value.model_dump().items(), depth, event, origin)


def _dataclass(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    _flatten(out, key, _dataclass_items(value), depth, event, origin)


def _dataclass_items(value: Any) -> list[tuple[str, object]]:
    # A dataclass instance exists, so `dataclasses` is loaded: no import cost here.
    from dataclasses import fields

    return [(f.name, getattr(value, f.name)) for f in fields(value)]


def _flatten(
    out: Payload,
    prefix: str,
    items: Iterable[tuple[object, object]],
    depth: int,
    event: str,
    origin: str | None,
) -> None:
    depth += 1
    for child, value in items:
        if type(child) is not str or not child or not is_unicode(child):
            child = _plain_key(event, origin, child, prefix)
        key = f"{prefix}.{child}"
        if depth > MAX_DEPTH:
            raise _key_error(event, origin, key, _T_DEPTH)
        try:
            handler = _HANDLERS.get(type(value)) or _handler_for(type(value))
            handler(out, key, value, depth, event, origin)
        except (InvalidEventError, _Collision):
            raise
        except Exception as exc:
            raise _raised_error(event, origin, key, value, exc) from exc


def _plain_key(event: str, origin: str | None, key: object, parent: str | None) -> str:
    """A non-empty plain ``str`` for ``key`` (a ``str`` subclass, e.g. a StrEnum), or raise.

    A refused key is shown as its repr, with its parent when nested: ``payload key 1 in 'order'``.
    """
    if isinstance(key, str) and key and is_unicode(key):
        return str.__str__(key)
    if isinstance(key, str) and key:
        problem = _T_NOT_UNICODE.format(what="the key", name="key")
        key = str.__str__(key).encode("utf-8", "backslashreplace").decode()
    elif isinstance(key, str):
        problem = _T_KEY_EMPTY
    else:
        if isinstance(key, int):
            fix = int.__repr__(key) if INT_MIN <= int.__index__(key) <= INT_MAX else "name"
        else:
            fix = float.__repr__(key) if isinstance(key, float) else "name"
        problem = _T_KEY_TYPE.format(type=_type_name(key), fix=fix)
    shown = _short_repr(key) if parent is None else f"{_short_repr(key)} in {parent!r}"
    plain = key if isinstance(key, str) else _short_repr(key)
    dotted = plain if parent is None else f"{parent}.{plain}"
    raise _key_error(event, origin, dotted, problem, shown_key=shown)


def _sequence_refuser(kind: str) -> _Handler:
    """The handler that refuses a ``kind`` of sequence (``list``, ``tuple``...) with its fix."""

    def refuse(
        out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
    ) -> None:
        problem = _T_SEQUENCE.format(kind=kind, type=_type_name(value), name=_leaf_name(key))
        raise _key_error(event, origin, key, problem)

    return refuse


_refuse_list = _sequence_refuser("list")
_refuse_tuple = _sequence_refuser("tuple")
_refuse_set = _sequence_refuser("set")
_refuse_sequence = _sequence_refuser("sequence")


def _refuse_bytes(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    problem = _T_BYTES.format(type=_type_name(value), name=_leaf_name(key))
    raise _key_error(event, origin, key, problem)


def _refuse_object(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    problem = _T_OBJECT.format(type=_type_name(value), example=f"{key}.id")
    raise _key_error(event, origin, key, problem)


_REFUSERS: frozenset[_Handler] = frozenset(
    {_refuse_list, _refuse_tuple, _refuse_set, _refuse_sequence, _refuse_bytes, _refuse_object}
)
_FLATTENERS: frozenset[_Handler] = frozenset({_mapping, _model, _dataclass})

# Exact type -> handler. Subclasses and other types are classified once by _handler_for and
# cached here, up to _MAX_HANDLERS entries (types created at run time must not grow it forever).
_HANDLERS: dict[type, _Handler] = {
    str: _str,
    int: _int,
    bool: _keep,
    float: _float,
    type(None): _leave_out,
    dict: _mapping,
    datetime: _datetime,
    date: _isoformat,
    time: _isoformat,
    list: _refuse_list,
    tuple: _refuse_tuple,
    set: _refuse_set,
    frozenset: _refuse_set,
    bytes: _refuse_bytes,
    bytearray: _refuse_bytes,
    memoryview: _refuse_bytes,
}
_MAX_HANDLERS = 512


def _handler_for(kind: type) -> _Handler:
    handler = _classify(kind)
    if len(_HANDLERS) < _MAX_HANDLERS:
        _HANDLERS[kind] = handler
    return handler


#: Base classes in the order they are tried: an IntEnum is an int, a datetime is a date, a
#: pandas Timestamp a datetime.
_BY_BASE: tuple[tuple[type | tuple[type, ...], _Handler], ...] = (
    (Enum, _enum),
    (str, _str_subclass),
    (int, _int_subclass),  # bool cannot be subclassed, so this is never a bool
    (float, _float),
    (Mapping, _mapping),
    (datetime, _datetime),
    ((date, time), _isoformat),
    ((bytes, bytearray, memoryview), _refuse_bytes),
    (list, _refuse_list),
    (tuple, _refuse_tuple),
    (AbstractSet, _refuse_set),
)


def _classify(kind: type) -> _Handler:
    for base, handler in _BY_BASE:
        if issubclass(kind, base):
            return handler
    if _is_decimal(kind):
        return _decimal
    if _is_uuid(kind):
        return _to_str
    if getattr(kind, "__pydantic_fields__", None) is not None and callable(
        getattr(kind, "model_dump", None)
    ):
        return _model
    if hasattr(kind, "__dataclass_fields__"):  # what dataclasses.is_dataclass checks
        return _dataclass
    if issubclass(kind, Sequence):
        return _refuse_sequence
    return _refuse_object
