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

import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from ._choices import SENSITIVE_DATA_POLICIES, SensitiveDataPolicy, listed
from ._event import Payload
from ._validate import (
    _AT_FIELD,
    _T_SENSITIVE_BY_KEY,
    _T_SENSITIVE_BY_PATTERN,
    _T_SENSITIVE_BY_VALUE,
    _T_SENSITIVE_EXTRA_KEY,
    INT_MAX,
    INT_MIN,
    _key_error,
    _where,
    is_unicode,
    normalize_payload,
)
from .errors import ConfigurationError, InvalidEventError

if TYPE_CHECKING:
    from ._event import Event

__all__ = ["REDACTED", "Scrubber", "is_card_number", "key_words"]

#: What a redacted value (or the part of a string that matched) is replaced with.
REDACTED = "[REDACTED]"

_PASSWORD = "a password"
_SECRET = "a secret"
_TOKEN = "a token"
_API_KEY = "an API key"
_ACCESS_KEY = "an access key"
_AUTHORIZATION = "credentials"
_PRIVATE_KEY = "a private key"
_OTP = "a one-time password"
_CARD = "a card number"
_CVV = "a card security code"
_ANSWER = "a security answer"
_SSN = "a social security number"
_PIN = "a PIN"
_US_SSN = "a US social security number"

# -- key names ----------------------------------------------------------------------------------

#: Whole words that name a secret on their own.
_ONE_WORD = {
    "passwd": _PASSWORD,
    "pwd": _PASSWORD,
    "pswd": _PASSWORD,
    "passwort": _PASSWORD,
    "kennwort": _PASSWORD,
    "contrasena": _PASSWORD,
    "passphrase": _PASSWORD,
    "passcode": _PASSWORD,
    "apikey": _API_KEY,
    "accesskey": _ACCESS_KEY,
    "authorization": _AUTHORIZATION,
    "credential": _AUTHORIZATION,
    "credentials": _AUTHORIZATION,
    "privatekey": _PRIVATE_KEY,
    "otp": _OTP,
    "totp": _OTP,
    "hotp": _OTP,
    "cardnumber": _CARD,
    "cardno": _CARD,
    "ccnumber": _CARD,
    "creditcard": _CARD,
    "cvv": _CVV,
    "cvc": _CVV,
    "cvn": _CVV,
    "ssn": _SSN,
}
#: Runs of words, longest first.
_PHRASES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("mot", "de", "passe"), _PASSWORD),
    (("security", "question", "answer"), _ANSWER),
    (("pass", "word"), _PASSWORD),
    (("pass", "phrase"), _PASSWORD),
    (("pass", "code"), _PASSWORD),
    (("api", "key"), _API_KEY),
    (("access", "key"), _ACCESS_KEY),
    (("private", "key"), _PRIVATE_KEY),
    (("auth", "header"), _AUTHORIZATION),
    (("one", "time", "password"), _OTP),
    (("card", "number"), _CARD),
    (("card", "num"), _CARD),
    (("card", "no"), _CARD),
    (("cc", "number"), _CARD),
    (("cc", "num"), _CARD),
    (("cc", "no"), _CARD),
    (("credit", "card"), _CARD),
    (("security", "code"), _CVV),
    (("security", "answer"), _ANSWER),
    (("secret", "answer"), _ANSWER),
    (("social", "security"), _SSN),
)

