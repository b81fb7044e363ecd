"""What the sender does after an attempt: a pure decision, checked without a loop or a server."""

from __future__ import annotations

import pytest

from weespin_instrument import Event
from weespin_instrument.errors import (
    AuthenticationError,
    DeliveryError,
    RateLimitedError,
    RejectedError,
    ServerError,
)
from weespin_instrument.transports._jobs import Job
from weespin_instrument.transports._outcomes import Decision, RecentAnswers, Step, decide
from weespin_instrument.transports._retry import RetryPolicy

POLICY = RetryPolicy(max_attempts=5, max_retry_time=30.0, base=0.2, max_backoff=10.0)


def job(*, failures: int = 0, first_sent: float = 0.0, open_at_first: float = 0.0) -> Job:
    job = Job(Event("signup", {}), seq=1)
    job.failures, job.first_sent, job.open_at_first = failures, first_sent, open_at_first
    return job


def decision_for(error: object, the_job: Job | None = None, **options: float) -> Decision:
    now = options.pop("now", 1.0)
    open_time = options.pop("open_time", 0.0)
    return decide(
        error,  # type: ignore[arg-type]
        the_job or job(),
        now=now,
        open_time=open_time,
        policy=POLICY,
        **options,  # type: ignore[arg-type]
    )


def test_a_2xx_is_sent_and_says_the_api_is_up() -> None:
    assert decision_for(None) == Decision(Step.SENT, api_up=True)


def test_a_refused_key_stops_delivery_and_says_nothing_of_the_api() -> None:
    decision = decision_for(AuthenticationError("401", status_code=401))
    assert decision == Decision(Step.STOP, "unauthorized", api_up=None)


@pytest.mark.parametrize(("status", "reason"), [(400, "rejected"), (307, "redirected")])
def test_a_refused_event_is_dropped_while_the_api_is_up(status: int, reason: str) -> None:
    decision = decision_for(RejectedError(str(status), status_code=status))
    assert decision == Decision(Step.DROP, reason, api_up=True)


def test_a_server_error_is_retried_within_the_budget_and_is_an_outage_sign() -> None:
    decision = decision_for(ServerError("503", status_code=503))
    assert decision.step is Step.RETRY
    assert 0.0 <= decision.delay <= POLICY.base  # the first wait: full jitter up to base
    assert decision.api_up is False
    assert decision.down_for is None


def test_retry_after_on_a_5xx_says_how_long_the_api_is_down() -> None:
    decision = decision_for(ServerError("503", status_code=503, retry_after=30.0))
    assert decision.step is Step.RETRY
    assert decision.delay == POLICY.max_backoff == decision.down_for  # capped


def test_an_event_out_of_attempts_is_dropped_as_delivery_failed() -> None:
    worn = job(failures=POLICY.max_attempts - 1)
    decision = decision_for(DeliveryError("connection reset"), worn)
    assert decision == Decision(Step.DROP, "delivery_failed", api_up=False)


def test_time_the_breaker_spent_open_is_left_out_of_the_budget() -> None:
    old = job(first_sent=0.0, open_at_first=0.0)
    error = DeliveryError("connection refused")
    # 100 s since its first send, 95 of them with the breaker open: 5 s of its 30 s used.
    assert decision_for(error, old, now=100.0, open_time=95.0).step is Step.RETRY
    assert decision_for(error, old, now=100.0, open_time=0.0).step is Step.DROP


def test_a_429_on_a_few_events_is_their_own_retry_but_the_api_is_up() -> None:
    decision = decision_for(RateLimitedError("429", status_code=429), rate_limited_share=0.1)
    assert decision.step is Step.RETRY
    assert decision.api_up is True


def test_a_429_on_most_answers_pauses_the_client_without_charging_the_event() -> None:
    error = RateLimitedError("429", status_code=429, retry_after=2.0)
    decision = decision_for(error, rate_limited_share=0.9)
    assert decision == Decision(Step.PAUSE, delay=2.0, api_up=True)
    unpaced = decision_for(RateLimitedError("429", status_code=429), rate_limited_share=0.9)
    assert unpaced.step is Step.PAUSE
    assert POLICY.base <= unpaced.delay <= POLICY.max_backoff


def test_the_rate_limited_share_counts_only_once_several_events_draw_429s() -> None:
    answers = RecentAnswers()
    for _ in range(10):  # one poison event drawing 429 again and again
        assert answers.add(7, rate_limited=True) == 0.0
    for seq in (1, 2, 3):
        share = answers.add(seq, rate_limited=True)
    assert share == 1.0
    assert answers.add(4, rate_limited=False) == pytest.approx(13 / 14)
