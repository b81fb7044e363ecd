"""The shell commands of README.md and docs/ work as written from a checkout.

The package is not on an index: `pip install 'weespin-instrument[collector]'` cannot work, and a
bare `python benchmarks/...` runs an interpreter without the package. Commands use the
checkout's virtual environment (`.venv/bin/...`), as the README's first command makes it.
"""

from __future__ import annotations

import re

import pytest

from .test_examples import FENCE, ROOT, documents

SHELL = {"sh", "bash", "shell", "console"}
#: What may run outside the virtual environment: making it, and opening a browser.
SYSTEM = re.compile(r"python3 -m (venv|webbrowser)\b")


def shell_lines() -> list[tuple[str, str]]:
    found = []
    for path in documents():
        inside = None
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = FENCE.match(line)
            if match and inside is None:
                inside = match["info"].lower()
                continue
            if match:
                inside = None
                continue
            if inside in SHELL and line.strip() and not line.lstrip().startswith("#"):
                found.append(
                    (f"{path.relative_to(ROOT)}:{number}", line.strip().removeprefix("$ "))
                )
    return found


LINES = shell_lines()


@pytest.mark.parametrize(("where", "line"), LINES, ids=[where for where, _ in LINES])
def test_no_command_needs_a_package_index_or_an_interpreter_without_the_package(
    where: str, line: str
) -> None:
    assert "pip install 'weespin-instrument" not in line, (
        f"{where}: not on an index: pip install -e"
    )
    for command in re.split(r"&&|\|\||;|\|", line):
        words = command.split()
        if not words or SYSTEM.match(command.strip()):
            continue
        assert words[0] not in ("python", "python3", "pip", "pip3"), (
            f"{where}: {line!r} runs outside the checkout's .venv; write .venv/bin/{words[0]}"
        )
