"""The web and worker examples run as a user would run them (real servers, local collector)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(path: Path, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEESPIN_", "OTEL_"))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, str(path)], cwd=cwd, env=env, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", result.stderr  # nothing printed when all is well
    return result.stdout


def visitor_rows(out: str, name: str) -> set[tuple[str, str]]:
    """``(device, link)`` of the stored events of visitor ``name``."""
    return set(re.findall(rf"device=(\S+) user={name} link=(\S+)", out))


@pytest.mark.parametrize(
    "example", ["web_fastapi.py", "web_flask.py", "django_app/demo.py"], ids=lambda p: p
)
def test_each_web_example_gives_each_visitor_one_device_and_their_ids(
    example: str, tmp_path: Path
) -> None:
    out = run_example(EXAMPLES / example, tmp_path)
    for name in ("ana", "bob"):
        cookie = re.search(rf"{name}: cookie weespin_device_id=(\S+)", out)
        assert cookie, out
        assert visitor_rows(out, name) == {(cookie.group(1), f"lnk_{name}")}, out
    assert "device initializations: 2; delivered: True" in out


def test_the_fastapi_example_bridges_only_the_server_span(tmp_path: Path) -> None:
    out = run_example(EXAMPLES / "web_fastapi.py", tmp_path)
    assert len(re.findall(r"^  checkout_span ", out, re.MULTILINE)) == 2  # not http send/receive


def test_the_worker_example_uses_one_service_device_across_its_processes(tmp_path: Path) -> None:
    out = run_example(EXAMPLES / "worker.py", tmp_path)
    assert re.search(r"9 jobs on \d worker processes", out)
    assert len(set(re.findall(r"device=(\S+)", out))) == 1
