"""Backoff: exponential with full jitter, Retry-After wins (capped), bounded in count and time."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from weespin_instrument._retry import RetryPolicy, parse_retry_after
from weespin_instrument.errors import (
    AuthenticationError,
    DeliveryError,
    RateLimitedError,
    RejectedError,
    ServerError,
)


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
    policy = RetryPolicy(max_attempts=3, max_total=10.0, max_backoff=4.0)
    error = RateLimitedError("429", retry_after=4.0)
    assert policy.next_delay(0, error, elapsed=0.0) == 4.0
    assert policy.next_delay(1, error, elapsed=4.0) == 4.0
    assert policy.next_delay(2, error, elapsed=8.0) is None  # third attempt was the last
    assert policy.next_delay(0, error, elapsed=7.0) is None  # 7 + 4 > 10 s in all
