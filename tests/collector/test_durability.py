"""Durability: a 200 means the row is committed, even if the process is killed right after."""

from __future__ import annotations

import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")


def test_an_acknowledged_event_survives_kill_9(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    db = tmp_path / "durable.sqlite"
    server = run_cli("collector", "--port", "0", "--db", str(db))
    url = server.wait_for_url()

    response = httpx.post(
        url + "/events",
        headers={"Authorization": "k"},
        json={"event_name": "purchase", "device_id": "d", "event_id": "must-survive"},
    )
    server.process.kill()  # SIGKILL: no clean shutdown, no checkpoint
    server.process.wait(timeout=15)

    assert response.status_code == 200
    assert server.process.returncode == -signal.SIGKILL
    assert db.with_name(db.name + "-wal").exists(), "killed before any clean checkpoint"
    with sqlite3.connect(db) as reopened:
        rows = reopened.execute("SELECT event_id, event_name FROM events").fetchall()
    assert rows == [("must-survive", "purchase")]
