"""examples/quickstart.py, as the README's first command and its "see your own event" run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from weespin_instrument.collector import Collector

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "quickstart.py"


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WEESPIN_")}
    return subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_alone_it_uses_an_embedded_collector_and_prints_no_url_of_it(tmp_path: Path) -> None:
    result = run(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "delivered: True" in result.stdout
    assert "an embedded collector (it stops with this script) stored:" in result.stdout
    assert result.stdout.count("#") == 4
    assert "http://127.0.0.1" not in result.stdout, "no address of a collector that is gone"
    assert "weespin-instrument collector" in result.stdout


def test_with_the_two_exports_it_sends_to_your_collector(tmp_path: Path) -> None:
    with Collector() as collector:
        result = run(tmp_path, WEESPIN_BASE_URL=collector.url, WEESPIN_API_KEY="dev")

        assert result.returncode == 0, result.stdout + result.stderr
        assert [e["event_name"] for e in collector.events()] == [
            "open_app", "add_to_cart", "purchase", "share_link",
        ]  # fmt: skip
        assert f"sent to {collector.url}: see them with `weespin-instrument events`" in (
            result.stdout
        )
