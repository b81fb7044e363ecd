"""The enumerations of the settings, each defined once: a ``Literal`` and its values.

Type checkers read the ``Literal``; the code checking a value reads the tuple derived from it,
so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

__all__ = [
    "OVERFLOW_POLICIES",
    "SENSITIVE_DATA_POLICIES",
    "TRANSPORT_NAMES",
    "OverflowPolicy",
    "SensitiveDataPolicy",
    "TransportName",
    "listed",
]

#: What the sensitive-data guard does with what it finds (``sensitive_data=``).
SensitiveDataPolicy = Literal["redact", "drop_event", "raise", "off"]
SENSITIVE_DATA_POLICIES: tuple[SensitiveDataPolicy, ...] = get_args(SensitiveDataPolicy)

#: What the background transport does with a new event when its queue is full (``overflow=``).
OverflowPolicy = Literal["drop_newest", "drop_oldest", "block"]
OVERFLOW_POLICIES: tuple[OverflowPolicy, ...] = get_args(OverflowPolicy)

#: The transports a name selects (``configure(transport="sync")``, ``WEESPIN_TRANSPORT``).
TransportName = Literal["background", "sync", "console", "memory", "none"]
TRANSPORT_NAMES: tuple[TransportName, ...] = get_args(TransportName)


def listed(values: Iterable[str]) -> str:
    """The values as error messages list them.

    >>> listed(OVERFLOW_POLICIES)
    "'drop_newest', 'drop_oldest', 'block'"
    """
    return ", ".join(repr(value) for value in values)
