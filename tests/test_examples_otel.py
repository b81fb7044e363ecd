"""examples/otel_bridge.py runs as a user would run it and shows spans and Weespin events."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "otel_bridge.py"


def test_the_otel_bridge_example_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEESPIN_", "OTEL_"))}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"POST /cart\s+trace=[0-9a-f]{32} .*span_events=\['add_to_cart'\]", out)
    cart_trace = re.search(r"POST /cart\s+trace=([0-9a-f]{32})", out)
    checkout_trace = re.search(r"POST /checkout\s+trace=([0-9a-f]{32})", out)
    assert cart_trace and checkout_trace
    assert re.search(rf"add_to_cart\s+user=u_42 trace={cart_trace.group(1)} ", out)
    assert re.search(
        rf"purchase\s+user=u_42 trace={checkout_trace.group(1)} .*\"amount\": 19.99", out
    )
    assert "delivered: True" in out
