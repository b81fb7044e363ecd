"""The package's one at-fork hook: live objects' functions run around os.fork(), dead ones' never.

The registry is private; these tests pin it as a unit (what it does for the transport, the
reporter and the device manager is pinned through the public API by the fork tests of
tests/reliability, tests/transports and tests/test_device.py).
"""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from weespin_instrument._fork import at_fork

pytestmark = [
    pytest.mark.fork,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]


class Resource:
    """Something holding per-process state; it writes what its hooks saw to a pipe."""

    made: ClassVar[list[weakref.ref[Resource]]] = []

    def __init__(self, name: str, pipe: int) -> None:
        self.name = name
        self.pipe: int | None = pipe
        Resource.made.append(weakref.ref(self))
        self.seen: list[str] = []
        at_fork(
            self,
            before=Resource.before,
            after_in_child=Resource.after_in_child,
            after_in_parent=Resource.after_in_parent,
        )

    def before(self) -> None:
        self.seen.append(f"before {self.name}")

    def after_in_child(self) -> None:
        if self.pipe is not None:
            os.write(self.pipe, f"child {self.name};".encode())

    def after_in_parent(self) -> None:
        self.seen.append(f"parent {self.name}")


class Broken:
    def fail(self) -> None:
        raise RuntimeError("broken hook")


@pytest.fixture(autouse=True)
def quiet_leftovers() -> Iterator[None]:
    """A resource a test leaves alive (a log record may hold it) writes to no later pipe."""
    yield
    for ref in Resource.made:
        resource = ref()
        if resource is not None:
            resource.pipe = None
    Resource.made.clear()


def fork_and_read(read: int, write: int) -> str:
    """Fork a child that exits at once; what the child's hooks wrote to the pipe."""
    pid = os.fork()
    if pid == 0:  # never return into pytest from the child
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        written = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return written


def test_each_live_object_prepares_the_child_in_the_order_it_was_made() -> None:
    read, write = os.pipe()
    first, second = Resource("first", write), Resource("second", write)
    assert fork_and_read(read, write) == "child first;child second;"
    # Before the fork: latest made first, as os.register_at_fork orders its own hooks.
    assert first.seen == ["before first", "parent first"]
    assert second.seen == ["before second", "parent second"]


def test_the_registry_does_not_keep_an_object_alive() -> None:
    read, write = os.pipe()
    kept, dropped = Resource("kept", write), Resource("dropped", write)
    gone = weakref.ref(dropped)
    del dropped
    gc.collect()
    assert gone() is None
    assert fork_and_read(read, write) == "child kept;"
    assert kept.seen == ["before kept", "parent kept"]


def test_a_failing_hook_leaves_the_other_objects_prepared(caplog: pytest.LogCaptureFixture) -> None:
    read, write = os.pipe()
    broken = Broken()
    at_fork(broken, before=Broken.fail, after_in_parent=Broken.fail)
    healthy = Resource("healthy", write)
    assert fork_and_read(read, write) == "child healthy;"
    assert healthy.seen == ["before healthy", "parent healthy"]
    failures = [r for r in caplog.records if r.exc_info]
    assert [r.getMessage() for r in failures] == ["weespin: an at-fork hook of Broken failed"] * 2
    assert [str(r.exc_info[1]) for r in failures if r.exc_info] == ["broken hook"] * 2


#: A process that imports the package before logging (as an application may), then forks
#: while a thread it waits for (like a sender starting up) logs.
WAITS_FOR_A_THREAD_THAT_LOGS = """
import os, sys, threading
from weespin_instrument._fork import at_fork
assert "logging" not in sys.modules
import logging  # after the package, as the transport's module does

class Starting:
    def __init__(self):
        self.waiting, self.logged, self.waited = threading.Event(), threading.Event(), None
        threading.Thread(target=self.log, daemon=True).start()
        at_fork(self, before=Starting.wait)

    def log(self):
        self.waiting.wait(10)
        logging.getLogger("weespin_instrument.starting").debug("up")  # takes logging's lock
        self.logged.set()

    def wait(self):
        self.waiting.set()
        self.waited = self.logged.wait(5)

starting = Starting()
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print(starting.waited)
"""


def test_a_before_function_may_wait_for_a_thread_that_logs(run_python: Callable[..., Any]) -> None:
    done = run_python(WAITS_FOR_A_THREAD_THAT_LOGS)
    assert done.stdout.strip() == "True", done.stderr
