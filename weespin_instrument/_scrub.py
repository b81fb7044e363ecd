"""Scrub: the sensitive-data guard, run on every validated payload before it leaves.

The Weespin documentation says: never send passwords, credit card numbers or social security
numbers in event payloads. This module looks for them in two ways.

By key name (``str`` and ``int`` values)
    Each key is split into words: at dots, ``_``, ``-``, spaces, other punctuation, camelCase
    humps and digits (``user.refreshToken`` -> ``user refresh token``, ``CVV2`` -> ``cvv 2``);
    words are compared lower-cased. A key is sensitive when its words contain one of:

    - password: ``password``, ``passwd``, ``pwd``, ``passphrase``, ``passcode``, and
      any word containing ``password``/``passwd``/``passphrase`` (``newpassword``);
    - secret: ``secret`` (``client_secret``, ``clientSecret``), words ending in ``secret``;
    - token: the word ``token`` exactly (``access_token``, ``refreshToken``, ``csrf-token``)
      and words ending in ``token`` (``accesstoken``). ``tokens`` is not flagged: plural
      ``tokens`` counts things (``prompt_tokens``, ``tokens_used``);
    - API key: ``api key`` (``api_key``, ``apiKey``, ``X-API-Key``), ``apikey``;
    - authorization: ``authorization``, ``auth header``, ``credential(s)``;
    - private key: ``private key``, ``privatekey``;
    - card number: ``card number``/``card num``/``card no``, ``cc number``/``cc num``,
      ``credit card``, ``cardnumber``, ``ccnumber``, ``creditcard``, ``pan``;
    - card security code: ``cvv``, ``cvc`` (``CVV2`` too), ``security code``;
    - social security number: ``ssn``, ``social security``;
    - PIN: ``pin``, ``pincode``, only for ``int`` values and strings of 4 to 12 digits
      (``map_pin="Paris"`` is kept).

    A match is ignored when a later word of the key says the value is *about* the secret,
    not the secret itself (see ``_ABOUT``): ``token_count``, ``token_type``,
    ``password_length``, ``token_expires_at``, ``api_key_id``, ``card_number_last4``.
    ``extra_keys`` entries are split the same way and match a key containing the same
    consecutive words (``"iban"`` matches ``user.iban`` and ``ibanCode``); they have no such
    exception. ``bool`` and ``float`` values are never sensitive: they cannot hold a secret.

By value
    - card numbers: in ``str`` values, a run of 13 to 19 digits, optionally separated by
      single spaces or dashes, that starts with 2 to 6 (the ranges of Visa, Mastercard, Amex,
      Discover, JCB, UnionPay, Maestro... which keeps millisecond timestamps out) and passes the
      Luhn check; ``int`` values of 13 to 19 digits, the same way;
    - US social security numbers: ``ddd-dd-dddd`` in ``str`` values, without the numbers never
      issued (area ``000``, ``666`` or ``9xx``, group ``00``, serial ``0000``).
      Nine digits without dashes are not flagged: too many other numbers look like that.

    Strings shorter than 11 characters are not scanned: nothing detected fits in them.

What happens is the policy's choice: ``"redact"`` (the default) replaces a value found by key
with ``"[REDACTED]"`` and, in a ``str`` found by value, only the matching digits
(``"card 4111 1111 1111 1111 ok"`` -> ``"card [REDACTED] ok"``); ``"drop_event"`` and
``"raise"`` raise :class:`~weespin_instrument.InvalidEventError` (reason ``"sensitive_data"``)
naming the event, the key and what was found, never the value (the client then drops the event
or lets the error through); ``"off"`` sends everything as is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any, Literal

from ._event import Payload
from ._validate import (
    _T_SENSITIVE_BY_KEY,
    _T_SENSITIVE_BY_VALUE,
    _T_SENSITIVE_EXTRA_KEY,
    _key_error,
)
from .errors import ConfigurationError, InvalidEventError

__all__ = ["REDACTED", "Scrubber"]

#: What a redacted value (or digit run) is replaced with.
REDACTED = "[REDACTED]"

_POLICIES = ("redact", "drop_event", "raise", "off")

_PASSWORD = "a password"
_SECRET = "a secret"
_TOKEN = "a token"
_API_KEY = "an API key"
_AUTHORIZATION = "credentials"
_PRIVATE_KEY = "a private key"
_CARD = "a card number"
_CVV = "a card security code"
_SSN = "a social security number"
_PIN = "a PIN"
_US_SSN = "a US social security number"

_ONE_WORD = {
    "password": _PASSWORD,
    "passwd": _PASSWORD,
    "pwd": _PASSWORD,
    "passphrase": _PASSWORD,
    "passcode": _PASSWORD,
    "secret": _SECRET,
    "token": _TOKEN,
    "apikey": _API_KEY,
    "authorization": _AUTHORIZATION,
    "credential": _AUTHORIZATION,
    "credentials": _AUTHORIZATION,
    "privatekey": _PRIVATE_KEY,
    "cardnumber": _CARD,
    "ccnumber": _CARD,
    "creditcard": _CARD,
    "pan": _CARD,
    "cvv": _CVV,
    "cvc": _CVV,
    "ssn": _SSN,
    "pin": _PIN,
    "pincode": _PIN,
}
_TWO_WORDS = {
    ("api", "key"): _API_KEY,
    ("auth", "header"): _AUTHORIZATION,
    ("private", "key"): _PRIVATE_KEY,
    ("card", "number"): _CARD,
    ("card", "num"): _CARD,
    ("card", "no"): _CARD,
    ("cc", "number"): _CARD,
    ("cc", "num"): _CARD,
    ("credit", "card"): _CARD,
    ("security", "code"): _CVV,
    ("social", "security"): _SSN,
}
# Run-together words: a word containing the first ones, or ending with the others.
_CONTAINS = (("password", _PASSWORD), ("passwd", _PASSWORD), ("passphrase", _PASSWORD))
_ENDS_WITH = (("token", _TOKEN), ("secret", _SECRET), ("apikey", _API_KEY))

# Words that, after a sensitive term, say the value describes the secret: token_count, ...
_ABOUT = frozenset(
    {
        "count", "counts", "num", "len", "length", "size", "type", "types", "kind", "limit",
        "limits", "used", "usage", "remaining", "expiry", "expires", "expired", "expiration",
        "ttl", "age", "strength", "score", "policy", "id", "ids", "name", "last", "masked",
        "brand", "issuer", "country", "changed", "updated", "created", "reset", "status",
        "error", "errors", "version", "format", "provider", "source", "method", "min", "max",
        "attempt", "attempts", "tries", "retries", "failures", "failed", "resets", "sent",
        "verified", "valid", "required", "enabled", "set",
    }
)  # fmt: skip


def _words(key: str) -> list[str]:
    return [word.lower() for word in _patterns().word.findall(key)]


def _key_kind(words: list[str]) -> str:
    """What the key's words say the value is (``"a password"``...), or ``""``."""
    count = len(words)
    for i, word in enumerate(words):
        kind = _ONE_WORD.get(word)
        end = i
        if kind is None and i + 1 < count:
            kind = _TWO_WORDS.get((word, words[i + 1]))
            end = i + 1
        if kind is None:
            kind = next((k for part, k in _CONTAINS if part in word), None)
            if kind is None:
                kind = next(
                    (k for part, k in _ENDS_WITH if word.endswith(part) and word != part), None
                )
            end = i
        if kind is not None and _ABOUT.isdisjoint(words[end + 1 :]):
            return kind
    return ""


