"""The sender's job queue: which job goes next, what expires, when a flush is done. No loop."""

from __future__ import annotations

import time

from weespin_instrument import Event
from weespin_instrument.transports._inbox import FlushMarker, Inbox
from weespin_instrument.transports._jobs import BACKLOG_CHUNK, Job, JobQueue


def event(name: str, *, age: float = 0.0) -> Event:
    return Event(name, {}, timestamp=time.time() - age)


def queue_with(*names: str, max_event_age: float | None = None) -> tuple[JobQueue, list[Job]]:
    """A queue whose inbox holds events ``names``; the list collects the expired jobs."""
    inbox = Inbox()
    inbox.items.extend(event(name) for name in names)
    expired: list[Job] = []
    return JobQueue(inbox, expire=expired.append, max_event_age=max_event_age), expired


def taken_names(queue: JobQueue, now: float, **options: bool) -> list[str]:
    names = []
    while (job := queue.take(now, **options)) is not None:
        names.append(job.event.name)
    return names


def settle(queue: JobQueue, job: Job) -> None:
    """What the sender does once a job is sent or dropped."""
    queue.inbox.taken -= 1
    queue.inbox.settled(job.seq)


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


def test_events_older_than_max_event_age_are_expired_on_the_way() -> None:
    queue, expired = queue_with(max_event_age=60.0)
    queue.inbox.items.extend([event("stale", age=120.0), event("young", age=1.0)])
    assert taken_names(queue, 0.0) == ["young"]
    assert [job.event.name for job in expired] == ["stale"]
    assert queue.inbox.taken == 2  # the sender settles the expired one, as it does any job


def test_a_sweep_expires_the_old_events_while_nothing_can_be_sent() -> None:
    queue, expired = queue_with(max_event_age=60.0)
    queue.park(Job(event("parked_stale", age=100.0), 1))
    queue.park(Job(event("parked_young"), 2))
    queue.inbox.items.extend([event("stale", age=90.0), event("young")])
    queue.sweep_expired(now=10.0)
    assert [job.event.name for job in expired] == ["parked_stale", "stale"]
    assert [job.event.name for job in queue.parked] == ["parked_young"]
    assert [e.name for e in queue.inbox.items if isinstance(e, Event)] == ["young"]
    queue.park(Job(event("stale_again", age=100.0), 3))
    queue.sweep_expired(now=10.5)  # at most once a second
    assert len(expired) == 2


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


class Backlog:
    """An outbox with ``rows`` events left by a dead process (the queue's only use of it)."""

    def __init__(self, rows: int) -> None:
        self.rows = [event(f"recovered_{n}") for n in range(rows)]

    def take_backlog(self, limit: int) -> list[Event]:
        taken, self.rows = self.rows[:limit], self.rows[limit:]
        return taken


def test_an_outbox_backlog_is_loaded_a_chunk_at_a_time_before_the_inbox() -> None:
    inbox = Inbox()
    inbox.items.append(event("fresh"))
    outbox = Backlog(BACKLOG_CHUNK + 2)
    queue = JobQueue(inbox, expire=lambda job: None, outbox=outbox)  # type: ignore[arg-type]
    queue.backlog = BACKLOG_CHUNK + 2
    first = queue.take(0.0)
    assert first is not None and first.event.name == "recovered_0"
    assert len(queue.recovered) == BACKLOG_CHUNK - 1  # one chunk loaded, not the whole file
    names = taken_names(queue, 0.0)
    assert names[-3:] == [f"recovered_{BACKLOG_CHUNK}", f"recovered_{BACKLOG_CHUNK + 1}", "fresh"]
    assert queue.backlog == 0


def test_a_flush_waits_for_the_outbox_backlog_unless_the_queue_is_closed() -> None:
    inbox = Inbox()
    marker, closed_marker = FlushMarker(), FlushMarker()
    inbox.items.append(marker)
    queue = JobQueue(inbox, expire=lambda job: None, outbox=Backlog(1))  # type: ignore[arg-type]
    queue.backlog = 1
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


def test_drop_all_hands_over_every_held_job_and_queued_event() -> None:
    queue, _ = queue_with("queued")
    marker = FlushMarker()
    queue.inbox.items.append(marker)
    queue.inbox.items.append(event("queued_after"))
    queue.park(Job(event("parked"), 100))
    queue.retry_at(50.0, Job(event("retrying"), 101))
    queue.recovered.append(Job(event("recovered"), 102))
    queue.inbox.taken = 3
    dropped: list[str] = []

    def drop(job: Job) -> None:
        dropped.append(job.event.name)
        settle(queue, job)

    queue.drop_all(drop)
    assert dropped == ["parked", "retrying", "recovered", "queued", "queued_after"]
    assert len(queue) == 0 and not queue.inbox.items
    assert marker.done.is_set()
    assert queue.inbox.taken == 0
