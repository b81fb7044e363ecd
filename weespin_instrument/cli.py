"""The ``weespin-instrument`` command line.

Each subcommand is a pair of functions, one adding its arguments and one running it, listed
in :data:`COMMANDS`; adding a subcommand means writing the two and adding one line there.
Heavy imports (the collector, httpx) happen inside the functions that need them.

Example::

    $ weespin-instrument collector --port 8765 &
    $ weespin-instrument events --name purchase --limit 5
    $ weespin-instrument events --json --follow
    $ python -m weespin_instrument --version
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from .errors import ConfigurationError, key_suffix

__all__ = ["COMMANDS", "Command", "build_parser", "data_dir", "main"]

DEFAULT_COLLECTOR_URL = "http://127.0.0.1:8765"
#: Where ``weespin-instrument collector`` reads the key to accept (not the command line).
ENV_COLLECTOR_API_KEY = "WEESPIN_COLLECTOR_API_KEY"
FOLLOW_INTERVAL = 0.5
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


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, one-line help, argument setup and runner.

    Example::

        Command("hello", "print a greeting", lambda parser: None, lambda args: 0)
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    #: Shown at the end of ``--help``: commands to copy.
    examples: str = ""


# -- collector -----------------------------------------------------------------------------


def _collector_arguments(parser: argparse.ArgumentParser) -> None:
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


def run_collector(args: argparse.Namespace) -> int:
    """``weespin-instrument collector``: serve in the foreground until Ctrl-C or SIGTERM.

    Example::

        $ WEESPIN_COLLECTOR_API_KEY=dev-key weespin-instrument collector --port 0 --latency-ms 50
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


# -- events --------------------------------------------------------------------------------


def _events_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url",
        "--url",  # the name of this option before 0.2; kept working, not shown
        dest="base_url",
        default=None,
        help=f"collector URL (default: WEESPIN_BASE_URL, else {DEFAULT_COLLECTOR_URL})",
    )
    _key_arguments(parser, "the collector's key, if it was started with one")
    parser.add_argument("--name", default=None, help="only events with this name")
    parser.add_argument("--user", default=None, help="only events of this user id")
    parser.add_argument("--device", default=None, help="only events of this device id")
    parser.add_argument("--link", default=None, help="only events of this link id")
    parser.add_argument("--limit", type=int, default=20, help="how many of the latest (20)")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument(
        "--follow", action="store_true", help="keep printing new events until Ctrl-C"
    )


def run_events(args: argparse.Namespace) -> int:
    """``weespin-instrument events``: the latest events of a collector, oldest first.

    Example::

        $ weespin-instrument events --name purchase --json
    """
    import httpx

    url = (args.base_url or os.environ.get("WEESPIN_BASE_URL") or DEFAULT_COLLECTOR_URL).rstrip("/")
    if args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    try:
        key, _ = _api_key(args)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    filters = {
        "name": args.name,
        "user_id": args.user,
        "device_id": args.device,
        "link_id": args.link,
    }
    params = {key: value for key, value in filters.items() if value is not None}
    printer = _JsonPrinter(sys.stdout) if args.json else _TablePrinter(sys.stdout)
    headers = {"Authorization": key} if key else {}
    with httpx.Client(base_url=url, timeout=10.0, headers=headers) as http:
        try:
            events = _fetch(http, {**params, "limit": args.limit, "order": "desc"})
        except _FetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        events.reverse()
        printer.print(events, empty_note=not args.follow)
        if not args.follow:
            return 0
        last_seq = max((event["seq"] for event in events), default=0)
        with contextlib.suppress(KeyboardInterrupt):
            _follow(http, params, last_seq, printer)
    return 0


def _follow(
    http: Any, params: dict[str, Any], last_seq: int, printer: _TablePrinter | _JsonPrinter
) -> None:
    """Poll for events after ``last_seq`` every 0.5 s, printing them, until interrupted."""
    unreachable = False
    while True:
        time.sleep(FOLLOW_INTERVAL)
        try:
            events = _fetch(http, {**params, "after": last_seq, "order": "asc", "limit": 1000})
        except _FetchError as exc:
            if not unreachable:
                print(f"warning: {exc}; still trying", file=sys.stderr, flush=True)
            unreachable = True
            continue
        unreachable = False
        if events:
            printer.print(events, empty_note=False)
            last_seq = events[-1]["seq"]


class _FetchError(Exception):
    pass


