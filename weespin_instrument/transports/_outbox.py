"""The durable outbox: events committed to SQLite before ``send()`` returns, removed once sent.

At-least-once delivery across crashes: a row leaves the file only when the API accepted
its event (or refused it for good: a 4xx other than 401/403, or its retry budget ran out).
A process that dies leaves its rows behind; the next process that opens the file claims
them and sends them, with their original ``event_id`` so the receiver can de-duplicate.

Several processes (and several clients of one process) may share one file. Each outbox
registers as an owner and sends only its own rows; it claims another owner's rows once
that owner is gone: its pid no longer exists on this host (or, in this process, that
outbox was released), or its heartbeat (refreshed by the sender every few seconds) is
older than :data:`STALE_AFTER` seconds.

Rows are bound to their destination: the base URL and a fingerprint of the API key (a
hash, never the key). An outbox claims only rows written for its own destination, so an
event is never delivered to another API, nor with another application's key.

The outbox never raises into the caller: on the first SQLite or OS error (a full disk, a
corrupt file, a path that cannot be a database, a read-only file) it logs one error,
closes the file and stops being used; delivery goes on from memory, and :meth:`Outbox.add`
answers ``False`` for events it could not make durable (the transport counts them).

Durability: WAL with ``synchronous=NORMAL``: a commit survives the process being killed
(``kill -9``), not a power loss. Each ``add`` is one short transaction; threads adding at
the same moment share one commit (group commit) and each still returns only once its own
row is committed.

Example::

    outbox = Outbox("/var/lib/myapp/weespin-outbox.sqlite")
    outbox.add(event)                 # committed when this returns
    outbox.discard([event.event_id])  # after the API accepted it
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from .._event import Event
from .._fork import keep_forever
from .._reporting import logger

__all__ = ["STALE_AFTER", "Outbox", "decode_event", "destination_of", "encode_event"]

_T = TypeVar("_T")
#: What breaks an outbox: SQLite's errors and the file system's.
_STORAGE_ERRORS = (sqlite3.Error, OSError)
#: Owner tokens of the outboxes open in this process (pid checks cannot tell them apart).
_live_tokens: set[str] = set()

#: Seconds without a heartbeat after which an owner's rows are claimed by another process.
STALE_AFTER = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    recovered INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    destination TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS outbox_event_id ON outbox (event_id);
CREATE INDEX IF NOT EXISTS outbox_owner ON outbox (owner, recovered);
CREATE TABLE IF NOT EXISTS owners (
    token TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    heartbeat REAL NOT NULL
);
"""


def destination_of(base_url: str, api_key: str | None) -> str:
    """What an outbox row is bound to: the base URL and a fingerprint of the key.

    >>> destination_of("http://127.0.0.1:8765/", "secret")[:22]
    'http://127.0.0.1:8765 '
    """
    fingerprint = hashlib.sha256((api_key or "").encode()).hexdigest()[:16]
    return f"{base_url.rstrip('/')} {fingerprint}"


def encode_event(event: Event) -> str:
    """An event as the JSON text an outbox row keeps (its ``event_id`` included)."""
    return json.dumps(
        {
            "id": event.event_id,
            "n": event.name,
            "p": event.payload,
            "u": event.user_id,
            "l": event.link_id,
            "d": event.device_id,
            "t": event.timestamp,
            "ti": event.trace_id,
            "si": event.span_id,
        },
        separators=(",", ":"),
    )


def decode_event(text: str) -> Event:
    """The event :func:`encode_event` wrote."""
    data = json.loads(text)
    return Event(
        data["n"],
        data["p"],
        user_id=data["u"],
        link_id=data["l"],
        device_id=data["d"],
        timestamp=data["t"],
        trace_id=data["ti"],
        span_id=data["si"],
        event_id=data["id"],
    )


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # The connection is in autocommit mode (isolation_level=None): transactions are explicit,
    # and IMMEDIATE, so a writer waits (busy timeout) instead of failing on a lock upgrade.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class _Pending:
    __slots__ = ("done", "error", "row")

    def __init__(self, row: tuple[str, str, str, str]) -> None:
        self.row = row
        self.done = False
        self.error: BaseException | None = None


