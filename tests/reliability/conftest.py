"""Fixtures of the reliability group: Python subprocesses (see ``_support`` for helpers)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._support import PythonRunner, clean_env


@pytest.fixture
def python(tmp_path: Path) -> Iterator[PythonRunner]:
    """Start ``python -c CODE`` (dedented) in ``tmp_path``; killed at the end if still running."""
    started: list[subprocess.Popen[str]] = []

    def start(code: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            cwd=tmp_path,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
