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

from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ._context import Identity, bound_identity
from ._visitors import DEFAULT_MAX_AGE, DeviceWaits, SafeUserId, Visitors, identity_for
from .devices import VisitorDevice

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["ASGIMiddleware", "WSGIMiddleware", "preload"]

# The ASGI and WSGI callables, as their specifications describe them.
_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]
_ASGIApp = Callable[[_Scope, _Receive, _Send], Awaitable[None]]
_StartResponse = Callable[..., Any]
_WSGIApp = Callable[[dict[str, Any], _StartResponse], Iterable[bytes]]


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
    import contextlib
    import importlib
    import sys
    import urllib.request

    import httpx  # noqa: F401  (the import is the point)

    from .transports import _background, _engine, _engines  # noqa: F401

    with contextlib.suppress(ImportError):  # without httptools aiohttp serves: loaded below
        importlib.import_module(_engines.LEAN)
    if urllib.request.getproxies() or _engines.LEAN not in sys.modules:
        importlib.import_module(_engines.AIOHTTP)  # a proxy: aiohttp's engine sends


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
        self._user_id = SafeUserId(user_id, type(self).__name__)
        self._waits = DeviceWaits(device_wait)
        self._use_header(device_header)

    def _use_header(self, name: str) -> None:
        raise NotImplementedError


class ASGIMiddleware(_VisitorMiddleware["_ASGIApp", "_Scope"]):
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

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
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

        async def send_with_cookies(message: _Message) -> None:
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


class WSGIMiddleware(_VisitorMiddleware["_WSGIApp", dict[str, Any]]):
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

    def __call__(self, environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
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
