"""The environment variables: one table says which setting each fills and how its text reads."""

from __future__ import annotations

import math
from typing import Any

import pytest

from weespin_instrument import Client, ConfigurationError, Settings
from weespin_instrument._environment import ENVIRONMENT
from weespin_instrument.transports import MemoryTransport

#: One good value of every variable, and the setting it gives.
GOOD: dict[str, tuple[str, Any]] = {
    "WEESPIN_API_KEY": ("  wsk_live_0123456789\n", "wsk_live_0123456789"),
    "WEESPIN_BASE_URL": ("http://127.0.0.1:8765 ", "http://127.0.0.1:8765"),
    "WEESPIN_DISABLED": ("yes", True),
    "WEESPIN_STRICT": ("ON", True),
    "WEESPIN_ALLOW_INSECURE_HTTP": ("true", True),
    "WEESPIN_TRANSPORT": (" sync ", "sync"),
    "WEESPIN_OUTBOX": ("/var/lib/app/outbox.sqlite", "/var/lib/app/outbox.sqlite"),
    "WEESPIN_MAX_EVENT_AGE": ("3600", 3600.0),
    "WEESPIN_SENSITIVE_KEYS": ("iban, tax_id,,", ("iban", "tax_id")),
}

#: Every way a variable's text can be wrong, and the whole message it gives.
BAD = [
    (
        "WEESPIN_STRICT",
        "maybe",
        "WEESPIN_STRICT='maybe' is not a boolean. Use 1/0, true/false, yes/no or on/off.",
    ),
    (
        "WEESPIN_DISABLED",
        " 2 ",
        "WEESPIN_DISABLED='2' is not a boolean. Use 1/0, true/false, yes/no or on/off.",
    ),
    (
        "WEESPIN_ALLOW_INSECURE_HTTP",
        "Sure",
        "WEESPIN_ALLOW_INSECURE_HTTP='sure' is not a boolean. Use 1/0, true/false, yes/no or "
        "on/off.",
    ),
    (
        "WEESPIN_TRANSPORT",
        "http",
        "WEESPIN_TRANSPORT='http' is not a transport; use one of 'background', 'sync', "
        "'console', 'memory', 'none'.",
    ),
    (
        "WEESPIN_MAX_EVENT_AGE",
        "ten minutes",
        "WEESPIN_MAX_EVENT_AGE='ten minutes' is not a number of seconds above 0; use e.g. "
        "WEESPIN_MAX_EVENT_AGE=600, or WEESPIN_MAX_EVENT_AGE=inf for no limit.",
    ),
    (
        "WEESPIN_MAX_EVENT_AGE",
        "0",
        "WEESPIN_MAX_EVENT_AGE='0' is not a number of seconds above 0; use e.g. "
        "WEESPIN_MAX_EVENT_AGE=600, or WEESPIN_MAX_EVENT_AGE=inf for no limit.",
    ),
    (
        "WEESPIN_MAX_EVENT_AGE",
        "nan",
        "WEESPIN_MAX_EVENT_AGE='nan' is not a number of seconds above 0; use e.g. "
        "WEESPIN_MAX_EVENT_AGE=600, or WEESPIN_MAX_EVENT_AGE=inf for no limit.",
    ),
    (
        "WEESPIN_SENSITIVE_KEYS",
        "iban,__",
        "WEESPIN_SENSITIVE_KEYS='iban,__': sensitive_keys entry '__' has no letters or digits; "
        "give key words such as 'iban' or 'tax_id'.",
    ),
]

#: The checks a value passes after it is read, still naming the variable.
BAD_VALUES = [
    ("WEESPIN_BASE_URL", "127.0.0.1:8765", "base_url '127.0.0.1:8765' must start with http://"),
    ("WEESPIN_BASE_URL", "http://192.0.2.10", "WEESPIN_ALLOW_INSECURE_HTTP=1"),
    ("WEESPIN_API_KEY", "wsk_live\x1babc", "WEESPIN_API_KEY) holds control characters"),
]


