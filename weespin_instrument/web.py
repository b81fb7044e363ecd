"""Per-visitor identity for web apps: ASGI and WSGI middlewares, with no framework dependency.

The Weespin API's device is the end user's device. Each request handled inside
:class:`ASGIMiddleware` or :class:`WSGIMiddleware` gets the identity context that
:func:`weespin_instrument.identify` sets, for everything tracked while handling it:

- ``device_id``: from the ``X-Weespin-Device-Id`` header (an app that has one), else the
  ``weespin_device_id`` cookie, else the visitor is new: a device is initialized through the
  API only if the request tracks an event, once (:class:`~.devices.VisitorDevice`), off the
  caller's path, and the response sets the cookie so the visitor keeps it;
- ``user_id``: from ``user_id=``, a callable of the app (given the ASGI scope or the WSGI
  environ) returning a string or ``None``;
- ``link_id``: from the incoming Weespin link's query parameter (``link_id``), kept for the
  visit in the ``weespin_link_id`` session cookie (``link_cookie=None`` keeps it for this
  request only);
- paths under ``exclude_paths`` (health checks, static files) get no identity and never
  cause an initialization.

How the response learns a new visitor's device: the headers of a response are only sent
after the handler returns (or starts streaming); if the handler tracked something, the
middleware waits there for the initialization, at most ``device_wait`` seconds (one round
trip to the API, once per visitor). In ASGI that wait is an ``await``: the event loop keeps
serving. Events tracked after the headers left (a streaming body, a background task) still
get the device; only the cookie is missing, so that visitor's next request starts again.

Example::

    from weespin_instrument.web import ASGIMiddleware, WSGIMiddleware

    app = FastAPI()
    app.add_middleware(ASGIMiddleware, user_id=lambda scope: scope.get("user_id"),
                       exclude_paths=["/healthz", "/static"])

    flask_app.wsgi_app = WSGIMiddleware(flask_app.wsgi_app)
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast
from urllib.parse import parse_qs

from ._context import Identity, bound_identity, current_identity
from ._reporting import logger
from .devices import VisitorDevice

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["ASGIMiddleware", "WSGIMiddleware", "preload"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: Two years: the visitor keeps the device across sessions.
DEFAULT_MAX_AGE = 2 * 365 * 24 * 3600
#: What an id from a header, a cookie or a link may be: cookie-safe, bounded.
_SAFE_ID = re.compile(r"[A-Za-z0-9_.:~-]{1,200}")


def preload() -> None:
    """Import the HTTP engine now, in a prefork server's master, before it forks workers.

    Each worker (and each recycled one, with ``--max-requests``) then starts with the
    engine loaded instead of importing it on its first event. Nothing is started: no
    thread, no connection; every worker still has its own sender. Call it from the module
    that ``gunicorn --preload`` imports, or from ``gunicorn.conf.py``.

    Example::

        # gunicorn.conf.py
        preload_app = True

        def on_starting(server):
            weespin_instrument.web.preload()
    """
    import aiohttp  # noqa: F401  (the import is the point)
    import httpx  # noqa: F401

    from .transports import _background, _engine  # noqa: F401


@dataclasses.dataclass(frozen=True)
class Visit:
    """What a request says about its visitor (read by :meth:`Visitors.read`)."""

    #: The device the visitor brought (header or cookie), or ``None``: a new visitor.
    device_id: str | None
    #: The Weespin link of the visit: from the query, else from the link cookie.
    link_id: str | None
    #: Whether ``link_id`` came with this request's query (the cookie must keep it).
    new_link: bool


@dataclasses.dataclass(frozen=True)
class Visitors:
    """How visitors are recognized and remembered: the settings the middlewares share.

    Pure: reading a request and writing cookies need no event loop and no network.

    Example::

        visitors = Visitors()
        visit = visitors.read(header=None, cookie_header="weespin_device_id=ws_1", query="")
        visit.device_id  # 'ws_1'
    """

    device_cookie: str = "weespin_device_id"
    device_header: str = "X-Weespin-Device-Id"
    link_param: str | None = "link_id"
    link_cookie: str | None = "weespin_link_id"
    exclude_paths: tuple[str, ...] = ()
    cookie_max_age: int = DEFAULT_MAX_AGE
    cookie_path: str = "/"
    cookie_domain: str | None = None
    cookie_samesite: str | None = "Lax"
    cookie_httponly: bool = True
    #: ``None``: ``Secure`` on https requests only.
    cookie_secure: bool | None = None
    device_wait: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.exclude_paths, str):
            raise TypeError(
                f"exclude_paths={self.exclude_paths!r}: pass a list of paths, e.g. "
                f"exclude_paths=[{self.exclude_paths!r}]."
            )
        for path in self.exclude_paths:
            if not isinstance(path, str) or not path.startswith("/"):
                raise TypeError(f"exclude_paths: {path!r} must be a path starting with '/'.")
        if self.cookie_samesite not in (None, "Lax", "Strict", "None"):
            raise TypeError(
                f"cookie_samesite={self.cookie_samesite!r}: use 'Lax', 'Strict', 'None' or None."
            )
        if self.device_wait < 0:
            raise TypeError(f"device_wait={self.device_wait!r} must be >= 0 seconds.")

    def excluded(self, path: str) -> bool:
        """Whether ``path`` is one of ``exclude_paths`` or under one of them.

        Example::

            Visitors(exclude_paths=("/static",)).excluded("/static/app.css")  # True
        """
        for prefix in self.exclude_paths:
            base = prefix.rstrip("/")
            if path in (prefix, base) or path.startswith(base + "/"):
                return True
        return False

    def read(self, *, header: str | None, cookie_header: str | None, query: str) -> Visit:
        """The visit a request describes: its header, its ``Cookie`` header and its query."""
        cookies = parse_cookies(cookie_header or "")
        device_id = _safe(header) or _safe(cookies.get(self.device_cookie))
        link_id = None
        if self.link_param:
            values = parse_qs(query, keep_blank_values=False).get(self.link_param)
            link_id = _safe(values[-1]) if values else None
        cookie_link = _safe(cookies.get(self.link_cookie)) if self.link_cookie else None
        if link_id is None:
            return Visit(device_id, cookie_link, False)
        return Visit(device_id, link_id, link_id != cookie_link and self.link_cookie is not None)

    def cookies_to_set(
        self, *, device_id: str | None, visit: Visit
    ) -> list[tuple[str, str, int | None]]:
        """``(name, value, max_age)`` of the cookies a response sets: a new device, a new link."""
        cookies: list[tuple[str, str, int | None]] = []
        if device_id is not None:
            cookies.append((self.device_cookie, device_id, self.cookie_max_age))
        if visit.new_link and visit.link_id is not None and self.link_cookie:
            cookies.append((self.link_cookie, visit.link_id, None))  # kept for the visit
        return cookies

    def set_cookie_values(self, *, device_id: str | None, visit: Visit, secure: bool) -> list[str]:
        """``Set-Cookie`` header values for :meth:`cookies_to_set`.

        Example::

            Visitors().set_cookie_values(device_id="ws_1", visit=visit, secure=True)
            # ['weespin_device_id=ws_1; Path=/; Max-Age=63072000; HttpOnly; SameSite=Lax; Secure']
        """
        return [
            self.cookie(name, value, secure, max_age)
            for name, value, max_age in self.cookies_to_set(device_id=device_id, visit=visit)
        ]

    def secure(self, https: bool) -> bool:
        """Whether cookies get ``Secure`` on a request that came over https or not."""
        return self.cookie_secure if self.cookie_secure is not None else https

    def cookie(self, name: str, value: str, secure: bool, max_age: int | None) -> str:
        """One ``Set-Cookie`` value with the configured attributes."""
        parts = [f"{name}={value}", f"Path={self.cookie_path}"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.cookie_domain:
            parts.append(f"Domain={self.cookie_domain}")
        if self.cookie_httponly:
            parts.append("HttpOnly")
        if self.cookie_samesite:
            parts.append(f"SameSite={self.cookie_samesite}")
        if self.secure(secure):
            parts.append("Secure")
        return "; ".join(parts)


def parse_cookies(header: str) -> dict[str, str]:
    """``name -> value`` of a ``Cookie`` header; malformed pairs are skipped, not fatal.

    Example::

        parse_cookies("a=1; weespin_device_id=ws_1")["weespin_device_id"]  # 'ws_1'
    """
    cookies: dict[str, str] = {}
    for pair in header.split(";"):
        name, sep, value = pair.partition("=")
        name = name.strip()
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies


def _safe(value: str | None) -> str | None:
    return value if value is not None and _SAFE_ID.fullmatch(value) else None


class _UserId:
    """The app's ``user_id`` callable, made safe: its errors are logged once, never raised."""

    def __init__(self, func: Callable[[Any], object] | None, where: str) -> None:
        if func is not None and not callable(func):
            raise TypeError(f"{where}: user_id= must be a callable returning a str or None.")
        self.func = func
        self.where = where
        self._warned = False

    def __call__(self, source: Any) -> str | None:
        if self.func is None:
            return None
        try:
            value = self.func(source)
        except Exception as exc:
            self._warn(f"raised {type(exc).__name__}")
            return None
        if value is None or value == "":
            return None
        if type(value) is str:
            return value
        if type(value) is int:
            return str(value)
        self._warn(f"returned a {type(value).__name__}, not a str, an int or None")
        return None

    def _warn(self, what: str) -> None:
        if not self._warned:  # once: the callable is the same for every request
            self._warned = True
            logger.warning(
                "weespin: the %s user_id callable %s; events go without a user id",
                self.where,
                what,
            )


