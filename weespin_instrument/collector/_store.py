"""The collector's SQLite store: events (de-duplicated by ``event_id``) and devices.

One connection in autocommit mode, shared by the server's event loop and the test helpers
under a lock. WAL journal with ``synchronous=NORMAL``: every statement is committed before it
returns, so a row is on disk (in the WAL) before the collector answers 200, and a process
killed right after loses nothing.

Example::

    store = Store("/tmp/events.sqlite")
    store.insert_event(event, event_id="e1", received=time.time())  # True: stored
    store.insert_event(event, event_id="e1", received=time.time())  # False: a duplicate
    store.events(name="purchase")
    store.close()
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._wire import WireEvent

__all__ = ["EventQuery", "Store", "iso_utc"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL UNIQUE,
    event_name  TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    user_id     TEXT,
    link_id     TEXT,
    payload     TEXT NOT NULL,
    timestamp   TEXT,
    trace_id    TEXT,
    span_id     TEXT,
    received_at TEXT NOT NULL,
    received_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_name ON events (event_name);
CREATE TABLE IF NOT EXISTS devices (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id  TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
"""

_INSERT_EVENT = """
INSERT INTO events (event_id, event_name, device_id, user_id, link_id, payload, timestamp,
                    trace_id, span_id, received_at, received_ts)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id) DO NOTHING
"""

_COLUMNS = (
    "seq, event_id, event_name, device_id, user_id, link_id, payload, timestamp, "
    "trace_id, span_id, received_at"
)


def iso_utc(seconds: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds.

    >>> iso_utc(0)
    '1970-01-01T00:00:00.000Z'
    """
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class EventQuery:
    """Filters of an events query; ``None`` means "no filter".

    Example::

        EventQuery(name="purchase", after=10, limit=50, descending=False)
    """

    name: str | None = None
    user_id: str | None = None
    device_id: str | None = None
    link_id: str | None = None
    #: Received at or after this moment (epoch seconds).
    since: float | None = None
    #: Only events whose ``seq`` is strictly greater.
    after: int | None = None
    limit: int | None = None
    descending: bool = False
    #: Text found (case-insensitively for ASCII) in the name, an id or the payload's JSON.
    text: str | None = None


class Store:
    """The SQLite file behind a collector. Thread-safe.

    Example::

        with contextlib.closing(Store(path)) as store:
            print(store.count_events())
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=10.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def insert_events(self, items: Sequence[tuple[WireEvent, str, float]]) -> list[bool]:
        """Store events ``(event, event_id, received)`` in one transaction (a group commit).

        Returns, for each, ``True`` if stored and ``False`` if its ``event_id`` was already
        there (a duplicate, also within the same batch). All or none are committed.
        """
        rows = [_event_row(event, event_id, received) for event, event_id, received in items]
        with self._lock:
            if len(rows) == 1:
                return [self._db.execute(_INSERT_EVENT, rows[0]).rowcount == 1]
            self._db.execute("BEGIN")
            try:
                stored = [self._db.execute(_INSERT_EVENT, row).rowcount == 1 for row in rows]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return stored

    def insert_event(self, event: WireEvent, *, event_id: str, received: float) -> bool:
        """Store one event; ``False`` when its ``event_id`` is already stored (a duplicate)."""
        return self.insert_events([(event, event_id, received)])[0]

    def insert_device(self, device_id: str, *, created: float) -> None:
        """Record a device made by an initialization request."""
        with self._lock:
            self._db.execute(
                "INSERT INTO devices (device_id, created_at) VALUES (?, ?)",
                (device_id, iso_utc(created)),
            )

    def events(self, query: EventQuery) -> list[dict[str, Any]]:
        """The events matching ``query``, as the API shows them."""
        where, params = _where(query)
        if query.after is not None:
            where.append("seq > ?")
            params.append(query.after)
        sql = f"SELECT {_COLUMNS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC" if query.descending else " ORDER BY seq ASC"
        if query.limit is not None:
            sql += " LIMIT ?"
            params.append(query.limit)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [_event_dict(row) for row in rows]

    def count_matching(self, query: EventQuery) -> int:
        """How many stored events match ``query``'s filters (``after`` and ``limit`` aside).

        The "M" of "latest N of M" on the live page.
        """
        where, params = _where(query)
        sql = "SELECT count(*) FROM events" + (" WHERE " + " AND ".join(where) if where else "")
        with self._lock:
            (count,) = self._db.execute(sql, params).fetchone()
        return int(count)

    def devices(self) -> list[str]:
        """Every device id made by an initialization request, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT device_id FROM devices ORDER BY seq").fetchall()
        return [row[0] for row in rows]

    def count_events(self) -> int:
        """How many events the file holds (this run's and earlier runs')."""
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM events").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed into the main file)."""
        with self._lock:
            self._db.close()


def _where(query: EventQuery) -> tuple[list[str], list[Any]]:
    """The SQL conditions of ``query``'s filters (not ``after``), and their parameters."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("event_name", query.name),
        ("user_id", query.user_id),
        ("device_id", query.device_id),
        ("link_id", query.link_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if query.since is not None:
        where.append("received_ts >= ?")
        params.append(query.since)
    if query.text:
        escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        columns = ("event_name", "device_id", "user_id", "link_id", "event_id", "payload")
        where.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")")
        params.extend([f"%{escaped}%"] * len(columns))
    return where, params


def _event_row(event: WireEvent, event_id: str, received: float) -> tuple[Any, ...]:
    return (
        event_id,
        event.event_name,
        event.device_id,
        event.user_id,
        event.link_id,
        json.dumps(event.payload, ensure_ascii=False, separators=(",", ":")),
        event.timestamp,
        event.trace_id,
        event.span_id,
        iso_utc(received),
        received,
    )


def _event_dict(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "seq": row[0],
        "event_id": row[1],
        "event_name": row[2],
        "device_id": row[3],
        "user_id": row[4],
        "link_id": row[5],
        "payload": json.loads(row[6]),
        "timestamp": row[7],
        "trace_id": row[8],
        "span_id": row[9],
        "received_at": row[10],
    }
