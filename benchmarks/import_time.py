"""How long ``import weespin_instrument`` takes, beside ``import httpx`` and ``import pydantic``;
then ``import weespin_instrument`` plus the first ``@track_event`` beside ``import posthog``;
then what the sender thread imports on the first event: the lean HTTP engine, or aiohttp's
(behind a proxy), in time and memory.

Each figure is the median over fresh interpreter processes, measured two ways in one run:
``-X importtime``'s cumulative time for the top-level module, and the wall time of the
whole process above a bare interpreter (``python -c pass``). Target: at most 60 ms over a
bare interpreter (the HTTP client and pydantic load on first use, not at import).

    python benchmarks/import_time.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

MODULES = ("weespin_instrument", "httpx", "pydantic")
# Measure what users get: imports from cached bytecode, whatever this shell says.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def importtime_ms(module: str) -> float:
    """Cumulative import time of ``module`` as ``-X importtime`` reports it, in ms."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in result.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1000
    raise RuntimeError(f"no importtime line for {module}")


def process_ms(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs

    for module in MODULES:  # warm up: write the bytecode caches once
        process_ms(f"import {module}")
    bare = statistics.median(process_ms("pass") for _ in range(runs))
    print(f"python {sys.version.split()[0]}, {runs} fresh processes per figure (medians)")
    print(f"bare interpreter: {bare:.1f} ms\n")
    print(f"{'module':<20}{'-X importtime':>15}{'process - bare':>16}{'vs weespin':>12}")
    rows = {}
    for module in MODULES:
        cumulative = statistics.median(importtime_ms(module) for _ in range(runs))
        over_bare = statistics.median(process_ms(f"import {module}") for _ in range(runs)) - bare
        rows[module] = (cumulative, over_bare)
    ours = rows["weespin_instrument"][0]
    for module, (cumulative, over_bare) in rows.items():
        print(f"{module:<20}{cumulative:>12.1f} ms{over_bare:>13.1f} ms{cumulative / ours:>11.2f}x")
    verdict = "OK" if rows["weespin_instrument"][1] <= 60 else "OVER"
    print(f"\ntarget: weespin_instrument <= 60 ms over a bare interpreter: {verdict}")
    decorator_vs_posthog(runs, bare)
    sender_engines(runs)


#: ``import weespin_instrument`` and the first ``@track_event``, as an application does it.
FIRST_DECORATOR = (
    "import weespin_instrument as weespin\n"
    "@weespin.track_event('add_to_cart', payload_from=['sku', 'quantity', 'price'])\n"
    "def add_to_cart(sku, quantity, price): pass\n"
)


def decorator_vs_posthog(runs: int, bare: float) -> None:
    """Import plus the first decorator, over a bare interpreter, against ``import posthog``."""
    try:
        process_ms("import posthog")  # warm up its bytecode cache too
    except subprocess.CalledProcessError:
        print("\n(posthog not installed: pip install -e '.[bench]')")
        return
    process_ms(FIRST_DECORATOR)
    ours_runs, posthog_runs = [], []
    for _ in range(runs):  # interleaved: both see the same machine
        ours_runs.append(process_ms(FIRST_DECORATOR) - bare)
        posthog_runs.append(process_ms("import posthog") - bare)
    ours, posthog = statistics.median(ours_runs), statistics.median(posthog_runs)
    ratio = ours / posthog
    print(f"\nimport weespin_instrument + first @track_event: {ours:.1f} ms over bare")
    print(f"import posthog:                                 {posthog:.1f} ms over bare")
    print(f"ratio {ratio:.2f} (target: at most 0.25): {'OK' if ratio <= 0.25 else 'OVER'}")


#: What the sender thread imports for each engine, after the package itself.
ENGINE_MODULES = {
    "lean (the default)": "weespin_instrument.transports._lean",
    "aiohttp (a proxy)": "weespin_instrument.transports._aio",
}


def engine_cost(module: str) -> tuple[float, float]:
    """(ms, MB of peak RSS) ``import module`` adds over ``import weespin_instrument``."""
    code = (
        "import importlib, resource, time, weespin_instrument\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "started = time.perf_counter()\n"
        f"importlib.import_module({module!r})\n"
        "ms = (time.perf_counter() - started) * 1000\n"
        "print(ms, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=ENV
    ).stdout
    ms, mb = output.split()
    return float(ms), float(mb)


def sender_engines(runs: int) -> None:
    print("\nthe sender's HTTP engine, imported in its thread on the first event:")
    for name, module in ENGINE_MODULES.items():
        costs = [engine_cost(module) for _ in range(runs)]
        ms = statistics.median(c[0] for c in costs)
        mb = statistics.median(c[1] for c in costs)
        print(f"   {name:<20}{ms:>8.1f} ms {mb:>7.1f} MB")


if __name__ == "__main__":
    main()
