"""``weespin-instrument events``: the latest events of a local collector, as a table or JSON."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

from ._cli_keys import api_key as _api_key
from ._cli_keys import key_arguments as _key_arguments
from ._environment import ENV_BASE_URL
from .errors import ConfigurationError

__all__ = ["DEFAULT_COLLECTOR_URL", "events_arguments", "run_events"]

DEFAULT_COLLECTOR_URL = "http://127.0.0.1:8765"
#: Seconds between two polls of ``--follow``.
FOLLOW_INTERVAL = 0.5


def events_arguments(parser: argparse.ArgumentParser) -> None:
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

    url = (args.base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_COLLECTOR_URL).rstrip("/")
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
