"""The settings by concern: each group holds its options, checked as Settings takes it."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, get_args

import pytest

import weespin_instrument as weespin
from weespin_instrument import (
    ApiOptions,
    Client,
    ConfigurationError,
    DeliveryOptions,
    IdentityOptions,
    MemoryDeviceStore,
    RetryOptions,
    ScrubbingOptions,
    Settings,
)
from weespin_instrument._choices import SensitiveDataPolicy
from weespin_instrument._scrub import Scrubber

KEY = "wsk_live_SECRET_0123456789_tail"
GROUPS = {
    "api": ApiOptions,
    "retry": RetryOptions,
    "delivery": DeliveryOptions,
    "identity": IdentityOptions,
    "scrubbing": ScrubbingOptions,
}


def test_settings_hold_one_group_per_concern_and_the_clients_own_flags() -> None:
    settings = Settings.resolve(
        {}, api_key=KEY, max_attempts=3, max_queue=7, device_id="ws_device_1", strict=True
    )

    assert settings.api == ApiOptions(api_key=KEY)
    assert settings.retry == RetryOptions(max_attempts=3)
    assert settings.delivery == DeliveryOptions(max_queue=7)
    assert settings.identity == IdentityOptions(device_id="ws_device_1")
    assert settings.scrubbing == ScrubbingOptions()
    assert (settings.strict, settings.disabled, settings.transport, settings.on_error) == (
        True,
        False,
        "background",
        None,
    )


def test_every_setting_belongs_to_exactly_one_group_or_to_the_client() -> None:
    in_groups = [name for cls in GROUPS.values() for name in cls._fields]
    own = ["strict", "disabled", "transport", "on_error"]

    assert len(in_groups) == len(set(in_groups))
    assert list(Settings._fields) == [*in_groups, *own]


def test_the_groups_are_public_sorted_in_all_and_documented_with_an_example() -> None:
    for cls in GROUPS.values():
        assert getattr(weespin, cls.__name__) is cls
        assert cls.__name__ in weespin.__all__
        assert "Example::" in (cls.__doc__ or ""), cls
    assert weespin.__all__ == sorted(weespin.__all__)


def test_a_group_built_by_hand_is_checked_when_settings_take_it() -> None:
    with pytest.raises(ConfigurationError, match="max_queue and max_in_flight must be >= 1"):
        Settings(delivery=DeliveryOptions(max_queue=0))
    with pytest.raises(
        ConfigurationError, match=re.escape("Settings(retry=...) takes a RetryOptions")
    ):
        Settings(retry=DeliveryOptions())  # type: ignore[arg-type]


def test_a_group_built_by_hand_goes_to_a_client_through_settings() -> None:
    settings = Settings(
        scrubbing=ScrubbingOptions(sensitive_keys=("coupon",)),
        identity=IdentityOptions(device_id="ws_device_1"),
        transport="memory",
    )
    client = Client(settings=settings)
    event = client.track("checkout", {"coupon": "SPRING", "plan": "pro"})

    assert event is not None and event.payload == {"coupon": "[REDACTED]", "plan": "pro"}
    assert event.device_id == "ws_device_1"


def test_groups_are_immutable_and_settings_too() -> None:
    settings = Settings.resolve({})
    with pytest.raises(AttributeError):
        settings.delivery.max_queue = 1  # type: ignore[misc]
    with pytest.raises(AttributeError, match=r"immutable: derive a variant"):
        settings.strict = True  # type: ignore[misc]


class TestApiOptions:
    def test_defaults_follow_the_api_decisions(self) -> None:
        api = Settings.resolve({}).api
        assert (api.base_url, api.init_path, api.events_path) == (
            "https://developer.weespin.io",
            "/initialize-device",
            "/events",
        )
        assert (api.api_key, api.timeout, api.allow_insecure_http) == (None, 10.0, False)

    def test_the_key_is_stripped_and_shown_only_by_its_last_four_characters(self) -> None:
        api = Settings(api=ApiOptions(api_key=f" {KEY}\n")).api
        assert api.api_key == KEY
        assert api.key_hint == "…tail"
        assert KEY not in repr(api) and "SECRET" not in repr(api)
        assert repr(api).startswith("ApiOptions(api_key='…tail', base_url=")

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"base_url": "nowhere"}, "base_url 'nowhere' must start with http:// or https://"),
            ({"base_url": "http://"}, "base_url 'http://' names no host"),
            ({"base_url": "http://192.0.2.10"}, "is plain http:// to 192.0.2.10"),
            ({"init_path": "init"}, "init_path 'init' must start with '/'"),
            ({"events_path": "events"}, "events_path 'events' must start with '/'"),
            ({"timeout": 0}, "timeout must be > 0 (got timeout=0)"),
            ({"api_key": "wsk\x1bkey"}, "holds control characters"),
        ],
    )
    def test_bad_values_are_refused_naming_them(
        self, options: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            Settings.resolve({}, **options)
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            Settings(api=ApiOptions(**options))


class TestRetryOptions:
    def test_defaults(self) -> None:
        assert RetryOptions() == (20, 30.0, 10.0)
        assert Settings.resolve({}).retry == RetryOptions()

    @pytest.mark.parametrize(
        "options", [{"max_attempts": 0}, {"max_retry_time": -1}, {"max_backoff": -0.5}]
    )
    def test_bad_values_are_refused_with_what_was_given(self, options: dict[str, Any]) -> None:
        with pytest.raises(ConfigurationError) as info:
            Settings.resolve({}, **options)
        assert str(info.value).startswith(
            "max_attempts must be >= 1, max_retry_time and max_backoff >= 0 (got "
        )
        name, value = next(iter(options.items()))
        assert f"{name}={value}" in str(info.value)


class TestDeliveryOptions:
    def test_an_outbox_path_becomes_a_string(self, tmp_path: Path) -> None:
        settings = Settings.resolve({}, outbox=tmp_path / "o.sqlite")
        assert settings.delivery.outbox == str(tmp_path / "o.sqlite")

    def test_the_age_limit_is_600_s_without_an_outbox_and_none_with_one(self) -> None:
        assert DeliveryOptions().age_limit == 600.0
        assert DeliveryOptions(outbox="o.sqlite").age_limit is None
        assert DeliveryOptions(max_event_age=30).age_limit == 30.0
        assert DeliveryOptions(outbox="o.sqlite", max_event_age=30).age_limit == 30.0
        assert DeliveryOptions(max_event_age=math.inf).age_limit is None

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"overflow": "drop_all"}, "overflow='drop_all' is not a policy; use one of "),
            ({"max_queue": 0}, "max_queue and max_in_flight must be >= 1"),
            ({"max_in_flight": 0}, "max_queue and max_in_flight must be >= 1"),
            ({"block_timeout": -1}, "block_timeout and exit_timeout must be >= 0"),
            ({"exit_timeout": -1}, "block_timeout and exit_timeout must be >= 0"),
            ({"outbox": " "}, "outbox must be a file path"),
        ],
    )
    def test_bad_values_are_refused_naming_them(
        self, options: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            Settings(delivery=DeliveryOptions(**options))


class TestIdentityOptions:
    def test_it_holds_the_device_and_what_travels_with_events(self) -> None:
        store = MemoryDeviceStore()
        settings = Settings.resolve(
            {}, device_store=store, send_metadata=False, trace_correlation=False
        )
        assert settings.identity == IdentityOptions(
            device_store=store, send_metadata=False, trace_correlation=False
        )


class TestScrubbingOptions:
    def test_lists_become_tuples(self) -> None:
        settings = Settings.resolve({}, sensitive_keys=["iban"], sensitive_patterns=[r"FR\d+"])
        assert settings.scrubbing == ScrubbingOptions(
            sensitive_keys=("iban",), sensitive_patterns=(r"FR\d+",)
        )

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"sensitive_data": "hide"}, "sensitive_data='hide' is not a policy; use one of "),
            ({"sensitive_keys": ["__"]}, "sensitive_keys entry '__' has no letters or digits"),
            ({"sensitive_keys": "iban"}, "sensitive_keys must be a list, e.g. sensitive_keys="),
            ({"sensitive_patterns": ["("]}, "sensitive_patterns entry '(' is not a regular"),
        ],
    )
    def test_bad_entries_are_refused_when_settings_are_resolved(
        self, options: dict[str, Any], message: str
    ) -> None:
        # Before the option groups, these passed Settings.resolve() and failed only later,
        # when a Client built its guard (a transport given these settings never noticed).
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            Settings.resolve({}, **options)

    def test_the_policies_are_one_list_the_guard_and_the_settings_share(self) -> None:
        for policy in get_args(SensitiveDataPolicy):
            assert Scrubber(policy).policy == policy
            assert Settings.resolve({}, sensitive_data=policy).sensitive_data == policy
        with pytest.raises(ConfigurationError) as from_settings:
            Settings.resolve({}, sensitive_data="mask")
        with pytest.raises(ConfigurationError) as from_guard:
            Scrubber("mask")  # type: ignore[arg-type]
        assert str(from_settings.value) == str(from_guard.value)
