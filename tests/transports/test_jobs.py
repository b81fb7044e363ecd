"""The sender's job queue: which job goes next, what expires, when a flush is done. No loop."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from weespin_instrument import Event
from weespin_instrument._reporting import Reporter
from weespin_instrument.transports import _jobs
from weespin_instrument.transports._inbox import FlushMarker, Inbox
from weespin_instrument.transports._jobs import Job, JobQueue
from weespin_instrument.transports._outbox import Outbox
from weespin_instrument.transports._outcomes import Decision, Step


def event(name: str, *, age: float = 0.0) -> Event:
    return Event(name, {}, timestamp=time.time() - age)


def queue_with(*names: str, max_event_age: float | None = None) -> tuple[JobQueue, list[str]]:
    """A queue whose inbox holds events ``names``; the list collects the dropped ones."""
    inbox = Inbox()
    inbox.items.extend(event(name) for name in names)
    dropped: list[str] = []
    reporter = Reporter(
        on_error=lambda report: dropped.append(f"{report.event.name}:{report.reason}")
    )
    return JobQueue(inbox, reporter, max_event_age=max_event_age), dropped


def taken_names(queue: JobQueue, now: float, **options: bool) -> list[str]:
    names = []
    while (job := queue.take(now, **options)) is not None:
        names.append(job.event.name)
    return names


def settle(queue: JobQueue, job: Job) -> None:
    queue.settle(job, None)  # sent


def test_inbox_events_are_taken_in_order_and_counted_as_held() -> None:
    queue, _ = queue_with("a", "b")
    first = queue.take(now=0.0)
    assert first is not None and first.event.name == "a" and first.seq == 1
    assert queue.inbox.taken == 1
    assert queue.took_fresh
    assert taken_names(queue, 0.0) == ["b"]
    assert queue.take(now=0.0) is None


def test_parked_jobs_go_first_then_due_retries_then_the_inbox() -> None:
    queue, _ = queue_with("fresh")
    retried = Job(event("retried"), 10)
    later = Job(event("later"), 11)
    queue.retry_at(1.0, retried)
    queue.retry_at(5.0, later)
    queue.park(Job(event("parked"), 12))
    queue.park(Job(event("parked_first"), 13), first=True)
    assert taken_names(queue, now=2.0) == ["parked_first", "parked", "retried", "fresh"]
    assert queue.next_retry() == 5.0  # not due yet: still waiting
    assert len(queue) == 1


def test_a_probe_prefers_an_event_that_has_not_failed_yet() -> None:
    queue, _ = queue_with("fresh")
    queue.retry_at(0.0, Job(event("failed_before"), 10))
    probe = queue.take(now=1.0, probing=True)
    assert probe is not None and probe.event.name == "fresh"
    assert taken_names(queue, 1.0, probing=True) == ["failed_before"]


def test_more_waiting_tells_without_taking() -> None:
    queue, _ = queue_with()
    assert not queue.more_waiting(now=0.0)
    queue.retry_at(3.0, Job(event("retried"), 1))
    assert not queue.more_waiting(now=2.0)
    assert queue.more_waiting(now=3.0)
    assert len(queue) == 1


def test_events_older_than_max_event_age_are_dropped_on_the_way() -> None:
    queue, dropped = queue_with(max_event_age=60.0)
    queue.inbox.items.extend([event("stale", age=120.0), event("young", age=1.0)])
    assert taken_names(queue, 0.0) == ["young"]
    queue.reporter.wait_for_hooks(5.0)
    assert dropped == ["stale:delivery_failed"]
    assert queue.reporter.snapshot().dropped == {"delivery_failed": 1}
    assert queue.inbox.taken == 1  # the young one, still held


def test_a_sweep_drops_the_old_events_while_nothing_can_be_sent() -> None:
    queue, dropped = queue_with(max_event_age=60.0)
    queue.park(Job(event("parked_stale", age=100.0), 1))
    queue.park(Job(event("parked_young"), 2))
    queue.inbox.items.extend([event("stale", age=90.0), event("young")])
    queue.sweep_expired(now=10.0)
    queue.reporter.wait_for_hooks(5.0)
    assert dropped == ["parked_stale:delivery_failed", "stale:delivery_failed"]
    assert [job.event.name for job in queue.parked] == ["parked_young"]
    assert [e.name for e in queue.inbox.items if isinstance(e, Event)] == ["young"]
    queue.park(Job(event("stale_again", age=100.0), 3))
    queue.sweep_expired(now=10.5)  # at most once a second
    assert queue.reporter.snapshot().dropped == {"delivery_failed": 2}


def test_a_flush_is_done_once_the_events_taken_before_it_settle() -> None:
    queue, _ = queue_with("a", "b")
    marker = FlushMarker()
    queue.inbox.items.append(marker)
    queue.inbox.items.append(event("after"))
    a, b = queue.take(0.0), queue.take(0.0)
    assert a is not None and b is not None
    after = queue.take(0.0)  # reaches the marker on the way
    assert after is not None and after.event.name == "after"
    assert queue.inbox.markers_reached == 1
    settle(queue, after)  # queued after the flush: it does not count
    settle(queue, a)
    assert not marker.done.is_set()
    settle(queue, b)
    assert marker.done.is_set()


def test_a_flush_reached_with_nothing_held_is_done_at_once() -> None:
    queue, _ = queue_with()
    marker = FlushMarker()
    queue.inbox.items.append(marker)
    assert queue.take(0.0) is None
    assert marker.done.is_set()


def outbox_left_by_a_dead_process(path: Path, rows: int) -> Outbox:
    """An outbox holding ``rows`` events of a process that is gone: ours to send."""
    gone = Outbox(path)
    for n in range(rows):
        gone.add(event(f"recovered_{n}"))
    gone.release()  # its rows are claimable at once
    return Outbox(path)


def test_an_outbox_backlog_is_loaded_a_chunk_at_a_time_before_the_inbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_jobs, "BACKLOG_CHUNK", 3)
    outbox = outbox_left_by_a_dead_process(tmp_path / "outbox.sqlite", 5)
    inbox = Inbox()
    inbox.items.append(event("fresh"))
    queue = JobQueue(inbox, Reporter(), outbox=outbox)
    queue.backlog = outbox.backlog()
    first = queue.take(0.0)
    assert first is not None and first.event.name == "recovered_0"
    assert len(queue.recovered) == 2  # one chunk loaded, not the whole file
    names = [first.event.name, *taken_names(queue, 0.0)]
    assert names == [*(f"recovered_{n}" for n in range(5)), "fresh"]
    assert queue.backlog == 0
    queue.settle(first, None)  # sent: its row goes
    assert outbox.take_recovered(10) == []
    assert outbox.backlog() == 0
    outbox.release()


def test_a_flush_waits_for_the_outbox_backlog_unless_the_queue_is_closed(tmp_path: Path) -> None:
    outbox = outbox_left_by_a_dead_process(tmp_path / "outbox.sqlite", 1)
    inbox = Inbox()
    marker, closed_marker = FlushMarker(), FlushMarker()
    inbox.items.append(marker)
    queue = JobQueue(inbox, Reporter(), outbox=outbox)
    queue.backlog = outbox.backlog()
    assert queue.pop_event() is None  # the marker: deferred, the backlog is not taken yet
    assert not marker.done.is_set()
    recovered = queue.take(0.0)  # loads the backlog: the marker now waits for what is held
    assert recovered is not None and not marker.done.is_set()
    settle(queue, recovered)
    assert marker.done.is_set()
    queue.backlog, queue.closed = 5, True
    inbox.items.append(closed_marker)
    assert queue.pop_event() is None
    assert closed_marker.done.is_set()  # stopping: no backlog will be taken, nothing to wait for
    outbox.release()


def test_drop_all_drops_every_held_job_and_queued_event() -> None:
    queue, dropped = queue_with("queued")
    marker = FlushMarker()
    queue.inbox.items.append(marker)
    queue.inbox.items.append(event("queued_after"))
    for name in ("parked", "retrying", "recovered"):
        held = queue.new_job(event(name))
        if name == "parked":
            queue.park(held)
        elif name == "retrying":
            queue.retry_at(50.0, held)
        else:
            queue.recovered.append(held)
    queue.drop_all("shutdown")
    queue.reporter.wait_for_hooks(5.0)
    names = ["parked", "retrying", "recovered", "queued", "queued_after"]
    assert dropped == [f"{name}:shutdown" for name in names]
    assert len(queue) == 0 and not queue.inbox.items
    assert marker.done.is_set()
    assert queue.inbox.taken == 0


def test_a_decision_is_followed_settle_retry_or_back_in_line() -> None:
    queue, dropped = queue_with("a", "b", "c", "d")
    a, b, c, d = (queue.take(0.0) for _ in range(4))
    assert a is not None and b is not None and c is not None and d is not None
    queue.follow(a, Decision(Step.SENT, api_up=True), None, now=1.0)
    queue.follow(b, Decision(Step.RETRY, delay=2.0), None, now=1.0)
    queue.follow(c, Decision(Step.PAUSE, delay=5.0), None, now=1.0)
    queue.follow(d, Decision(Step.DROP, "rejected"), None, now=1.0)
    assert queue.reporter.snapshot().sent == 1
    assert queue.retries == [(3.0, b)] and b.failures == 1  # charged
    assert list(queue.parked) == [c] and c.failures == 0  # not charged
    queue.reporter.wait_for_hooks(5.0)
    assert dropped == ["d:rejected"]
    assert queue.inbox.taken == 2
