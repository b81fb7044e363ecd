"""Every Python block of README.md and docs/ runs, as written, against a local collector.

A block fenced as ```python (or ```py) is a complete program: it runs in its own interpreter
(as a user would run it: no state shared with the suite or other blocks), with
``WEESPIN_BASE_URL`` / ``WEESPIN_API_KEY`` pointing at a collector this module starts (the two
``export`` lines of the getting-started page) and the current folder a fresh temporary one.
Code under ``if __name__ == "__main__":`` (serving forever, say) is not run. A block that
defines ``test_*`` functions is a test module: it is run by pytest, with the package's plugin,
and must pass. Signatures and fragments are fenced as ```text, so they are not Python blocks.

New blocks are picked up by themselves: the list is read from the files at collection time.
Why not pytest-examples: it lints and formats too (black, ruff settings of its own) and runs
blocks in the test process, where one block's globals (a configured client, a tracer provider)
would leak into the next.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from weespin_instrument.collector import Collector

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)")
PYTHON = {"python", "py", "python3"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the first line of code, 1-based
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of a Markdown file, dedented to their fence."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        indent, ticks, info = match["indent"], match["ticks"], match["info"].lower()
        start = index + 1
        index = start
        while index < len(lines) and not lines[index].strip().startswith(ticks):
            index += 1
        if info in PYTHON:
            body = [
                line[len(indent) :] if line.startswith(indent) else line
                for line in lines[start:index]
            ]
            blocks.append(Block(path, start + 1, "\n".join(body) + "\n"))
        index += 1
    return blocks


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


BLOCKS = [block for path in documents() for block in python_blocks(path)]


@pytest.fixture(scope="module")
def docs_collector() -> Iterator[Collector]:
    with Collector(port=0) as collector:
        yield collector


def test_the_docs_have_python_blocks() -> None:
    assert len(BLOCKS) >= 20, [block.where for block in BLOCKS]


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_block_runs(
    block: Block,
    docs_collector: Collector,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    pytester: pytest.Pytester,
) -> None:
    monkeypatch.setenv("WEESPIN_BASE_URL", docs_collector.url)
    monkeypatch.setenv("WEESPIN_API_KEY", "dev")
    for name in ("WEESPIN_TRANSPORT", "WEESPIN_STRICT", "WEESPIN_DISABLED", "WEESPIN_OUTBOX"):
        monkeypatch.delenv(name, raising=False)
    if re.search(r"^(async )?def test_", block.code, re.MULTILINE):
        pytester.makepyfile(**{"test_doc_example": block.code})
        result = pytester.runpytest_subprocess("-p", "no:randomly", "-q")
        outcomes = result.parseoutcomes()
        assert outcomes.get("passed", 0) >= 1 and not outcomes.get("failed"), (
            f"{block.where}:\n{result.stdout.str()}"
        )
        return
    # Blank lines first, so a traceback's line numbers are the Markdown file's.
    script = tmp_path / "example.py"
    script.write_text("\n" * (block.line - 1) + block.code, encoding="utf-8")
    run = f"import runpy; runpy.run_path({str(script)!r}, run_name='__docs_example__')"
    result = subprocess.run(
        [sys.executable, "-c", run], cwd=tmp_path, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, f"{block.where}:\n{result.stdout}{result.stderr}"


def test_python_fences_are_found_dedented_and_other_fences_are_not(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n```python\nprint(1)\n```\n\n```text\nsignature(a, b)\n```\n\n"
        "1. A step:\n\n    ```py\n    x = 2\n    ```\n\n````sh\necho hi\n````\n",
        encoding="utf-8",
    )

    blocks = python_blocks(page)

    assert [(block.line, block.code) for block in blocks] == [(4, "print(1)\n"), (14, "x = 2\n")]
