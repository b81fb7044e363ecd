"""``weespin-instrument send`` and ``doctor``: the commands that talk to the Weespin API."""

from __future__ import annotations

import argparse
import os
import sys

from ._cli_keys import api_key as _api_key
from ._cli_keys import key_arguments as _key_arguments
from ._config import Settings
from ._environment import ENV_BASE_URL
from .errors import ConfigurationError

__all__ = ["doctor_arguments", "run_doctor", "run_send", "send_arguments"]


def _api_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default=None, help="API URL (default: WEESPIN_BASE_URL)")
    _key_arguments(parser, "API key")


def _settings(args: argparse.Namespace) -> tuple[Settings, dict[str, str]]:
    """The settings the options and environment give, and where each one came from."""
    key, key_source = _api_key(args)
    if args.base_url:
        url_source = "--base-url"
    elif os.environ.get(ENV_BASE_URL):
        url_source = ENV_BASE_URL
    else:
        url_source = "default"
    settings = Settings.resolve(api_key=key, base_url=args.base_url)
    return settings, {"base_url": url_source, "api_key": key_source}


def send_arguments(parser: argparse.ArgumentParser) -> None:
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


def doctor_arguments(parser: argparse.ArgumentParser) -> None:
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
