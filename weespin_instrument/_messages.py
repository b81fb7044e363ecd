"""The messages of validation and of the sensitive-data guard: one template per problem.

Shape: ``event '<name>'[ (from <origin>)], payload key <key>: <what>. <fix>.`` Error messages
never include a payload value (it may be personal data), only its type. Every message of
``_validate.py``, ``_coerce.py`` and ``_scrub.py`` is built from the templates here.
"""

from __future__ import annotations

from .errors import InvalidEventError

#: Flattened keys have at most this many dotted segments (guards self-referencing values).
MAX_DEPTH = 8

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