#: Words after a match that say the value describes the secret: token_count, password_length.
_ABOUT = frozenset(
    {
        "count", "counts", "num", "len", "length", "size", "type", "types", "kind", "limit",
        "limits", "used", "usage", "remaining", "expiry", "expires", "expired", "expiration",
        "ttl", "age", "strength", "score", "policy", "id", "ids", "name", "last", "masked",
        "brand", "issuer", "country", "changed", "updated", "created", "reset", "status",
        "error", "errors", "version", "format", "provider", "source", "method", "min", "max",
        "attempt", "attempts", "tries", "retries", "failures", "failed", "resets", "sent",
        "verified", "valid", "required", "enabled", "set", "hint", "prompt", "label",
    }
)  # fmt: skip
#: An access key's id is itself a credential (aws_access_key_id): "id" does not excuse it.
_ABOUT_ACCESS_KEY = _ABOUT - {"id", "ids"}
#: ``pass`` preceded by these is a ticket, not a password (boarding_pass, ski_pass).
_PASS_TICKETS = frozenset(
    {
        "boarding", "bus", "season", "day", "week", "ski", "hall", "free", "by", "over",
        "under", "mountain", "gym", "museum", "transit", "rail", "train", "metro", "back",
        "first", "second", "third", "multi", "single", "park", "event", "festival", "guest",
        "visitor", "press", "backstage", "wallet", "apple", "google",
    }
)  # fmt: skip
#: ``pass`` followed by these is a result (pass_rate), not a password.
_PASS_RESULTS = frozenset({"rate", "fail", "through", "mark", "percent", "pct", "grade"})
#: ``secret`` names a credential alone or followed by these (client_secret, secret_key).
_SECRET_NEXT = frozenset({"key", "keys", "token", "access", "value", "code", "phrase", "hash"})
#: ``token`` preceded by these is a pagination cursor (next_page_token).
_TOKEN_CURSORS = frozenset(
    {
        "page", "next", "prev", "previous", "pagination", "continuation", "cursor", "sync",
        "resume", "start", "nextpage", "pageToken", "paging", "scroll", "offset", "batch",
    }
)  # fmt: skip
#: ``token`` followed by these describes a crypto token, not a credential (token_address).
_TOKEN_ASSETS = frozenset(
    {
        "address", "symbol", "amount", "balance", "contract", "decimals", "supply", "price",
        "standard", "uri", "url", "logo", "holder", "holders", "transfer", "transfers",
        "chain", "network", "pair", "pool", "ticker", "quantity", "value",
    }
)  # fmt: skip
#: A PIN is sensitive only in a card or account context (a bare "pin" is often a postcode).
_PIN_CONTEXT = frozenset(
    {"card", "account", "acct", "atm", "debit", "credit", "bank", "cc", "sim", "wallet", "payment"}
)
#: Words that say a key holds a card (or account) number.
_CARD_CONTEXT = frozenset({"card", "cc", "credit", "debit", "pan", "account", "acct", "iban"})
#: Last words of a key that names an identifier: its value is not scanned for cards or SSNs.
_ID_WORDS = frozenset(
    {
        "id", "ids", "no", "nr", "num", "number", "numbers", "sku", "ean", "upc", "gtin",
        "isbn", "imei", "barcode", "tracking", "part", "order", "ts", "timestamp", "uuid",
        "guid", "serial",
    }
)  # fmt: skip


class _KeyVerdict(NamedTuple):
    """What a key name says about its values, computed once per key."""

    #: The finding message when the key names a secret, else "".
    finding: str
    #: The key names a secret only if the value is made of digits (a PIN, a PAN).
    digits_only: bool
    #: The key names an identifier: values are not scanned for cards or SSNs.
    identifier: bool
    #: The key itself holds a card number or an SSN: what it is sent as instead, and why.
    renamed: str | None = None
    renamed_finding: str = ""


#: The two verdicts of nearly every key, shared so that the hot loop tests them by identity.
_PLAIN_KEY = _KeyVerdict("", False, False)
_ID_KEY = _KeyVerdict("", False, True)


def key_words(key: str) -> list[str]:
    """The lower-case words of a key, accents removed, as the guard matches them.

    >>> key_words("user.refreshToken_CVV2")
    ['user', 'refresh', 'token', 'cvv', '2']
    >>> key_words("contraseña")
    ['contrasena']
    """
    if not key.isascii():
        key = "".join(c for c in unicodedata.normalize("NFKD", key) if not unicodedata.combining(c))
    return [word.lower() for word in _patterns().word.findall(key)]


def _key_kind(words: list[str]) -> tuple[str, bool]:
    """What the key's words say the value is (``"a password"``...), and whether only digits are."""
    count = len(words)
    for i in range(count):
        kind, end, digits_only = _word_kind(words, i, count)
        if not kind:
            continue
        about = _ABOUT_ACCESS_KEY if kind == _ACCESS_KEY else _ABOUT
        if about.isdisjoint(words[end + 1 :]):
            return kind, digits_only
    return "", False


