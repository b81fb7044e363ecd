"""What a value looks like when it holds a secret: card numbers and US social security numbers.

:func:`_scan` finds them in text (digits in any Unicode script, the separators people type),
:func:`_is_card_int` in numbers; :func:`is_card_number` is the issuer table behind both.
"""

from __future__ import annotations

import functools
import re

__all__ = ["REDACTED", "is_card_number"]

#: What a redacted value (or the part of a string that matched) is replaced with.
REDACTED = "[REDACTED]"

_CARD = "a card number"
_US_SSN = "a US social security number"


class _Patterns:
    """The regular expressions, compiled on first use: that keeps them out of import time."""

    def __init__(self) -> None:
        # A run of digit groups: the separators a person types between them. The run is then
        # cut at its separators into the windows that may be a card (see _cards_in).
        self.run = re.compile(r"[0-9]+(?:(?:[ \u00a0]{1,4}|[ ]?[-./][ ]?)[0-9]+)*")
        self.group = re.compile(r"[0-9]+")
        # 9 digits, a few characters apart at most: what an SSN or a card needs at the least.
        # One quick search that fails on ordinary text before any other work.
        self.candidate = re.compile(r"[0-9](?:[^0-9]{0,4}[0-9]){8}")
        self.ssn = re.compile(r"(?<![0-9])([0-9]{3})([- ])([0-9]{2})\2([0-9]{4})(?![0-9])")
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
