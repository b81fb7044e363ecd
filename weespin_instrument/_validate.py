"""Validate: the API's payload rules, and what we do with every other value.

The Weespin API takes an event name (a non-empty string) and a flat JSON object whose values
are strings, ints, doubles or booleans. :func:`normalize_payload` turns what users naturally
pass into exactly that, or refuses it with an :class:`~weespin_instrument.InvalidEventError`
that says which event, which key, which type, and how to fix it.

Kept as is
    ``str``, ``int``, ``bool``, finite ``float``.
Coerced
    ``Decimal`` -> ``float``; aware ``datetime`` -> converted to UTC then ``isoformat()``
    (``2026-11-27T08:10:00+00:00``, microseconds only when not zero); naive ``datetime`` ->
    ``isoformat()`` as written; ``date`` -> ``YYYY-MM-DD``; ``time`` -> ``isoformat()`` (its
    offset, if any, is kept: a time alone cannot be converted to UTC); ``UUID`` -> ``str``;
    ``Enum`` -> its ``.value``, then these same rules; subclasses of ``str``/``int``/``float``
    -> the plain type; ``None`` -> the key is left out.
Flattened to dotted keys
    Nested mappings, pydantic models (``model_dump()``) and dataclass instances (their fields):
    ``{"order": {"total": 1}}`` -> ``{"order.total": 1}``. Keys have at most
    :data:`MAX_DEPTH` segments.
Refused
    Lists, tuples, sets, bytes, NaN and infinities, ints outside the signed 64-bit range,
    strings that are not valid Unicode (lone surrogates), non-string or empty keys, two values
    that flatten to the same key, anything else; and any value whose reading raises (a
    property, ``utcoffset()``, ``model_dump()``, a mapping's iteration): the error names the
    key, the value's type and the exception's type, and is raised ``from`` the exception.

Error messages never include a payload value (it may be personal data), only its type.
Every message of this module and of ``_scrub.py`` is built from the templates below.

Nothing here imports pydantic, ``decimal`` or ``uuid``: pydantic models are recognized by duck
typing, and a value can only be a ``Decimal`` or a ``UUID`` if its module was imported already.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import suppress
from datetime import date, datetime, time, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any

from ._event import Payload
from .errors import InvalidEventError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "MAX_DEPTH",
    "checked_name",
    "normalize_payload",
    "validate_event_name",
    "validate_identities",
    "validate_identity",
]

#: Flattened keys have at most this many dotted segments (guards self-referencing values).
MAX_DEPTH = 8

# ---------------------------------------------------------------------------------------------
# Message templates. Shape: "event '<name>'[ (from <origin>)], payload key <key>: <what>. <fix>."
# ---------------------------------------------------------------------------------------------

_EVENT = "event {event}{origin}"
_ORIGIN = " (from {origin})"
_AT_KEY = "{where}, payload key {key}: {problem}"
_AT_FIELD = "{where}, {field}: {problem}"
_AT_PAYLOAD = "{where}: {problem}"

_T_EVENT_NAME = (
    "event name{origin} must be a non-empty string (got {got}). "
    "Name the event, e.g. 'purchase' or 'add_to_cart'."
)
_T_IDENTITY = (
    "must be a non-empty str, an int or a UUID (got {got}). "
    "Pass the id itself (e.g. str(user.id)), or None to leave it out."
)
_T_NOT_MAPPING = (
    "payload must be a mapping of str keys to values (got {type}). "
    "Pass a dict, e.g. {{'amount': 19.99}}."
)
_T_KEY_TYPE = "payload keys must be strings (got {type}). Use a str key instead, e.g. {fix!r}."
_T_KEY_EMPTY = "payload keys must be non-empty strings. Name the value, e.g. 'amount'."
_T_SEQUENCE = (
    "{kind} values are not supported (got {type}). Send a scalar instead: "
    'a count ({name}_count=len({name})) or a joined string (",".join({name})).'
)
_T_BYTES = (
    "bytes values are not supported (got {type}). Decode it to str ({name}.decode()) "
    "or leave it out."
)
_T_NOT_FINITE = (
    "{what} is not a valid JSON number. Leave the key out (None) or send a finite number."
)
_T_DECIMAL_RANGE = (
    "Decimal is too large for a float (it would become infinity). "
    "Send it as a str (str({name})) or in a smaller unit."
)
_T_ENUM = (
    "enum member {member} has a value of type {type}, which is not supported. "
    "Give {enum} str, int, float or bool values, or send {member}.name."
)
_T_OBJECT = (
    "object of type {type} is not supported. Pass a field (e.g. {example!r} in payload_from), "
    "or a dict, dataclass or pydantic model."
)
_T_DEPTH = (
    f"values nested more than {MAX_DEPTH} levels deep are not supported "
    "(does the value contain itself?). Send only the fields you need."
)
_T_COLLISION = "two values end up under this key{sources}. Rename one of them."
_T_INT_RANGE = (
    "int is outside the signed 64-bit range the API stores ({low} to {high}). "
    "Send it as a str (str({name})) or in a smaller unit."
)
_T_NOT_UNICODE = (
    "{what} is not valid Unicode (it holds a lone surrogate, e.g. from "
    "os.fsdecode or a bad decode). Fix the text, e.g. {name}.encode('utf-8', "
    "'replace').decode()."
)
_T_RAISED = (
    "reading a value of type {type} raised {error}. Fix the object, or pass plain values "
    "(a field of it) instead."
)
_T_PAYLOAD_RAISED = (
    "reading the payload (of type {type}) raised {error}{changed}. Pass a plain dict that no "
    "other thread changes meanwhile, e.g. dict(payload)."
)

#: The signed 64-bit range: what the API (and any SQL database behind it) stores as an int.
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

# Used by _scrub.py: the finding, then the fix.
_T_SENSITIVE_BY_KEY = (
    "looks like {kind} (by key name). Sensitive data must not be sent; remove it from the "
    'payload, rename the key if it holds no secret, or set sensitive_data="off".'
)
_T_SENSITIVE_EXTRA_KEY = (
    "is listed as sensitive (sensitive_keys entry {entry!r}). Sensitive data must not be sent; "
    "remove it from the payload, or take the entry out of sensitive_keys."
)
_T_SENSITIVE_BY_PATTERN = (
    "matches the sensitive_patterns entry {entry!r}. Sensitive data must not be sent; remove "
    "or mask it, or take the entry out of sensitive_patterns."
)
_T_SENSITIVE_BY_VALUE = (
    "contains what looks like {kind} (by value). Sensitive data must not be sent; remove or "
    'mask it (e.g. keep only the last 4 digits), or set sensitive_data="off" if this is a '
    "false positive."
)

_MAX_SHOWN = 40


def _short_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a user's object: its repr may fail too
        return f"<{_type_name(value)} object>"
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 4] + "...'"


def _type_name(value: object) -> str:
    try:
        return str(type(value).__qualname__)
    except Exception:
        return "object"


def is_unicode(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (no lone surrogate): what JSON can carry."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _raised_error(
    event: str, origin: str | None, key: str, value: object, exc: Exception
) -> InvalidEventError:
    problem = _T_RAISED.format(type=_type_name(value), error=_type_name(exc))
    return _key_error(event, origin, key, problem, reason="invalid_payload")


def _where(event_name: str, origin: str | None) -> str:
    return _EVENT.format(
        event=repr(event_name), origin=_ORIGIN.format(origin=origin) if origin else ""
    )


def _key_error(
    event_name: str,
    origin: str | None,
    key: str,
    problem: str,
    *,
    shown_key: str | None = None,
    reason: str = "invalid_payload",
) -> InvalidEventError:
    """The one way an error about a payload key is built (``_scrub.py`` uses it too)."""
    message = _AT_KEY.format(
        where=_where(event_name, origin),
        key=repr(key) if shown_key is None else shown_key,
        problem=problem,
    )
    return InvalidEventError(message, event_name=event_name, key=key, reason=reason)


def _leaf_name(key: str) -> str:
    """The last segment of a key if it can stand for a variable in a fix, else ``value``."""
    leaf = key.rpartition(".")[2]
    return leaf if leaf.isidentifier() else "value"


# ---------------------------------------------------------------------------------------------
# Event name and identity
# ---------------------------------------------------------------------------------------------


def validate_event_name(name: object, *, origin: str | None = None) -> str:
    """Return ``name`` as a plain ``str``, or raise if it is not a non-empty string.

    Example::

        validate_event_name("purchase")  # 'purchase'
        validate_event_name("  ")  # InvalidEventError: event name must be a non-empty string...
    """
    if type(name) is str and name and not name.isspace() and is_unicode(name):
        return name
    if isinstance(name, str):
        plain = str.__str__(name)
        if not is_unicode(plain):
            message = _T_NOT_UNICODE.format(what="the event name", name="name")
            raise InvalidEventError(message, event_name=None, reason="invalid_event")
        if plain and not plain.isspace():
            return plain
        got = _short_repr(plain)
    else:
        got = "None" if name is None else _type_name(name)
    message = _T_EVENT_NAME.format(origin=_ORIGIN.format(origin=origin) if origin else "", got=got)
    raise InvalidEventError(message, event_name=None, reason="invalid_event")


def validate_identity(
    field: str, value: object, *, event_name: str, origin: str | None = None
) -> str | None:
    """Return ``user_id`` / ``link_id`` / ``device_id`` as a ``str`` (or ``None``).

    A non-empty ``str`` is kept; an ``int`` (a primary key, often) and a ``UUID`` become their
    ``str``; ``None`` stays ``None``. Anything else (``bool``, ``float``, ``""``...) is refused.

    Example::

        validate_identity("user_id", 42, event_name="purchase")  # '42'
    """
    if value is None:
        return None
    problem = None
    if isinstance(value, str):
        plain = value if type(value) is str else str.__str__(value)
        if not is_unicode(plain):
            problem = _T_NOT_UNICODE.format(what=f"the {field}", name=field)
        elif plain and not plain.isspace():
            return plain
        got = _short_repr(plain)
    elif isinstance(value, int) and not isinstance(value, bool):
        if INT_MIN <= int.__index__(value) <= INT_MAX:
            # int.__repr__ and not str(): str() of an IntEnum member may be 'Role.ADMIN'.
            return int.__repr__(value)
        got = "an int outside the signed 64-bit range"
    elif _is_uuid(type(value)):
        return str(value)
    else:
        got = _type_name(value)
    message = _AT_FIELD.format(
        where=_where(event_name, origin),
        field=field,
        problem=problem or _T_IDENTITY.format(got=got),
    )
    raise InvalidEventError(message, event_name=event_name, key=field, reason="invalid_identity")


#: Event names already validated: most events reuse a handful of names.
_known_names: set[str] = set()


def checked_name(name: object, origin: str | None = None) -> str:
    """:func:`validate_event_name`, remembered for the names seen most (a set lookup)."""
    if type(name) is str and name in _known_names:
        return name
    event_name = validate_event_name(name, origin=origin)
    if len(_known_names) < 1024:
        _known_names.add(event_name)
    return event_name


def validate_identities(
    event_name: str, user_id: object, link_id: object, device_id: object, origin: str | None
) -> tuple[str | None, str | None, str | None]:
    """``user_id``, ``link_id`` and ``device_id`` as passed to a call, checked and normalized.

    A plain, non-blank ASCII ``str`` or ``None`` (what nearly every id is) costs a type check;
    anything else goes through :func:`validate_identity`.
    """
    if user_id is not None and (
        type(user_id) is not str or not (user_id.isascii() and user_id.strip())
    ):
        user_id = validate_identity("user_id", user_id, event_name=event_name, origin=origin)
    if link_id is not None and (
        type(link_id) is not str or not (link_id.isascii() and link_id.strip())
    ):
        link_id = validate_identity("link_id", link_id, event_name=event_name, origin=origin)
    if device_id is not None and (
        type(device_id) is not str or not (device_id.isascii() and device_id.strip())
    ):
        device_id = validate_identity("device_id", device_id, event_name=event_name, origin=origin)
    return user_id, link_id, device_id


def _is_uuid(kind: type) -> bool:
    uuid_module = sys.modules.get("uuid")
    return uuid_module is not None and issubclass(kind, uuid_module.UUID)


def _is_decimal(kind: type) -> bool:
    decimal_module = sys.modules.get("decimal")
    return decimal_module is not None and issubclass(kind, decimal_module.Decimal)


# ---------------------------------------------------------------------------------------------
# Payload
# ---------------------------------------------------------------------------------------------


class _Collision(Exception):
    """Two values flattened to one key; turned into an InvalidEventError at the top."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


