"""``weespin-instrument collector``: a local collector in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from ._api_key import key_suffix
from ._cli_keys import api_key as _api_key
from .errors import ConfigurationError

__all__ = [
    "ENV_COLLECTOR_API_KEY",
    "ENV_DATA_DIR",
    "collector_arguments",
    "data_dir",
    "run_collector",
]

#: Where ``weespin-instrument collector`` reads the key to accept (not the command line).
ENV_COLLECTOR_API_KEY = "WEESPIN_COLLECTOR_API_KEY"
#: Where ``collector`` keeps its database unless ``--db`` is given (see :func:`data_dir`).
ENV_DATA_DIR = "WEESPIN_DATA_DIR"


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The folder for the collector's database: ``WEESPIN_DATA_DIR``, else the platform's.

    ``$XDG_DATA_HOME/weespin-instrument`` (``~/.local/share/weespin-instrument``) on Linux,
    ``~/Library/Application Support/weespin-instrument`` on macOS, ``%LOCALAPPDATA%`` on
    Windows. Never the current folder, so a stray database does not land in a repository.

    >>> str(data_dir({"WEESPIN_DATA_DIR": "/srv/weespin"}))
    '/srv/weespin'
    """
    env = os.environ if environ is None else environ
    if env.get(ENV_DATA_DIR):
        return Path(env[ENV_DATA_DIR])
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "weespin-instrument"


def collector_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port, 0 for a free one (8765)")
    parser.add_argument(
        "--db",
        default=None,
        help=f"SQLite file holding the events (default: collector.sqlite in {ENV_DATA_DIR}, "
        "else the platform's data folder)",
    )
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key",
        default=None,
        help=f"accept only this Authorization value (default: {ENV_COLLECTOR_API_KEY}, else "
        "any non-empty value); visible to other users in `ps`: prefer the variable or a file",
    )
    keys.add_argument(
        "--api-key-file",
        default=None,
        metavar="PATH",
        help="read the key to accept from this file",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay every POST by N milliseconds"
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=1024 * 1024,
        help="answer 413 to a POST /events body longer than this (1048576, 1 MiB)",
    )
    parser.add_argument(
        "--certfile",
        default=None,
        metavar="PEM",
        help="serve HTTPS with this certificate chain (clients trust its CA via SSL_CERT_FILE)",
    )
    parser.add_argument(
        "--keyfile",
        default=None,
        metavar="PEM",
        help="the certificate's private key, unless --certfile holds it",
    )


def run_collector(args: argparse.Namespace) -> int:
    """``weespin-instrument collector``: serve in the foreground until Ctrl-C or SIGTERM.

    Example::

        $ WEESPIN_COLLECTOR_API_KEY=dev-key weespin-instrument collector --port 0 --latency-ms 50
        $ weespin-instrument collector --certfile server.pem   # https://127.0.0.1:8765
    """
    try:
        from .collector import Collector
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        api_key, key_source = _api_key(args, env=ENV_COLLECTOR_API_KEY)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if key_source == "--api-key":
        print(
            "warning: --api-key is visible to every user of this machine (ps, "
            f"/proc/<pid>/cmdline); set {ENV_COLLECTOR_API_KEY} or use --api-key-file instead.",
            file=sys.stderr,
            flush=True,
        )
    db = Path(args.db) if args.db else data_dir() / "collector.sqlite"
    if not args.db:
        with contextlib.suppress(OSError):  # reported below by start() if it matters
            db.parent.mkdir(parents=True, exist_ok=True)
    try:
        collector = Collector(
            host=args.host,
            port=args.port,
            db=db,
            api_key=api_key,
            latency_ms=args.latency_ms,
            max_body_bytes=args.max_body_bytes,
            certfile=args.certfile,
            keyfile=args.keyfile,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with _signals_caught() as received:
        return _serve(collector, args, received, api_key, key_source)


def _serve(
    collector: Any,
    args: argparse.Namespace,
    received: list[int],
    api_key: str | None,
    key_source: str,
) -> int:
    try:
        collector.start()
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        print(
            f"error: cannot start the collector on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    key = f"the key {key_suffix(api_key)} ({key_source})" if api_key else "any non-empty key"
    latency = f", latency {args.latency_ms:g} ms" if args.latency_ms else ""
    print(f"Weespin collector listening on {collector.url}", flush=True)
    print(f"  database: {collector.db_path.resolve()}  (accepts {key}{latency})", flush=True)
    key_value = "<the collector's key>" if api_key else "dev  # any non-empty value"
    print("Send it events from another terminal:", flush=True)
    print(f"  export WEESPIN_BASE_URL={collector.url}", flush=True)
    print(f"  export WEESPIN_API_KEY={key_value}", flush=True)
    print(f"  live page: {collector.url}/", flush=True)
    print("  press Ctrl-C to stop", flush=True)
    try:
        while not received:
            time.sleep(0.2)
    finally:
        stats = collector.stats()
        collector.stop()
    print(f"stopped ({stats['events_stored']} events stored this run)", flush=True)
    return 0


@contextlib.contextmanager
def _signals_caught() -> Iterator[list[int]]:
    """Catch SIGINT (Ctrl-C) and SIGTERM inside the block; the list fills as they arrive.

    Installed before the collector says it is ready, so a signal sent as soon as the URL is
    printed still stops it cleanly.
    """
    received: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    handled = [signal.SIGINT, signal.SIGTERM]
    previous = {sig: signal.signal(sig, handle) for sig in handled}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
