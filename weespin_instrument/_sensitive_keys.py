"""Which key names say their value is a secret: the word tables and the rules that read them.

A key is split into words (:func:`key_words`) and matched word by word (:func:`_key_kind`);
each key's verdict (:class:`_KeyVerdict`) is computed once and cached by the
:class:`~._scrub.Scrubber`. Adding a sensitive-data rule by key name is adding a word here.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

from ._messages import _T_SENSITIVE_BY_KEY, _T_SENSITIVE_EXTRA_KEY
from ._sensitive_values import _CARD
from .errors import ConfigurationError

__all__ = ["key_verdict", "key_words"]

_PASSWORD = "a password"
_SECRET = "a secret"
_TOKEN = "a token"
_API_KEY = "an API key"
_ACCESS_KEY = "an access key"
_AUTHORIZATION = "credentials"
_PRIVATE_KEY = "a private key"
_OTP = "a one-time password"
_CVV = "a card security code"
_ANSWER = "a security answer"
_SSN = "a social security number"
_PIN = "a PIN"

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
#: Runs of words, by what they name.
_RUNS = {
    _PASSWORD: "mot de passe, pass word, pass phrase, pass code",
    _ANSWER: "security question answer, security answer, secret answer",
    _API_KEY: "api key",
    _ACCESS_KEY: "access key",
    _PRIVATE_KEY: "private key",
    _AUTHORIZATION: "auth header",
    _OTP: "one time password",
    _CARD: "card number, card num, card no, cc number, cc num, cc no, credit card",
    _CVV: "security code",
    _SSN: "social security",
}
#: The same runs as word tuples, longest first.
_PHRASES: tuple[tuple[tuple[str, ...], str], ...] = tuple(
    sorted(
        ((tuple(run.split()), kind) for kind, runs in _RUNS.items() for run in runs.split(", ")),
        key=lambda phrase: -len(phrase[0]),
    )
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


@functools.cache
def _word_pattern() -> re.Pattern[str]:
    return re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def key_words(key: str) -> list[str]:
    """The lower-case words of a key, accents removed, as the guard matches them.

    >>> key_words("user.refreshToken_CVV2")
    ['user', 'refresh', 'token', 'cvv', '2']
    >>> key_words("contraseña")
    ['contrasena']
    """
    if not key.isascii():
        key = "".join(c for c in unicodedata.normalize("NFKD", key) if not unicodedata.combining(c))
    return [word.lower() for word in _word_pattern().findall(key)]


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


def key_verdict(key: str, extra: Iterable[tuple[str, tuple[str, ...]]] = ()) -> _KeyVerdict:
    """What ``key``'s name says about its values; ``extra``: the ``sensitive_keys`` entries
    with their runs of words, which win over the built-in rules.

    >>> key_verdict("password").finding[:30], key_verdict("order_id") is _ID_KEY
    ('looks like a password (by key ', True)
    """
    words = key_words(key)
    identifier = _is_identifier(words)
    for entry, run in extra:
        if _contains_run(words, run):
            return _KeyVerdict(_T_SENSITIVE_EXTRA_KEY.format(entry=entry), False, False)
    kind, digits_only = _key_kind(words)
    if kind:
        return _KeyVerdict(_T_SENSITIVE_BY_KEY.format(kind=kind), digits_only, identifier)
    return _ID_KEY if identifier else _PLAIN_KEY


def _key_runs(entries: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Each ``sensitive_keys`` entry with the run of key words it matches, or raise."""
    runs: list[tuple[str, tuple[str, ...]]] = []
    for entry in entries:
        words = tuple(key_words(entry)) if isinstance(entry, str) else ()
        if not words:
            raise ConfigurationError(
                f"sensitive_keys entry {entry!r} has no letters or digits; "
                "give key words such as 'iban' or 'tax_id'."
            )
        runs.append((entry, words))
    return runs
