"""Reading the query string of ``GET /api/events`` into an :class:`EventQuery`.

Example::

    parse_query({"name": "purchase", "after": "41", "order": "asc"})
    # EventQuery(name='purchase', after=41, limit=100, descending=False, ...)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone

from ._store import EventQuery

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "QueryError", "parse_query", "parse_since"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


class QueryError(ValueError):
    """A query parameter with a value the endpoint cannot use; the message names it.

    Example::

        parse_query({"limit": "lots"})  # QueryError: 'limit' must be an integer ...
    """


def parse_since(text: str) -> float:
    """Epoch seconds from ``since``: epoch seconds, or ISO 8601 (UTC when no offset is given).

    >>> parse_since("1714564800")
    1714564800.0
    >>> parse_since("2024-05-01T12:00:00Z")
    1714564800.0
    """
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise QueryError("'since' must be a finite number of epoch seconds")
        return seconds
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise QueryError(
            f"'since' must be ISO 8601 (2024-05-01T12:00:00Z) or epoch seconds, not {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _integer(params: Mapping[str, str], key: str, *, minimum: int, maximum: int) -> int | None:
    text = params.get(key)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise QueryError(f"'{key}' must be an integer, not {text!r}") from None
    if not minimum <= value <= maximum:
        raise QueryError(f"'{key}' must be between {minimum} and {maximum}, not {value}")
    return value


def parse_query(params: Mapping[str, str]) -> EventQuery:
    """The filters of an events query; empty values mean "no filter".

    Parameters: ``name``, ``user_id``, ``device_id``, ``link_id`` (exact), ``q`` (text found
    in the name, an id or the payload), ``since``, ``after``, ``limit`` (default 100, at most
    10000), ``order`` (``asc`` or ``desc``, the default). Unknown parameters are ignored.
    """
    order = params.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise QueryError(f"'order' must be 'asc' or 'desc', not {order!r}")
    since_text = params.get("since")
    limit = _integer(params, "limit", minimum=1, maximum=MAX_LIMIT)
    return EventQuery(
        name=params.get("name") or None,
        user_id=params.get("user_id") or None,
        device_id=params.get("device_id") or None,
        link_id=params.get("link_id") or None,
        since=parse_since(since_text) if since_text else None,
        after=_integer(params, "after", minimum=0, maximum=2**63 - 1),
        limit=DEFAULT_LIMIT if limit is None else limit,
        descending=order == "desc",
        text=params.get("q") or None,
    )
