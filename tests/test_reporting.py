"""The counters behind ``stats()``: exact under threads, and reading them changes nothing."""

from __future__ import annotations

import threading

from weespin_instrument import Client
from weespin_instrument.transports import MemoryTransport


def test_reading_the_stats_does_not_move_the_counters() -> None:
    client = Client(transport=MemoryTransport())
    client.track("signup")
    for _ in range(100):
        stats = client.stats()
        assert (stats.tracked, stats.sent) == (1, 1)
    client.track("login")
    assert (client.stats().tracked, client.stats().sent) == (2, 2)


def test_counts_from_many_threads_read_while_they_track_are_exact() -> None:
    client = Client(transport=MemoryTransport())
    threads, events = 4, 2_000
    tracking = threading.Barrier(threads + 1)
    seen: list[int] = []

    def track() -> None:
        tracking.wait()
        for n in range(events):
            client.track("open_app", {"n": n})

    workers = [threading.Thread(target=track) for _ in range(threads)]
    for worker in workers:
        worker.start()
    tracking.wait()
    while any(worker.is_alive() for worker in workers):
        stats = client.stats()
        assert stats.tracked <= threads * events
        seen.append(stats.tracked)
    for worker in workers:
        worker.join()
    assert seen == sorted(seen), "a count never goes back"
    stats = client.stats()
    assert (stats.tracked, stats.sent, stats.dropped) == (threads * events,) * 2 + ({},)