if TYPE_CHECKING:
    # A handler stores `value` (converted, or flattened) under `key` in `out`, or raises.
    _Handler = Callable[[Payload, str, Any, int, str, str | None], None]


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


def _refuse_list(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    raise _sequence_error(event, origin, key, value, "list")


def _refuse_tuple(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    raise _sequence_error(event, origin, key, value, "tuple")


def _refuse_set(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    raise _sequence_error(event, origin, key, value, "set")


def _refuse_sequence(
    out: Payload, key: str, value: Any, depth: int, event: str, origin: str | None
) -> None:
    raise _sequence_error(event, origin, key, value, "sequence")


def _sequence_error(
    event: str, origin: str | None, key: str, value: object, kind: str
) -> InvalidEventError:
    problem = _T_SEQUENCE.format(kind=kind, type=_type_name(value), name=_leaf_name(key))
    return _key_error(event, origin, key, problem)


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


def _classify(kind: type) -> _Handler:
    # Order matters: an IntEnum is an int, a datetime is a date, a pandas Timestamp a datetime.
    if issubclass(kind, Enum):
        return _enum
    if issubclass(kind, str):
        return _str_subclass
    if issubclass(kind, int):
        return _int_subclass  # bool cannot be subclassed, so this is never a bool
    if issubclass(kind, float):
        return _float
    if issubclass(kind, Mapping):
        return _mapping
    if issubclass(kind, datetime):
        return _datetime
    if issubclass(kind, (date, time)):
        return _isoformat
    if _is_decimal(kind):
        return _decimal
    if _is_uuid(kind):
        return _to_str
    if issubclass(kind, (bytes, bytearray, memoryview)):
        return _refuse_bytes
    if issubclass(kind, list):
        return _refuse_list
    if issubclass(kind, tuple):
        return _refuse_tuple
    if issubclass(kind, AbstractSet):
        return _refuse_set
    if getattr(kind, "__pydantic_fields__", None) is not None and callable(
        getattr(kind, "model_dump", None)
    ):
        return _model
    if hasattr(kind, "__dataclass_fields__"):  # what dataclasses.is_dataclass checks
        return _dataclass
    if issubclass(kind, Sequence):
        return _refuse_sequence
    return _refuse_object


def normalize_payload(
    event_name: str, payload: Mapping[str, object] | None, *, origin: str | None = None
) -> Payload:
    """Return a new flat payload of ``str``/``int``/``float``/``bool`` values, or raise.

    ``payload`` is never modified nor returned. ``None`` means an empty payload. ``origin``
    (the qualified name of the instrumented function) only appears in error messages.

    Example::

        normalize_payload("purchase", {"order": {"total": Decimal("19.99")}, "coupon": None})
        # {'order.total': 19.99}
    """
    value: Any
    if type(payload) is dict:
        # A copy first, in C and atomic: another thread may be changing the caller's dict.
        payload = payload.copy()
        # The common case, a flat dict of plain values: check it, and it is the result.
        handlers = _HANDLERS
        for key, value in payload.items():
            if type(key) is not str or not key or not (key.isascii() or is_unicode(key)):
                break
            handler = handlers.get(type(value))
            if handler is _str:
                if value.isascii() or is_unicode(value):
                    continue
            elif handler is _int:
                if INT_MIN <= value <= INT_MAX:
                    continue
            elif handler is _keep or (handler is _float and value - value == 0.0):
                continue
            break
        else:
            return payload
    elif payload is None:
        return {}
    elif not isinstance(payload, Mapping):
        problem = _T_NOT_MAPPING.format(type=_type_name(payload))
        message = _AT_PAYLOAD.format(where=_where(event_name, origin), problem=problem)
        raise InvalidEventError(message, event_name=event_name, reason="invalid_payload")
    try:
        return _normalize(event_name, payload, origin)
    except _Collision as exc:
        raise _collision_error(event_name, origin, exc.key, payload) from None
    except InvalidEventError:
        raise
    except Exception as exc:  # iterating the mapping itself raised
        changed = " (was it changed while it was read?)" if isinstance(exc, RuntimeError) else ""
        problem = _T_PAYLOAD_RAISED.format(
            type=_type_name(payload), error=_type_name(exc), changed=changed
        )
        message = _AT_PAYLOAD.format(where=_where(event_name, origin), problem=problem)
        raise InvalidEventError(message, event_name=event_name, reason="invalid_payload") from exc


def _normalize(event_name: str, payload: Mapping[Any, object], origin: str | None) -> Payload:
    out: Payload = {}
    handlers = _HANDLERS
    # Keys of one mapping are unique, so only a flattened value can collide with another key.
    flattened = False
    key: object
    value: Any
    for key, value in payload.items():
        if type(key) is not str or not key or not is_unicode(key):
            key = _plain_key(event_name, origin, key, None)
            flattened = True  # two distinct keys may have the same plain str
        handler = handlers.get(type(value))
        if handler is _keep or (handler is _float and value - value == 0.0):
            if flattened and key in out:
                raise _Collision(key)
            out[key] = value
            continue
        flattened = True
        try:
            (handler or _handler_for(type(value)))(out, key, value, 1, event_name, origin)
        except (InvalidEventError, _Collision):
            raise
        except Exception as exc:
            raise _raised_error(event_name, origin, key, value, exc) from exc
    return out


def _collision_error(
    event: str, origin: str | None, key: str, payload: Mapping[Any, object]
) -> InvalidEventError:
    try:
        paths = _paths_to(key, payload.items(), None, "payload", False, 1)
    except Exception:  # a user's object that raises on a second reading
        paths = []
    sources = f" ({paths[0]} and {paths[1]})" if len(paths) >= 2 else ""
    return _key_error(event, origin, key, _T_COLLISION.format(sources=sources))


def _paths_to(
    target: str,
    items: Iterable[tuple[object, object]],
    prefix: str | None,
    path: str,
    attributes: bool,
    depth: int,
) -> list[str]:
    """Where the values that end up under ``target`` come from, as Python expressions."""
    found: list[str] = []
    for child, value in items:
        if not isinstance(child, str) or value is None:
            continue
        child = str.__str__(child)
        key = child if prefix is None else f"{prefix}.{child}"
        child_path = f"{path}.{child}" if attributes else f"{path}[{child!r}]"
        handler = _HANDLERS.get(type(value)) or _handler_for(type(value))
        if handler in _FLATTENERS:
            if depth < MAX_DEPTH and target.startswith(key + "."):
                if handler is _mapping:
                    nested, attrs = value.items(), False  # type: ignore[attr-defined]
                elif handler is _model:
                    nested, attrs = value.model_dump().items(), True  # type: ignore[attr-defined]
                else:
                    nested, attrs = _dataclass_items(value), True
                found += _paths_to(target, nested, key, child_path, attrs, depth + 1)
        elif key == target:
            found.append(child_path)
    return found
