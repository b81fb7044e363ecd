"""track()'s plans: what a payload under one event name and one set of keys needs per call.

``track("add_to_cart", {"sku": ..., "quantity": ..., "price": ...})``: the name and the keys
repeat from call to call, the values change. So the name's validation and the guard's verdict
on each key are worked out once per ``(name, *keys)``, into a check compiled for that key set:
a call then tests each value's type and one comparison (a string shorter than an SSN, a number
smaller than a card number, under a key the guard scans; any valid value under an
identifier's key). A value the check does not clear, a name or a key that always needs the
guard, or a payload that is not a plain dict takes the full pipeline, with the same results
and errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._messages import is_unicode
from ._scrub import scanned_keys, value_check
from ._validate import validate_event_name
from .errors import InvalidEventError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._scrub import Scrubber

    #: Whether a payload (a plain dict with the plan's keys) needs nothing but enrich and send.
    Check = Callable[[dict[str, Any]], bool]

__all__ = ["MAX_KEYS", "MAX_PLANS", "PayloadPlans"]

#: Plans kept per client (and names with a first one); past it they are dropped and rebuilt
#: as keys come (a caller with unbounded key sets costs a rebuild per new set, never memory).
MAX_PLANS = 256
#: A payload with more keys than this always takes the full pipeline.
MAX_KEYS = 64
#: The types a value can have and need nothing but a test.
_PLAIN = frozenset({str, int, float, bool})


class PayloadPlans:
    """One client's checks. :attr:`first` holds, per event name, the check of the first key
    set it came with (one dict lookup per call); :meth:`check_for` finds or builds the check of
    any other ``(name, *keys)``. ``None``: a name or key set that always takes the full
    pipeline.

    Example::

        plans = PayloadPlans(Scrubber())
        check = plans.check_for("add_to_cart", {"sku": "SKU-1", "note": "gift"})
        check({"sku": "SKU-1", "note": "gift"})  # True
        check({"sku": "SKU-1", "note": "4111 1111 1111 1111"})  # False: for the guard
        plans.check_for("signup", {"password": "hunter2"}) is None  # True: redacted, always
    """

    __slots__ = ("_by_keys", "_scrubber", "first")

    def __init__(self, scrubber: Scrubber) -> None:
        self._scrubber = scrubber
        #: Per event name, the check of its first key set.
        self.first: dict[str, Check] = {}
        self._by_keys: dict[tuple[object, ...], Check | None] = {}

    def __len__(self) -> int:
        """How many key sets have a plan (or are known to need none)."""
        return len(self._by_keys)

    def check_for(self, name: str, payload: dict[Any, Any]) -> Check | None:
        """The check of ``payload``'s key set under ``name``, built on first sight."""
        key = (name, *payload)
        try:
            return self._by_keys[key]
        except KeyError:
            pass
        check = self._build(name, key[1:])
        for cache in (self._by_keys, self.first):
            if len(cache) >= MAX_PLANS:
                cache.clear()
        self._by_keys[key] = check
        if check is not None and name not in self.first:
            # The first check of a name also tests each value for the type it has now (a
            # field's type rarely changes): one test per value, not four.
            kinds = tuple(map(type, payload.values()))
            typed = self._build(name, key[1:], kinds) if _PLAIN.issuperset(kinds) else check
            self.first[name] = typed or check
        return check

    def _build(
        self, name: str, keys: tuple[object, ...], kinds: tuple[type, ...] | None = None
    ) -> Check | None:
        if len(keys) > MAX_KEYS:
            return None
        try:
            validate_event_name(name)
        except InvalidEventError:
            return None  # the full pipeline says why
        if not all(type(key) is str and key and is_unicode(key) for key in keys):
            return None  # a str subclass, a key to refuse: the full pipeline
        scanned = scanned_keys(self._scrubber, name, keys)  # type: ignore[arg-type]
        return None if scanned is None else _compile(keys, scanned, kinds)  # type: ignore[arg-type]


def _compile(
    keys: tuple[str, ...], scanned: tuple[bool, ...], kinds: tuple[type, ...] | None
) -> Check:
    """``check(payload)``: whether ``payload`` has exactly ``keys`` (the same objects, as
    literal keys are, or equal ones of type ``str``) and every value passes its key's
    :func:`~._scrub.value_check` (for the type in ``kinds``, when given)."""
    n = len(keys)
    k = [f"k{i}" for i in range(n)]
    v = [f"v{i}" for i in range(n)]
    same = [f"({a} is K{i} or type({a}) is str and {a} == K{i})" for i, a in enumerate(k)]
    values = [
        value_check(b, scanned=s, kind=None if kinds is None else kinds[i])
        for i, (b, s) in enumerate(zip(v, scanned, strict=True))
    ]
    # The keys by unpacking (which also says whether there are n: no len() call), each value
    # by its key once the keys passed (a lookup that finds the very key at once), not by a
    # second walk over the dict: payload.values() costs an iterator more.
    unpack = (
        f"        try:\n            {', '.join(k)}, = payload\n"
        "        except ValueError:\n            return False\n"
        if n
        else "        if payload:\n            return False\n"
    )
    lookups = "".join(f"        {b} = payload[{a}]\n" for a, b in zip(k, v, strict=True))
    source = (
        f"def make({', '.join(f'K{i}' for i in range(n))}):\n"
        "    def check(payload):\n"
        f"{unpack}"
        f"        if not ({' and '.join(same) or 'True'}):\n"
        "            return False\n"
        f"{lookups}"
        f"        return {' and '.join(values) or 'True'}\n"
        "    return check\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, "<weespin payload plan>", "exec"), namespace)
    check: Check = namespace["make"](*keys)
    return check
