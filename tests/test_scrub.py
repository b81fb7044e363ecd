"""The sensitive-data guard: what it finds (by key name, by value), and what each policy does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weespin_instrument._scrub import REDACTED, Scrubber
from weespin_instrument.errors import ConfigurationError, InvalidEventError

BY_KEY_FIX = (
    "Sensitive data must not be sent; remove it from the payload, rename the key if it holds "
    'no secret, or set sensitive_data="off".'
)
BY_VALUE_FIX = (
    "Sensitive data must not be sent; remove or mask it (e.g. keep only the last 4 digits), "
    'or set sensitive_data="off" if this is a false positive.'
)
VISA = "4111111111111111"  # Luhn-valid test number


def full_width(text: str) -> str:
    """``text`` with its digits written full-width, as East Asian keyboards type them."""
    return text.translate({ord("0") + i: 0xFF10 + i for i in range(10)})


def luhn_complete(prefix: str) -> str:
    """``prefix`` followed by the digit that makes it pass the Luhn check."""
    for check in "0123456789":
        digits = prefix + check
        total = 0
        for position, char in enumerate(reversed(digits)):
            value = int(char) * (2 if position % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def scrub(payload: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
    result, _ = Scrubber()("test", payload)
    return result


def finding(key: str, value: str | int | float | bool) -> str:
    """The message the "raise" policy gives for ``{key: value}``."""
    with pytest.raises(InvalidEventError) as info:
        Scrubber("raise")("signup", {key: value})
    assert info.value.reason == "sensitive_data"
    assert info.value.key == key
    assert info.value.event_name == "signup"
    return str(info.value)


# ----------------------------------------------------------------------------------------------
# By key name
# ----------------------------------------------------------------------------------------------

SENSITIVE_KEYS = [
    ("password", "a password"),
    ("passwd", "a password"),
    ("pwd", "a password"),
    ("passphrase", "a password"),
    ("passcode", "a password"),
    ("user_password", "a password"),
    ("newPassword", "a password"),
    ("newpassword", "a password"),
    ("secret", "a secret"),
    ("client_secret", "a secret"),
    ("clientSecret", "a secret"),
    ("appsecret", "a secret"),
    ("token", "a token"),
    ("access_token", "a token"),
    ("refreshToken", "a token"),
    ("csrf-token", "a token"),
    ("X-Auth-Token", "a token"),
    ("accesstoken", "a token"),
    ("api_key", "an API key"),
    ("apiKey", "an API key"),
    ("X-API-Key", "an API key"),
    ("apikey", "an API key"),
    ("authorization", "credentials"),
    ("Authorization", "credentials"),
    ("auth_header", "credentials"),
    ("authHeader", "credentials"),
    ("credentials", "credentials"),
    ("private_key", "a private key"),
    ("privateKey", "a private key"),
    ("card_number", "a card number"),
    ("cardNumber", "a card number"),
    ("cardnumber", "a card number"),
    ("cc_number", "a card number"),
    ("ccNum", "a card number"),
    ("card_no", "a card number"),
    ("credit_card", "a card number"),
    ("creditCardNumber", "a card number"),
    ("pan", "a card number"),
    ("cvv", "a card security code"),
    ("CVV2", "a card security code"),
    ("cvc", "a card security code"),
    ("security_code", "a card security code"),
    ("ssn", "a social security number"),
    ("userSSN", "a social security number"),
    ("social_security_number", "a social security number"),
    ("card_pin", "a PIN"),  # a PIN needs a card or account word: a bare "pin" is often a postcode
    ("atm_pin_code", "a PIN"),
    ("accountPin", "a PIN"),
    ("user.password", "a password"),
    ("payment.card.cvv", "a card security code"),
    ("password.value", "a password"),
]


class TestByKeyName:
    @pytest.mark.parametrize(("key", "kind"), SENSITIVE_KEYS)
    def test_a_sensitive_key_is_redacted(self, key: str, kind: str) -> None:
        value = "1234"
        assert scrub({key: value, "plan": "pro"}) == {key: REDACTED, "plan": "pro"}
        assert finding(key, value) == (
            f"event 'signup', payload key {key!r}: looks like {kind} (by key name). " + BY_KEY_FIX
        )

    @pytest.mark.parametrize(
        "key",
        [
            "token_count",  # a later word says the value is about the token: count, length...
            "tokenCount",
            "token_type",
            "token_expires_at",
            "password_length",
            "password_changed_at",
            "password_reset_attempts",
            "api_key_id",
            "card_number_last4",
            "credit_card_brand",
            "tokens_used",  # plural "tokens" counts things
            "prompt_tokens",
            "tokenizer",
            "secretary",
            "keyboard",
            "key",
            "public_key",
            "card",
            "span",
            "spin",
            "compass",
            "passenger",
        ],
    )
    def test_look_alike_keys_are_kept(self, key: str) -> None:
        assert scrub({key: "abc 42"}) == {key: "abc 42"}

    def test_an_int_under_a_sensitive_key_is_redacted(self) -> None:
        assert scrub({"card_pin": 1234, "ssn": 123456789}) == {
            "card_pin": REDACTED,
            "ssn": REDACTED,
        }

    def test_bool_and_float_values_are_never_sensitive(self) -> None:
        payload: dict[str, str | int | float | bool] = {"password": True, "token": 0.5}
        result, redacted = Scrubber()("signup", payload)
        assert result is payload
        assert redacted == 0

    def test_a_pin_key_is_sensitive_only_for_digits(self) -> None:
        assert scrub({"card_pin": "0042"}) == {"card_pin": REDACTED}
        kept = {"map_pin": "Paris", "card_pin": "not set", "pin": "75001"}
        assert scrub(kept) == kept
        assert scrub({"map_pin": f"near {VISA}"}) == {"map_pin": "near [REDACTED]"}

    def test_key_verdicts_are_cached_in_a_bounded_cache(self) -> None:
        scrubber = Scrubber()
        for i in range(10_000):
            scrubber("test", {f"key_{i}": "value"})
        assert 0 < len(scrubber._cache) <= 4096


class TestExtraKeys:
    def test_extra_key_words_are_matched_case_insensitively(self) -> None:
        scrubber = Scrubber(extra_keys=["iban", "tax_id"])
        payload: dict[str, str | int | float | bool] = {
            "user.iban": "x",
            "IBAN": "x",
            "ibanCode": "x",
            "taxId": "x",
            "tax": "x",
        }
        result, redacted = scrubber("test", payload)
        assert result == {
            "user.iban": REDACTED,
            "IBAN": REDACTED,
            "ibanCode": REDACTED,
            "taxId": REDACTED,
            "tax": "x",
        }
        assert redacted == 4

    def test_extra_keys_have_no_look_alike_exception(self) -> None:
        result, _ = Scrubber(extra_keys=["iban"])("test", {"iban_count": "2"})
        assert result == {"iban_count": REDACTED}

    def test_the_message_names_the_entry(self) -> None:
        with pytest.raises(InvalidEventError) as info:
            Scrubber("raise", extra_keys=["IBAN"])("signup", {"user_iban": "FR76..."})
        assert str(info.value) == (
            "event 'signup', payload key 'user_iban': is listed as sensitive (sensitive_keys "
            "entry 'IBAN'). Sensitive data must not be sent; remove it from the payload, or take "
            "the entry out of sensitive_keys."
        )

    def test_an_entry_without_words_is_a_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError, match="sensitive_keys entry '__' has no letters"):
            Scrubber(extra_keys=["__"])


# ----------------------------------------------------------------------------------------------
# By value: card numbers
# ----------------------------------------------------------------------------------------------


class TestCardNumbers:
    @pytest.mark.parametrize(
        "text",
        [
            VISA,
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111 1111-1111 1111",
            "4111  1111  1111  1111",  # runs of spaces
            "4111.1111.1111.1111",
            "4111/1111/1111/1111",
            full_width("4111 1111 1111 1111"),
            "3530111333300000",  # JCB
            "30569309025904",  # Diners Club, 14 digits
            "6200000000000005",  # UnionPay
            "378282246310005",  # Amex, 15 digits
            "5555555555554444",  # Mastercard
            "6011111111111117",  # Discover
            "2223003122003222",  # Mastercard 2-series
            luhn_complete("422222222222"),  # 13 digits
            luhn_complete("456789012345678901"),  # 19 digits
        ],
    )
    def test_a_luhn_valid_card_number_is_redacted(self, text: str) -> None:
        assert scrub({"note": text}) == {"note": REDACTED}

    def test_only_the_digits_are_replaced_in_a_longer_text(self) -> None:
        assert scrub({"note": "card 4111 1111 1111 1111 ok"}) == {"note": "card [REDACTED] ok"}

    def test_every_card_in_a_text_is_replaced_and_the_value_counted_once(self) -> None:
        result, redacted = Scrubber()("test", {"note": f"{VISA} then 5555-5555-5555-4444."})
        assert result == {"note": "[REDACTED] then [REDACTED]."}
        assert redacted == 1

    def test_an_int_card_number_becomes_the_redacted_string(self) -> None:
        assert scrub({"n": int(VISA)}) == {"n": REDACTED}

    @pytest.mark.parametrize(
        "text",
        [
            "4111111111111112",  # a 16-digit order number that fails the Luhn check
            "4111 1111 1111 1112",
            luhn_complete("173269440000"),  # 13 digits, Luhn-valid, starts with 1: a timestamp
            luhn_complete("800000000000000"),  # starts with 8: not a payment card range
            luhn_complete("41111111111"),  # 12 digits: too short
            "9" + VISA,  # 17 digits glued together: the run is not split
            "order 4111111111111111999 shipped",  # 19 digits, not Luhn-valid as a whole
        ],
    )
    def test_other_digit_runs_are_kept(self, text: str) -> None:
        assert scrub({"note": text}) == {"note": text}

    @pytest.mark.parametrize(
        "value",
        [
            int(luhn_complete("173269440000")),  # a millisecond timestamp
            4111111111111112,
            -int(VISA),
            411111111111,
            True,
        ],
    )
    def test_other_ints_are_kept(self, value: int) -> None:
        assert scrub({"n": value}) == {"n": value}

    def test_the_message_never_shows_the_number(self) -> None:
        message = finding("note", "card 4111-1111-1111-1111")
        assert message == (
            "event 'signup', payload key 'note': contains what looks like a card number "
            "(by value). " + BY_VALUE_FIX
        )
        assert "4111" not in message
        assert "4111" not in finding("n", int(VISA))


# ----------------------------------------------------------------------------------------------
# By value: US social security numbers
# ----------------------------------------------------------------------------------------------


class TestSocialSecurityNumbers:
    @pytest.mark.parametrize(
        "ssn", ["123-45-6789", "078-05-1120", "899-99-9999", "001-01-0001", "123 45 6789"]
    )
    def test_a_valid_ssn_is_redacted(self, ssn: str) -> None:
        assert scrub({"note": f"ssn {ssn}."}) == {"note": "ssn [REDACTED]."}

    @pytest.mark.parametrize(
        "text",
        [
            "000-12-3456",  # area 000 is never issued
            "666-12-3456",  # nor 666
            "912-34-5678",  # nor 9xx
            "123-00-4567",  # group 00
            "123-45-0000",  # serial 0000
            "123456789",  # no dashes: too many other numbers look like this
            "1123-45-6789",  # glued to another digit
            "2026-11-27 08:10",  # a date
        ],
    )
    def test_other_numbers_are_kept(self, text: str) -> None:
        assert scrub({"note": text}) == {"note": text}

    def test_a_never_issued_number_does_not_hide_a_valid_one(self) -> None:
        text = "000-12-3456 then 123-45-6789"
        assert scrub({"note": text}) == {"note": "000-12-3456 then [REDACTED]"}

    def test_the_message_never_shows_the_number(self) -> None:
        message = finding("note", "call 078-05-1120")
        assert message == (
            "event 'signup', payload key 'note': contains what looks like a US social security "
            "number (by value). " + BY_VALUE_FIX
        )


# ----------------------------------------------------------------------------------------------
# Policies
# ----------------------------------------------------------------------------------------------


class TestPolicies:
    def test_redact_is_the_default(self) -> None:
        assert Scrubber().policy == "redact"

    def test_redact_returns_a_new_dict_and_the_count(self) -> None:
        payload: dict[str, str | int | float | bool] = {
            "password": "hunter2",
            "note": f"card {VISA}",
            "amount": 19.99,
        }
        result, redacted = Scrubber("redact")("signup", payload)
        assert result == {"password": REDACTED, "note": "card [REDACTED]", "amount": 19.99}
        assert redacted == 2
        assert payload == {"password": "hunter2", "note": f"card {VISA}", "amount": 19.99}

    def test_a_clean_payload_is_returned_itself(self) -> None:
        payload: dict[str, str | int | float | bool] = {
            "amount": 19.99,
            "currency": "EUR",
            "quantity": 2,
            "note": "a long note without any secret in it",
        }
        result, redacted = Scrubber()("purchase", payload)
        assert result is payload
        assert redacted == 0

    @pytest.mark.parametrize("policy", ["drop_event", "raise"])
    def test_drop_event_and_raise_raise_for_the_caller_to_decide(self, policy: str) -> None:
        payload: dict[str, str | int | float | bool] = {"plan": "pro", "password": "hunter2"}
        with pytest.raises(InvalidEventError) as info:
            Scrubber(policy)("signup", payload, origin="accounts.create_user")  # type: ignore[arg-type]
        assert str(info.value) == (
            "event 'signup' (from accounts.create_user), payload key 'password': looks like a "
            "password (by key name). " + BY_KEY_FIX
        )
        assert "hunter2" not in str(info.value)
        assert (info.value.reason, info.value.key, info.value.event_name) == (
            "sensitive_data",
            "password",
            "signup",
        )
        assert payload == {"plan": "pro", "password": "hunter2"}

    def test_off_sends_everything_as_is(self) -> None:
        payload: dict[str, str | int | float | bool] = {"password": "hunter2", "note": VISA}
        result, redacted = Scrubber("off")("signup", payload)
        assert result is payload
        assert redacted == 0

    def test_an_unknown_policy_is_a_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError) as info:
            Scrubber("mask")  # type: ignore[arg-type]
        assert str(info.value) == (
            "sensitive_data='mask' is not a policy; use one of 'redact', 'drop_event', "
            "'raise', 'off'."
        )

    def test_repr_shows_the_policy_and_extra_keys(self) -> None:
        assert repr(Scrubber("raise", extra_keys=["iban"])) == (
            "Scrubber('raise', extra_keys=['iban'])"
        )


# ----------------------------------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------------------------------

words = st.text(alphabet="abcdefghij ", max_size=12)


@given(words, st.text(alphabet="0123456789", min_size=14, max_size=14), words)
def test_any_visa_like_number_in_a_text_is_redacted(before: str, body: str, after: str) -> None:
    number = luhn_complete("4" + body)
    text = f"{before} {number} {after}"
    result, redacted = Scrubber()("test", {"note": text})
    assert number not in str(result["note"])
    assert redacted == 1
    with pytest.raises(InvalidEventError) as info:
        Scrubber("raise")("test", {"note": text})
    assert number not in str(info.value)


flat = st.dictionaries(
    st.text(max_size=12),
    st.text(max_size=30) | st.integers() | st.booleans() | st.floats(allow_nan=False),
    max_size=6,
)


@given(flat)
def test_redact_never_raises_and_allocates_only_when_it_redacts(
    payload: dict[str, str | int | float | bool],
) -> None:
    before = dict(payload)
    result, redacted = Scrubber()("fuzz", payload)
    assert payload == before
    assert (result is payload) == (redacted == 0)
    assert result.keys() == payload.keys()
    changed = [k for k in payload if result[k] != payload[k]]
    assert len(changed) == redacted
