"""The device: initialized lazily, once per process, again in a forked child."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from ._fork import at_fork

__all__ = ["DeviceManager", "DeviceStore", "FileDeviceStore", "MemoryDeviceStore"]


class DeviceStore(Protocol):
    """Where a device id is kept between runs.

    Example::

        class RedisDeviceStore:
            def load(self) -> str | None:
                return redis.get("weespin:device")

            def save(self, device_id: str) -> None:
                redis.set("weespin:device", device_id)
    """

    def load(self) -> str | None:
        """The stored device id, or ``None``."""
        ...

    def save(self, device_id: str) -> None:
        """Keep ``device_id`` for the next run."""
        ...


class MemoryDeviceStore:
    """Keeps the device id in this process only (the default).

    Example::

        store = MemoryDeviceStore()
        store.save("ws_device_1")
        store.load()  # 'ws_device_1'
    """

    def __init__(self, device_id: str | None = None) -> None:
        self._device_id = device_id

    def load(self) -> str | None:
        return self._device_id

    def save(self, device_id: str) -> None:
        self._device_id = device_id


class FileDeviceStore:
    """Keeps the device id in a small text file; writes are atomic (temp file + rename).

    Shared by the processes of a service (a server's workers, forked or restarted), it gives
    them one device: the first one to need it initializes it under a lock on the file's
    folder, the others read it.

    Example::

        configure(device_store=FileDeviceStore("~/.cache/myapp/weespin-device"))
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.path.expanduser(os.fspath(path))

    def __repr__(self) -> str:
        return f"FileDeviceStore({self.path!r})"

    def load(self) -> str | None:
        try:
            with open(self.path, encoding="utf-8") as file:
                text = file.read().strip()
        except FileNotFoundError:
            return None
        return text or None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock shared with the other processes using this file.

        The lock is on the file's folder: the file itself is replaced on each save.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: atomic rename only
            yield
            return
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def save(self, device_id: str) -> None:
        import tempfile  # only needed here, and costly to import

        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".device-", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(device_id + "\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise


class DeviceManager:
    """This process's device id: cached once known, else read from the store, else initialized.

    Two ways to use it. The background sender initializes the device itself, on its loop,
    and calls :meth:`load` and :meth:`save` in an executor thread (they may touch a file).
    The synchronous transport calls :meth:`get`, which does the whole of it under a lock
    with the ``initialize`` callable: exactly one ``initialize()`` call succeeds per process
    however many threads race for it. Threads that were waiting while an initialization
    failed get that same error rather than starting a stampede of retries; the next call
    after that tries again.

    A forked child forgets its parent's device. With the default in-memory store (the
    parent's copy) it initializes its own; a store shared between processes (a
    :class:`FileDeviceStore`, or any store that is not a ``MemoryDeviceStore``) is read
    again, so a server's workers share one device for the service. A store with a
    ``lock()`` context manager is held locked from reading (:meth:`load` finding nothing)
    to saving (:meth:`save`, or :meth:`release` after a failed initialization), possibly
    released from another thread than the one that took it (a file lock allows that).

    With ``backoff`` (seconds to wait after the n-th consecutive failure, n from 1), a
    failure is remembered: until that wait ends, callers of :meth:`get` get it at once
    instead of each trying again (the synchronous transport, where every event would
    otherwise redo the whole retry ladder while the API keeps failing).

    Example::

        devices = DeviceManager(api.initialize_device, store=FileDeviceStore(path))
        devices.get()  # 'ws_device_…', from the store or from one POST /initialize-device

        devices = DeviceManager(store=FileDeviceStore(path))  # the caller initializes
        device_id = devices.device_id or devices.load()  # cached, else stored
        if device_id is None:
            devices.save(await api.initialize_device())
    """

    def __init__(
        self,
        initialize: Callable[[], str] | None = None,
        store: DeviceStore | None = None,
        *,
        backoff: Callable[[int], float] | None = None,
    ) -> None:
        self._initialize = initialize
        self._backoff = backoff
        self._failures = 0
        self._retry_at = 0.0
        self._store: DeviceStore = store if store is not None else MemoryDeviceStore()
        self._device_id: str | None = None
        self._pid = os.getpid()
        self._forked = False
        self._lock = threading.Lock()
        self._failure: tuple[float, BaseException] | None = None
        #: The store's lock, held between a :meth:`load` that found nothing and :meth:`save`.
        self._held: contextlib.AbstractContextManager[object] | None = None
        # The parent's lock may have been held by another thread at fork time: reset it
        # before anything in the child can wait on it.
        at_fork(self, after_in_child=DeviceManager._reset_after_fork)

    @property
    def device_id(self) -> str | None:
        """The device id if this process has one already (never reads, never initializes)."""
        return self._device_id if self._pid == os.getpid() else None

    def load(self) -> str | None:
        """The stored device id (then cached), or ``None``: this process initializes it and
        calls :meth:`save` (or :meth:`release` if that failed). May block on the store."""
        if self._pid != os.getpid():
            self._reset_after_fork()
        if self._device_id is not None:
            return self._device_id
        if self._forked:
            return None  # the parent's memory is not a store the child shares
        lock = getattr(self._store, "lock", None)
        held: contextlib.AbstractContextManager[object] = (
            lock() if callable(lock) else contextlib.nullcontext()
        )
        held.__enter__()
        try:
            stored = self._store.load()
        except BaseException:
            held.__exit__(None, None, None)
            raise
        if stored:
            held.__exit__(None, None, None)
            self._device_id = stored
            return stored
        self._held = held
        return None

    def save(self, device_id: str) -> None:
        """Keep ``device_id``, this process's device from now on (and the store's, unless
        forked from a parent with an in-memory store); let go of the store."""
        try:
            if not self._forked:
                self._store.save(device_id)
            self._device_id = device_id
        finally:
            self.release()

    def release(self) -> None:
        """Let go of the store after a :meth:`load` that found nothing (idempotent)."""
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(None, None, None)

    def get(self) -> str:
        """This process's device id; initializes it (once) with ``initialize`` if needed."""
        device_id = self.device_id
        if device_id is not None:
            return device_id
        if self._initialize is None:
            raise TypeError("DeviceManager.get() needs the initialize callable")
        waiting_since = time.monotonic()
        with self._lock:
            if self._pid != os.getpid():
                self._reset_after_fork()
            if self._device_id is not None:
                return self._device_id
            if self._failure is not None and (
                self._failure[0] >= waiting_since or time.monotonic() < self._retry_at
            ):
                raise self._failure[1]
            stored = self.load()
            if stored is not None:
                return stored
            try:
                device_id = self._initialize()
            except BaseException as exc:
                self.release()
                now = time.monotonic()
                self._failure = (now, exc)
                self._failures += 1
                if self._backoff is not None:
                    self._retry_at = now + self._backoff(self._failures)
                raise
            self._failure = None
            self._failures = 0
            self._retry_at = 0.0
            self.save(device_id)
            return device_id

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        # The parent's memory is not a store the child shares; a file (or a database) is.
        self._forked = isinstance(self._store, MemoryDeviceStore)
        self._device_id = None
        self._failure = None
        self._failures = 0
        self._retry_at = 0.0
        self._held = None  # the parent's hold on the store: the parent lets go of it