def test_the_table_lists_every_variable_once_each_for_a_setting_it_fills() -> None:
    names = [variable.name for variable in ENVIRONMENT]
    assert sorted(names) == sorted(GOOD)
    assert len({variable.setting for variable in ENVIRONMENT}) == len(ENVIRONMENT)
    assert {variable.setting for variable in ENVIRONMENT} <= set(Settings._fields)
    assert all(variable.description for variable in ENVIRONMENT)


@pytest.mark.parametrize("variable", ENVIRONMENT, ids=lambda variable: variable.name)
def test_each_variable_fills_its_setting(variable: Any) -> None:
    raw, expected = GOOD[variable.name]
    env = {variable.name: raw}
    if variable.name == "WEESPIN_ALLOW_INSECURE_HTTP":
        env["WEESPIN_BASE_URL"] = "http://192.0.2.10"
    assert getattr(Settings.resolve(env), variable.setting) == expected


@pytest.mark.parametrize("variable", ENVIRONMENT, ids=lambda variable: variable.name)
def test_an_empty_or_blank_variable_counts_as_unset(variable: Any) -> None:
    for raw in ("", "  "):
        assert Settings.resolve({variable.name: raw}) == Settings.resolve({})


#: An explicit argument for every setting a variable fills.
ARGUMENTS: dict[str, Any] = {
    "api_key": "wsk_explicit_key",
    "base_url": "http://127.0.0.1:9",
    "disabled": False,
    "strict": False,
    "allow_insecure_http": False,
    "transport": "memory",
    "outbox": "explicit.sqlite",
    "max_event_age": 60.0,
    "sensitive_keys": ("coupon",),
}


@pytest.mark.parametrize("variable", ENVIRONMENT, ids=lambda variable: variable.name)
def test_an_argument_wins_and_its_variable_is_not_even_read(variable: Any) -> None:
    bad = {name: raw for name, raw, _ in BAD}
    env = {variable.name: bad.get(variable.name, GOOD[variable.name][0])}
    argument = ARGUMENTS[variable.setting]
    settings = Settings.resolve(env, **{variable.setting: argument})
    assert getattr(settings, variable.setting) == argument


@pytest.mark.parametrize(("name", "raw", "message"), BAD, ids=[f"{n}={r!r}" for n, r, _ in BAD])
def test_each_bad_text_is_refused_with_the_whole_message(name: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.resolve({name: raw})
    assert str(info.value) == message


@pytest.mark.parametrize(("name", "raw", "words"), BAD_VALUES)
def test_a_value_read_well_but_wrong_is_refused_naming_the_variable(
    name: str, raw: str, words: str
) -> None:
    with pytest.raises(ConfigurationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Settings.resolve({name: raw})


@pytest.mark.parametrize(("name", "raw", "message"), BAD, ids=[f"{n}={r!r}" for n, r, _ in BAD])
def test_a_client_reports_a_bad_variable_and_drops_as_misconfigured(
    name: str, raw: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, raw)
    client = Client(api_key="wsk_test_key", base_url="http://127.0.0.1:9")
    assert client.track("signup") is None
    assert client.stats().dropped == {"misconfigured": 1}
    client.shutdown(timeout=0.0)


def test_max_event_age_inf_means_no_limit() -> None:
    settings = Settings.resolve({"WEESPIN_MAX_EVENT_AGE": "inf"})
    assert settings.max_event_age == math.inf
    assert settings.delivery.age_limit is None


def test_sensitive_keys_from_the_environment_reach_the_clients_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEESPIN_SENSITIVE_KEYS", "coupon, tax_id")
    client = Client(transport=MemoryTransport())
    event = client.track("checkout", {"coupon": "SPRING", "taxId": "FR1", "plan": "pro"})
    assert event is not None
    assert event.payload == {"coupon": "[REDACTED]", "taxId": "[REDACTED]", "plan": "pro"}
