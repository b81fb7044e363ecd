"""The network guard: inside a pytest session, clients reach only this machine.

The pytest plugin pushes a guard when the session starts and pops it at the end. While one is
active, a client whose transport talks HTTP to a host that is not this machine sends nothing:
its events are dropped and counted with reason ``blocked_in_tests``, and one warning per
session says why and how to opt in. The transport itself is the usual one (tests may inspect
it); it just never receives an event.

Example::

    is_local_url("http://127.0.0.1:8765")        # True
    is_local_url("https://developer.weespin.io")  # False
"""

from __future__ import annotations

import ipaddress
import sys
import threading
import warnings
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .errors import ConfigurationError

if TYPE_CHECKING:
    from ._event import Event
    from ._reporting import Reporter

__all__ = ["BLOCKED_IN_TESTS", "block", "blocked_reason", "is_local_url", "pop", "push"]

#: The drop reason of an event the guard kept from leaving the machine.
BLOCKED_IN_TESTS = "blocked_in_tests"

#: Names that can never resolve to a production server (RFC 6761): safe in tests.
_RESERVED_SUFFIXES = (".localhost", ".invalid", ".test", ".example")

_guards: list[bool] = []  # a stack: nested pytest sessions (pytester) push their own
_warned = threading.Event()


def is_local_url(url: str) -> bool:
    """Whether ``url`` cannot leave this machine: loopback or a reserved name (RFC 6761).

    >>> is_local_url("http://[::1]:8000"), is_local_url("http://api.weespin.io")
    (True, False)
    """
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host == "localhost" or host.endswith(_RESERVED_SUFFIXES):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def push(*, block: bool) -> None:
    """Start a guarded (``block=True``) or an opted-out section, until :func:`pop`."""
    _guards.append(block)
    _warned.clear()


def pop() -> None:
    """End the section :func:`push` began; the enclosing one applies again."""
    if _guards:
        _guards.pop()


def blocked_reason(base_url: str) -> str | None:
    """Why events to ``base_url`` must not go out now, or ``None`` when they may."""
    if not _guards or not _guards[-1] or is_local_url(base_url):
        return None
    return (
        f"the weespin pytest plugin kept an event from {base_url}: inside a test run clients "
        "reach loopback hosts only. Use the weespin_events fixture (in memory), the "
        "weespin_collector fixture (a local collector), or opt in with "
        "--weespin-allow-network or `weespin_allow_network = true` in the pytest ini."
    )


def block(reporter: Reporter, event: Event, reason: str, origin: str | None) -> None:
    """Count ``event`` as dropped (``blocked_in_tests``); warn once per test session."""
    reporter.dropped(BLOCKED_IN_TESTS, event=event, error=ConfigurationError(reason), origin=origin)
    if not _warned.is_set():
        _warned.set()
        try:
            warnings.warn(reason, RuntimeWarning, stacklevel=4)
        except Warning:  # warnings turned into errors: still say it, never raise
            print(f"warning: {reason}", file=sys.stderr)
