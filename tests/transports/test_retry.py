"""Backoff: exponential with full jitter, Retry-After wins (capped), bounded in count and time."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from weespin_instrument._reporting import DROP_REASONS, FAILURE_REASONS
from weespin_instrument.errors import (
    AuthenticationError,
    DeliveryError,
    RateLimitedError,
    RejectedError,
    ServerError,
    WeespinError,
)
from weespin_instrument.transports._retry import RetryPolicy, outcome_of, parse_retry_after


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    in_ten_seconds = formatdate(1_000_010.0, usegmt=True)
    assert parse_retry_after(in_ten_seconds, now=1_000_000.0) == pytest.approx(10.0)
    assert parse_retry_after(formatdate(999_990.0, usegmt=True), now=1_000_000.0) == 0.0


def test_full_jitter_stays_within_the_exponential_bound() -> None:
    policy = RetryPolicy(base=0.1, max_backoff=1.0)
    error = DeliveryError("refused")
    for attempt, bound in [(0, 0.1), (1, 0.2), (2, 0.4), (5, 1.0), (30, 1.0)]:
        delays = [policy.delay(attempt, error) for _ in range(200)]
        assert all(0.0 <= d <= bound for d in delays)
        assert len(set(delays)) > 1, "full jitter draws a different wait each time"


def test_retry_after_replaces_the_backoff_and_is_capped() -> None:
    policy = RetryPolicy(max_backoff=5.0)
    assert policy.delay(0, RateLimitedError("429", retry_after=2.0)) == 2.0
    assert policy.delay(0, ServerError("503", status_code=503, retry_after=60.0)) == 5.0


@pytest.mark.parametrize(
    "error",
    [AuthenticationError("401", status_code=401), RejectedError("400", status_code=400)],
)
def test_client_errors_are_final(error: Exception) -> None:
    assert RetryPolicy().next_delay(0, error, elapsed=0.0) is None  # type: ignore[arg-type]


def test_attempts_and_total_time_are_bounded() -> None:
    policy = RetryPolicy(max_attempts=3, max_retry_time=10.0, max_backoff=4.0)
    error = RateLimitedError("429", retry_after=4.0)
    assert policy.next_delay(0, error, elapsed=0.0) == 4.0
    assert policy.next_delay(1, error, elapsed=4.0) == 4.0
    assert policy.next_delay(2, error, elapsed=8.0) is None  # third attempt was the last
    assert policy.next_delay(0, error, elapsed=7.0) is None  # 7 + 4 > 10 s in all


# -- what an answer means: one mapping for both clients ----------------------------------------


@pytest.mark.parametrize(
    ("error", "action", "reason"),
    [
        (None, "sent", None),
        (AuthenticationError("401", status_code=401), "stop", "unauthorized"),
        (RejectedError("400", status_code=400), "drop", "rejected"),
        (RejectedError("302", status_code=302), "drop", "redirected"),
        (ServerError("503", status_code=503), "retry", "delivery_failed"),
        (DeliveryError("reset"), "retry", "delivery_failed"),
        (RateLimitedError("429", retry_after=2.0), "retry", "delivery_failed"),
    ],
)
def test_each_answer_maps_to_one_outcome(
    error: WeespinError | None, action: str, reason: str | None
) -> None:
    outcome = outcome_of(error)
    assert (outcome.action, outcome.reason) == (action, reason)


def test_a_429_pauses_the_client_only_when_most_requests_get_one() -> None:
    error = RateLimitedError("429", retry_after=2.0)
    assert outcome_of(error, rate_limited_share=0.1).action == "retry"  # this event's own
    paused = outcome_of(error, rate_limited_share=0.8)
    assert (paused.action, paused.wait) == ("pause", 2.0)


def test_each_drop_reason_has_one_row() -> None:
    assert {
        "unauthorized",
        "rejected",
        "redirected",
        "delivery_failed",
        "device_init_failed",
        "transport_error",
    } == FAILURE_REASONS
    kept = {name for name, row in DROP_REASONS.items() if row.keeps_outbox_row}
    assert kept == {"unauthorized", "shutdown", "device_init_failed"}


# -- the defaults' loss rates, simulated without an event loop ----------------------------------


def loss_rate(failure_rate: float, events: int, seed: int) -> float:
    """Send ``events`` events to an API failing ``failure_rate`` of requests at random (503),
    following the default policy's decisions, in simulated time; the share dropped."""
    rng = random.Random(seed)
    policy = RetryPolicy()
    error = ServerError("503", status_code=503)
    lost = 0
    state = random.getstate()
    random.seed(seed)  # the policy's jitter
    try:
        for _ in range(events):
            elapsed, attempt = 0.0, 0
            while rng.random() < failure_rate:
                delay = policy.next_delay(attempt, error, elapsed)
                if delay is None:
                    lost += 1
                    break
                elapsed += delay
                attempt += 1
    finally:
        random.setstate(state)
    return lost / events


def test_the_default_budget_outlasts_a_coin_flip_api() -> None:
    assert RetryPolicy().max_retry_time >= 30.0
    assert loss_rate(0.5, 100_000, seed=1) <= 0.001


def test_the_default_budget_outlasts_an_api_failing_70_percent() -> None:
    assert loss_rate(0.7, 100_000, seed=2) <= 0.02
