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

The ``weespin_collector`` fixture runs a local collector and points the default client at it,
for integration tests. And during the whole test session, whatever the fixtures, no client
sends to a host that is not this machine: such events are dropped and counted with reason
``blocked_in_tests`` (one warning says so) unless the run opts in with
``--weespin-allow-network`` or ``weespin_allow_network = true`` in the pytest ini.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

from . import _facade, _guard
from ._client import Client
from .errors import ConfigurationError
from .transports import MemoryTransport

if TYPE_CHECKING:
    from .collector import Collector

__all__ = ["default_client", "use_memory_client", "weespin_collector", "weespin_events"]

_ALLOW_OPTION = "--weespin-allow-network"
_ALLOW_INI = "weespin_allow_network"


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--weespin-allow-network`` and the ini option ``weespin_allow_network``."""
    help_text = (
        "let weespin-instrument clients send to hosts other than this machine during the "
        "tests (off: such events are dropped, counted as blocked_in_tests)"
    )
    parser.getgroup("weespin").addoption(
        _ALLOW_OPTION, action="store_true", default=False, help=help_text
    )
    parser.addini(_ALLOW_INI, help_text, type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    allowed = bool(config.getoption(_ALLOW_OPTION)) or bool(config.getini(_ALLOW_INI))
    _guard.push(block=not allowed)


def pytest_unconfigure(config: pytest.Config) -> None:
    _guard.pop()


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


@pytest.fixture
def weespin_collector() -> Iterator[Collector]:
    """A local collector on a free port of 127.0.0.1, with the default client sending to it.

    For integration tests: events go the real way (background transport, HTTP, SQLite).
    Call ``weespin.flush()`` before reading, or wait with ``wait_for``. Needs the
    ``[collector]`` extra.

    Example::

        def test_signup_reaches_the_api(weespin_collector):
            signup("a@example.com")
            [stored] = weespin_collector.wait_for(1, name="signup")
            assert stored["payload"]["plan"] == "free"
    """
    try:
        from .collector import Collector
    except (ImportError, ConfigurationError) as exc:  # the extra is not installed
        pytest.fail(
            f"weespin_collector needs the collector extra: pip install "
            f"'weespin-instrument[collector]' ({exc})",
            pytrace=False,
        )
    with Collector(port=0) as collector:
        client = Client(
            api_key="test-key",
            base_url=collector.url,
            transport="background",
            strict=True,
            disabled=False,
        )
        try:
            with default_client(client):
                yield collector
        finally:
            client.shutdown(timeout=5.0)
