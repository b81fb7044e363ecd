"""The ``weespin-instrument`` command line: every command, its help and its output."""

from __future__ import annotations

import http.server
import json
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from weespin_instrument.cli import COMMANDS, build_parser, data_dir, main
from weespin_instrument.collector import Collector

AUTH = {"Authorization": "k"}


def send(collector: Collector, name: str, **fields: Any) -> None:
    body = {"event_name": name, "device_id": "ws_device_0123456789abcdef0123456789abcdef", **fields}
    assert httpx.post(collector.url + "/events", json=body, headers=AUTH).status_code == 200


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# -- events ---------------------------------------------------------------------------------


def test_events_json_prints_one_json_object_per_line_oldest_first(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    send(collector, "signup", user_id="u_1", payload={"plan": "pro"})
    send(collector, "purchase", user_id="u_1", payload={"amount": 19.99})

    status, out, _ = run(capsys, "events", "--base-url", collector.url, "--json")

    assert status == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["event_name"] for line in lines] == ["signup", "purchase"]
    assert lines[1]["payload"] == {"amount": 19.99}
    assert lines == collector.events()


def test_events_filters_and_limit_keep_the_latest(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(5):
        send(collector, "tick", user_id=f"u_{n % 2}", payload={"n": n})
    send(collector, "other", user_id="u_0")

    _, out, _ = run(
        capsys, "events", "--base-url", collector.url, "--json", "--name", "tick", "--user", "u_0",
        "--limit", "2",
    )  # fmt: skip

    assert [json.loads(line)["payload"]["n"] for line in out.splitlines()] == [2, 4]


def test_events_device_filter(collector: Collector, capsys: pytest.CaptureFixture[str]) -> None:
    send(collector, "a", device_id="dev-1")
    send(collector, "b", device_id="dev-2")

    _, out, _ = run(capsys, "events", "--base-url", collector.url, "--json", "--device", "dev-2")

    assert [json.loads(line)["event_name"] for line in out.splitlines()] == ["b"]


def test_events_prints_a_table_by_default(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    send(collector, "purchase", user_id="u_42", payload={"amount": 19.99, "note": "two words"})

    status, out, _ = run(capsys, "events", "--base-url", collector.url)

    assert status == 0
    header, row = out.splitlines()
    assert header.split() == ["SEQ", "RECEIVED", "EVENT", "DEVICE", "USER", "PAYLOAD"]
    assert row.split()[0] == "1"
    assert "purchase" in row
    assert "u_42" in row
    assert "ws_device_0123456…abcdef" in row, "long device ids are shortened in the middle"
    assert row.endswith('amount=19.99 note="two words"')


def test_the_table_quotes_strings_that_read_like_numbers(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    send(collector, "order", payload={"zip": "019", "n": 19, "flag": "true", "plan": "pro"})

    _, out, _ = run(capsys, "events", "--base-url", collector.url)

    assert out.splitlines()[1].endswith('zip="019" n=19 flag="true" plan=pro')


def test_events_says_so_when_there_are_none(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "events", "--base-url", collector.url)[1].splitlines()[1] == "(no events)"
    assert run(capsys, "events", "--base-url", collector.url, "--json")[1] == ""


def test_events_reads_the_url_from_weespin_base_url(
    collector: Collector, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    send(collector, "from_env")
    monkeypatch.setenv("WEESPIN_BASE_URL", collector.url)

    _, out, _ = run(capsys, "events", "--json")

    assert json.loads(out)["event_name"] == "from_env"


def test_events_reports_an_unreachable_collector(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    status, out, err = run(capsys, "events", "--base-url", f"http://127.0.0.1:{port}")

    assert status == 1
    assert out == ""
    assert "cannot reach the collector" in err


def test_events_refuses_a_limit_below_one(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "events", "--base-url", collector.url, "--limit", "0")[0] == 2


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_events_follow_prints_new_events_until_ctrl_c(
    collector: Collector, run_cli: Callable[..., Any]
) -> None:
    send(collector, "before")
    follower = run_cli("events", "--base-url", collector.url, "--json", "--follow")
    assert json.loads(follower.read_line())["event_name"] == "before"

    send(collector, "after_1")
    send(collector, "after_2")

    assert json.loads(follower.read_line())["event_name"] == "after_1"
    assert json.loads(follower.read_line())["event_name"] == "after_2"
    follower.process.send_signal(signal.SIGINT)
    assert follower.process.wait(timeout=15) == 0


# -- collector ------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGTERM")
def test_collector_serves_in_the_foreground_until_sigterm(
    run_cli: Callable[..., Any], tmp_path: Any
) -> None:
    server = run_cli(
        "collector", "--port", "0", "--db", str(tmp_path / "cli.sqlite"),
        "--api-key", "super-secret-key-9876", "--latency-ms", "5",
    )  # fmt: skip
    url = server.wait_for_url()

    wrong = httpx.post(url + "/events", headers={"Authorization": "nope"}, json={})
    right = httpx.post(
        url + "/events",
        headers={"Authorization": "super-secret-key-9876"},
        json={"event_name": "cli", "device_id": "d"},
    )
    server.process.send_signal(signal.SIGTERM)
    status = server.process.wait(timeout=15)
    server.read_rest()

    assert (wrong.status_code, right.status_code) == (401, 200)
    assert status == 0
    output = "\n".join(server.output)
    assert "super-secret-key" not in output, "the key is never printed"
    assert "9876" in output, "only its last 4 characters"
    assert "latency 5 ms" in output
    assert "cli.sqlite" in output
    assert "stopped (1 events stored this run)" in output


def test_collector_reports_a_port_in_use(
    collector: Collector, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    status, _, err = run(
        capsys, "collector", "--port", str(collector.port), "--db", str(tmp_path / "x.sqlite")
    )

    assert status == 1
    assert "cannot start the collector" in err


def test_collector_says_which_certificate_it_cannot_serve_https_with(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    missing = str(tmp_path / "server.pem")
    db = str(tmp_path / "x.sqlite")
    status, _, err = run(capsys, "collector", "--port", "0", "--db", db, "--certfile", missing)

    assert status == 2
    assert f"cannot serve HTTPS with certfile={missing!r}" in err


# -- the parser -----------------------------------------------------------------------------


def test_without_a_command_it_prints_help_and_returns_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = run(capsys)

    assert status == 2
    assert "collector" in err and "events" in err


def test_every_command_of_the_table_is_a_subcommand() -> None:
    parser = build_parser()
    required = {"send": ["purchase"]}
    for command in COMMANDS:
        args = parser.parse_args([command.name, *required.get(command.name, [])])
        assert args.command is command


def test_collector_defaults() -> None:
    args = build_parser().parse_args(["collector"])

    assert (args.host, args.port, args.db, args.api_key, args.latency_ms) == (
        "127.0.0.1", 8765, None, None, 0.0,
    )  # fmt: skip


def test_collector_reports_a_database_it_cannot_open(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    missing_dir = tmp_path / "no" / "such" / "dir" / "x.sqlite"

    status, _, err = run(capsys, "collector", "--port", "0", "--db", str(missing_dir))

    assert status == 1
    assert "cannot start the collector" in err


def test_collector_refuses_a_negative_latency(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "collector", "--port", "0", "--latency-ms", "-5")

    assert status == 2
    assert "latency" in err


# -- send and doctor ---------------------------------------------------------------------------

SECRET = "wsk_cli_SECRET_value_9876"


def test_version_and_python_dash_m() -> None:
    from weespin_instrument import __version__

    script = str(Path(sys.executable).parent / "weespin-instrument")
    for argv in ([script], [sys.executable, "-m", "weespin_instrument"]):
        done = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout) == (0, f"weespin-instrument {__version__}\n")


def test_every_help_shows_examples_of_its_own_command() -> None:
    parser = build_parser()
    assert "examples:" in parser.format_help()
    for command in COMMANDS:
        sub = parser._subparsers._group_actions[0].choices[command.name]  # type: ignore[union-attr]
        text = sub.format_help()
        assert "examples:" in text, command.name
        assert f"weespin-instrument {command.name} " in text.split("examples:")[1]


def test_one_name_per_option_across_commands() -> None:
    parser = build_parser()
    seen: dict[str, set[str]] = {}
    for command in COMMANDS:
        sub = parser._subparsers._group_actions[0].choices[command.name]  # type: ignore[union-attr]
        for action in sub._actions:
            shown = [o for o in action.option_strings if o != "--url"]  # a hidden old alias
            if shown:
                seen.setdefault(action.dest, set()).update(shown)
    assert seen["base_url"] == {"--base-url"}
    assert seen["api_key"] == {"--api-key"}
    assert seen["api_key_file"] == {"--api-key-file"}
    assert "--url" not in build_parser().parse_args(["events"]).__dict__


# -- send -------------------------------------------------------------------------------------

SECRET = "wsk_cli_SECRET_value_9876"


def test_send_delivers_one_event_and_prints_how_each_value_was_typed(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys, "send", "purchase", "amount=19.99", "quantity=2", "gift=true", "currency=EUR",
        "--user", "u_42", "--base-url", collector.url, "--api-key", SECRET,
    )  # fmt: skip

    assert status == 0, out
    [stored] = collector.events()
    assert stored["event_name"] == "purchase"
    assert stored["payload"] == {"amount": 19.99, "quantity": 2, "gift": True, "currency": "EUR"}
    assert stored["user_id"] == "u_42"
    assert "  amount = 19.99  (float)" in out.splitlines()
    assert "  quantity = 2  (int)" in out.splitlines()
    assert "  gift = True  (bool)" in out.splitlines()
    assert "  currency = 'EUR'  (str)" in out.splitlines()
    assert out.splitlines()[-2].startswith("sent 'purchase' event_id=")
    assert out.splitlines()[-1] == f"see it: weespin-instrument events, or {collector.url}/"
    assert SECRET not in out


def test_send_explains_leading_zeros_and_exponents_and_takes_type_suffixes(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys, "send", "order", "amount=019", "n=1e3", "zip:int=019", "code:str=42",
        "ratio:float=2", "vip:bool=yes", "--base-url", collector.url, "--api-key", SECRET,
    )  # fmt: skip

    assert status == 0, out
    assert collector.events()[0]["payload"] == {
        "amount": "019", "n": 1000.0, "zip": 19, "code": "42", "ratio": 2.0, "vip": True,
    }  # fmt: skip
    assert "amount = '019'  (str: a leading zero keeps it text" in out
    assert "write amount:int=019" in out
    assert "n = 1000.0  (float: exponent notation is a float; write n:int=1000" in out
    assert "zip = 19  (int: forced)" in out


def test_send_refuses_a_bad_type_suffix_or_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "order", "n:number=3", "--api-key", SECRET]) == 2
    assert "unknown type suffix 'number'; use one of :str, :int, :float, :bool" in (
        capsys.readouterr().err
    )
    assert main(["send", "order", "n:int=3.5", "--api-key", SECRET]) == 2
    assert "'3.5' is not a valid int" in capsys.readouterr().err


def test_send_reports_what_was_stored_redacted(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys, "send", "signup", "password=hunter2", "plan=pro",
        "--base-url", collector.url, "--api-key", SECRET,
    )  # fmt: skip

    assert status == 0, out
    assert collector.events()[0]["payload"]["password"] == "[REDACTED]"
    assert "redacted (sensitive data, policy 'redact'): stored as password='[REDACTED]'" in out
    assert "hunter2" not in out.split("sent 'signup'")[1]


def test_send_refuses_a_field_without_equals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "purchase", "amount", "--api-key", SECRET]) == 2
    assert "'amount' is not key=value" in capsys.readouterr().err


def test_send_reports_an_invalid_payload(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["send", "purchase", "amount=NaN", "--base-url", collector.url, "--api-key", SECRET]
    )
    out = capsys.readouterr().out
    assert status == 1
    assert "amount = nan  (float: not a finite number: the API refuses it)" in out
    assert "not sent (invalid_payload)" in out
    assert collector.events() == []


def test_send_reads_the_key_from_a_file(
    collector: Collector, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with Collector(api_key=SECRET) as keyed:
        key_file = tmp_path / "key"
        key_file.write_text(SECRET + "\n")
        status, out, _ = run(
            capsys, "send", "signup", "--base-url", keyed.url, "--api-key-file", str(key_file)
        )
        assert status == 0, out
        assert [e["event_name"] for e in keyed.events()] == ["signup"]


# -- doctor -----------------------------------------------------------------------------------


def test_doctor_says_where_each_setting_came_from_and_recognises_a_local_collector(
    collector: Collector,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("WEESPIN_API_KEY", SECRET)
    status, out, _ = run(capsys, "doctor", "--base-url", collector.url)

    assert status == 0, out
    lines = out.splitlines()
    assert lines[0].startswith(f"ok   configuration: base_url={collector.url} (from --base-url)")
    assert "api_key=…9876 (from WEESPIN_API_KEY)" in lines[0]
    assert lines[1].startswith(f"ok   server: {collector.url} is a local Weespin collector")
    assert lines[2].startswith("ok   device initialization: POST /initialize-device gave device")
    assert lines[3].startswith("ok   test event: not sent (pass --send-test-event")
    assert lines[4] == (
        f"everything works: events will reach the local collector at {collector.url} "
        f"(weespin-instrument events, or the page at {collector.url}/)"
    )
    assert "will reach Weespin" not in out
    assert SECRET not in out
    assert collector.events() == [], "no event lands in your data unless asked"

    monkeypatch.setenv("WEESPIN_BASE_URL", collector.url)
    _, out, _ = run(capsys, "doctor", "--api-key", SECRET)
    assert f"base_url={collector.url} (from WEESPIN_BASE_URL)" in out
    assert "api_key=…9876 (from --api-key)" in out

    key_file = tmp_path / "key"
    key_file.write_text(SECRET)
    monkeypatch.delenv("WEESPIN_BASE_URL")
    status, out, _ = run(capsys, "doctor", "--api-key-file", str(key_file))
    assert f"api_key=…9876 (from --api-key-file {key_file})" in out
    assert "base_url=https://developer.weespin.io (from default)" in out
    assert (status, out.splitlines()[1]) == (
        1,
        "FAIL server: not contacted: the weespin pytest plugin keeps test runs off "
        "https://developer.weespin.io (not this machine)",
    ), "no request to the real API from a test"


def test_doctor_sends_its_test_event_only_when_asked(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys, "doctor", "--base-url", collector.url, "--api-key", SECRET, "--send-test-event"
    )

    assert status == 0, out
    assert "ok   test event: POST /events accepted a 'weespin_doctor' event" in out.splitlines()
    assert [row["event_name"] for row in collector.events()] == ["weespin_doctor"]


def test_doctor_gives_the_fix_for_each_failure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEESPIN_API_KEY", raising=False)
    assert main(["doctor", "--base-url", "http://127.0.0.1:9"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL configuration: no API key\n     fix: export WEESPIN_API_KEY=")
    assert "any non-empty value" in out

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["doctor", "--base-url", f"http://127.0.0.1:{port}", "--api-key", SECRET]) == 1
    out = capsys.readouterr().out
    assert f"FAIL server: cannot connect to http://127.0.0.1:{port}" in out
    assert "fix: start the local collector in another terminal: weespin-instrument collector" in out

    with Collector(api_key="the-right-one") as keyed:
        assert main(["doctor", "--base-url", keyed.url, "--api-key", SECRET]) == 1
    out = capsys.readouterr().out
    assert "FAIL device initialization: the Weespin API refused the API key …9876" in out
    assert "fix: use the key the collector was started with" in out
    assert SECRET not in out


# -- events against something else -------------------------------------------------------------


@pytest.fixture
def html_server() -> Iterator[str]:
    """A plain web server that answers every GET with an HTML 404 page, as many sites do."""

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><html><body><h1>404 Not Found</h1>" + b"x" * 500 + b"</html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_events_against_a_server_that_is_not_a_collector_says_so(
    html_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "events", "--base-url", html_server)

    assert status == 1
    assert out == ""
    assert err.startswith(f"error: {html_server} is not a Weespin local collector")
    assert "answered 404 text/html" in err
    assert "weespin-instrument collector" in err
    assert "<html" not in err, "no page dump"


# -- collector: what it prints, where it writes -------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGTERM")
def test_collector_prints_the_two_exports_and_the_page_and_writes_under_the_data_dir(
    run_cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEESPIN_DATA_DIR", str(tmp_path / "data"))
    server = run_cli("collector", "--port", "0")
    url = server.wait_for_url()
    lines = [server.read_line() for _ in range(5)]
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0

    assert f"  export WEESPIN_BASE_URL={url}" in lines
    assert "  export WEESPIN_API_KEY=dev  # any non-empty value" in lines
    assert f"  live page: {url}/" in lines
    assert (tmp_path / "data" / "collector.sqlite").exists()
    assert not list(tmp_path.glob("*.sqlite")), "nothing in the current folder"


def test_data_dir_follows_the_platform_conventions(monkeypatch: pytest.MonkeyPatch) -> None:
    assert data_dir({"WEESPIN_DATA_DIR": "/srv/w"}) == Path("/srv/w")
    if sys.platform.startswith("linux"):
        assert data_dir({"XDG_DATA_HOME": "/x"}) == Path("/x/weespin-instrument")
        assert data_dir({}) == Path.home() / ".local/share/weespin-instrument"


# -- collector: where its key comes from ----------------------------------------------------


def _key_works(url: str, key: str) -> tuple[int, int]:
    wrong = httpx.post(url + "/events", headers={"Authorization": "nope"}, json={})
    event = {"event_name": "cli", "device_id": "d"}
    right = httpx.post(url + "/events", headers={"Authorization": key}, json=event)
    return wrong.status_code, right.status_code


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGTERM")
def test_collector_reads_its_key_from_the_environment_not_the_command_line(
    run_cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEESPIN_COLLECTOR_API_KEY", "env-secret-key-4321\n")
    server = run_cli("collector", "--port", "0", "--db", str(tmp_path / "c.sqlite"))
    url = server.wait_for_url()
    assert _key_works(url, "env-secret-key-4321") == (401, 200)
    with open(f"/proc/{server.process.pid}/cmdline", "rb") as cmdline:
        assert b"env-secret" not in cmdline.read()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=15)
    server.read_rest()
    output = "\n".join(server.output)
    assert "env-secret" not in output and "…4321 (WEESPIN_COLLECTOR_API_KEY)" in output
    assert server.stderr() == ""


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGTERM")
def test_collector_reads_its_key_from_a_file(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "key").write_text("file-secret-key-5555\n")
    server = run_cli(
        "collector", "--port", "0", "--db", str(tmp_path / "c.sqlite"),
        "--api-key-file", str(tmp_path / "key"),
    )  # fmt: skip
    assert _key_works(server.wait_for_url(), "file-secret-key-5555") == (401, 200)
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=15)
    assert server.stderr() == ""


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGTERM")
def test_collector_warns_that_a_key_on_the_command_line_is_visible(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    server = run_cli(
        "collector", "--port", "0", "--db", str(tmp_path / "c.sqlite"),
        "--api-key", "cmdline-key-7777",
    )  # fmt: skip
    server.wait_for_url()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=15)
    warning = server.stderr()
    assert "--api-key is visible to every user of this machine" in warning
    assert "WEESPIN_COLLECTOR_API_KEY" in warning and "--api-key-file" in warning
    assert "cmdline-key" not in warning
