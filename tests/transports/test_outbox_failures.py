"""The outbox never raises into the caller and never misdelivers.

A file that cannot be used (corrupt, a directory, under a file, read-only, a full disk)
is logged once; delivery goes on from memory and the events that were not made durable
are counted. Rows are bound to their destination and owned by one client.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from weespin_instrument import Client
from weespin_instrument.collector import Collector
from weespin_instrument.transports._outbox import Outbox, destination_of

KEY = "outbox-test-key"
EVENTS = 20


def corrupt(tmp_path: Path) -> Path:
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"this is not a database, it is a text file " * 100)
    return path


def a_directory(tmp_path: Path) -> Path:
    path = tmp_path / "outbox.sqlite"
    path.mkdir()
    return path


def under_a_file(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("x")
    return tmp_path / "a-file" / "outbox.sqlite"


@pytest.mark.parametrize("unusable", [corrupt, a_directory, under_a_file])
def test_an_unusable_outbox_never_raises_and_delivery_continues_from_memory(
    collector: Collector,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    unusable: Callable[[Path], Path],
) -> None:
    path = unusable(tmp_path)
    client = Client(api_key=KEY, base_url=collector.url, device_id="ws_device_1", outbox=path)
    with caplog.at_level(logging.ERROR, logger="weespin_instrument"):
        for n in range(EVENTS):
            client.track("open_app", {"n": n})
        assert client.flush(timeout=10.0)
        assert client.shutdown(timeout=5.0)
    stats = client.stats()
    assert (stats.sent, stats.dropped, stats.not_durable) == (EVENTS, {}, EVENTS)
    assert len(collector.events()) == EVENTS
    errors = [r.getMessage() for r in caplog.records if "cannot be used" in r.getMessage()]
    assert len(errors) == 1 and str(path) in errors[0], errors


SCRIPT = """
import os, resource, signal, sys
import weespin_instrument as weespin
{prepare}
client = weespin.Client(api_key={key!r}, base_url={url!r}, device_id="ws_device_1",
                        outbox={path!r})
for n in range({events}):
    client.track("open_app", {{"n": n, "pad": "x" * 2000}})
assert client.flush(timeout=20.0)
client.shutdown(timeout=5.0)
stats = client.stats()
print(stats.sent, stats.not_durable, sum(stats.dropped.values()))
"""

FULL_DISK = """
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (200 * 1024, 200 * 1024))
"""


def run_script(prepare: str, path: Path, url: str, events: int = 200) -> list[int]:
    code = SCRIPT.format(prepare=prepare, key=KEY, url=url, path=str(path), events=events)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEESPIN_")}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=path.parent,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("cannot be used") == 1, done.stderr  # one clear error
    return [int(word) for word in done.stdout.split()]


def test_a_full_disk_is_one_error_and_the_rest_is_delivered_from_memory(
    collector: Collector, tmp_path: Path
) -> None:
    sent, not_durable, dropped = run_script(FULL_DISK, tmp_path / "outbox.sqlite", collector.url)
    assert (sent, dropped) == (200, 0)
    assert 0 < not_durable < 200  # the first rows fit, then the disk was "full"
    assert len(collector.events()) == 200


def make_read_only(*paths: Path) -> Callable[[], None]:
    """Make ``paths`` read-only, even for root (``chattr +i``); returns the undo."""
    if os.geteuid() != 0:
        for path in paths:
            os.chmod(path, 0o555 if path.is_dir() else 0o444)
        return lambda: [os.chmod(path, 0o755) for path in paths] and None
    if shutil.which("chattr") is None:
        pytest.skip("root ignores file modes and chattr is missing: cannot make a file read-only")
    done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"root ignores file modes and chattr +i failed here: {done.stderr.strip()}")
    return lambda: subprocess.run(["chattr", "-i", *map(str, paths)], check=True) and None


def test_a_read_only_outbox_is_one_error_and_everything_is_delivered(
    collector: Collector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "outbox.sqlite"
    earlier = Outbox(path)
    earlier.backlog()  # creates it: a real outbox file, left by an earlier run
    earlier.release()
    for extra in folder.iterdir():
        if extra != path:
            extra.unlink()
    undo = make_read_only(path, folder)
    try:
        client = Client(api_key=KEY, base_url=collector.url, device_id="ws_device_1", outbox=path)
        with caplog.at_level(logging.ERROR, logger="weespin_instrument"):
            for n in range(EVENTS):
                client.track("open_app", {"n": n})
            assert client.flush(timeout=10.0)
            client.shutdown()
        stats = client.stats()
        assert (stats.sent, stats.dropped, stats.not_durable) == (EVENTS, {}, EVENTS)
        assert sum("cannot be used" in r.getMessage() for r in caplog.records) == 1
    finally:
        undo()


# -- rows belong to one client and one destination ----------------------------------------------


def accepted_ids(collector: Collector) -> Counter[str]:
    return Counter(r["event_id"] for r in collector.request_log if r["status"] == 200)


def test_two_clients_of_one_process_sharing_a_file_send_each_event_once(
    collector: Collector, tmp_path: Path
) -> None:
    path = tmp_path / "outbox.sqlite"
    collector.set_latency(20)  # rows stay in the file a while
    first = Client(api_key=KEY, base_url=collector.url, device_id="ws_device_1", outbox=path)
    second = Client(api_key=KEY, base_url=collector.url, device_id="ws_device_1", outbox=path)
    for n in range(100):
        first.track("open_app", {"n": n})
        second.track("open_app", {"n": 100 + n})
    assert first.flush(timeout=30.0) and second.flush(timeout=30.0)
    counts = accepted_ids(collector)
    assert len(counts) == 200 and set(counts.values()) == {1}, counts.most_common(3)
    assert first.stats().sent + second.stats().sent == 200
    first.shutdown()
    second.shutdown()


def test_rows_are_only_sent_to_the_destination_they_were_written_for(
    collector: Collector, tmp_path: Path
) -> None:
    path = tmp_path / "outbox.sqlite"
    dead = Collector(port=0, db=tmp_path / "other.sqlite").start()
    dead_url = dead.url
    dead.stop()
    left = Client(api_key=KEY, base_url=dead_url, device_id="ws_device_1", outbox=path)
    for n in range(10):
        left.track("open_app", {"n": n})
    left.shutdown(timeout=0.5)  # the API is down: the rows stay for a later process

    for other in (
        Client(api_key=KEY, base_url=collector.url, device_id="ws_device_1", outbox=path),
        Client(api_key="another-app-key", base_url=dead_url, device_id="x", outbox=path),
    ):
        assert other.flush(timeout=5.0)
        assert other.stats().sent == 0
        other.shutdown()
    assert collector.events() == []
    assert KEY.encode() not in path.read_bytes()  # a fingerprint of the key, never the key

    with Collector(port=int(dead_url.rsplit(":", 1)[1]), db=tmp_path / "back.sqlite") as back:
        same = Client(api_key=KEY, base_url=dead_url, device_id="ws_device_1", outbox=path)
        assert same.flush(timeout=10.0)
        assert sorted(row["payload"]["n"] for row in back.events()) == list(range(10))
        same.shutdown()


def test_a_destination_is_the_base_url_and_a_fingerprint_of_the_key() -> None:
    destination = destination_of("https://developer.weespin.io/", KEY)
    assert destination.startswith("https://developer.weespin.io ")
    assert KEY not in destination
    assert destination != destination_of("https://developer.weespin.io", "other-key")
