"""kill -9 after send() returned: with the outbox, a new process delivers everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from weespin_instrument.collector import Collector

from ._support import KEY, PythonRunner, free_port

pytestmark = pytest.mark.reliability

EVENTS = 500


def crashing_script(base_url: str, outbox: Path) -> str:
    return f"""
        import time
        import weespin_instrument as weespin
        weespin.configure(
            api_key={KEY!r}, base_url={base_url!r}, device_id="ws_device_1", outbox={str(outbox)!r}
        )
        for n in range(EVENTS := {EVENTS}):
            weespin.track("open_app", {{"n": n}})
        print("tracked", flush=True)
        time.sleep(600)
        """


def restarted_script(base_url: str, outbox: Path) -> str:
    return f"""
        import weespin_instrument as weespin
        weespin.configure(
            api_key={KEY!r}, base_url={base_url!r}, device_id="ws_device_1", outbox={str(outbox)!r}
        )
        weespin.track("restarted")
        assert weespin.flush(timeout=60.0)
        print(weespin.stats().sent, flush=True)
        """


def kill_after_tracking(python: PythonRunner, code: str) -> None:
    process = python(code)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "tracked"
    process.kill()  # SIGKILL: no atexit, no flush, no goodbye
    process.wait(timeout=30)


def test_events_of_a_killed_process_are_sent_by_the_next_one(
    tmp_path: Path, python: PythonRunner
) -> None:
    outbox = tmp_path / "outbox.sqlite"
    port = free_port()  # the API is down while the first process runs, then comes back
    kill_after_tracking(python, crashing_script(f"http://127.0.0.1:{port}", outbox))
    with Collector(port=port, db=tmp_path / "collector.sqlite") as collector:
        process = python(restarted_script(collector.url, outbox))
        out, err = process.communicate(timeout=90)
        assert process.returncode == 0, err
        assert int(out) == EVENTS + 1
        assert sorted(r["payload"]["n"] for r in collector.events("open_app")) == list(
            range(EVENTS)
        )
        assert collector.stats()["duplicates"] == 0


def test_a_process_killed_mid_delivery_loses_nothing(tmp_path: Path, python: PythonRunner) -> None:
    outbox = tmp_path / "outbox.sqlite"
    with Collector(db=tmp_path / "collector.sqlite") as collector:
        collector.set_latency(100)  # some delivered, some in flight, some queued at the kill
        kill_after_tracking(python, crashing_script(collector.url, outbox))
        collector.set_latency(0)
        process = python(restarted_script(collector.url, outbox))
        _, err = process.communicate(timeout=90)
        assert process.returncode == 0, err
        # At least once: an event in flight at the kill may be sent twice; stored once.
        rows = collector.events("open_app")
        assert sorted(r["payload"]["n"] for r in rows) == list(range(EVENTS))


def test_a_new_process_that_only_flushes_sends_what_a_dead_one_left(
    tmp_path: Path, python: PythonRunner
) -> None:
    outbox = tmp_path / "outbox.sqlite"
    port = free_port()
    kill_after_tracking(python, crashing_script(f"http://127.0.0.1:{port}", outbox))
    with Collector(port=port, db=tmp_path / "collector.sqlite") as collector:
        process = python(
            f"""
            import weespin_instrument as weespin
            weespin.configure(
                api_key={KEY!r}, base_url={collector.url!r}, device_id="ws_device_1",
                outbox={str(outbox)!r},
            )
            assert weespin.flush(timeout=60.0)  # no event tracked: the outbox alone
            print(weespin.stats().sent, flush=True)
            """
        )
        out, err = process.communicate(timeout=90)
        assert process.returncode == 0, err
        assert int(out) == EVENTS
        assert len(collector.events("open_app")) == EVENTS