class Outbox:
    """A SQLite file of events not yet accepted by the API. Thread-safe; opened on first use.

    Example::

        outbox = Outbox("outbox.sqlite")
        outbox.add(event)
        outbox.take_recovered(500)  # rows a dead process left, now ours to send
    """

    _conn: sqlite3.Connection | None
    _lock: threading.Lock
    _waiting: deque[_Pending]
    _token: str
    _backlog: int
    _forgotten: list[str]

    def __init__(self, path: str | os.PathLike[str], *, destination: str = "") -> None:
        self.path = Path(path).expanduser()
        self.destination = destination
        #: The error that made this outbox unusable, if one did (then nothing is durable).
        self.broken: BaseException | None = None
        self._host = socket.gethostname()
        self._reset()

    def __repr__(self) -> str:
        return f"Outbox({str(self.path)!r})"

    # -- for the caller ------------------------------------------------------------------------

    def add(self, event: Event) -> bool:
        """Commit ``event``; return once it is on disk. ``False``: it could not be made durable."""
        if self.broken is not None:
            return False
        item = _Pending((event.event_id, self._token, encode_event(event), self.destination))
        self._waiting.append(item)
        with self._lock:
            if not item.done:
                try:
                    conn = self._connection()
                except _STORAGE_ERRORS as exc:
                    self._fail(exc)
                    return False
                self._commit_waiting(conn)
        if item.error is not None:
            self._fail(item.error)
            return False
        return True

    # -- for the sender ------------------------------------------------------------------------

    def discard(self, event_ids: Iterable[str]) -> None:
        """Remove these events' rows (delivered, or refused for good)."""
        rows = [(event_id,) for event_id in event_ids]
        if rows:
            self._guarded(None, lambda conn: self._discard(conn, rows))

    def backlog(self) -> int:
        """How many claimed rows (left by dead processes) wait to be taken."""
        return self._guarded(0, lambda conn: self._backlog)

    def take_recovered(self, limit: int) -> list[Event]:
        """Up to ``limit`` rows left by dead processes (oldest first), now held in memory."""
        nothing: list[tuple[int, str]] = []
        rows = self._guarded(nothing, lambda conn: self._take(conn, limit))
        events = []
        for _, body in rows:
            try:
                events.append(decode_event(body))
            except (ValueError, KeyError, TypeError):
                continue  # a corrupt row: nothing to send
        return events

    def take_backlog(self, limit: int) -> list[Event]:
        """:meth:`take_recovered`, logging (not raising) an unexpected error."""
        try:
            return self.take_recovered(limit)
        except Exception:
            logger.exception("weespin: could not read the outbox")
            return []

    def forget(self, event_id: str) -> bool:
        """Note that ``event_id``'s row may go; ``True`` when it starts a new batch: then call
        :meth:`discard_forgotten` soon (the sender does, once per loop pass)."""
        first = not self._forgotten
        self._forgotten.append(event_id)
        return first

    def discard_forgotten(self) -> None:
        """Remove the rows :meth:`forget` noted, in one transaction; log, not raise, an error."""
        ids, self._forgotten = self._forgotten, []
        if ids:
            try:
                self.discard(ids)
            except Exception:
                logger.exception("weespin: could not update the outbox; events may be resent")

    def heartbeat(self) -> int:
        """Say this process is alive; claim rows of owners that are gone. Returns the backlog."""
        return self._guarded(0, self._heartbeat)

    def release(self) -> None:
        """Close the file. Rows still here become claimable at once by any process."""
        with self._lock:
            conn, self._conn = self._conn, None
            _live_tokens.discard(self._token)
            if conn is None:
                return
            try:
                with _transaction(conn):
                    conn.execute("DELETE FROM owners WHERE token = ?", (self._token,))
            except _STORAGE_ERRORS as exc:
                self._fail(exc)
            finally:
                with contextlib.suppress(*_STORAGE_ERRORS):
                    conn.close()

    def after_fork(self) -> None:
        """In a forked child: leave the parent's connection alone; the child opens its own."""
        if self._conn is not None:
            keep_forever(self._conn)  # SQLite: never use nor close a connection across fork
        _live_tokens.discard(self._token)  # the parent's, not this process's
        self._reset()

    # -- internals -----------------------------------------------------------------------------

    def _reset(self) -> None:
        self._conn = None
        self._lock = threading.Lock()
        self._waiting = deque()
        self._token = uuid.uuid4().hex
        self._backlog = 0
        self._forgotten = []

    def _guarded(self, default: _T, action: Callable[[sqlite3.Connection], _T]) -> _T:
        """``action(connection)`` under the lock; on a storage error, fail once and ``default``."""
        if self.broken is not None:
            return default
        with self._lock:
            try:
                return action(self._connection())
            except _STORAGE_ERRORS as exc:
                self._fail(exc)
                return default

    def _fail(self, error: BaseException) -> None:
        """Stop using the file: log once, close it; delivery goes on from memory."""
        if self.broken is not None:
            return
        self.broken = error
        conn, self._conn = self._conn, None
        _live_tokens.discard(self._token)
        if conn is not None:
            with contextlib.suppress(*_STORAGE_ERRORS):
                conn.close()
        logger.error(
            "weespin: the outbox %s cannot be used (%s: %s); delivery continues from memory, "
            "and events tracked from now on are not durable (counted as not_durable in "
            "weespin.stats()). Check that the path is a writable file on a disk with room.",
            self.path,
            type(error).__name__,
            error,
        )

    def _discard(self, conn: sqlite3.Connection, rows: list[tuple[str]]) -> None:
        with _transaction(conn):
            conn.executemany("DELETE FROM outbox WHERE event_id = ?", rows)

    def _take(self, conn: sqlite3.Connection, limit: int) -> list[tuple[int, str]]:
        if self._backlog <= 0 or limit <= 0:
            return []
        with _transaction(conn):
            rows: list[tuple[int, str]] = conn.execute(
                "SELECT seq, body FROM outbox WHERE owner = ? AND recovered = 1 "
                "ORDER BY seq LIMIT ?",
                (self._token, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE outbox SET recovered = 0 WHERE seq = ?", [(seq,) for seq, _ in rows]
            )
        self._backlog = 0 if len(rows) < limit else self._backlog - len(rows)
        return rows

    def _heartbeat(self, conn: sqlite3.Connection) -> int:
        with _transaction(conn):
            updated = conn.execute(
                "UPDATE owners SET heartbeat = ? WHERE token = ?", (time.time(), self._token)
            ).rowcount
            if not updated:  # another process took us for dead: register again
                self._register(conn)
        self._claim(conn)
        return self._backlog

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is not None:
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
            if "destination" not in columns:  # a file written before rows had a destination
                conn.execute("ALTER TABLE outbox ADD COLUMN destination TEXT NOT NULL DEFAULT ''")
            with _transaction(conn):
                self._register(conn)
            self._claim(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        _live_tokens.add(self._token)
        return conn

    def _register(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO owners (token, host, pid, heartbeat) VALUES (?, ?, ?, ?)",
            (self._token, self._host, os.getpid(), time.time()),
        )

    def _claim(self, conn: sqlite3.Connection) -> None:
        now = time.time()
        owners = conn.execute(
            "SELECT token, host, pid, heartbeat FROM owners WHERE token != ?", (self._token,)
        ).fetchall()
        gone = [
            (token,) for token, host, pid, beat in owners if self._gone(token, host, pid, beat, now)
        ]
        with _transaction(conn):
            conn.executemany("DELETE FROM owners WHERE token = ?", gone)
            # Only rows written for this destination ('' : a file from before destinations).
            conn.execute(
                "UPDATE outbox SET owner = ?, recovered = 1 "
                "WHERE owner NOT IN (SELECT token FROM owners) AND destination IN (?, '')",
                (self._token, self.destination),
            )
            (backlog,) = conn.execute(
                "SELECT count(*) FROM outbox WHERE owner = ? AND recovered = 1", (self._token,)
            ).fetchone()
        self._backlog = int(backlog)

    def _gone(self, token: str, host: str, pid: int, heartbeat: float, now: float) -> bool:
        if now - heartbeat > STALE_AFTER:
            return True
        if host != self._host or sys.platform == "win32":  # os.kill(pid, 0) kills on Windows
            return False
        if pid == os.getpid():
            # Another outbox of this process (another client) is alive while it is open;
            # otherwise the owner was an earlier process with our pid (a restarted container).
            return token not in _live_tokens
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False  # exists, not ours to signal
        return False

    def _commit_waiting(self, conn: sqlite3.Connection) -> None:
        batch: list[_Pending] = []
        while self._waiting:
            batch.append(self._waiting.popleft())
        try:
            with _transaction(conn):
                conn.executemany(
                    "INSERT INTO outbox (event_id, owner, body, destination) VALUES (?, ?, ?, ?)",
                    [item.row for item in batch],
                )
        except BaseException as exc:
            for item in batch:
                item.error = exc
        finally:
            for item in batch:
                item.done = True
