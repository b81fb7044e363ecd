"""``WireEvent``, the pydantic model of the wire rules, used directly from Python."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from weespin_instrument._wire import WireEvent, WireFormatError, parse_event_json


def test_a_valid_event_keeps_its_types_exactly() -> None:
    event = WireEvent.model_validate(
        {"event_name": "x", "device_id": "d", "payload": {"s": "1", "i": 1, "f": 0.5, "b": True}}
    )

    assert event.payload == {"s": "1", "i": 1, "f": 0.5, "b": True}
    assert [type(value) for value in event.payload.values()] == [str, int, float, bool]


@pytest.mark.parametrize(
    "body",
    [
        {"event_name": 1, "device_id": "d"},
        {"event_name": b"bytes", "device_id": "d"},
        {"event_name": "x", "device_id": "d", "payload": {"t": (1, 2)}},
        {"event_name": "x", "device_id": "d", "payload": {"n": float("nan")}},
        {"event_name": "x", "device_id": "d", "payload": {1: "non-string key"}},
        {"event_name": "x", "device_id": "d", "extra": "field"},
    ],
    ids=["int-name", "bytes-name", "tuple", "nan", "int-key", "extra"],
)
def test_python_values_follow_the_same_strict_rules(body: dict[object, object]) -> None:
    with pytest.raises(ValidationError):
        WireEvent.model_validate(body)


def test_parse_event_json_reports_one_sentence_and_every_error() -> None:
    with pytest.raises(WireFormatError) as info:
        parse_event_json(b'{"event_name": "  ", "device_id": "", "payload": {"a": null}}')

    assert info.value.message == "'event_name' must be a non-empty string (not blank)."
    assert [error["loc"] for error in info.value.errors] == [
        ["event_name"],
        ["device_id"],
        ["payload", "a"],
    ]


def test_timestamps_accept_the_iso_8601_forms_clients_send() -> None:
    for stamp in ["2024-05-01T12:00:00.123Z", "2024-05-01T12:00:00+02:00", "2024-05-01"]:
        body = json.dumps({"event_name": "x", "device_id": "d", "timestamp": stamp})
        assert parse_event_json(body).timestamp == stamp


def test_importing_the_library_does_not_load_the_wire_models() -> None:
    code = (
        "import sys, weespin_instrument, weespin_instrument.cli; "
        "print('weespin_instrument._wire' in sys.modules, 'starlette' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["False", "False"]