def _word_kind(words: list[str], i: int, count: int) -> tuple[str, int, bool]:
    word = words[i]
    before = words[i - 1] if i else ""
    after = words[i + 1] if i + 1 < count else ""
    for phrase, kind in _PHRASES:
        size = len(phrase)
        if tuple(words[i : i + size]) == phrase:
            return kind, i + size - 1, False
    kind = _ONE_WORD.get(word, "")
    if kind:
        return kind, i, False
    if "passw" in word or word == "password":
        return _PASSWORD, i, False
    if word == "pass":
        if before in _PASS_TICKETS or after in _PASS_RESULTS:
            return "", i, False
        return _PASSWORD, i, False
    if word.endswith("secret"):
        if word == "secret" and after and after not in _SECRET_NEXT:
            return "", i, False  # secret_santa_group, secret_question
        return _SECRET, i, False
    if word.endswith("token"):
        cursor = word[:-5]
        if before in _TOKEN_CURSORS or cursor in _TOKEN_CURSORS or cursor.endswith("page"):
            return "", i, False
        if after in _TOKEN_ASSETS:
            return "", i, False
        return _TOKEN, i, False
    if word.endswith("apikey"):
        return _API_KEY, i, False
    if word == "pan" and (not after or after in ("number", "no", "num")):
        return _CARD, i, True  # pan_x=120, pan="non-stick" are kept
    if word in ("pin", "pincode", "pinnumber") and not _PIN_CONTEXT.isdisjoint(words):
        return _PIN, i, True
    return "", i, False


def _contains_run(words: list[str], run: tuple[str, ...]) -> bool:
    size = len(run)
    return any(tuple(words[i : i + size]) == run for i in range(len(words) - size + 1))


def _is_identifier(words: list[str]) -> bool:
    return bool(words) and words[-1] in _ID_WORDS and _CARD_CONTEXT.isdisjoint(words)


# -- values -------------------------------------------------------------------------------------


class _Patterns:
    """The regular expressions, compiled on first use: that keeps them out of import time."""

    def __init__(self) -> None:
        self.word = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
        # A run of digit groups: the separators a person types between them. The run is then
        # cut at its separators into the windows that may be a card (see _cards_in).
        self.run = re.compile(r"[0-9]+(?:(?:[ \u00a0]{1,4}|[ ]?[-./][ ]?)[0-9]+)*")
        self.group = re.compile(r"[0-9]+")
        # 9 digits, a few characters apart at most: what an SSN or a card needs at the least.
        # One quick search that fails on ordinary text before any other work.
        self.candidate = re.compile(r"[0-9](?:[^0-9]{0,4}[0-9]){8}")
        self.ssn = re.compile(r"(?<![0-9])([0-9]{3})([- ])([0-9]{2})\2([0-9]{4})(?![0-9])")
        self.digits = re.compile(r"[0-9]{3,12}")
        self.digit_run = re.compile(r"[0-9 .\-]*[0-9][0-9 .\-]*")


@functools.cache
def _patterns() -> _Patterns:
    return _Patterns()


@functools.cache
def _digit_table() -> dict[int, int]:
    """Every Unicode decimal digit (full-width, Arabic-Indic, Devanagari...) -> ASCII."""
    table: dict[int, int] = {}
    for start in (0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0E50, 0xFF10):
        for offset in range(10):
            table[start + offset] = ord("0") + offset
    table[0x3000] = ord(" ")  # the ideographic space, which full-width text separates with
    table[0xFF0D] = ord("-")
    return table


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _luhn(digits: str) -> bool:
    total = sum(map(int, digits[-1::-2])) + sum(_DOUBLED[int(d)] for d in digits[-2::-2])
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """Whether ``digits`` (digits only) could be a payment card: Luhn-valid, and the length
    and prefix of a real issuer.

    >>> is_card_number("4111111111111111"), is_card_number("4111111111111112")
    (True, False)
    >>> is_card_number("1732694400007")  # a millisecond timestamp that passes the Luhn check
    False
    """
    n = len(digits)
    if not 13 <= n <= 19 or not _luhn(digits):
        return False
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":  # Visa (13 is legacy)
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard, 2-series included
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925:  # Discover
        return 16 <= n <= 19
    if 3528 <= p4 <= 3589:  # JCB
        return 16 <= n <= 19
    if 300 <= p3 <= 305 or p4 == 3095 or p2 in (36, 38, 39):  # Diners Club
        return 14 <= n <= 19
    if p2 == 62:  # UnionPay
        return 16 <= n <= 19
    if p4 in (5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763) or 56 <= p2 <= 58:
        return n >= 13  # Maestro
    return False


