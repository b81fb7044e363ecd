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
Every message is built from the templates of ``_messages.py``; the coercions are the handlers
of ``_coerce.py``.

Nothing here imports pydantic, ``decimal`` or ``uuid``: pydantic models are recognized by duck
typing, and a value can only be a ``Decimal`` or a ``UUID`` if its module was imported already.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._coerce import (
    _FLATTENERS,
    _HANDLERS,
    _Collision,
    _dataclass_items,
    _float,
    _handler_for,
    _is_uuid,
    _keep,
    _mapping,
    _model,
    _plain_key,
)
from ._event import Payload
from ._messages import (
    _AT_FIELD,
    _AT_PAYLOAD,
    _ORIGIN,
    _T_COLLISION,
    _T_EVENT_NAME,
    _T_IDENTITY,
    _T_NOT_MAPPING,
    _T_NOT_UNICODE,
    _T_PAYLOAD_RAISED,
    INT_MAX,
    INT_MIN,
    MAX_DEPTH,
    _key_error,
    _raised_error,
    _short_repr,
    _type_name,
    _where,
    is_unicode,
)
from .errors import InvalidEventError

__all__ = [
    "MAX_DEPTH",
    "checked_name",
    "normalize_payload",
    "validate_event_name",
    "validate_identities",
    "validate_identity",
]


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


def kept_as_is(value: Any) -> bool:
    """Whether ``value`` goes into a payload as it is: a plain ``str``, ``int``, ``bool`` or finite
    ``float`` the API takes. What both the payload's and the guard's fast loops ask first."""
    kind = type(value)
    if kind is str:
        plain: bool = value.isascii() or is_unicode(value)
    elif kind is int:
        plain = INT_MIN <= value <= INT_MAX
    elif kind is float:
        plain = value - value == 0.0  # not NaN nor an infinity
    else:
        plain = kind is bool
    return plain


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
        for key, value in payload.items():
            if type(key) is not str or not key or not (key.isascii() or is_unicode(key)):
                break
            if kept_as_is(value):
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
