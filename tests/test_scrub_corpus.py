"""The sensitive-data guard on a corpus: it finds what it must, and destroys no other data.

Through the public API: a client with the memory transport, and what it would send.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weespin_instrument import Client, InvalidEventError
from weespin_instrument._scrub import Scrubber
from weespin_instrument.transports import MemoryTransport

REDACTED = "[REDACTED]"


def full_width(text: str) -> str:
    """``text`` with its digits written full-width, as East Asian keyboards type them."""
    return text.translate({ord("0") + i: 0xFF10 + i for i in range(10)})


def sent(payload: dict[str, Any], **options: Any) -> dict[str, Any]:
    memory = MemoryTransport()
    client = Client(transport=memory, **options)
    event = client.track("corpus", payload)
    assert event is not None
    [delivered] = memory.events
    return delivered.payload


# -- realistic positives --------------------------------------------------------------------------

CARDS_BY_VALUE = [
    "4111.1111.1111.1111",
    "4111  1111  1111  1111",
    "4111/1111/1111/1111",
    full_width("4111 1111 1111 1111"),
    "card: 5555-5555-5555-4444, exp 12/28",
    "amex 3782 822463 10005",
    "paid with 6011 1111 1111 1117 today",
    "jcb 3530 1113 3330 0000",
    "2223 0031 2200 3222",
    "4111 1111 1111 1111 123",  # card then CVV
]


@pytest.mark.parametrize("text", CARDS_BY_VALUE)
def test_card_numbers_in_text_are_redacted(text: str) -> None:
    result = sent({"note": text})["note"]
    assert REDACTED in result
    for digits in ("1111 1111", "5555-5555", full_width("1111")):
        assert digits not in result


@pytest.mark.parametrize(
    "value", [4111111111111111, 4111111111111111.0, Decimal("5555555555554444")]
)
def test_card_numbers_as_numbers_are_redacted(value: object) -> None:
    assert sent({"amount_note": value}) == {"amount_note": REDACTED}


@pytest.mark.parametrize("text", ["123-45-6789", "my ssn is 123 45 6789.", "078-05-1120"])
def test_social_security_numbers_are_redacted(text: str) -> None:
    assert "45" not in sent({"note": text})["note"].replace("[REDACTED]", "")


SENSITIVE_KEYS = [
    "pass", "passw", "pass_word", "pswd", "passwort", "mot_de_passe", "contraseña",
    "password", "userPassword", "client_secret", "secret_key", "aws_secret_access_key",
    "aws_access_key_id", "api_key", "access_key", "private_key", "access_token",
    "refresh_token", "github_token", "otp", "otp_code", "cvv", "cvc2", "security_answer",
    "ssn", "card_number", "card_pin",
]  # fmt: skip


@pytest.mark.parametrize("key", SENSITIVE_KEYS)
def test_sensitive_key_names_are_redacted(key: str) -> None:
    assert sent({key: "7531"}) == {key: REDACTED}


def test_a_card_in_a_key_name_is_redacted() -> None:
    assert sent({"note 4111 1111 1111 1111": "x"}) == {f"note {REDACTED}": "x"}


class TestNamesAndIds:
    def test_a_card_in_the_event_name_is_redacted(self) -> None:
        memory = MemoryTransport()
        Client(transport=memory).track("paid 4111 1111 1111 1111")
        assert memory.events[0].name == f"paid {REDACTED}"

    @pytest.mark.parametrize("value", ["4111111111111111", "123-45-6789", "123 45 6789"])
    @pytest.mark.parametrize("field", ["user_id", "link_id"])
    def test_a_card_or_ssn_as_an_id_is_redacted(self, field: str, value: str) -> None:
        memory = MemoryTransport()
        fields: dict[str, Any] = {field: value}
        Client(transport=memory).track("signup", **fields)
        assert getattr(memory.events[0], field) == REDACTED

    def test_an_int_user_id_that_is_a_card_number_is_redacted(self) -> None:
        memory = MemoryTransport()
        Client(transport=memory).track("signup", user_id=4111111111111111)
        assert memory.events[0].user_id == REDACTED

    def test_under_the_raise_policy_the_message_hides_the_number(self) -> None:
        client = Client(transport=MemoryTransport(), sensitive_data="raise")
        with pytest.raises(InvalidEventError) as info:
            client.track("paid 4111 1111 1111 1111")
        assert "4111" not in str(info.value) and "event name" in str(info.value)
        with pytest.raises(InvalidEventError) as info:
            client.track("signup", user_id="123-45-6789")
        assert "6789" not in str(info.value) and info.value.key == "user_id"


# -- the listed negatives -------------------------------------------------------------------------

NEGATIVES: list[dict[str, Any]] = [
    {"imei": "490154203237518"},
    {"device": "IMEI 490154203237518"},
    {"ean": "4006381333931"},
    {"barcode": "4006381333931"},
    {"pan_x": 120},
    {"pan": "non-stick"},
    {"pin": "75001"},
    {"map_pin": "Paris"},
    {"next_page_token": "eyJwYWdlIjoyfQ"},
    {"nextPageToken": "CAUQAA"},
    {"token_address": "0x6b175474e89094c44da98b954eedeac495271d0f"},
    {"secret_santa_group": "team-a"},
    {"part_number": "555-12-3456"},
    {"part": "555-12-3456"},
    {"ts": 1732694400007},
    {"timestamp": "1732694400007"},
    {"tracking_number": "4111111111111111"},
    {"boarding_pass": "BA 117 seat 4C"},
    {"pass_rate": 0.93},
    {"prompt_tokens": 1200},
    {"token_count": 3},
    {"password_length": 12},
    {"secret_question": "first pet"},
    {"api_key_id": "key_7"},
    {"created": "2026-11-27 08:10:00"},
    {"phone": "+1 415 555 2671"},
]


@pytest.mark.parametrize("payload", NEGATIVES, ids=lambda p: next(iter(p)))
def test_look_alikes_are_sent_as_they_are(payload: dict[str, Any]) -> None:
    assert sent(payload) == payload


ID_KEYS = [
    "order_id", "order_no", "order_number", "orderId", "order", "invoice_no", "sku",
    "ean", "upc", "isbn", "imei", "barcode", "tracking", "tracking_number", "part",
    "part_no", "ts", "timestamp", "shipment.id", "line.item_no",
]  # fmt: skip


def test_no_false_positive_on_10000_random_order_ids_under_id_like_keys() -> None:
    rng = random.Random(20261201)
    memory = MemoryTransport()
    client = Client(transport=memory)
    ids = [str(rng.randrange(10**15, 10**16)) for _ in range(10_000)]
    for n, order_id in enumerate(ids):
        key = ID_KEYS[n % len(ID_KEYS)]
        value: str | int = order_id if n % 2 else int(order_id)
        client.track("order_placed", {key: value})
    assert client.stats().redacted == 0
    assert [next(iter(e.payload.values())) for e in memory.events][:3] == [
        int(ids[0]),
        ids[1],
        int(ids[2]),
    ]


def test_the_same_ids_in_free_text_are_caught_only_when_they_are_cards() -> None:
    from weespin_instrument._scrub import is_card_number

    rng = random.Random(7)
    ids = [str(rng.randrange(10**15, 10**16)) for _ in range(2_000)]
    memory = MemoryTransport()
    client = Client(transport=memory)
    for order_id in ids:
        client.track("note", {"comment": f"see {order_id}"})
    expected = sum(is_card_number(i) for i in ids)
    assert client.stats().redacted == expected
    assert expected < len(ids) * 0.05  # Luhn and the issuer ranges, not 10 % of everything


# -- configure() extends it -----------------------------------------------------------------------


def test_sensitive_keys_and_patterns_come_from_configure() -> None:
    payload = {"user_iban": "FR7630006000011234567890189", "note": "tax FR123456789", "plan": "pro"}
    result = sent(payload, sensitive_keys=["iban"], sensitive_patterns=[r"FR\d{9}\b"])
    assert result == {"user_iban": REDACTED, "note": f"tax {REDACTED}", "plan": "pro"}


def test_a_bad_pattern_is_a_configuration_error_at_configure() -> None:
    from weespin_instrument import ConfigurationError

    with pytest.raises(ConfigurationError, match="sensitive_patterns entry '\\('"):
        Client(transport=MemoryTransport(), sensitive_patterns=["("])


# -- properties ---------------------------------------------------------------------------------

CARDS = ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"]
separators = st.sampled_from([" ", "-", ".", "/", "  ", " - "])
words = st.text(alphabet="abcdefgh ,:;", max_size=10)


@given(st.sampled_from(CARDS), st.lists(st.integers(1, 5), min_size=2, max_size=5), separators,
       words, words)  # fmt: skip
def test_a_card_grouped_any_way_in_any_text_is_redacted(
    card: str, cuts: list[int], separator: str, before: str, after: str
) -> None:
    groups, rest = [], card
    for size in cuts:
        groups.append(rest[:size])
        rest = rest[size:]
    written = separator.join([*groups, rest] if rest else groups)
    result, redacted = Scrubber()("fuzz", {"note": f"{before} {written} {after}"})
    assert redacted == 1
    assert card[-4:] not in str(result["note"]).replace(" ", "").replace("-", "")


@given(st.text(max_size=60), st.text(min_size=1, max_size=12))
def test_the_guard_never_raises_on_any_text(text: str, key: str) -> None:
    result, redacted = Scrubber(sensitive_keys=["iban"])("fuzz", {key: text})
    [(sent_key, sent_value)] = result.items()
    assert type(sent_key) is str and type(sent_value) is str
    assert (result == {key: text}) == (redacted == 0)
