"""A small hostile HTTP server on raw sockets, for delivery tests: what real APIs do wrong.

Each request is answered by ``rule(request)``, which returns one of the answers below
(or ``None`` for a plain ``200`` that stores the event): a status with headers and body,
a reset connection, a hang, a body trickled byte by byte, a huge body, a chunked body, a
body that ends when the connection does, an interim ``100 Continue`` first, an answer split
into many writes, bytes that are not HTTP, a connection closed without an answer. Accepted
events (2xx on ``/events``) are kept by ``event_id`` so tests can count deliveries exactly;
the server counts the connections it accepted and how many were open at once.

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
    "Chunked",
    "Drop",
    "FaultServer",
    "Garbage",
    "Hang",
    "Huge",
    "Interim",
    "Request",
    "Reset",
    "Split",
    "Status",
    "Trickle",
    "Truncated",
    "UntilClose",
]

#: What a Weespin API answers to ``POST /initialize-device``.
DEVICE_ANSWER = json.dumps({"event": {"device_info": {"device_id": "ws_device_faults"}}})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    #: The request's head as it came on the wire: request line and header lines.
    head: bytes = b""

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


@dataclass(frozen=True)
class Chunked:
    """Answer ``status`` with ``body`` as ``Transfer-Encoding: chunked``, one write per chunk
    of ``size`` bytes."""

    status: int
    body: bytes
    size: int = 7


@dataclass(frozen=True)
class UntilClose:
    """Answer ``status`` with ``body`` and no length: the body ends when the server closes,
    with a TCP reset instead of a FIN when ``reset`` (a server closing with unread bytes)."""

    status: int
    body: bytes
    reset: bool = False


@dataclass(frozen=True)
class Truncated:
    """Answer ``status`` promising ``length`` bytes of body (``None``: chunked), send only
    ``body`` (as one chunk when chunked), then close: a server that died mid-answer."""

    status: int
    body: bytes
    length: int | None = None


@dataclass(frozen=True)
class Interim:
    """Answer an interim ``status`` (``100 Continue``, ``103 Early Hints``), then ``answer``."""

    answer: Status
    status: int = 100


@dataclass(frozen=True)
class Split:
    """Send ``answer`` in writes of ``size`` bytes, each its own TCP segment."""

    answer: Status
    size: int = 1


@dataclass(frozen=True)
class Garbage:
    """Answer ``data``, which is not HTTP (another protocol's greeting), then close."""

    data: bytes = b"SSH-2.0-OpenSSH_9.6\r\n"


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the connection (FIN) without answering: a server whose
    keep-alive timeout fired as the request came."""


Answer = (
    Status
    | Reset
    | Hang
    | Trickle
    | Huge
    | Chunked
    | UntilClose
    | Interim
    | Split
    | Garbage
    | Drop
    | Truncated
    | None
)
Rule = Callable[[Request], Answer]


class FaultServer:
    """An HTTP/1.1 server on 127.0.0.1 (free port) answering each request by ``rule``.

    Thread per connection, keep-alive: a connection is closed after ``requests_per_connection``
    answers, or once idle for ``idle_timeout`` seconds, when given. ``requests`` logs ``(path,
    event_id, answer kind)``; ``accepted`` counts 2xx answers to ``/events`` by event id;
    ``connections`` counts the connections accepted, ``open_connections`` those open now,
    ``peak_connections`` the most open at once. Use as a context manager.
    """

    def __init__(
        self,
        rule: Rule | None = None,
        *,
        requests_per_connection: int | None = None,
        idle_timeout: float = 30.0,
    ) -> None:
        self.rule: Rule = rule or (lambda request: None)
        self.requests_per_connection = requests_per_connection
        self.idle_timeout = idle_timeout
        self.requests: list[tuple[str, str | None, str]] = []
        self.accepted: Counter[str] = Counter()
        self.payloads: list[dict[str, Any]] = []
        self.sent_bytes = 0
        self.connections = 0
        self.open_connections = 0
        self.peak_connections = 0
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
                self.connections += 1
                self.open_connections += 1
                self.peak_connections = max(self.peak_connections, self.open_connections)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        answered = 0
        try:
            conn.settimeout(self.idle_timeout)
            while not self._stop.is_set():
                request, buffer = self._read_request(conn, buffer)
                if request is None:
                    return
                if not self._answer(conn, request):
                    return
                answered += 1
                if answered == self.requests_per_connection:
                    return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with self._lock:
                self.open_connections -= 1

    def _wait_for_close(self, conn: socket.socket) -> None:
        """Until the client closes ``conn`` (or the server stops), reading what it sends."""
        conn.settimeout(0.05)
        while not self._stop.is_set():
            try:
                if not conn.recv(65536):
                    return
            except TimeoutError:
                continue

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
        request = Request(method, path.split("?")[0], headers, rest[:length], head)
        return request, rest[length:]

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
            self._wait_for_close(conn)
            return False
        if isinstance(answer, Drop):
            return False
        if isinstance(answer, Garbage):
            conn.sendall(answer.data)
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
        if isinstance(answer, Chunked):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sendall(_head(answer.status, {"Transfer-Encoding": "chunked"}))
            for start in range(0, len(answer.body), answer.size):
                chunk = answer.body[start : start + answer.size]
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.sendall(b"0\r\n\r\n")
            self._count_delivery(answer.status, request, event_id)
            return True
        if isinstance(answer, UntilClose):
            conn.sendall(_head(answer.status, {}) + answer.body)
            self._count_delivery(answer.status, request, event_id)
            if answer.reset and not self._stop.wait(0.1):  # the answer is read, then the reset
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if isinstance(answer, Truncated):
            if answer.length is None:
                head = _head(answer.status, {"Transfer-Encoding": "chunked"})
                conn.sendall(head + b"%x\r\n%s\r\n" % (len(answer.body), answer.body))
            else:
                head = _head(answer.status, {"Content-Length": str(answer.length)})
                conn.sendall(head + answer.body)
            return False
        if isinstance(answer, Interim):
            conn.sendall(_head(answer.status, {}, content_type=False))
            answer = answer.answer
        split = 0
        if isinstance(answer, Split):
            split, answer = answer.size, answer.answer
        if answer is None:
            if request.path == "/events":
                answer = Status(200, body=b'{"status":"ok"}')
            else:
                answer = Status(200, body=DEVICE_ANSWER.encode())
        self._count_delivery(answer.status, request, event_id)
        headers = {"Content-Length": str(len(answer.body)), **answer.headers}
        data = _head(answer.status, headers) + answer.body
        if not split:
            conn.sendall(data)
            return True
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(data), split):
            conn.sendall(data[start : start + split])
            if self._stop.wait(0.001):  # a pause: each write reaches the client on its own
                return False
        return True

    def _count_delivery(self, status: int, request: Request, event_id: str | None) -> None:
        if 200 <= status < 300 and request.path == "/events" and event_id is not None:
            with self._lock:
                self.accepted[event_id] += 1
                self.payloads.append(request.payload)


def _head(status: int, headers: dict[str, str], *, content_type: bool = True) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever"]
    if content_type:
        lines.append("Content-Type: application/json")
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
