"""Where a command's API key comes from: ``--api-key``, ``--api-key-file`` or a variable."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ._environment import ENV_API_KEY
from .errors import ConfigurationError

__all__ = ["api_key", "key_arguments"]


def key_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key", default=None, help=f"{what} (default: WEESPIN_API_KEY; visible in `ps`)"
    )
    keys.add_argument(
        "--api-key-file", default=None, metavar="PATH", help="read the key from this file"
    )


def api_key(args: argparse.Namespace, *, env: str = ENV_API_KEY) -> tuple[str | None, str]:
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