def _contains_run(words: list[str], run: tuple[str, ...]) -> bool:
    size = len(run)
    return any(tuple(words[i : i + size]) == run for i in range(len(words) - size + 1))


class _Patterns:
    """The regular expressions, compiled on first use: that keeps them out of import time."""

    def __init__(self) -> None:
        self.word = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
        # Starting with a plain [0-9] (not a lookbehind) lets the engine skip quickly to digits:
        # three times faster on ordinary text. SSN ranges are checked in _replace.
        self.card_or_ssn = re.compile(
            r"[0-9](?<![0-9]{2})"
            r"(?:(?P<ssn>[0-9]{2}-[0-9]{2}-[0-9]{4})|(?<=[2-6])(?P<card>(?:[ -]?[0-9]){12,18}))"
            r"(?![0-9])"
        )
        self.pin = re.compile(r"[0-9]{4,12}")


@functools.cache
def _patterns() -> _Patterns:
    return _Patterns()


_SCAN_MIN_LENGTH = 11  # "123-45-6789"; a card needs 13 digits
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _luhn(digits: str) -> bool:
    total = sum(map(int, digits[-1::-2])) + sum(_DOUBLED[int(d)] for d in digits[-2::-2])
    return total % 10 == 0


def _is_issued_ssn(ssn: str) -> bool:
    area, group, serial = ssn[:3], ssn[4:6], ssn[7:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _scan(text: str) -> tuple[str, str]:
    """``text`` with card numbers and SSNs replaced, and the kind of the first one found."""
    pattern = _patterns().card_or_ssn
    if pattern.search(text) is None:
        return text, ""
    kinds: list[str] = []

    def replace(match: re.Match[str]) -> str:
        found = match.group()
        if match.lastgroup == "ssn":
            if not _is_issued_ssn(found):
                return found
            kinds.append(_US_SSN)
        else:
            if not _luhn(found.replace(" ", "").replace("-", "")):
                return found
            kinds.append(_CARD)
        return REDACTED

    redacted = pattern.sub(replace, text)
    return redacted, (kinds[0] if kinds else "")


_INT_CARD_MIN = 10**12  # 13 digits
_INT_CARD_MAX = 10**19  # 20 digits
_PIN_BY_KEY = _T_SENSITIVE_BY_KEY.format(kind=_PIN)
_MAX_CACHED_KEYS = 4096


class Scrubber:
    """The sensitive-data guard: ``scrub(event_name, payload) -> (payload, redacted_count)``.

    ``policy`` is ``"redact"``, ``"drop_event"``, ``"raise"`` or ``"off"``; ``extra_keys``
    adds key words to treat as sensitive (case-insensitive). The payload given is never
    modified; when nothing is found it is returned itself.

    Example::

        scrub = Scrubber()
        scrub("signup", {"plan": "pro", "password": "hunter2"})
        # ({'plan': 'pro', 'password': '[REDACTED]'}, 1)
    """

    __slots__ = ("_cache", "_extra", "_off", "_raises", "policy")

    def __init__(
        self,
        policy: Literal["redact", "drop_event", "raise", "off"] = "redact",
        *,
        extra_keys: Iterable[str] = (),
    ) -> None:
        if policy not in _POLICIES:
            allowed = ", ".join(repr(p) for p in _POLICIES)
            raise ConfigurationError(
                f"sensitive_data={policy!r} is not a policy; use one of {allowed}."
            )
        extra: list[tuple[str, tuple[str, ...]]] = []
        for entry in extra_keys:
            words = tuple(_words(entry)) if isinstance(entry, str) else ()
            if not words:
                raise ConfigurationError(
                    f"extra_keys entry {entry!r} has no letters or digits; "
                    "give key words such as 'iban' or 'tax_id'."
                )
            extra.append((entry, words))
        self.policy = policy
        self._extra = tuple(extra)
        self._off = policy == "off"
        self._raises = policy in ("drop_event", "raise")
        #: key -> the finding for a sensitive key ("" when the key is not sensitive).
        self._cache: dict[str, str] = {}

    def __repr__(self) -> str:
        extra = ", ".join(repr(entry) for entry, _ in self._extra)
        return f"Scrubber({self.policy!r}, extra_keys=[{extra}])"

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
        for key, value in payload.items():
            kind = type(value)
            if kind is not str and kind is not int:
                if kind is float or kind is bool:
                    continue
                if isinstance(value, str):
                    kind = str
                elif not isinstance(value, int) or isinstance(value, bool):
                    continue
            finding = cache.get(key)
            if finding is None:
                finding = self._classify_key(key)
            if finding == _PIN_BY_KEY and kind is str and not _patterns().pin.fullmatch(value):
                finding = ""  # "map_pin": "Paris" is no PIN; its value is still scanned below
            if finding:
                replacement: str = REDACTED
            elif kind is str:
                if len(value) < _SCAN_MIN_LENGTH:
                    continue
                replacement, found = _scan(value)
                if not found:
                    continue
                finding = _T_SENSITIVE_BY_VALUE.format(kind=found)
            else:
                if not _INT_CARD_MIN <= value < _INT_CARD_MAX:
                    continue
                digits = int.__repr__(value)
                if digits[0] not in "23456" or not _luhn(digits):
                    continue
                replacement = REDACTED
                finding = _T_SENSITIVE_BY_VALUE.format(kind=_CARD)
            if self._raises:
                raise self._error(event_name, origin, key, finding)
            if out is None:
                out = dict(payload)
            out[key] = replacement
            redacted += 1
        return (payload if out is None else out), redacted

    def _classify_key(self, key: str) -> str:
        words = _words(key)
        finding = ""
        for entry, run in self._extra:
            if _contains_run(words, run):
                finding = _T_SENSITIVE_EXTRA_KEY.format(entry=entry)
                break
        else:
            kind = _key_kind(words)
            if kind:
                finding = _T_SENSITIVE_BY_KEY.format(kind=kind)
        if len(self._cache) >= _MAX_CACHED_KEYS:
            self._cache.clear()
        self._cache[key] = finding
        return finding

    @staticmethod
    def _error(event_name: str, origin: str | None, key: str, finding: str) -> InvalidEventError:
        return _key_error(event_name, origin, key, finding, reason="sensitive_data")