class DeviceWaits:
    """How long a response waits for a new visitor's device: ``device_wait``, except after
    a wait that ended without one (the API is slow or failing): then responses stop waiting
    for ``PAUSE`` seconds, so a sick API does not slow every new visitor's page down. The
    events still get their device when it comes; only those visitors' cookies are missing.

    Example::

        waits = DeviceWaits(2.0)
        device_id = visitor.wait(waits.timeout())
        waits.observe(device_id)
    """

    #: Seconds responses stop waiting after a wait that ended without a device.
    PAUSE = 30.0

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self._paused_until = 0.0

    def timeout(self) -> float:
        """Seconds the current response may wait."""
        return 0.0 if time.monotonic() < self._paused_until else self.wait

    def observe(self, device_id: str | None) -> None:
        """Record how a wait ended."""
        if device_id is not None or not self.wait or time.monotonic() < self._paused_until:
            return
        self._paused_until = time.monotonic() + self.PAUSE
        logger.warning(
            "weespin: a new visitor's device was not initialized within %.1f s (the Weespin "
            "API is slow or failing); for %.0f s responses do not wait for new visitors' "
            "devices (their events still get them; the cookie comes on a later response)",
            self.wait,
            self.PAUSE,
        )

    def wait_for(self, visitor: VisitorDevice | None) -> str | None:
        """The device of ``visitor`` if it asked for one, waiting at most :meth:`timeout`."""
        if visitor is None or not visitor.requested:
            return None
        device_id = visitor.wait(self.timeout())
        self.observe(device_id)
        return device_id

    async def wait_for_async(self, visitor: VisitorDevice | None) -> str | None:
        """:meth:`wait_for` without blocking the event loop."""
        if visitor is None or not visitor.requested:
            return None
        device_id = await visitor.wait_async(self.timeout())
        self.observe(device_id)
        return device_id


