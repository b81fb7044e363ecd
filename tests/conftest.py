"""Fixtures shared by the whole suite: a live local collector, and CLI subprocesses."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from weespin_instrument.collector import Collector

#: pytest's own fixture for running a test session inside a test (the plugin's tests use it).
pytest_plugins = ["pytester"]


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    """A started :class:`Collector` on a free port of 127.0.0.1, its database in ``tmp_path``.

    Any non-empty ``Authorization`` is accepted. Stopped after the test.
    """
    with Collector(port=0, db=tmp_path / "collector.sqlite") as running:
        yield running


class CliProcess:
    """``python -m weespin_instrument.cli ...`` running in the background, read line by line."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("WEESPIN_BASE_URL", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "weespin_instrument.cli", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def read_line(self, timeout: float = 15.0) -> str:
        """The next line of standard output (``AssertionError`` if none comes in time)."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output within {timeout} s; so far: {self.output}") from None
        if line is None:
            self._lines.put(None)
            raise AssertionError(f"the process ended: {self.output}, stderr: {self.stderr()}")
        self.output.append(line)
        return line

    def read_rest(self, timeout: float = 15.0) -> list[str]:
        """Every remaining line of standard output, up to the end of the process."""
        rest: list[str] = []
        for _ in range(100_000):  # bounded
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the process did not end within {timeout} s") from None
            if line is None:
                self._lines.put(None)
                break
            self.output.append(line)
            rest.append(line)
        return rest

    def wait_for_url(self) -> str:
        """The ``http://127.0.0.1:PORT`` the collector command announces."""
        for _ in range(20):
            match = re.search(r"http://127\.0\.0\.1:\d+", self.read_line())
            if match:
                return match.group(0)
        raise AssertionError(f"no URL announced: {self.output}")

    def stderr(self) -> str:
        """Standard error, once the process has ended."""
        if self.process.poll() is None or self.process.stderr is None:
            return "<still running>"
        return self.process.stderr.read()

    def stop(self) -> None:
        """Kill the process if it still runs, and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=15)
        self._reader.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def run_cli(tmp_path: Path) -> Iterator[Callable[..., CliProcess]]:
    """Start ``weespin-instrument ARGS...`` as a subprocess in ``tmp_path``; killed at the end."""
    started: list[CliProcess] = []

    def start(*args: str) -> CliProcess:
        process = CliProcess(list(args), cwd=tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


class Finished(NamedTuple):
    """What a child Python process left: its exit status, stdout and stderr."""

    returncode: int
    stdout: str
    stderr: str


def _run_python(code: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> Finished:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("WEESPIN_")}
    child_env.update(env or {})
    child_env["PYTHONUNBUFFERED"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Finished(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def run_python() -> Callable[..., Finished]:
    """Run a Python script in a child process (``WEESPIN_*`` cleared, then ``env=`` set).

    For what is about stderr, start-up or exit, with no logging configured by the test run.
    """
    return _run_python