def _fetch(http: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    import httpx

    try:
        response = http.get("/api/events", params=params)
    except httpx.HTTPError as exc:
        raise _FetchError(f"cannot reach the collector at {http.base_url}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and "events" in body:
        events: list[dict[str, Any]] = body["events"]
        return events
    if isinstance(body, dict) and response.status_code in (401, 403):
        raise _FetchError(
            f"the collector at {http.base_url} refused the key: pass the one it was started "
            "with (--api-key, --api-key-file or WEESPIN_API_KEY)"
        )
    if isinstance(body, dict) and body.get("error") == "invalid_query":
        raise _FetchError(f"the collector refused the query: {body.get('message')}")
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    raise _FetchError(
        f"{http.base_url} is not a Weespin local collector (GET /api/events answered "
        f"{response.status_code} {kind}). `events` reads a local collector only (the Weespin "
        "API has no listing): start one with `weespin-instrument collector` and pass its URL "
        "with --base-url or WEESPIN_BASE_URL"
    )


class _JsonPrinter:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def print(self, events: Iterable[dict[str, Any]], *, empty_note: bool) -> None:
        for event in events:
            self.out.write(json.dumps(event, ensure_ascii=False) + "\n")
        self.out.flush()


class _TablePrinter:
    COLUMNS = (("SEQ", 6), ("RECEIVED", 23), ("EVENT", 20), ("DEVICE", 24), ("USER", 16))

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.header_done = False

    def print(self, events: Iterable[dict[str, Any]], *, empty_note: bool) -> None:
        if not self.header_done:
            self.out.write(self._line([name for name, _ in self.COLUMNS], "PAYLOAD"))
            self.header_done = True
        count = 0
        for event in events:
            received = str(event.get("received_at") or "").replace("T", " ").rstrip("Z")
            cells = [
                str(event["seq"]),
                received,
                event["event_name"],
                _shorten(event.get("device_id") or "", middle=True),
                event.get("user_id") or "-",
            ]
            self.out.write(self._line(cells, _format_payload(event.get("payload") or {})))
            count += 1
        if count == 0 and empty_note:
            self.out.write("(no events)\n")
        self.out.flush()

    def _line(self, cells: list[str], payload: str) -> str:
        parts = []
        for (_, width), cell in zip(self.COLUMNS, cells, strict=True):
            text = _shorten(cell, width=width)
            parts.append(text.rjust(width) if width == 6 else text.ljust(width))
        return "  ".join(parts) + "  " + payload + "\n"


def _shorten(text: str, *, width: int = 24, middle: bool = False) -> str:
    if len(text) <= width:
        return text
    if middle:  # keep the distinctive end too: ws_device_0123456…abcdef
        tail = min(6, width // 3)
        return text[: width - 1 - tail] + "…" + text[-tail:]
    return text[: width - 1] + "…"


_LOOKS_TYPED = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?|true|false|null")


def _format_payload(payload: dict[str, Any]) -> str:
    parts = []
    for key, value in payload.items():
        if isinstance(value, bool):
            shown = "true" if value else "false"
        elif (
            isinstance(value, str)
            and value
            and not any(c in value for c in ' ="')
            and not _LOOKS_TYPED.fullmatch(value)  # "019" keeps its quotes: it is not 19
        ):
            shown = value
        else:
            shown = json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={shown}")
    return " ".join(parts)


# -- send and doctor -----------------------------------------------------------------------


def _key_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key", default=None, help=f"{what} (default: WEESPIN_API_KEY; visible in `ps`)"
    )
    keys.add_argument(
        "--api-key-file", default=None, metavar="PATH", help="read the key from this file"
    )


def _api_key(args: argparse.Namespace, *, env: str = "WEESPIN_API_KEY") -> tuple[str | None, str]:
    """The key the options give, and where it came from (``--api-key``, a file, ``env``)."""
    if args.api_key_file:
        try:
            text = Path(args.api_key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"cannot read --api-key-file: {exc}") from None
        if not text:
            raise ConfigurationError(f"--api-key-file {args.api_key_file} is empty")
        return text, f"--api-key-file {args.api_key_file}"
    if args.api_key:
        return args.api_key, "--api-key"
    if os.environ.get(env, "").strip():
        return os.environ[env].strip(), env
    return None, "not set"


def _api_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default=None, help="API URL (default: WEESPIN_BASE_URL)")
    _key_arguments(parser, "API key")


def _settings(args: argparse.Namespace) -> tuple[Any, dict[str, str]]:
    """The settings the options and environment give, and where each one came from."""
    from ._config import Settings

    key, key_source = _api_key(args)
    if args.base_url:
        url_source = "--base-url"
    elif os.environ.get("WEESPIN_BASE_URL"):
        url_source = "WEESPIN_BASE_URL"
    else:
        url_source = "default"
    settings = Settings.resolve(api_key=key, base_url=args.base_url)
    return settings, {"base_url": url_source, "api_key": key_source}


def _send_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="event name, e.g. purchase")
    parser.add_argument(
        "fields",
        nargs="*",
        metavar="key=value",
        help="payload fields: true/false are booleans, 42 an int, 19.99 and 1e3 floats, "
        "019 stays text (leading zero), null leaves the key out, anything else is text; "
        "key:str=, key:int=, key:float=, key:bool= force a type",
    )
    parser.add_argument("--user", default=None, help="user id")
    parser.add_argument("--link", default=None, help="generated link id")
    _api_arguments(parser)


