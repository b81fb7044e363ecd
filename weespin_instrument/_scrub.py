"""Scrub: the sensitive-data guard, run on every validated event before it leaves.

The Weespin documentation says: never send passwords, credit card numbers or social security
numbers in event payloads. This module looks for them by key name and by value, in the payload,
the event name, the user id and the link id. ``docs/payload-rules.md`` lists every rule and
the guard's known limits; in short:

By key name (``str`` and ``int`` values)
    A key is split into words (at dots, ``_``, ``-``, spaces, camelCase humps and digits,
    accents removed: ``user.refreshToken`` -> ``user refresh token``, ``contraseña`` ->
    ``contrasena``) and matched word by word: passwords (``pass``, ``passwd``, ``pwd``,
    ``pswd``, ``pass_word``, ``passwort``, ``mot_de_passe``, ``contraseña``...), credentials
    named ``secret`` (``client_secret``, ``secret_key``; not ``secret_santa_group``), auth
    tokens (not ``next_page_token`` nor ``token_address``), API and access keys
    (``aws_access_key_id`` too), private keys, one-time passwords, card numbers, card security
    codes, security answers, SSNs, and PINs (only with a card or account word: ``card_pin``;
    ``pin="75001"`` is a postcode). A later word that says the value is *about* the secret
    (``token_count``, ``password_length``, ``api_key_id``) keeps it. ``sensitive_keys``
    entries match a run of the same words, with no such exception.

By value
    Card numbers: digit runs of 13 to 19 (separated by spaces, runs of spaces, dashes, dots or
    slashes; full-width and other Unicode digits read as digits) that pass the Luhn check *and*
    lie in a real issuer's range and length (Visa, Mastercard with the 2-series, Amex, Discover,
    JCB, Diners, UnionPay, Maestro), in strings, ints and integral floats. US social security
    numbers: ``AAA-GG-SSSS`` or ``AAA GG SSSS``, except the ranges never issued. Values under a
    key that names an identifier (last word ``id``, ``no``, ``number``, ``sku``, ``ean``,
    ``imei``, ``order``, ``ts``...) are not scanned for either, unless the key names a card.
    ``sensitive_patterns`` add regular expressions of your own.

The policy decides: ``"redact"`` (the default) replaces a value found by key with
``"[REDACTED]"`` and, in a string found by value, only what matched; ``"drop_event"`` and
``"raise"`` raise :class:`~weespin_instrument.InvalidEventError` (reason ``"sensitive_data"``)
naming the event, the key and what was found, never the value; ``"off"`` sends all as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._choices import SENSITIVE_DATA_POLICIES, SensitiveDataPolicy, listed
from ._event import Payload
from ._messages import (
    _AT_FIELD,
    _T_SENSITIVE_BY_PATTERN,
    _T_SENSITIVE_BY_VALUE,
    INT_MAX,
    INT_MIN,
    _key_error,
    _where,
    is_unicode,
)
from ._sensitive_keys import (
    _ID_KEY,
    _PLAIN_KEY,
    _key_runs,
    _KeyVerdict,
    key_verdict,
    key_words,
)
from ._sensitive_values import (
    _CARD,
    _INT_CARD_MAX,
    _INT_CARD_MIN,
    _SCAN_MIN_LENGTH,
    REDACTED,
    _is_card_int,
    _only_digits,
    _scan,
    is_card_number,
)
from ._validate import kept_as_is, normalize_payload
from .errors import ConfigurationError, InvalidEventError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._event import Event

__all__ = ["REDACTED", "Scrubber", "is_card_number", "key_words"]


def plain_value_check(key: str, variable: str) -> str | None:
    """A Python expression true when ``variable``, sent under ``key``, needs neither conversion
    nor anything from the guard (under any policy, with no ``sensitive_keys`` nor
    ``sensitive_patterns``); ``None`` when the key's name says to look at every value.

    What a call site compiles once, its keys being known: its calls then check each value with
    a type test and a comparison, and take the full way only when that fails.

    >>> plain_value_check("sku", "s")[:40]
    '(type(s) is str and s.isascii() or type('
    >>> plain_value_check("password", "p") is None
    True
    """
    if not key or not is_unicode(key):
        return None
    verdict = Scrubber()._classify_key(key)
    if verdict is _ID_KEY or verdict is _PLAIN_KEY:
        return value_check(variable, scanned=verdict is _PLAIN_KEY)
    return None


def value_check(v: str, *, scanned: bool, kind: type | None = None) -> str:
    """A Python expression true when the value in variable ``v`` is valid as it is and holds
    nothing for the guard, under a key whose values the guard scans (``scanned``) or not (an
    identifier's key, or the guard off): a type test and a comparison. ``kind``: only the
    test for values of that type (``str``, ``int``, ``float``, ``bool``).

    >>> value_check("s", scanned=False)[:40]
    '(type(s) is str and s.isascii() or type('
    >>> value_check("n", scanned=True, kind=int)
    'type(n) is int and -9223372036854775808 <= n < 1000000000000'
    """
    if not scanned:  # any valid value
        tests = {
            str: f"type({v}) is str and {v}.isascii()",
            int: f"type({v}) is int and {INT_MIN} <= {v} <= {INT_MAX}",
            float: f"type({v}) is float and {v} - {v} == 0.0",
        }
    else:  # scanned only when long enough or large enough
        tests = {
            int: f"type({v}) is int and {INT_MIN} <= {v} < {_INT_CARD_MIN}",
            str: f"type({v}) is str and len({v}) < {_SCAN_MIN_LENGTH} and {v}.isascii()",
            # Finite and outside the cards' range, in float comparisons only (the bounds are
            # exact floats; a float compared with an int is the slow comparison).
            float: f"type({v}) is float and (-{_INF} < {v} < {float(_INT_CARD_MIN)!r} "
            f"or {float(_INT_CARD_MAX)!r} <= {v} < {_INF})",
        }
    tests[bool] = f"type({v}) is bool"
    if kind is not None:
        return tests[kind]
    return f"({' or '.join(tests.values())})"


#: Infinity as a literal (it overflows), for the expressions of :func:`value_check`.
_INF = "1e309"
_MAX_CACHED_KEYS = 4096
_MAX_CACHED_NAMES = 1024
#: The event's own fields the guard scans (a text once found clean is not scanned again).
_SCANNED_FIELDS = ("name", "user_id", "link_id")


def is_clean_name(name: str) -> bool:
    """Whether the guard (with no ``sensitive_patterns``) finds nothing in an event name."""
    return not _scan(name)[1]


def scanned_keys(scrubber: Scrubber, name: str, keys: tuple[str, ...]) -> tuple[bool, ...] | None:
    """For a payload of event ``name`` under ``keys`` (valid keys): per key, whether the guard
    scans its values (``False``: an identifier's, or the guard is off). ``None`` when the name
    or a key says more (a finding by key name, the event name holds one, sensitive_patterns).
    """
    if scrubber._off:
        return (False,) * len(keys)
    if not scrubber._one_pass or scrubber._scan_text(name)[1]:
        return None
    cache = scrubber._cache
    verdicts = [cache.get(key) or scrubber._classify_key(key) for key in keys]
    if any(verdict is not _PLAIN_KEY and verdict is not _ID_KEY for verdict in verdicts):
        return None
    return tuple(verdict is _PLAIN_KEY for verdict in verdicts)


class Scrubber:
    """The sensitive-data guard: ``scrub(event_name, payload) -> (payload, redacted_count)``.

    ``policy`` is ``"redact"``, ``"drop_event"``, ``"raise"`` or ``"off"``;
    ``sensitive_keys`` adds key words to treat as sensitive (case-insensitive, ``extra_keys``
    is the same, by its older name); ``sensitive_patterns`` adds regular expressions whose
    matches in strings are sensitive. The payload given is never modified; when nothing is
    found it is returned itself. :meth:`scrub_event` checks an event's name and ids too.

    Example::

        scrub = Scrubber(sensitive_keys=["iban"], sensitive_patterns=[r"FR\\d{12}"])
        scrub("signup", {"plan": "pro", "password": "hunter2", "user_iban": "x"})
        # ({'plan': 'pro', 'password': '[REDACTED]', 'user_iban': '[REDACTED]'}, 2)
    """

    __slots__ = (
        "_cache",
        "_clean_names",
        "_extra",
        "_off",
        "_one_pass",
        "_patterns",
        "_raises",
        "policy",
        "standard",
    )

    def __init__(
        self,
        policy: SensitiveDataPolicy = "redact",
        *,
        sensitive_keys: Iterable[str] = (),
        sensitive_patterns: Iterable[str | re.Pattern[str]] = (),
        extra_keys: Iterable[str] = (),
    ) -> None:
        if policy not in SENSITIVE_DATA_POLICIES:
            raise ConfigurationError(
                f"sensitive_data={policy!r} is not a policy; use one of "
                f"{listed(SENSITIVE_DATA_POLICIES)}."
            )
        extra = _key_runs((*extra_keys, *sensitive_keys))
        patterns = _compiled_patterns(sensitive_patterns)
        self.policy = policy
        self._extra = tuple(extra)
        self._patterns = tuple(patterns)
        self._off = policy == "off"
        self._raises = policy in ("drop_event", "raise")
        #: Whether :meth:`clean` may check and scrub a flat payload in one loop.
        self._one_pass = not self._off and not patterns
        #: No sensitive_keys nor sensitive_patterns: every key's verdict is the built-in one,
        #: so a call site may judge its keys once (see :func:`plain_value_check`).
        self.standard = not extra and not patterns
        self._cache: dict[str, _KeyVerdict] = {}
        self._clean_names: set[str] = set()  # event names found clean: a handful, mostly

    def __repr__(self) -> str:
        extra = ", ".join(repr(entry) for entry, _ in self._extra)
        patterns = "".join(f", {p!r}" for p, _ in self._patterns)[2:]
        shown = f", sensitive_patterns=[{patterns}]" if patterns else ""
        return f"Scrubber({self.policy!r}, extra_keys=[{extra}]{shown})"

    def scrub_event(self, event: Event, *, origin: str | None = None) -> int:
        """Scrub ``event`` in place: its name, ``user_id``, ``link_id``, then its payload.

        Returns how many values were redacted. Raises like :meth:`__call__`.
        """
        if self._off:
            return 0
        redacted = self._scrub_fields(event, origin)
        event.payload, in_payload = self(event.name, event.payload, origin=origin)
        return redacted + in_payload

    def _scrub_fields(self, event: Event, origin: str | None) -> int:
        """Scrub ``event``'s name, ``user_id`` and ``link_id`` in place; how many were."""
        if self._off:
            return 0
        redacted = 0
        short = _SCAN_MIN_LENGTH if not self._patterns else 0
        for field in _SCANNED_FIELDS:
            value = getattr(event, field)
            if value is not None and len(value) >= short and value not in self._clean_names:
                redacted += self._scrub_field(event, field, value, origin)
        return redacted

    def clean(
        self, event: Event, payload: object, *, origin: str | None = None, owned: bool = False
    ) -> int:
        """Validate and scrub ``payload`` in one pass into ``event.payload``; scrub the event's
        name and ids. Returns how many values were redacted.

        A flat dict of plain values under keys seen before (the common case) is checked in one
        loop: each value's type and range, and what its key's verdict says to look for. Anything
        else (a first key, a value to convert or flatten, a finding) takes the full way,
        :func:`~._validate.normalize_payload` then :meth:`scrub_event`, with the same results
        and errors. ``owned``: the dict is the pipeline's own (not the caller's): no copy.

        Example::

            event = Event("signup")
            Scrubber().clean(event, {"plan": "pro", "password": "x"})  # 1
            event.payload  # {'plan': 'pro', 'password': '[REDACTED]'}
        """
        if self._one_pass and type(payload) is dict:
            # A copy first, in C and atomic: another thread may be changing the caller's dict.
            flat: Payload = payload if owned else payload.copy()
            # One loop: each value's type and range, and what its key's cached verdict asks.
            verdicts = self._cache
            value: Any
            for key, value in flat.items():
                verdict = verdicts.get(key) if type(key) is str else None
                kind = type(value)
                if verdict is _PLAIN_KEY:
                    if kind is str:
                        if (value.isascii() or is_unicode(value)) and (
                            len(value) < _SCAN_MIN_LENGTH or not _scan(value)[1]
                        ):
                            continue
                    elif kind is int:
                        if INT_MIN <= value < _INT_CARD_MIN or (_INT_CARD_MAX <= value <= INT_MAX):
                            continue
                    elif kind is float:
                        if value - value == 0.0 and not _INT_CARD_MIN <= value < _INT_CARD_MAX:
                            continue
                    elif kind is bool:
                        continue
                elif verdict is _ID_KEY and kept_as_is(value):
                    continue
                break
            else:
                event.payload = flat
                if event.name in self._clean_names and event.user_id is event.link_id is None:
                    return 0
                return self._scrub_fields(event, origin)
            payload = flat
        event.payload = normalize_payload(event.name, payload, origin=origin)  # type: ignore[arg-type]
        return self.scrub_event(event, origin=origin)

    def _scrub_field(self, event: Event, field: str, value: str, origin: str | None) -> int:
        cleaned, finding = self._scan_text(value)
        if not finding:
            if field == "name" and len(self._clean_names) < _MAX_CACHED_NAMES:
                self._clean_names.add(value)
            return 0
        if self._raises:
            shown = "event name" if field == "name" else field
            raise _field_error(cleaned if field == "name" else event.name, origin, shown, finding)
        setattr(event, field, cleaned)
        return 1

    def __call__(
        self, event_name: str, payload: Payload, *, origin: str | None = None
    ) -> tuple[Payload, int]:
        """Return the payload with sensitive values redacted, and how many were.

        Raises :class:`~weespin_instrument.InvalidEventError` (reason ``"sensitive_data"``)
        under the ``"drop_event"`` and ``"raise"`` policies when anything is found.
        """
        if self._off:
            return payload, 0
        cache = self._cache
        out: Payload | None = None
        redacted = 0
        value: Any
        plain = not self._patterns
        for key, value in payload.items():
            verdict = cache.get(key)
            if verdict is None:
                verdict = self._classify_key(key)
            kind = type(value)
            # The common cases first: nothing to find in a short string or a small number.
            if verdict is _PLAIN_KEY and plain:
                if kind is str:
                    if len(value) < _SCAN_MIN_LENGTH:
                        continue
                elif kind is bool or not _INT_CARD_MIN <= value < _INT_CARD_MAX:
                    continue
            elif verdict is _ID_KEY and plain:
                continue
            if verdict.renamed is not None:
                if self._raises:
                    raise _key_error(
                        event_name, origin, verdict.renamed, verdict.renamed_finding,
                        reason="sensitive_data",
                    )  # fmt: skip
                if out is None:
                    out = dict(payload)
                del out[key]
                out[verdict.renamed] = value
                key = verdict.renamed
                redacted += 1
            if kind is bool:
                continue
            replacement, finding = _value_finding(verdict, value, self._scan_text)
            if not finding:
                continue
            if self._raises:
                raise _key_error(event_name, origin, key, finding, reason="sensitive_data")
            if out is None:
                out = dict(payload)
            out[key] = replacement
            redacted += 1
        return (payload if out is None else out), redacted

    def _scan_text(self, text: str, identifier: bool = False) -> tuple[str, str]:
        """``text`` with what the guard finds replaced, and the finding message (or "")."""
        cleaned, found = _scan(text, identifier)
        finding = _T_SENSITIVE_BY_VALUE.format(kind=found) if found else ""
        for shown, pattern in self._patterns:
            cleaned, hits = pattern.subn(REDACTED, cleaned)
            if hits and not finding:
                finding = _T_SENSITIVE_BY_PATTERN.format(entry=shown)
        return cleaned, finding

    def _classify_key(self, key: str) -> _KeyVerdict:
        verdict = key_verdict(key, self._extra)
        renamed, renamed_finding = self._scan_text(key)
        if renamed_finding:  # the key itself holds a card number or an SSN
            verdict = verdict._replace(renamed=renamed, renamed_finding=renamed_finding)
        if len(self._cache) >= _MAX_CACHED_KEYS:
            self._cache.clear()
        self._cache[key] = verdict
        return verdict


def _compiled_patterns(
    patterns: Iterable[str | re.Pattern[str]],
) -> list[tuple[str, re.Pattern[str]]]:
    """Each ``sensitive_patterns`` entry compiled, with its text for messages, or raise."""
    compiled: list[tuple[str, re.Pattern[str]]] = []
    for pattern in patterns:
        try:
            regex = re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise ConfigurationError(
                f"sensitive_patterns entry {pattern!r} is not a regular expression ({exc})."
            ) from None
        compiled.append((regex.pattern, regex))
    return compiled


def _field_error(
    event_name: str, origin: str | None, field: str, finding: str
) -> InvalidEventError:
    message = _AT_FIELD.format(where=_where(event_name, origin), field=field, problem=finding)
    return InvalidEventError(message, event_name=event_name, key=field, reason="sensitive_data")


def _value_finding(
    verdict: _KeyVerdict, value: object, scan_text: Callable[[str, bool], tuple[str, str]]
) -> tuple[str, str]:
    """What the guard finds in a (non-bool) ``value`` under a key of ``verdict``: what to send
    instead and the finding message; ``("", "")`` when nothing."""
    kind = type(value)
    if kind is float:
        if verdict.identifier or not _is_card_int(value):  # type: ignore[arg-type]
            return "", ""
        return REDACTED, _T_SENSITIVE_BY_VALUE.format(kind=_CARD)
    if verdict.finding and (not verdict.digits_only or _only_digits(value)):
        return REDACTED, verdict.finding
    if kind is str:
        return scan_text(value, verdict.identifier)  # type: ignore[arg-type]
    if kind is int and not verdict.identifier and _is_card_int(value):  # type: ignore[arg-type]
        return REDACTED, _T_SENSITIVE_BY_VALUE.format(kind=_CARD)
    return "", ""
