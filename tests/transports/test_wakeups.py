"""How the sender is woken: one byte on a socket pair from any thread, its own alarm."""

from __future__ import annotations

import asyncio
import contextvars
import threading

from weespin_instrument.transports._wakeups import Alarm, WakePipe


def test_wake_ups_from_other_threads_are_one_read_for_the_loop() -> None:
    pipe = WakePipe()

    async def main() -> int:
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()
        looks = 0

        def on_wake() -> None:
            nonlocal looks
            looks += 1
            pipe.drain()
            woken.set()

        loop.add_reader(pipe.reader.fileno(), on_wake)
        callers = [threading.Thread(target=pipe.writer.send, args=(b"\0",)) for _ in range(5)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(10)
        await asyncio.wait_for(woken.wait(), 10)
        loop.remove_reader(pipe.reader.fileno())
        return looks

    assert asyncio.run(main()) == 1  # five wake-ups written before it looked: one look
    pipe.close()


def test_the_alarm_keeps_the_earliest_moment_and_can_be_cancelled() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        rang: list[str] = []
        done = asyncio.Event()

        def ring() -> None:
            rang.append("ring")
            done.set()

        alarm = Alarm(loop, ring, contextvars.Context())
        alarm.after(30.0)
        alarm.after(0.01)  # sooner: replaces the 30 s one
        alarm.after(20.0)  # later: ignored
        await asyncio.wait_for(done.wait(), 10)
        alarm.after(0.01)
        alarm.cancel()
        await asyncio.sleep(0.05)
        return rang

    assert asyncio.run(main()) == ["ring"]
