"""The in-flight limit: a pure decision fed round trips and outcomes (no loop, no clock)."""

from __future__ import annotations

from weespin_instrument.transports._concurrency import WARM_UP, InFlightLimit


def answers(limit: InFlightLimit, rtt: float, count: int) -> InFlightLimit:
    for _ in range(count):
        limit.answered(rtt)
    return limit


def test_it_starts_at_the_floor() -> None:
    assert InFlightLimit(cap=256).value == 16


def test_it_does_not_move_before_it_has_seen_a_few_answers() -> None:
    limit = answers(InFlightLimit(cap=256), 0.030, WARM_UP)  # a busy start: slow answers
    assert limit.value == 16
    answers(limit, 0.005, 1)
    assert limit.value == 16  # the base is 5 ms now, not the start's 30


def test_a_far_api_where_nothing_queues_gets_up_to_the_cap() -> None:
    limit = answers(InFlightLimit(cap=256), 0.200, 1_000)
    assert limit.value == 256
    assert limit.value / 0.200 >= 1_000  # events/s at 200 ms round trips: 1,280


def test_growth_is_one_per_answer_so_it_doubles_each_round_trip() -> None:
    limit = answers(InFlightLimit(cap=256), 0.200, WARM_UP)
    answers(limit, 0.200, 16)  # the 16 answers of one round trip
    assert limit.value == 32


def test_a_near_api_where_answers_mostly_queue_gets_the_floor() -> None:
    limit = answers(InFlightLimit(cap=256), 0.200, 300)
    assert limit.value > 200
    limit.answered(0.001)  # the API is a millisecond away...
    answers(limit, 0.010, 300)  # ...and answers take 10: 90% of it is waiting in a queue
    assert limit.value == 16


def test_moderate_queueing_holds_the_limit_where_it_is() -> None:
    limit = answers(InFlightLimit(cap=256), 0.050, WARM_UP + 40)
    assert limit.value == 56
    answers(limit, 0.100, 30)  # half of each round trip is queueing now...
    held = limit.value
    answers(limit, 0.100, 100)
    assert limit.value == held  # ...between growing and shrinking: it holds


def test_an_api_that_moved_away_is_learned_again() -> None:
    limit = InFlightLimit(cap=256)
    limit.answered(0.001)
    answers(limit, 0.050, 20_000)  # the API is 50 ms away now
    assert limit.base_rtt is not None and limit.base_rtt > 0.045
    assert limit.value == 256


def test_overload_halves_it_and_good_answers_win_it_back() -> None:
    limit = answers(InFlightLimit(cap=256), 0.100, WARM_UP + 100)
    assert limit.value == 116
    limit.overloaded()
    assert limit.value == 58
    limit.overloaded()
    assert limit.value == 29
    answers(limit, 0.100, 87)
    assert limit.value == 116


def test_it_never_goes_below_the_floor_nor_above_the_cap() -> None:
    limit = InFlightLimit(cap=32, floor=4)
    for _ in range(100):
        limit.overloaded()
    assert limit.value == 4
    answers(limit, 5.0, 1_000)
    assert limit.value == 32


def test_a_cap_below_the_floor_wins() -> None:
    limit = InFlightLimit(cap=2)
    assert (limit.floor, limit.value) == (2, 2)


def test_a_fixed_limit_never_moves() -> None:
    limit = InFlightLimit.fixed(64)
    limit.answered(0.001)
    limit.overloaded()
    answers(limit, 5.0, 100)
    assert limit.value == 64
