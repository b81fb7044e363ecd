"""The wire protocol both HTTP clients share: pure functions, no network.

What a request carries (headers, body), what an answer means (a status to a typed error, and
that error to what the transports do next), and how the device id is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

import weespin_instrument
from weespin_instrument.errors import (
    AuthenticationError,
    DeliveryError,
    RateLimitedError,
    RejectedError,
    ServerError,
    WeespinError,
)
from weespin_instrument.transports._protocol import (
    MAX_BODY,
    USER_AGENT,
    answer_text,
    check_answer,
    encode_body,
    error_for_response,
    read_device_id,
    redirect_hint,
    request_failed,
    request_headers,
    timed_out,
)
from weespin_instrument.transports._retry import RetryPolicy, outcome_of, retrying

KEY = "wsk_live_TOPSECRET_9a8b7c6d5e4f_Zk9Q"


def answer(status: int, body: str = "", **headers: str | None) -> WeespinError | None:
    return error_for_response(
        status,
        body,
        method_path="POST /events",
        api_key=KEY,
        retry_after=headers.get("retry_after"),
        location=headers.get("location"),
    )


# -- what a request carries ------------------------------------------------------------------


def test_the_user_agent_names_the_library_and_its_version() -> None:
    assert f"weespin-instrument/{weespin_instrument.__version__}" == USER_AGENT


def test_every_request_carries_the_raw_key_json_and_the_user_agent() -> None:
    assert request_headers(KEY) == {
        "Authorization": KEY,  # the raw key: no "Bearer" scheme
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    assert request_headers(None)["Authorization"] == ""


def test_a_body_is_compact_json_byte_for_byte_what_json_dumps_writes() -> None:
    body = {"event_name": "purchase", "device_id": "d", "payload": {"amount": 19.99, "ü": "é"}}
    encoded = encode_body(body)
    assert encoded == json.dumps(body, separators=(",", ":")).encode()
    assert b" " not in encoded
    assert json.loads(encoded) == body


# -- what an answer means --------------------------------------------------------------------

#: status -> (typed error or None, what the transports do, the drop reason they count)
STATUS_TABLE = [
    (200, None, "sent", None),
    (202, None, "sent", None),
    (301, RejectedError, "drop", "redirected"),
    (307, RejectedError, "drop", "redirected"),
    (308, RejectedError, "drop", "redirected"),
    (400, RejectedError, "drop", "rejected"),
    (401, AuthenticationError, "stop", "unauthorized"),
    (403, AuthenticationError, "stop", "unauthorized"),
    (404, RejectedError, "drop", "rejected"),
    (408, ServerError, "retry", "delivery_failed"),
    (413, RejectedError, "drop", "rejected"),
    (422, RejectedError, "drop", "rejected"),
    (429, RateLimitedError, "retry", "delivery_failed"),
    (500, ServerError, "retry", "delivery_failed"),
    (502, ServerError, "retry", "delivery_failed"),
    (503, ServerError, "retry", "delivery_failed"),
]


@pytest.mark.parametrize(("status", "kind", "action", "reason"), STATUS_TABLE)
def test_each_status_maps_to_one_typed_error_and_one_outcome(
    status: int, kind: type[WeespinError] | None, action: str, reason: str | None
) -> None:
    error = answer(status, location="https://elsewhere.example/events")
    assert type(error) is kind if kind is not None else error is None
    outcome = outcome_of(error)
    assert (outcome.action, outcome.reason) == (action, reason)
    if error is not None:
        assert error.retryable == (action == "retry")


def test_a_client_wide_rate_limit_pauses_instead_of_charging_the_event() -> None:
    error = answer(429, retry_after="7")
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7.0
    assert outcome_of(error, rate_limited_share=0.9)[:3] == ("pause", "delivery_failed", 7.0)


def test_retry_after_is_read_from_5xx_and_408_too() -> None:
    for status in (408, 503):
        error = answer(status, retry_after="3")
        assert isinstance(error, ServerError)
        assert (error.status_code, error.retry_after) == (status, 3.0)
    unset = answer(503)
    assert isinstance(unset, ServerError)
    assert unset.retry_after is None


def test_a_redirect_says_what_to_set_base_url_to() -> None:
    error = answer(308, location="https://api.example.com/events")
    assert isinstance(error, RejectedError)
    assert "redirects of a POST are not followed" in str(error)
    assert "set base_url to https://api.example.com" in str(error)
    assert redirect_hint(None, "/events") == "check base_url (the answer named no Location)"
    assert redirect_hint("https://api.example.com/v2/", "/events") == (
        "set base_url to https://api.example.com/v2"
    )


def test_a_wrong_path_hints_at_the_path_settings() -> None:
    for status in (404, 405):
        assert "Check base_url, init_path and events_path" in str(answer(status))
    assert "Check base_url" not in str(answer(422, "payload.amount: bad"))
    assert "payload.amount: bad" in str(answer(422, "payload.amount: bad"))


def test_a_refused_key_names_the_setting_and_only_the_keys_last_characters() -> None:
    error = answer(401, f'{{"error": "bad key {KEY}"}}')
    assert isinstance(error, AuthenticationError)
    assert "WEESPIN_API_KEY" in str(error)
    assert "…Zk9Q" in str(error)
    for text in (str(error), error.body or ""):
        assert KEY not in text
        assert KEY[:-4] not in text


def test_an_echoed_key_is_redacted_from_every_error_body() -> None:
    for status in (400, 429, 500, 302):
        error = answer(status, f"you sent {KEY}")
        assert error is not None
        assert KEY not in str(error)
        assert KEY not in (getattr(error, "body", "") or "")


def test_an_answer_is_read_at_most_max_body_bytes_and_never_fails_to_decode() -> None:
    assert answer_text(b"caf\xc3\xa9 \xff") == "café \N{REPLACEMENT CHARACTER}"
    assert len(answer_text(b"x" * (MAX_BODY + 10))) == MAX_BODY


def test_checking_an_answer_returns_a_success_text_and_raises_anything_else() -> None:
    assert check_answer(200, b'{"status":"ok"}', {}, path="/events", api_key=KEY) == (
        '{"status":"ok"}'
    )
    headers = {"Retry-After": "4", "Location": "https://api.example.com/events"}
    with pytest.raises(RateLimitedError) as limited:
        check_answer(429, b"slow down", headers, path="/events", api_key=KEY)
    assert limited.value.retry_after == 4.0
    with pytest.raises(RejectedError, match=r"set base_url to https://api\.example\.com"):
        check_answer(301, b"", headers, path="/events", api_key=KEY)


# -- the device id of an init answer --------------------------------------------------------


def test_the_device_id_is_read_from_event_device_info() -> None:
    text = json.dumps({"event": {"device_info": {"device_id": "ws_device_42"}, "x": 1}})
    assert read_device_id(text, path="/initialize-device") == "ws_device_42"


@pytest.mark.parametrize(
    "text",
    [
        "<html><body>Welcome to the hotel wifi</body></html>",
        "",
        "{}",
        "[]",
        '{"event": null}',
        '{"event": {"device_info": {"device_id": ""}}}',
        '{"event": {"device_info": {"device_id": 42}}}',
    ],
)
def test_an_init_answer_without_a_device_is_a_transient_delivery_error(text: str) -> None:
    with pytest.raises(DeliveryError) as info:
        read_device_id(text, path="/initialize-device")
    assert "POST /initialize-device answered without event.device_info.device_id" in str(info.value)
    assert info.value.retryable, "a captive portal goes away: the events wait and retry"
    assert " ".join(text[:80].split()) in str(info.value)


# -- failures before an answer ---------------------------------------------------------------


def test_a_failed_request_is_a_transient_error_naming_the_call_without_the_key() -> None:
    error = request_failed("/events", ConnectionResetError(f"reset, key={KEY}"), api_key=KEY)
    assert isinstance(error, DeliveryError)
    assert error.retryable
    assert str(error).startswith("POST /events failed: ConnectionResetError: reset, key=")
    assert KEY not in str(error)
    late = timed_out("/initialize-device", TimeoutError())
    assert (str(late), late.retryable) == ("POST /initialize-device timed out: TimeoutError", True)


# -- one call under the retry policy (the transports' loop) ----------------------------------


def failing(*errors: WeespinError, result: str = "ok") -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def call() -> str:
        calls.append(len(calls))
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return calls, call


def test_retrying_tries_again_after_transient_errors_and_returns_the_result() -> None:
    calls, call = failing(ServerError("503", status_code=503), DeliveryError("reset"))
    retries: list[None] = []
    policy = RetryPolicy(max_backoff=0.001)
    assert retrying(call, policy, on_retry=lambda: retries.append(None)) == "ok"
    assert (len(calls), len(retries)) == (3, 2)


def test_retrying_raises_a_final_error_at_once_and_the_last_one_when_the_budget_ends() -> None:
    calls, call = failing(RejectedError("400", status_code=400))
    with pytest.raises(RejectedError):
        retrying(call, RetryPolicy(max_backoff=0.001))
    assert len(calls) == 1
    calls, call = failing(*(ServerError(f"{n}", status_code=500 + n) for n in range(5)))
    with pytest.raises(ServerError) as info:
        retrying(call, RetryPolicy(max_attempts=3, max_backoff=0.001))
    assert (len(calls), info.value.status_code) == (3, 502)


def test_retrying_stops_when_its_pause_is_interrupted() -> None:
    calls, call = failing(*(ServerError("503", status_code=503) for _ in range(5)))
    waits: list[float] = []

    def closing(seconds: float) -> bool:
        waits.append(seconds)
        return True  # the transport closed during the wait

    with pytest.raises(ServerError):
        retrying(call, RetryPolicy(max_backoff=0.001), pause=closing)
    assert (len(calls), len(waits)) == (1, 1)
