"""The ``weespin-instrument`` command line: the ``collector`` and ``events`` commands."""

from __future__ import annotations

import json
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from weespin_instrument.cli import COMMANDS, build_parser, main
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

    status, out, _ = run(capsys, "events", "--url", collector.url, "--json")

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
        capsys, "events", "--url", collector.url, "--json", "--name", "tick", "--user", "u_0",
        "--limit", "2",
    )  # fmt: skip

    assert [json.loads(line)["payload"]["n"] for line in out.splitlines()] == [2, 4]


def test_events_device_filter(collector: Collector, capsys: pytest.CaptureFixture[str]) -> None:
    send(collector, "a", device_id="dev-1")
    send(collector, "b", device_id="dev-2")

    _, out, _ = run(capsys, "events", "--url", collector.url, "--json", "--device", "dev-2")

    assert [json.loads(line)["event_name"] for line in out.splitlines()] == ["b"]


def test_events_prints_a_table_by_default(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    send(collector, "purchase", user_id="u_42", payload={"amount": 19.99, "note": "two words"})

    status, out, _ = run(capsys, "events", "--url", collector.url)

    assert status == 0
    header, row = out.splitlines()
    assert header.split() == ["SEQ", "RECEIVED", "EVENT", "DEVICE", "USER", "PAYLOAD"]
    assert row.split()[0] == "1"
    assert "purchase" in row
    assert "u_42" in row
    assert "ws_device_0123456…abcdef" in row, "long device ids are shortened in the middle"
    assert row.endswith('amount=19.99 note="two words"')


def test_events_says_so_when_there_are_none(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "events", "--url", collector.url)[1].splitlines()[1] == "(no events)"
    assert run(capsys, "events", "--url", collector.url, "--json")[1] == ""


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

    status, out, err = run(capsys, "events", "--url", f"http://127.0.0.1:{port}")

    assert status == 1
    assert out == ""
    assert "cannot reach the collector" in err


def test_events_refuses_a_limit_below_one(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "events", "--url", collector.url, "--limit", "0")[0] == 2


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_events_follow_prints_new_events_until_ctrl_c(
    collector: Collector, run_cli: Callable[..., Any]
) -> None:
    send(collector, "before")
    follower = run_cli("events", "--url", collector.url, "--json", "--follow")
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
        "127.0.0.1", 8765, "./weespin-collector.sqlite", None, 0.0,
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


def test_send_delivers_one_event_with_typed_fields(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "send",
            "purchase",
            "amount=19.99",
            "quantity=2",
            "gift=true",
            "currency=EUR",
            "--user",
            "u_42",
            "--base-url",
            collector.url,
            "--api-key",
            SECRET,
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    [stored] = collector.events()
    assert stored["event_name"] == "purchase"
    assert stored["payload"] == {"amount": 19.99, "quantity": 2, "gift": True, "currency": "EUR"}
    assert stored["user_id"] == "u_42"
    assert out.startswith("sent 'purchase' event_id=")
    assert SECRET not in out


def test_send_refuses_a_field_without_equals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "purchase", "amount", "--api-key", SECRET]) == 2
    assert "'amount' is not key=value" in capsys.readouterr().err


def test_send_reports_an_invalid_payload(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["send", "purchase", "amount=NaN", "--base-url", collector.url, "--api-key", SECRET]
    )
    assert status == 1
    assert "not sent (invalid_payload)" in capsys.readouterr().out
    assert collector.events() == []


def test_doctor_walks_through_every_step(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["doctor", "--base-url", collector.url, "--api-key", SECRET])
    out = capsys.readouterr().out
    assert status == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("ok   configuration: base_url=" + collector.url)
    assert "api_key=…9876" in lines[0]
    assert lines[1].startswith("ok   device initialization: POST /initialize-device gave device")
    assert lines[2] == "ok   test event: POST /events accepted a 'weespin_doctor' event"
    assert SECRET not in out
    assert [row["event_name"] for row in collector.events()] == ["weespin_doctor"]


def test_doctor_names_the_failing_step_without_leaking_the_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEESPIN_API_KEY", raising=False)
    assert main(["doctor", "--base-url", "http://127.0.0.1:9"]) == 1
    assert capsys.readouterr().out == (
        "FAIL configuration: no API key: set WEESPIN_API_KEY or pass --api-key\n"
    )
    with Collector(api_key="the-right-one") as keyed:
        assert main(["doctor", "--base-url", keyed.url, "--api-key", SECRET]) == 1
    out = capsys.readouterr().out
    assert "FAIL device initialization: the Weespin API refused the API key …9876" in out
    assert SECRET not in out