def identity_for(visit: Visit, user_id: str | None) -> Identity:
    """The request's identity, over what an enclosing ``identify()`` set."""
    outer = current_identity()
    return Identity(
        user_id if user_id is not None else outer.user_id,
        visit.link_id if visit.link_id is not None else outer.link_id,
        visit.device_id if visit.device_id is not None else outer.device_id,
    )


_App = TypeVar("_App")
_Source = TypeVar("_Source")


class _VisitorMiddleware(Generic[_App, _Source]):
    # The settings both middlewares take, in one signature; each reads requests its own way.

    def __init__(
        self,
        app: _App,
        *,
        client: Client | None = None,
        device_cookie: str = "weespin_device_id",
        device_header: str = "X-Weespin-Device-Id",
        link_param: str | None = "link_id",
        link_cookie: str | None = "weespin_link_id",
        user_id: Callable[[_Source], str | None] | None = None,
        exclude_paths: Iterable[str] = (),
        cookie_max_age: int = DEFAULT_MAX_AGE,
        cookie_path: str = "/",
        cookie_domain: str | None = None,
        cookie_samesite: str | None = "Lax",
        cookie_httponly: bool = True,
        cookie_secure: bool | None = None,
        device_wait: float = 2.0,
    ) -> None:
        self.app = app
        self.client = client
        self.visitors = Visitors(
            device_cookie=device_cookie,
            device_header=device_header,
            link_param=link_param,
            link_cookie=link_cookie,
            # A lone string reaches Visitors as it is, which says to pass a list instead.
            exclude_paths=cast("tuple[str, ...]", exclude_paths)
            if isinstance(exclude_paths, str)
            else tuple(exclude_paths),
            cookie_max_age=cookie_max_age,
            cookie_path=cookie_path,
            cookie_domain=cookie_domain,
            cookie_samesite=cookie_samesite,
            cookie_httponly=cookie_httponly,
            cookie_secure=cookie_secure,
            device_wait=device_wait,
        )
        self._user_id = _UserId(user_id, type(self).__name__)
        self._waits = DeviceWaits(device_wait)
        self._use_header(device_header)

    def _use_header(self, name: str) -> None:
        raise NotImplementedError


