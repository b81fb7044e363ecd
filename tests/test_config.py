"""Settings come from arguments, then the environment, then defaults; the key never shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from weespin_instrument import ApiOptions, Client, ConfigurationError, DeliveryOptions, Settings
from weespin_instrument._config import GROUP_OF, GROUPS, Options

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


class TestFlatNames:
    """``Settings`` holds groups, and every flat name of the NamedTuple era still works."""

    def test_every_flat_name_reads_its_group(self) -> None:
        settings = Settings.resolve({}, base_url="http://127.0.0.1:9", max_retry_time=5.0)
        assert settings.base_url == settings.api.base_url == "http://127.0.0.1:9"
        assert settings.max_retry_time == settings.retry.max_retry_time == 5.0
        for name in Settings._fields:
            group = GROUP_OF.get(name)
            where = settings if group is None else getattr(settings, group)
            assert getattr(settings, name) == getattr(where, name), name

    def test_replace_takes_flat_names_and_whole_groups(self) -> None:
        settings = Settings.resolve({}, api_key=KEY)
        changed = settings._replace(max_queue=10, strict=True, device_id="ws_device_1")
        assert (changed.max_queue, changed.strict, changed.device_id) == (10, True, "ws_device_1")
        assert changed.api is settings.api  # untouched groups are shared
        assert settings.max_queue == 100_000  # the original is left as it was
        grouped = settings._replace(delivery=DeliveryOptions(overflow="block"), max_queue=3)
        assert (grouped.overflow, grouped.max_queue) == ("block", 3)

    def test_replace_checks_what_it_changes(self) -> None:
        with pytest.raises(ConfigurationError, match="max_queue and max_in_flight must be >= 1"):
            Settings.resolve({})._replace(max_queue=0)
        with pytest.raises(ConfigurationError, match="unknown setting\\(s\\): max_qeue"):
            Settings.resolve({})._replace(max_qeue=1)

    def test_fields_and_defaults_are_the_flat_names(self) -> None:
        assert Settings._field_defaults["exit_timeout"] == 5.0
        assert Settings._field_defaults["max_event_age"] is None
        assert set(Settings._field_defaults) == set(Settings._fields)
        assert Settings.resolve({})._asdict() == Settings._field_defaults

    def test_the_options_typed_dict_names_every_setting(self) -> None:
        assert set(Options.__annotations__) == set(Settings._fields)

    def test_the_flat_annotations_have_their_group_fields_types(self) -> None:
        # Type checkers read Settings' own annotations of the flat names; they must say what
        # the groups say.
        for name, group in GROUP_OF.items():
            in_group = dict(GROUPS)[group].__annotations__[name]  # a ForwardRef: a NamedTuple's
            assert Settings.__annotations__[name] == in_group.__forward_arg__, name

    def test_equal_settings_compare_equal_hash_alike_and_pickle(self) -> None:
        import pickle

        first = Settings.resolve({}, api_key=KEY, sensitive_keys=["iban"])
        second = Settings.resolve({}, api_key=KEY, sensitive_keys=("iban",))
        assert first == second and hash(first) == hash(second)
        assert pickle.loads(pickle.dumps(first)) == first
        assert first != first._replace(strict=True)

    def test_repr_shows_the_groups_and_the_key_hint_only(self) -> None:
        text = repr(Settings.resolve({}, api_key=KEY))
        assert text.startswith("Settings(api=ApiOptions(api_key='…tail', base_url=")
        assert "retry=RetryOptions(max_attempts=20" in text
        assert KEY not in text and "on_error" not in text

    def test_configure_and_client_take_every_flat_name(self, tmp_path: Path) -> None:
        client = Client(
            api_key=KEY,
            transport="memory",
            timeout=3.0,
            max_backoff=1.0,
            overflow="drop_oldest",
            outbox=tmp_path / "o.sqlite",
            max_event_age=30.0,
            send_metadata=False,
            sensitive_patterns=[r"FR\d+"],
        )
        settings = client.settings
        assert (settings.api.timeout, settings.retry.max_backoff) == (3.0, 1.0)
        assert (settings.delivery.overflow, settings.delivery.max_event_age) == ("drop_oldest", 30)
        assert settings.identity.send_metadata is False
        assert settings.scrubbing.sensitive_patterns == (r"FR\d+",)

    def test_settings_built_by_hand_take_flat_names_as_the_named_tuple_did(self) -> None:
        settings = Settings(api_key=KEY, max_queue=10, strict=True)
        assert (settings.api_key, settings.max_queue, settings.strict) == (KEY, 10, True)
        assert settings == Settings(api=ApiOptions(api_key=KEY), max_queue=10, strict=True)
        with pytest.raises(ConfigurationError, match="unknown setting\\(s\\): api_kye"):
            Settings(api_kye=KEY)
