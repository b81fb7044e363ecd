"""The ``weespin-instrument`` command line.

Each subcommand is a pair of functions, one adding its arguments and one running it, in a
private module of its own (``_cli_collector``, ``_cli_events``, ``_cli_api`` for ``send`` and
``doctor``), listed in :data:`COMMANDS`; adding a subcommand means writing the two and adding
one entry there. Heavy imports (the collector, httpx) happen inside the functions that need
them.

Example::

    $ weespin-instrument collector --port 8765 &
    $ weespin-instrument events --name purchase --limit 5
    $ weespin-instrument events --json --follow
    $ python -m weespin_instrument --version
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ._cli_api import doctor_arguments, run_doctor, run_send, send_arguments
from ._cli_collector import collector_arguments, data_dir, run_collector
from ._cli_events import events_arguments, run_events

__all__ = ["COMMANDS", "Command", "build_parser", "data_dir", "main"]


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


COMMANDS: tuple[Command, ...] = (
    Command(
        "collector",
        "run a local Weespin-compatible collector",
        collector_arguments,
        run_collector,
        examples="""\
  weespin-instrument collector                      # http://127.0.0.1:8765, any key
  weespin-instrument collector --port 0             # a free port
  weespin-instrument collector --db ./events.sqlite --latency-ms 50""",
    ),
    Command(
        "events",
        "list the events a local collector received",
        events_arguments,
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
        send_arguments,
        run_send,
        examples="""\
  weespin-instrument send purchase amount=19.99 currency=EUR --user u_42
  weespin-instrument send signup plan=pro trial=true
  weespin-instrument send order zip=019 code:int=019 n:str=1e3""",
    ),
    Command(
        "doctor",
        "check where each setting comes from, the server, the key and device init",
        doctor_arguments,
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
