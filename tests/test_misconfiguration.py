"""A bad setting in the environment never breaks instrumented code: reported once, counted.

Each case runs in a child process: it is about what start-up reads and what reaches stderr
when the application configured no logging.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import weespin_instrument as weespin
from weespin_instrument import Client, ConfigurationError, Settings
from weespin_instrument.collector import Collector
from weespin_instrument.testing import default_client

RunPython = Callable[..., Any]

KEY = "wsk_test_DO_NOT_LEAK_abcdef123456_LAST"

#: Uses every entry point a bad environment used to break, and prints what it counted.
SCRIPT = """
import json, weespin_instrument as weespin

@weespin.track_event("checkout")
def checkout(n):
    return n * 2

assert checkout(21) == 42
weespin.track("signup", {"plan": "pro"})
with weespin.tracked("import_done", rows=3):
    pass
stats = weespin.stats()
print(json.dumps({"dropped": dict(stats.dropped), "tracked": stats.tracked}))
"""


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WEESPIN_STRICT", "maybe"),
        ("WEESPIN_DISABLED", "2"),
        ("WEESPIN_BASE_URL", "127.0.0.1:8765"),
        ("WEESPIN_TRANSPORT", "http"),
        ("WEESPIN_API_KEY", "wsk_live\x1babc\x7f"),
        ("WEESPIN_BASE_URL", "http://192.0.2.10"),
    ],
)
def test_a_bad_environment_variable_is_reported_once_and_events_are_counted(
    run_python: RunPython, variable: str, value: str
) -> None:
    done = run_python(SCRIPT, env={"WEESPIN_API_KEY": KEY, variable: value})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '{"dropped": {"misconfigured": 3}, "tracked": 3}'
    assert done.stderr.count(variable) == 1, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "misconfigured" in done.stderr
    assert "wsk_live" not in done.stderr and KEY not in done.stderr


def test_strict_mode_from_the_environment_raises_the_configuration_error_at_the_call(
    run_python: RunPython,
) -> None:
    code = """
    import weespin_instrument as weespin
    try:
        weespin.track("signup")
    except weespin.ConfigurationError as exc:
        print("raised:", exc)
    """
    done = run_python(code, env={"WEESPIN_STRICT": "1", "WEESPIN_BASE_URL": "nowhere"})
    assert done.stdout.startswith("raised: base_url 'nowhere' must start with http://"), done


def test_a_key_read_with_a_trailing_newline_is_stripped_and_works(
    run_python: RunPython, collector: Collector
) -> None:
    code = """
    import weespin_instrument as weespin
    weespin.configure(transport="sync")
    weespin.track("signup")
    print(weespin.stats().sent, weespin.stats().last_error)
    """
    env = {"WEESPIN_API_KEY": f"  {KEY}\n", "WEESPIN_BASE_URL": collector.url}
    done = run_python(code, env=env)
    assert done.stdout.strip() == "1 None", done
    assert done.stderr == ""
    assert [e["event_name"] for e in collector.events()] == ["signup"]


def test_explicit_arguments_are_stripped_too() -> None:
    assert Settings.resolve({}, api_key=f"\t{KEY} \n").api_key == KEY


def test_a_key_with_control_characters_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        weespin.configure(api_key="wsk_live_se\ncret_tail")
    message = str(info.value)
    assert "control characters" in message and "WEESPIN_API_KEY" in message
    assert "cret" not in message and "tail" not in message


def test_configure_still_raises_for_a_bad_explicit_argument() -> None:
    with pytest.raises(ConfigurationError, match="WEESPIN_BASE_URL"):
        Client(base_url="127.0.0.1:8765")


class TestInsecureHttp:
    def test_plain_http_to_another_host_is_refused_with_the_fix(self) -> None:
        with pytest.raises(ConfigurationError) as info:
            Client(api_key=KEY, base_url="http://192.0.2.10")
        message = str(info.value)
        assert "unencrypted" in message
        assert "allow_insecure_http=True" in message and "WEESPIN_ALLOW_INSECURE_HTTP=1" in message

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:9",
            "http://127.8.9.10:9",
            "http://localhost:9",
            "http://[::1]:9",
            "http://0.0.0.0:9",
            "https://192.0.2.10",
        ],
    )
    def test_loopback_and_https_are_fine(self, url: str) -> None:
        assert Settings.resolve({}, base_url=url).base_url == url

    def test_it_can_be_allowed_explicitly_or_from_the_environment(self) -> None:
        url = "http://192.0.2.10"
        assert Settings.resolve({}, base_url=url, allow_insecure_http=True).base_url == url
        env = {"WEESPIN_ALLOW_INSECURE_HTTP": "1", "WEESPIN_BASE_URL": url}
        assert Settings.resolve(env).allow_insecure_http is True


class _SilentServer:
    """Accepts connections on 127.0.0.1 and never answers: an API that hangs."""

    def __init__(self) -> None:
        import socket

        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.socket.close()
        for connection in self.accepted:
            connection.close()


def test_configure_does_not_wait_for_the_previous_clients_shutdown() -> None:
    server = _SilentServer()
    try:
        with default_client(None):
            weespin.configure(
                api_key=KEY, base_url=server.url, device_id="ws_device_1", exit_timeout=30.0
            )
            weespin.track("signup")
            for _ in range(200):  # until the request hangs in the server
                if server.accepted:
                    break
                time.sleep(0.01)
            old = weespin.get_client()
            weespin.configure(transport="memory")
            # configure() returned while the old client's shutdown still waits for its
            # event: had it waited, the event would be counted as dropped by now.
            assert weespin.get_client() is not old
            stats = old.stats()
            assert (stats.queued + stats.in_flight, stats.sent, dict(stats.dropped)) == (1, 0, {})
            weespin.shutdown()
            old.shutdown(timeout=0.0)
    finally:
        server.close()


def test_a_misconfigured_client_never_starts_a_transport_on_fallback_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEESPIN_BASE_URL", "127.0.0.1:8765")  # no scheme
    client = Client(api_key=KEY)
    with pytest.raises(ConfigurationError, match="WEESPIN_BASE_URL"):
        client.transport  # noqa: B018 - what the OpenTelemetry bridge reads
    assert client.track("signup") is None
    assert client.stats().dropped == {"misconfigured": 1}


def test_a_clear_disabled_flag_still_counts_when_another_variable_is_bad(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEESPIN_DISABLED", "1")
    monkeypatch.setenv("WEESPIN_STRICT", "maybe")
    client = Client()
    assert client.settings.disabled
    assert client.track("signup") is None
    assert client.stats().tracked == 0
