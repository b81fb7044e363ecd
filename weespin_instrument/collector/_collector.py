"""The :class:`Collector`: a local, Weespin-compatible server you start from Python.

Example::

    from weespin_instrument.collector import Collector

    with Collector() as collector:
        httpx.post(collector.url + "/events", headers={"Authorization": "dev"},
                   json={"event_name": "signup", "device_id": "ws_device_1"})
        collector.wait_for(1, name="signup")
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

from ._app import DEFAULT_MAX_BODY_BYTES, build_app
from ._server import BackgroundServer
from ._state import Fault, FaultQueue, RequestRecord, RuntimeState
from ._store import EventQuery, Store

__all__ = ["Collector"]

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def _retry_after_header(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if value < 0:
        raise ValueError(f"retry_after must be >= 0, not {value!r}")
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Collector:
    """A Weespin-compatible HTTP server for development, demos and tests.

    It serves ``POST /initialize-device`` and ``POST /events/initialize`` (a new device each),
    ``POST /events`` (validated with the API's rules, stored in SQLite, de-duplicated by
    ``event_id``), ``GET /api/events`` to query, ``GET /healthz`` and a live page at ``/``.

    ``port=0`` picks a free port. ``db=None`` keeps the events in a temporary file removed at
    :meth:`stop`; a path keeps them in that file (reopened by the next collector on it).
    ``api_key=None`` accepts any non-empty ``Authorization``; a string accepts only itself.
    ``latency_ms`` delays every POST (see :meth:`set_latency`). ``max_body_bytes`` (1 MiB)
    bounds one ``POST /events`` body: longer ones are answered 413 without being read. The key
    is checked before any body is read. ``certfile`` (a PEM certificate chain) and ``keyfile``
    (its private key, unless ``certfile`` holds it) make it serve HTTPS, to try a client's
    TLS set-up locally: the client must trust the certificate (``SSL_CERT_FILE``).

    Example::

        collector = Collector(port=0, api_key="dev-key").start()
        try:
            ...  # point the client at collector.url
            assert collector.wait_for(1, name="purchase")[0]["payload"]["amount"] == 19.99
        finally:
            collector.stop()
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db: str | Path | None = None,
        api_key: str | None = None,
        latency_ms: float = 0.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        certfile: str | Path | None = None,
        keyfile: str | Path | None = None,
    ) -> None:
        if keyfile is not None and certfile is None:
            raise ValueError("keyfile needs a certfile: pass the certificate chain's PEM file too")
        self._tls = _checked_tls(certfile, keyfile) if certfile is not None else None
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, not {latency_ms}")
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, not {max_body_bytes}")
        self.max_body_bytes = max_body_bytes
        if api_key == "":
            raise ValueError("api_key must be a non-empty string, or None to accept any key")
        self.host = host
        self._requested_port = port
        self._db = Path(db) if db is not None else None
        self._state = RuntimeState(api_key=api_key, latency_ms=latency_ms)
        self._tmpdir: str | None = None
        self._store: Store | None = None
        self._server: BackgroundServer | None = None
        self._stopped = False

    def __repr__(self) -> str:
        status = "stopped" if self._stopped else "running" if self._server else "not started"
        return f"<Collector {self.url if self._server else self.host} {status}>"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Collector:
        """Start serving in a background thread; return ``self`` once requests are accepted.

        Raises ``RuntimeError`` (with the reason) if the server cannot start within ~10 s,
        and ``OSError`` if the port is taken.

        Example::

            collector = Collector().start()
        """
        if self._server is not None or self._stopped:
            raise RuntimeError("a Collector starts once; create a new one to start again")
        if self._db is None:
            self._tmpdir = tempfile.mkdtemp(prefix="weespin-collector-")
            path = Path(self._tmpdir) / "events.sqlite"
        else:
            path = self._db
        try:
            self._store = Store(path)
            app = build_app(self._store, self._state, max_body_bytes=self.max_body_bytes)
            self._server = BackgroundServer(
                app,
                host=self.host,
                port=self._requested_port,
                on_shutdown=self._state.stopping.set,
                certfile=self._tls[0] if self._tls else None,
                keyfile=self._tls[1] if self._tls else None,
            )
            self._server.start(timeout=_START_TIMEOUT)
        except BaseException:
            self._release()
            raise
        return self

    def stop(self) -> None:
        """Stop serving, join the thread, close the database (idempotent).

        Example::

            collector.stop()
        """
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.stop(timeout=_STOP_TIMEOUT)
        self._release()

    def _release(self) -> None:
        self._stopped = True
        if self._server is not None:
            self._server.close()
        if self._store is not None:
            self._store.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- where ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on (the free one picked when created with ``port=0``)."""
        return self._running_server().port

    @property
    def url(self) -> str:
        """The base URL, e.g. ``"http://127.0.0.1:8765"``; pass it as the client's base URL.

        ``https://`` when the collector was given a ``certfile``.
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}"

    @property
    def db_path(self) -> Path:
        """The SQLite file holding the events."""
        return self._open_store().path

    # -- reading what arrived --------------------------------------------------------------

    def events(
        self,
        name: str | None = None,
        *,
        user_id: str | None = None,
        device_id: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Stored events matching the filters, oldest first (the first ``limit`` of them).

        Each is a dict like ``GET /api/events`` returns: ``seq``, ``event_id``,
        ``event_name``, ``device_id``, ``user_id``, ``link_id``, ``payload``, ``timestamp``,
        ``trace_id``, ``span_id``, ``received_at``.

        Example::

            [event["payload"] for event in collector.events("purchase", user_id="u_42")]
        """
        query = EventQuery(name=name, user_id=user_id, device_id=device_id, limit=limit)
        return self._open_store().events(query)

    def devices(self) -> list[str]:
        """Device ids made by initialization requests, oldest first.

        Example::

            assert len(collector.devices()) == 1  # initialized once
        """
        return self._open_store().devices()

    def stats(self) -> dict[str, int]:
        """Counters since start, plus ``events_total`` (rows in the file, earlier runs too).

        Keys: ``init_requests``, ``event_requests``, ``events_stored``, ``duplicates``,
        ``rejected``, ``unauthorized``, ``failed_injected``, ``devices_created``,
        ``events_total``.

        Example::

            assert collector.stats()["duplicates"] == 0
        """
        stats = self._state.counters.snapshot()
        stats["events_total"] = self._open_store().count_events()
        return stats

    def wait_for(
        self, count: int, *, name: str | None = None, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until at least ``count`` matching events are stored; return all of them.

        Polls the database (bounded by ``timeout``); raises ``AssertionError`` listing what
        did arrive when the time is up.

        Example::

            purchase = collector.wait_for(1, name="purchase")[0]
        """
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            found = self.events(name)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        names = [event["event_name"] for event in self.events()]
        what = f"events named {name!r}" if name is not None else "events"
        raise AssertionError(
            f"expected at least {count} {what} within {timeout} s, found {len(found)}; "
            f"all stored event names: {names[-50:]}"
        )

    @property
    def request_log(self) -> list[RequestRecord]:
        """Every POST received (the last 100 000), oldest first, as a new list.

        Each :class:`RequestRecord` is a dict: ``time`` (``time.time()`` on arrival, before
        any injected latency), ``monotonic`` (the same moment, ``time.monotonic()``),
        ``path``, ``status`` (what was answered) and ``event_id`` (the one it carried).

        Example::

            attempts = [r for r in collector.request_log if r["path"] == "/events"]
            assert [r["status"] for r in attempts] == [503, 200]
            assert {r["event_id"] for r in attempts} == {attempts[0]["event_id"]}
        """
        return list(self._state.log)

    # -- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        *,
        status: int = 503,
        retry_after: float | str | None = None,
        path: str = "/events",
    ) -> None:
        """Make the next ``count`` requests to ``path`` answer ``status``, storing nothing.

        ``path`` is ``"/events"`` or ``"init"`` (both initialization paths). ``retry_after``
        (seconds, or an HTTP date as a string) adds a ``Retry-After`` header. Calls queue up:
        ``fail_next(1, status=429); fail_next(1, status=500)`` fails with 429 then 500.

        Example::

            collector.fail_next(2, status=429, retry_after=1)
        """
        if path not in FaultQueue.TARGETS:
            raise ValueError(f"path must be one of {FaultQueue.TARGETS}, not {path!r}")
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an error status (400-599), not {status}")
        if count < 0:
            raise ValueError(f"count must be >= 0, not {count}")
        header = None if retry_after is None else _retry_after_header(retry_after)
        self._state.faults.push(path, Fault(status, header), count=count)

    def set_latency(self, ms: float) -> None:
        """Delay every POST by ``ms`` milliseconds from now on (``0`` to stop).

        Example::

            collector.set_latency(50)  # a distant API, for throughput benchmarks
        """
        if ms < 0:
            raise ValueError(f"latency must be >= 0 ms, not {ms}")
        self._state.latency_s = ms / 1000.0

    # -- internals -------------------------------------------------------------------------

    def _running_server(self) -> BackgroundServer:
        if self._server is None:
            raise RuntimeError("the Collector is not started; call start() first")
        return self._server

    def _open_store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the Collector is not started; call start() first")
        if self._stopped:
            raise RuntimeError("the Collector is stopped; its database is closed")
        return self._store


def _checked_tls(certfile: str | Path, keyfile: str | Path | None) -> tuple[str, str | None]:
    """``(certfile, keyfile)`` once Python's TLS loads them, else ``ValueError`` saying why."""
    cert, key = str(certfile), str(keyfile) if keyfile is not None else None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        files = f"certfile={cert!r}" + (f", keyfile={key!r}" if key else "")
        raise ValueError(
            f"cannot serve HTTPS with {files}: {exc}; pass a PEM certificate chain and its "
            "private key (in certfile, or in keyfile)"
        ) from None
    return cert, key
