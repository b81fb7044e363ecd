"""Settings come from arguments, then the environment, then defaults; the key never shows."""

from __future__ import annotations

import pytest

from weespin_instrument import Client, ConfigurationError, Settings

KEY = "wsk_live_SECRET_0123456789_tail"


def test_environment_fills_what_arguments_leave_out() -> None:
    env = {"WEESPIN_API_KEY": KEY, "WEESPIN_BASE_URL": "http://127.0.0.1:9", "WEESPIN_STRICT": "1"}
    settings = Settings.resolve(env)
    assert settings.api_key == KEY
    assert settings.base_url == "http://127.0.0.1:9"
    assert settings.strict is True
    assert settings.disabled is False
    assert settings.transport == "background"


def test_arguments_win_over_the_environment() -> None:
    env = {"WEESPIN_API_KEY": "from-env-key", "WEESPIN_TRANSPORT": "console"}
    settings = Settings.resolve(env, api_key=KEY, transport="memory")
    assert settings.api_key == KEY
    assert settings.transport == "memory"


def test_defaults_follow_the_api_decisions() -> None:
    settings = Settings.resolve({})
    assert settings.api_key is None
    assert settings.base_url == "https://developer.weespin.io"
    assert settings.init_path == "/initialize-device"
    assert settings.events_path == "/events"
    assert settings.sensitive_data == "redact"
    assert settings.send_metadata is True


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("ON", True), ("0", False), ("no", False), ("", False)],
)
def test_boolean_variables_accept_the_usual_spellings(raw: str, expected: bool) -> None:
    assert Settings.resolve({"WEESPIN_DISABLED": raw}).disabled is expected


def test_a_bad_boolean_names_the_variable_and_the_accepted_values() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.resolve({"WEESPIN_STRICT": "maybe"})
    assert str(info.value) == (
        "WEESPIN_STRICT='maybe' is not a boolean. Use 1/0, true/false, yes/no or on/off."
    )


def test_repr_shows_only_the_last_four_characters_of_the_key() -> None:
    settings = Settings.resolve({}, api_key=KEY)
    client = Client(settings=settings)
    for text in (repr(settings), repr(client), str(settings)):
        assert KEY not in text
        assert "…tail" in text
        assert "SECRET" not in text


def test_an_unknown_transport_name_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        Client(api_key=KEY, transport="carrier-pigeon")
    assert str(info.value) == (
        "unknown transport 'carrier-pigeon': use one of 'background', 'sync', 'console', "
        "'memory', 'none', or pass an instance (configure(transport=MyTransport()))."
    )


def test_a_base_url_without_scheme_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="must start with http:// or https://"):
        Settings.resolve({}, base_url="127.0.0.1:8765")


def test_an_unknown_sensitive_data_policy_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="sensitive_data='hide' is not a policy"):
        Settings.resolve({}, sensitive_data="hide")


def test_a_misspelt_setting_is_named_with_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        Client(api_kye="oops")  # type: ignore[call-arg]
    assert str(info.value).startswith(
        "unknown setting(s): api_kye. Valid settings: api_key, base_url, init_path,"
    )