class ASGIMiddleware(_VisitorMiddleware["ASGIApp", "Scope"]):
    """Per-visitor identity for any ASGI app (Starlette, FastAPI, Quart, Django ASGI).

    See the module's documentation for what it does. ``client`` chooses whose settings
    initialize new visitors' devices (default: the client that tracks the event). Cookie
    attributes: ``HttpOnly``, ``SameSite=Lax``, ``Secure`` on https, ``Path=/``,
    ``Max-Age`` two years; each is an argument. ``device_wait``: seconds a response waits
    for a new visitor's device to set its cookie. Lifespan and websocket scopes pass
    through untouched.

    Example::

        app = Starlette(routes=routes)
        app = ASGIMiddleware(app, user_id=lambda scope: scope["session"].get("user_id"),
                             exclude_paths=["/healthz"])
    """

    def _use_header(self, name: str) -> None:
        self._header = name.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.visitors.excluded(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        import asyncio

        header = cookie_header = None
        for name, value in scope.get("headers") or ():
            if name == self._header:
                header = value.decode("latin-1")
            elif name == b"cookie":
                cookie_header = value.decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        visitors = self.visitors
        visit = visitors.read(header=header, cookie_header=cookie_header, query=query)
        visitor = None
        if visit.device_id is None:
            visitor = VisitorDevice(loop=asyncio.get_running_loop(), client=self.client)
        secure = scope.get("scheme") in ("https", "wss")

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                device_id = await self._waits.wait_for_async(visitor)
                cookies = visitors.set_cookie_values(
                    device_id=device_id, visit=visit, secure=secure
                )
                if cookies:
                    headers = list(message.get("headers") or ())
                    headers.extend((b"set-cookie", value.encode("latin-1")) for value in cookies)
                    message = {**message, "headers": headers}
            await send(message)

        identity = identity_for(visit, self._user_id(scope))
        with bound_identity(identity, visitor if identity.device_id is None else None):
            await self.app(scope, receive, send_with_cookies)


class WSGIMiddleware(_VisitorMiddleware["WSGIApp", dict[str, Any]]):
    """Per-visitor identity for any WSGI app (Flask, Django WSGI, Bottle, Falcon).

    The same as :class:`ASGIMiddleware`, with ``user_id`` given the WSGI ``environ``. A new
    visitor who tracks something costs one round trip to the API, once: the device is
    initialized on a thread of its own while the handler runs, and ``start_response`` waits
    for it (``device_wait`` at most) to set the cookie. The response body is iterated with
    the request's identity too.

    Example::

        app = Flask(__name__)
        app.wsgi_app = WSGIMiddleware(app.wsgi_app, user_id=lambda env: env.get("REMOTE_USER"))
    """

    def _use_header(self, name: str) -> None:
        self._environ_key = "HTTP_" + name.upper().replace("-", "_")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if self.visitors.excluded(path):
            return self.app(environ, start_response)
        visitors = self.visitors
        visit = visitors.read(
            header=environ.get(self._environ_key),
            cookie_header=environ.get("HTTP_COOKIE"),
            query=environ.get("QUERY_STRING", ""),
        )
        visitor = None if visit.device_id is not None else VisitorDevice(client=self.client)
        secure = environ.get("wsgi.url_scheme") == "https"

        def start_with_cookies(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            device_id = self._waits.wait_for(visitor)
            cookies = visitors.set_cookie_values(device_id=device_id, visit=visit, secure=secure)
            if cookies:
                headers = [*headers, *(("Set-Cookie", value) for value in cookies)]
            return start_response(status, headers, *exc)

        identity = identity_for(visit, self._user_id(environ))
        if identity.device_id is not None:
            visitor = None
        with bound_identity(identity, visitor):
            body = self.app(environ, start_with_cookies)
        return _BodyWithIdentity(body, identity, visitor)


class _BodyWithIdentity:
    """A WSGI response body iterated (and closed) with the request's identity."""

    def __init__(
        self, body: Iterable[bytes], identity: Identity, visitor: VisitorDevice | None
    ) -> None:
        self._body = body
        self._identity = identity
        self._visitor = visitor

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._body)
        while True:
            with bound_identity(self._identity, self._visitor):
                try:
                    chunk = next(chunks)
                except StopIteration:
                    return
            yield chunk

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            with bound_identity(self._identity, self._visitor):
                close()
