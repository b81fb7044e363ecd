"""The durable outbox: committed before send() returns, claimed from dead owners, fork-safe."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from weespin_instrument import Event
from weespin_instrument.transports import _outbox
from weespin_instrument.transports._outbox import Outbox, decode_event, encode_event


def rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT event_id, owner FROM outbox ORDER BY seq").fetchall()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_an_event_round_trips_with_its_event_id() -> None:
    event = Event("purchase", {"amount": 19.99, "ok": True}, user_id="u_1", link_id="l_1")
    again = decode_event(encode_event(event))
    assert again.event_id == event.event_id
    assert again.to_wire("d") == event.to_wire("d")


def test_add_commits_before_returning_and_discard_removes(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "sub" / "outbox.sqlite")
    first, second = Event("a"), Event("b")
    outbox.add(first)
    outbox.add(second)
    assert [r[0] for r in rows(outbox.path)] == [
        first.event_id,
        second.event_id,
    ]  # another connection
    outbox.discard([first.event_id])
    assert [r[0] for r in rows(outbox.path)] == [second.event_id]
    with sqlite3.connect(outbox.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    outbox.release()


def test_concurrent_adds_all_commit(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    events = [Event("e", {"n": n}) for n in range(400)]

    def add(chunk: list[Event]) -> None:
        for event in chunk:
            outbox.add(event)

    threads = [threading.Thread(target=add, args=(events[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert {r[0] for r in rows(outbox.path)} == {e.event_id for e in events}
    outbox.release()


def test_rows_of_a_dead_process_are_claimed_and_taken_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    dead = Outbox(path)
    events = [Event("e", {"n": n}) for n in range(7)]
    for event in events:
        dead.add(event)
    with sqlite3.connect(path) as conn:  # as if its process had died without a word
        conn.execute("UPDATE owners SET pid = ?", (dead_pid(),))
    heir = Outbox(path)
    assert heir.backlog() == 7
    first = heir.take_recovered(5)
    rest = heir.take_recovered(5)
    assert heir.take_recovered(5) == []
    assert [e.event_id for e in first + rest] == [e.event_id for e in events]
    assert heir.backlog() == 0
    heir.release()


def test_rows_of_a_live_process_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    sibling = Outbox(path)
    sibling.add(Event("e"))
    with sqlite3.connect(path) as conn:  # a live process that is not us: our parent
        conn.execute("UPDATE owners SET pid = ?", (os.getppid(),))
    assert Outbox(path).backlog() == 0


def test_a_stale_heartbeat_counts_as_dead(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    Outbox(path).add(Event("e"))
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE owners SET pid = ?, heartbeat = ?",
            (os.getppid(), time.time() - _outbox.STALE_AFTER - 1),
        )
    assert Outbox(path).backlog() == 1


def test_rows_left_at_release_are_claimable_at_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    first = Outbox(path)
    first.add(Event("e"))
    first.release()
    heir = Outbox(path)
    assert heir.heartbeat() == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_writes_with_its_own_connection_and_owner(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add(Event("parent"))
    pid = os.fork()
    if pid == 0:
        try:
            outbox.after_fork()
            outbox.add(Event("child"))
            outbox.release()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    outbox.add(Event("parent again"))  # the parent's connection still works
    owners = [owner for _, owner in rows(outbox.path)]
    assert len(owners) == 3 and owners[0] == owners[2] != owners[1]
    outbox.release()
