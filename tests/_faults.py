"""A small hostile HTTP server on raw sockets, for delivery tests: what real APIs do wrong.

Each request is answered by ``rule(request)``, which returns one of the answers below
(or ``None`` for a plain ``200`` that stores the event): a status with headers and body,
a reset connection, a hang, a body trickled byte by byte, a huge body. Accepted events
(2xx on ``/events``) are kept by ``event_id`` so tests can count deliveries exactly.

Example::

    with FaultServer(lambda request: Status(503) if random.random() < 0.5 else None) as server:
        client = Client(api_key="k", base_url=server.url, device_id="ws_device_1")
        ...
        server.accepted  # {event_id: times accepted}
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEVICE_ANSWER",
    "Answer",
    "FaultServer",
    "Hang",
    "Huge",
    "Request",
    "Reset",
    "Status",
    "Trickle",
]

#: What a Weespin API answers to ``POST /initialize-device``.
DEVICE_ANSWER = json.dumps({"event": {"device_info": {"device_id": "ws_device_faults"}}})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def payload(self) -> dict[str, Any]:
        data = self.json
        return data.get("payload") or {} if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Status:
    """Answer ``status`` with ``headers`` and ``body``."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Reset:
    """Close the connection with a TCP reset, without answering."""


@dataclass(frozen=True)
class Hang:
    """Read the request, never answer (until the server stops)."""


@dataclass(frozen=True)
class Trickle:
    """Answer 200 with a body sent one byte every ``interval`` seconds."""

    body: bytes = b'{"ok": true}'
    interval: float = 1.5


@dataclass(frozen=True)
class Huge:
    """Answer ``status`` with a body of ``size`` bytes (sent as fast as the client reads)."""

    status: int
    size: int


Answer = Status | Reset | Hang | Trickle | Huge | None
Rule = Callable[[Request], Answer]


class FaultServer:
    """An HTTP/1.1 server on 127.0.0.1 (free port) answering each request by ``rule``.

    Thread per connection, keep-alive. ``requests`` logs ``(path, event_id, answer kind)``;
    ``accepted`` counts 2xx answers to ``/events`` by event id. Use as a context manager.
    """

    def __init__(self, rule: Rule | None = None) -> None:
        self.rule: Rule = rule or (lambda request: None)
        self.requests: list[tuple[str, str | None, str]] = []
        self.accepted: Counter[str] = Counter()
        self.payloads: list[dict[str, Any]] = []
        self.sent_bytes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(256)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept, name="fault-server", daemon=True)

    def __enter__(self) -> FaultServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):  # shutdown wakes the accept(); close alone does not
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in [self._acceptor, *self._threads]:
            if thread.is_alive():
                thread.join(5)

    def count(self, path: str = "/events") -> int:
        """Requests received on ``path``."""
        with self._lock:
            return sum(1 for p, _, _ in self.requests if p == path)

    # -- internals ---------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            conn.settimeout(30)
            while not self._stop.is_set():
                request, buffer = self._read_request(conn, buffer)
                if request is None:
                    return
                if not self._answer(conn, request):
                    return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _read_request(self, conn: socket.socket, buffer: bytes) -> tuple[Request | None, bytes]:
        while b"\r\n\r\n" not in buffer:
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            rest += chunk
        return Request(method, path.split("?")[0], headers, rest[:length]), rest[length:]

    def _answer(self, conn: socket.socket, request: Request) -> bool:
        """Answer ``request``; ``False`` when the connection is finished."""
        answer = self.rule(request)
        data = request.json
        event_id = data.get("event_id") if isinstance(data, dict) else None
        with self._lock:
            self.requests.append((request.path, event_id, type(answer).__name__))
        if isinstance(answer, Reset):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if isinstance(answer, Hang):
            self._stop.wait(120)
            return False
        if isinstance(answer, Trickle):
            conn.sendall(_head(200, {"Content-Length": str(len(answer.body))}))
            for byte in answer.body:
                if self._stop.wait(answer.interval):
                    return False
                conn.sendall(bytes([byte]))
            return True
        if isinstance(answer, Huge):
            conn.sendall(_head(answer.status, {"Content-Length": str(answer.size)}))
            block = b"x" * 65536
            left = answer.size
            conn.settimeout(5)
            try:
                while left > 0 and not self._stop.is_set():
                    sent = conn.send(block[: min(left, len(block))])
                    left -= sent
                    with self._lock:
                        self.sent_bytes += sent
            except OSError:
                pass
            return False
        if answer is None:
            if request.path == "/events":
                answer = Status(200, body=b'{"status":"ok"}')
            else:
                answer = Status(200, body=DEVICE_ANSWER.encode())
        if 200 <= answer.status < 300 and request.path == "/events" and event_id is not None:
            with self._lock:
                self.accepted[event_id] += 1
                self.payloads.append(request.payload)
        headers = {"Content-Length": str(len(answer.body)), **answer.headers}
        conn.sendall(_head(answer.status, headers) + answer.body)
        return True


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``condition`` every 20 ms for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
