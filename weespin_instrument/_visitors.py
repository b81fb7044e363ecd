"""Recognizing a web visitor and remembering them: what the web and Django middlewares share.

Pure decisions, no framework: what a request says about its visitor (:class:`Visit`, read by
:class:`Visitors` from a header, the ``Cookie`` header and the query), the cookies a response
sets, how long a response waits for a new visitor's device (:class:`DeviceWaits`), and the
request's identity over what an enclosing ``identify()`` set (:func:`identity_for`). The
middlewares (:mod:`weespin_instrument.web`, :mod:`weespin_instrument.django`) only read their
framework's request and write its response.

Example::

    visitors = Visitors(exclude_paths=("/healthz",))
    visit = visitors.read(header=None, cookie_header="weespin_device_id=ws_1", query="link_id=l_9")
    identity_for(visit, user_id="u_42")  # Identity(user_id='u_42', link_id='l_9', device_id='ws_1')
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ._context import Identity, current_identity
from ._reporting import logger

if TYPE_CHECKING:
    from .devices import VisitorDevice

__all__ = [
    "DEFAULT_MAX_AGE",
    "DeviceWaits",
    "SafeUserId",
    "Visit",
    "Visitors",
    "identity_for",
    "parse_cookies",
]

#: Two years: the visitor keeps the device across sessions.
DEFAULT_MAX_AGE = 2 * 365 * 24 * 3600
#: What an id from a header, a cookie or a link may be: cookie-safe, bounded.
_SAFE_ID = re.compile(r"[A-Za-z0-9_.:~-]{1,200}")


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


class SafeUserId:
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