def _is_issued_ssn(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_MAX_GROUPS = 40  # a run of more digit groups is cut: bounded work on any text


def _cards_in(run: str, offset: int) -> list[tuple[int, int]]:
    """Spans (in the text) of the card numbers in one run of digit groups.

    A run of one group is a card or not as a whole: digits glued to more digits are never
    split. A run of several is cut at its separators into consecutive groups of 13 to 19
    digits, the longest card first ("4111 1111 1111 1111 123": the card, then a CVV).
    """
    groups = [(m.start(), m.end()) for m in _patterns().group.finditer(run)][:_MAX_GROUPS]
    if len(groups) == 1:
        digits = run
        return [(offset, offset + len(run))] if is_card_number(digits) else []
    found: list[tuple[int, int]] = []
    start = 0
    while start < len(groups):
        best = None
        digits = ""
        for end in range(start, len(groups)):
            digits += run[groups[end][0] : groups[end][1]]
            if len(digits) > 19:
                break
            if len(digits) >= 13 and is_card_number(digits):
                best = end
        if best is None:
            start += 1
            continue
        found.append((offset + groups[start][0], offset + groups[best][1]))
        start = best + 1
    return found


_SCAN_MIN_LENGTH = 11  # "123-45-6789"; a card needs 13 digits


def _scan(text: str, identifier: bool = False) -> tuple[str, str]:
    """``text`` with card numbers and SSNs replaced, and the kind of the first one found."""
    if len(text) < _SCAN_MIN_LENGTH or identifier:
        return text, ""
    plain = text if text.isascii() else text.translate(_digit_table())
    patterns = _patterns()
    if patterns.candidate.search(plain) is None:
        return text, ""
    spans: list[tuple[int, int, str]] = []
    for match in patterns.run.finditer(plain):
        start, end = match.span()
        if end - start < _SCAN_MIN_LENGTH:
            continue  # the common case: a short number, or none
        run = match.group()
        cards = _cards_in(run, start) if end - start >= 13 else []
        spans += [(a, b, _CARD) for a, b in cards]
        for ssn in patterns.ssn.finditer(run):
            if _is_issued_ssn(ssn.group(1), ssn.group(3), ssn.group(4)):
                a, b = start + ssn.start(), start + ssn.end()
                if not any(a < stop and begin < b for begin, stop in cards):
                    spans.append((a, b, _US_SSN))
    if not spans:
        return text, ""
    spans.sort()
    parts = []
    last = 0
    for a, b, _ in spans:
        parts.append(text[last:a])
        parts.append(REDACTED)
        last = b
    parts.append(text[last:])
    return "".join(parts), spans[0][2]


_INT_CARD_MIN = 10**12  # 13 digits
_INT_CARD_MAX = 10**19  # 20 digits


def _is_card_int(value: int | float) -> bool:
    if not _INT_CARD_MIN <= value < _INT_CARD_MAX:
        return False
    if isinstance(value, float):
        if not value.is_integer():
            return False
        value = int(value)
    return is_card_number(int.__repr__(value))


def _only_digits(value: object) -> bool:
    """A PIN or a PAN by key needs digits: an int, or a string of digits and separators."""
    if isinstance(value, int):
        return True
    return isinstance(value, str) and _patterns().digit_run.fullmatch(value) is not None


# -- the guard ----------------------------------------------------------------------------------


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
    v = variable
    if verdict is _ID_KEY:  # not scanned: any valid value
        return (
            f"(type({v}) is str and {v}.isascii() or type({v}) is int and "
            f"{INT_MIN} <= {v} <= {INT_MAX} or type({v}) is float and {v} - {v} == 0.0 "
            f"or type({v}) is bool)"
        )
    if verdict is _PLAIN_KEY:  # scanned only when long enough or large enough
        return (
            f"(type({v}) is int and {INT_MIN} <= {v} < {_INT_CARD_MIN} or type({v}) is str "
            f"and len({v}) < {_SCAN_MIN_LENGTH} and {v}.isascii() or type({v}) is float and "
            f"{v} - {v} == 0.0 and not {_INT_CARD_MIN} <= {v} < {_INT_CARD_MAX} "
            f"or type({v}) is bool)"
        )
    return None


_MAX_CACHED_KEYS = 4096
_MAX_CACHED_NAMES = 1024


def is_clean_name(name: str) -> bool:
    """Whether the guard (with no ``sensitive_patterns``) finds nothing in an event name."""
    return not _scan(name)[1]


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
        extra: list[tuple[str, tuple[str, ...]]] = []
        for entry in (*extra_keys, *sensitive_keys):
            words = tuple(key_words(entry)) if isinstance(entry, str) else ()
            if not words:
                raise ConfigurationError(
                    f"sensitive_keys entry {entry!r} has no letters or digits; "
                    "give key words such as 'iban' or 'tax_id'."
                )
            extra.append((entry, words))
        patterns: list[tuple[str, re.Pattern[str]]] = []
        for pattern in sensitive_patterns:
            try:
                compiled = re.compile(pattern)
            except (re.error, TypeError) as exc:
                raise ConfigurationError(
                    f"sensitive_patterns entry {pattern!r} is not a regular expression ({exc})."
                ) from None
            patterns.append((compiled.pattern, compiled))
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
        #: Event names found clean: most events reuse a handful of names.
        self._clean_names: set[str] = set()

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
        name = event.name
        if len(name) >= short and name not in self._clean_names:
            redacted += self._scrub_field(event, "name", name, origin)
        user_id = event.user_id
        if user_id is not None and len(user_id) >= short:
            redacted += self._scrub_field(event, "user_id", user_id, origin)
        link_id = event.link_id
        if link_id is not None and len(link_id) >= short:
            redacted += self._scrub_field(event, "link_id", link_id, origin)
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
                elif verdict is _ID_KEY:
                    if kind is str:
                        if value.isascii() or is_unicode(value):
                            continue
                    elif kind is int:
                        if INT_MIN <= value <= INT_MAX:
                            continue
                    elif kind is float:
                        if value - value == 0.0:
                            continue
                    elif kind is bool:
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
            raise self._field_error(
                cleaned if field == "name" else event.name, origin, shown, finding
            )
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
            finding = verdict.finding
            if kind is float:
                if verdict.identifier or not _is_card_int(value):
                    continue
                replacement: str = REDACTED
                finding = _T_SENSITIVE_BY_VALUE.format(kind=_CARD)
            elif finding and (not verdict.digits_only or _only_digits(value)):
                replacement = REDACTED
            elif kind is str:
                replacement, finding = self._scan_text(value, verdict.identifier)
                if not finding:
                    continue
            elif kind is int:
                if verdict.identifier or not _is_card_int(value):
                    continue
                replacement = REDACTED
                finding = _T_SENSITIVE_BY_VALUE.format(kind=_CARD)
            else:
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
        words = key_words(key)
        verdict = _KeyVerdict("", False, _is_identifier(words))
        renamed, renamed_finding = self._scan_text(key)
        for entry, run in self._extra:
            if _contains_run(words, run):
                verdict = _KeyVerdict(_T_SENSITIVE_EXTRA_KEY.format(entry=entry), False, False)
                break
        else:
            kind, digits_only = _key_kind(words)
            if kind:
                finding = _T_SENSITIVE_BY_KEY.format(kind=kind)
                verdict = _KeyVerdict(finding, digits_only, verdict.identifier)
        if renamed_finding:
            verdict = verdict._replace(renamed=renamed, renamed_finding=renamed_finding)
        elif verdict in (_PLAIN_KEY, _ID_KEY):  # equal, maybe not the same object
            verdict = _ID_KEY if verdict.identifier else _PLAIN_KEY
        if len(self._cache) >= _MAX_CACHED_KEYS:
            self._cache.clear()
        self._cache[key] = verdict
        return verdict

    @staticmethod
    def _field_error(
        event_name: str, origin: str | None, field: str, finding: str
    ) -> InvalidEventError:
        message = _AT_FIELD.format(where=_where(event_name, origin), field=field, problem=finding)
        return InvalidEventError(message, event_name=event_name, key=field, reason="sensitive_data")
