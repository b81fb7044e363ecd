"""pytest plugin for applications instrumented with weespin-instrument (loaded automatically).

The ``weespin_events`` fixture swaps the default client for a strict one that keeps events
in memory, for the duration of one test::

    def test_checkout(weespin_events):
        checkout(order, user)
        weespin_events.assert_tracked("purchase", amount=19.99, currency="EUR")

Strict mode is always on inside the fixture: an invalid event raises
:class:`~weespin_instrument.InvalidEventError` at the call site, so tests catch it. Code
under test that calls ``weespin.configure(...)`` keeps its other settings but still
tracks into the fixture; events the OpenTelemetry bridge derives from spans are captured
too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from . import _facade
from ._client import Client
from .transports import MemoryTransport

__all__ = ["default_client", "use_memory_client", "weespin_events"]


def use_memory_client() -> tuple[Client, MemoryTransport]:
    """A strict client with a :class:`MemoryTransport`, not installed anywhere.

    Example::

        client, memory = use_memory_client()
        client.track("signup")
        memory.assert_tracked("signup")
    """
    memory = MemoryTransport()
    return Client(transport=memory, strict=True, disabled=False), memory


@contextmanager
def default_client(client: Client | None) -> Iterator[Client | None]:
    """Make ``client`` the default client inside the block, then put the previous one back.

    Nothing is shut down on the way: the caller owns ``client``. ``None`` starts the block
    with no default client (the first module-level call builds one from the environment).

    Example::

        with default_client(Client(transport=memory)):
            checkout(order, user)   # its events go to `memory`
    """
    previous = _facade.swap_default(client)
    try:
        yield client
    finally:
        _facade.swap_default(previous)


@pytest.fixture
def weespin_events() -> Iterator[MemoryTransport]:
    """Capture the events tracked during the test (strict mode, in memory, no network).

    Example::

        def test_signup(weespin_events):
            signup("a@example.com")
            weespin_events.assert_tracked("signup", plan="free")
    """
    client, memory = use_memory_client()
    # configure() called by the code under test keeps capturing into the same memory.
    captured, _facade._captured_options = (
        _facade._captured_options,
        {"transport": memory, "strict": True, "disabled": False},
    )
    configured: Client | None = None
    try:
        with default_client(client):
            yield memory
            configured = _facade._default
    finally:
        _facade._captured_options = captured
        client.shutdown(timeout=1.0)
    if configured is not None and configured is not client:
        configured.shutdown(timeout=1.0)