def run_send(args: argparse.Namespace) -> int:
    """``weespin-instrument send``: one event through the full pipeline, synchronously.

    Example::

        $ weespin-instrument send purchase amount=19.99 currency=EUR --user u_42
    """
    from ._doctor import parse_field, send_one

    try:
        fields = [parse_field(field) for field in args.fields]
        settings, _ = _settings(args)
    except (ValueError, ConfigurationError) as exc:
        print(f"weespin-instrument send: {exc}", file=sys.stderr)
        return 2
    return send_one(
        settings, args.name, fields, user_id=args.user, link_id=args.link, out=sys.stdout
    )


def _doctor_arguments(parser: argparse.ArgumentParser) -> None:
    _api_arguments(parser)
    parser.add_argument(
        "--send-test-event",
        action="store_true",
        help="also post one 'weespin_doctor' event (it lands in your data)",
    )


def run_doctor(args: argparse.Namespace) -> int:
    """``weespin-instrument doctor``: where each setting came from, the server, device init.

    Example::

        $ WEESPIN_BASE_URL=http://127.0.0.1:8765 weespin-instrument doctor
    """
    from ._doctor import run_doctor as doctor

    try:
        settings, sources = _settings(args)
    except ConfigurationError as exc:
        print(f"FAIL configuration: {exc}", file=sys.stdout)
        print("     fix: correct the option or environment variable it names", file=sys.stdout)
        return 1
    return doctor(settings, sys.stdout, sources=sources, send_test_event=args.send_test_event)


# -- the parser ----------------------------------------------------------------------------

COMMANDS: tuple[Command, ...] = (
    Command(
        "collector",
        "run a local Weespin-compatible collector",
        _collector_arguments,
        run_collector,
        examples="""\
  weespin-instrument collector                      # http://127.0.0.1:8765, any key
  weespin-instrument collector --port 0             # a free port
  weespin-instrument collector --db ./events.sqlite --latency-ms 50""",
    ),
    Command(
        "events",
        "list the events a local collector received",
        _events_arguments,
        run_events,
        examples="""\
  weespin-instrument events                         # the latest 20, as a table
  weespin-instrument events --name purchase --limit 5
  weespin-instrument events --json --follow         # JSON lines, until Ctrl-C
  weespin-instrument events --base-url http://127.0.0.1:9000 --user u_42""",
    ),
    Command(
        "send",
        "send one event through the full pipeline",
        _send_arguments,
        run_send,
        examples="""\
  weespin-instrument send purchase amount=19.99 currency=EUR --user u_42
  weespin-instrument send signup plan=pro trial=true
  weespin-instrument send order zip=019 code:int=019 n:str=1e3""",
    ),
    Command(
        "doctor",
        "check where each setting comes from, the server, the key and device init",
        _doctor_arguments,
        run_doctor,
        examples="""\
  weespin-instrument doctor
  weespin-instrument doctor --base-url http://127.0.0.1:8765 --api-key dev
  weespin-instrument doctor --api-key-file ~/.config/weespin/key --send-test-event""",
    ),
)
"""Every subcommand, in the order ``--help`` shows them."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per entry of :data:`COMMANDS`.

    Example::

        args = build_parser().parse_args(["events", "--json"])
        args.command.name  # 'events'
    """
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="weespin-instrument",
        description="The command line of weespin-instrument.",
        epilog="examples:\n"
        + "\n".join(command.examples.splitlines()[0] for command in COMMANDS)
        + "\n\nRun `weespin-instrument COMMAND --help` for each command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"weespin-instrument {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name,
            help=command.help,
            description=command.help,
            epilog=f"examples:\n{command.examples}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(command=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 failure, 2 usage).

    Example::

        main(["events", "--base-url", "http://127.0.0.1:8765", "--json"])
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "command", None)
    if command is None:
        parser.print_help(sys.stderr)
        return 2
    return command.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
