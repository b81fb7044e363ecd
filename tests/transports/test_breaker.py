"""The circuit breaker: opens on an outage, probes with growing backoff, closes on success."""

from __future__ import annotations

from weespin_instrument.transports._breaker import CircuitBreaker


def upper(low: float, high: float) -> float:
    return high  # no jitter: the longest wait


def test_it_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(threshold=3, base=1.0, cap=8.0, uniform=upper)
    for _ in range(2):
        breaker.failure(now=0.0)
    breaker.success()  # resets the count
    breaker.failure(now=0.0)
    breaker.failure(now=0.0)
    assert breaker.blocked_for(now=0.0) == 0.0
    breaker.failure(now=0.0)
    assert breaker.is_open and breaker.blocked_for(now=0.0) == 1.0


def test_one_probe_at_a_time_and_the_backoff_doubles_up_to_the_cap() -> None:
    breaker = CircuitBreaker(threshold=1, base=1.0, cap=4.0, uniform=upper)
    breaker.failure(now=0.0)
    now = 0.0
    for expected in (1.0, 2.0, 4.0, 4.0):
        assert breaker.blocked_for(now) == expected
        now += expected
        assert breaker.blocked_for(now) == 0.0  # half-open: the probe may go
        breaker.started()
        assert breaker.blocked_for(now) is None  # others wait for the probe
        breaker.failure(now)  # the probe failed: open again, longer
    assert breaker.openings == 5


def test_a_successful_probe_closes_it() -> None:
    breaker = CircuitBreaker(threshold=1, base=1.0, uniform=upper)
    breaker.failure(now=0.0)
    assert breaker.blocked_for(now=1.0) == 0.0
    breaker.started()
    breaker.success()
    assert not breaker.is_open
    assert breaker.blocked_for(now=1.0) == 0.0
    breaker.started()
    assert breaker.blocked_for(now=1.0) == 0.0  # closed: no probe limit


def test_late_failures_of_requests_started_before_opening_are_ignored() -> None:
    breaker = CircuitBreaker(threshold=1, base=1.0, uniform=upper)
    breaker.failure(now=0.0)
    breaker.failure(now=0.5)
    assert breaker.blocked_for(now=0.5) == 0.5  # still the first opening's 1 s


def test_a_server_pause_blocks_independently_of_failures() -> None:
    breaker = CircuitBreaker()
    breaker.pause(until=3.0)
    breaker.pause(until=2.0)  # never shortens
    assert breaker.blocked_for(now=1.0) == 2.0
    assert not breaker.is_open
    assert breaker.blocked_for(now=3.0) == 0.0


def test_jitter_stays_within_half_to_full_delay() -> None:
    seen: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        seen.append((low, high))
        return low

    breaker = CircuitBreaker(threshold=1, base=2.0, uniform=record)
    breaker.failure(now=0.0)
    assert seen == [(1.0, 2.0)]
    assert breaker.blocked_for(now=0.0) == 1.0


def test_repeat_failures_of_the_same_events_never_open_it() -> None:
    breaker = CircuitBreaker(threshold=3, base=1.0, uniform=upper)
    for _ in range(100):  # a few poison events failing again and again
        breaker.failure(now=0.0, fresh=False)
    assert not breaker.is_open


def test_a_failed_probe_of_an_event_that_failed_before_does_not_reopen_it() -> None:
    breaker = CircuitBreaker(threshold=1, base=1.0, uniform=upper)
    breaker.failure(now=0.0)
    assert breaker.blocked_for(now=1.0) == 0.0
    breaker.started()
    breaker.failure(now=1.0, fresh=False)  # a poison probe: says nothing about the API
    assert breaker.state == "half_open" and breaker.blocked_for(now=1.0) == 0.0
    breaker.started()
    breaker.failure(now=1.0)  # a fresh event failing as the probe: still down
    assert breaker.state == "open"


def test_open_time_is_what_the_retry_budgets_leave_out() -> None:
    breaker = CircuitBreaker(threshold=1, base=2.0, uniform=upper)
    assert breaker.open_time(now=5.0) == 0.0
    breaker.failure(now=10.0)  # open for 2 s
    assert breaker.open_time(now=11.0) == 1.0
    assert breaker.blocked_for(now=12.5) == 0.0  # half-open at 12.0
    assert breaker.open_time(now=20.0) == 2.0
    breaker.success(now=20.0)
    assert breaker.open_time(now=30.0) == 2.0


def test_a_counted_pause_is_open_time_too() -> None:
    breaker = CircuitBreaker(threshold=1, base=2.0, uniform=upper)
    breaker.pause(5.0, now=1.0)  # a rate limit of the client: 4 s
    assert breaker.open_time(now=3.0) == 2.0
    breaker.pause(7.0, now=4.0)  # extended: 2 s more, not 3
    assert breaker.open_time(now=10.0) == 6.0
    breaker.pause(20.0)  # not counted (the breaker's own open time covers it)
    assert breaker.open_time(now=30.0) == 6.0
