"""The environment variables: one table saying which setting each one fills and how it reads.

:data:`ENVIRONMENT` is what :meth:`Settings.resolve` reads (a variable counts only for a
setting the caller left out) and what the configuration reference lists.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ._choices import TRANSPORT_NAMES, listed
from ._scrub import Scrubber
from .errors import ConfigurationError

__all__ = [
    "ENVIRONMENT",
    "ENV_ALLOW_INSECURE_HTTP",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_DISABLED",
    "ENV_MAX_EVENT_AGE",
    "ENV_OUTBOX",
    "ENV_SENSITIVE_KEYS",
    "ENV_STRICT",
    "ENV_TRANSPORT",
    "EnvironmentVariable",
    "from_environment",
    "lenient_flag",
]

ENV_API_KEY = "WEESPIN_API_KEY"
ENV_BASE_URL = "WEESPIN_BASE_URL"
ENV_ALLOW_INSECURE_HTTP = "WEESPIN_ALLOW_INSECURE_HTTP"
ENV_DISABLED = "WEESPIN_DISABLED"
ENV_STRICT = "WEESPIN_STRICT"
ENV_TRANSPORT = "WEESPIN_TRANSPORT"
ENV_OUTBOX = "WEESPIN_OUTBOX"
ENV_MAX_EVENT_AGE = "WEESPIN_MAX_EVENT_AGE"
ENV_SENSITIVE_KEYS = "WEESPIN_SENSITIVE_KEYS"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _text(name: str, raw: str) -> str:
    return raw


def _flag(name: str, raw: str) -> bool:
    raw = raw.lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigurationError(
        f"{name}={raw!r} is not a boolean. Use 1/0, true/false, yes/no or on/off."
    )


def _transport_name(name: str, raw: str) -> str:
    if raw not in TRANSPORT_NAMES:
        raise ConfigurationError(
            f"{name}={raw!r} is not a transport; use one of {listed(TRANSPORT_NAMES)}."
        )
    return raw


def _seconds_or_inf(name: str, raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not seconds > 0:  # also refuses nan
        raise ConfigurationError(
            f"{name}={raw!r} is not a number of seconds above 0; use e.g. {name}=600, or "
            f"{name}=inf for no limit."
        )
    return seconds


def _key_words(name: str, raw: str) -> tuple[str, ...]:
    keys = tuple(entry.strip() for entry in raw.split(",") if entry.strip())
    try:
        Scrubber(sensitive_keys=keys)  # the guard's own check of each entry
    except ConfigurationError as exc:
        raise ConfigurationError(f"{name}={raw!r}: {exc}") from None
    return keys


class EnvironmentVariable(NamedTuple):
    """One variable: its name, the setting it fills, how its text is read, what it takes.

    ``parse(name, text)`` gets the value stripped of surrounding whitespace (an empty value
    counts as unset) and raises :class:`ConfigurationError` naming the variable.

    Example::

        EnvironmentVariable("WEESPIN_STRICT", "strict", _flag, "a boolean")
    """

    name: str
    setting: str
    parse: Callable[[str, str], Any]
    description: str


_BOOLEAN = "a boolean: `1/0`, `true/false`, `yes/no` or `on/off`"

#: Every environment variable :meth:`Settings.resolve` reads, in the order the docs list them.
ENVIRONMENT: tuple[EnvironmentVariable, ...] = (
    EnvironmentVariable(
        ENV_API_KEY,
        "api_key",
        _text,
        "the key as the dashboard shows it (whitespace around "
        "it, such as a mounted secret's newline, is stripped)",
    ),
    EnvironmentVariable(ENV_BASE_URL, "base_url", _text, "a URL, `https://` or loopback `http://`"),
    EnvironmentVariable(ENV_DISABLED, "disabled", _flag, _BOOLEAN),
    EnvironmentVariable(ENV_STRICT, "strict", _flag, _BOOLEAN),
    EnvironmentVariable(ENV_ALLOW_INSECURE_HTTP, "allow_insecure_http", _flag, _BOOLEAN),
    EnvironmentVariable(
        ENV_TRANSPORT,
        "transport",
        _transport_name,
        "one of " + ", ".join(f"`{name}`" for name in TRANSPORT_NAMES),
    ),
    EnvironmentVariable(ENV_OUTBOX, "outbox", _text, "a file path"),
    EnvironmentVariable(
        ENV_MAX_EVENT_AGE, "max_event_age", _seconds_or_inf, "seconds above 0, or `inf`"
    ),
    EnvironmentVariable(
        ENV_SENSITIVE_KEYS,
        "sensitive_keys",
        _key_words,
        "key words separated by commas, e.g. `iban,tax_id`",
    ),
)


def from_environment(environ: Mapping[str, str], wanted: set[str]) -> dict[str, Any]:
    """The values the environment gives for the ``wanted`` settings (a variable left unset or
    empty gives none). Raises :class:`ConfigurationError` for the first bad variable.

    >>> from_environment({"WEESPIN_STRICT": " yes ", "WEESPIN_OUTBOX": ""}, {"strict", "outbox"})
    {'strict': True}
    """
    found: dict[str, Any] = {}
    for variable in ENVIRONMENT:
        if variable.setting in wanted:
            raw = environ.get(variable.name, "").strip()
            if raw:
                found[variable.setting] = variable.parse(variable.name, raw)
    return found


def lenient_flag(environ: Mapping[str, str], name: str) -> bool:
    """The boolean variable ``name``; ``False`` when it is unset or not clearly a boolean."""
    try:
        return _flag(name, environ.get(name, "").strip())
    except ConfigurationError:
        return False
