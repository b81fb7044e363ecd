"""Per-visitor identity for Django: one line in ``MIDDLEWARE``, settings in ``WEESPIN``.

Add it after Django's ``AuthenticationMiddleware`` (so ``request.user`` is known)::

    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "weespin_instrument.django.WeespinMiddleware",
    ]

    WEESPIN = {                                  # all optional
        "USER_ID": lambda request: request.headers.get("X-User"),
        "DEVICE_COOKIE": "weespin_device_id",
        "DEVICE_HEADER": "X-Weespin-Device-Id",
        "LINK_PARAM": "link_id",
        "LINK_COOKIE": "weespin_link_id",        # None: the link is not kept for the visit
        "EXCLUDE_PATHS": ["/healthz", "/static/"],
    }

Every view (sync or async) then runs with the visitor's identity, exactly as
:class:`weespin_instrument.web.ASGIMiddleware` gives it (see :mod:`weespin_instrument.web`).
``USER_ID`` takes the request; by default it is ``request.user.pk`` when the user is
authenticated (``request.auser()`` in async views). The other cookie settings are
``COOKIE_MAX_AGE``, ``COOKIE_PATH``, ``COOKIE_DOMAIN``, ``COOKIE_SAMESITE``,
``COOKIE_HTTPONLY``, ``COOKIE_SECURE`` (``None``: on https) and ``DEVICE_WAIT``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from ._context import bound_identity
from ._reporting import logger
from ._visitors import DEFAULT_MAX_AGE, DeviceWaits, SafeUserId, Visit, Visitors, identity_for
from .devices import VisitorDevice

__all__ = ["WeespinMiddleware"]

#: ``WEESPIN`` keys and the :class:`~weespin_instrument._visitors.Visitors` field each sets.
_SETTINGS = {
    "DEVICE_COOKIE": "device_cookie",
    "DEVICE_HEADER": "device_header",
    "LINK_PARAM": "link_param",
    "LINK_COOKIE": "link_cookie",
    "EXCLUDE_PATHS": "exclude_paths",
    "COOKIE_MAX_AGE": "cookie_max_age",
    "COOKIE_PATH": "cookie_path",
    "COOKIE_DOMAIN": "cookie_domain",
    "COOKIE_SAMESITE": "cookie_samesite",
    "COOKIE_HTTPONLY": "cookie_httponly",
    "COOKIE_SECURE": "cookie_secure",
    "DEVICE_WAIT": "device_wait",
}


def _configuration() -> tuple[Visitors, Callable[[Any], object] | None]:
    conf = getattr(settings, "WEESPIN", None) or {}
    if not isinstance(conf, dict):
        raise ImproperlyConfigured(
            "settings.WEESPIN must be a dict, e.g. WEESPIN = {'USER_ID': f}."
        )
    unknown = set(conf) - set(_SETTINGS) - {"USER_ID"}
    if unknown:
        known = ", ".join(sorted([*_SETTINGS, "USER_ID"]))
        raise ImproperlyConfigured(
            f"settings.WEESPIN: unknown key(s) {', '.join(sorted(unknown))}; known keys: {known}."
        )
    options = {_SETTINGS[key]: value for key, value in conf.items() if key in _SETTINGS}
    options["exclude_paths"] = tuple(options.get("exclude_paths") or ())
    options.setdefault("cookie_max_age", DEFAULT_MAX_AGE)
    try:
        visitors = Visitors(**options)
    except TypeError as exc:
        raise ImproperlyConfigured(f"settings.WEESPIN: {exc}") from None
    user_id = conf.get("USER_ID")
    if user_id is not None and not callable(user_id):
        raise ImproperlyConfigured(
            "settings.WEESPIN['USER_ID'] must be a callable taking the request and returning "
            "a str or None."
        )
    return visitors, user_id


def _authenticated_user_id(request: Any) -> str | None:
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return str(user.pk)


async def _authenticated_user_id_async(request: Any) -> str | None:
    auser = getattr(request, "auser", None)
    if auser is None:
        return _authenticated_user_id(request)
    try:
        user = await auser()
    except Exception as exc:  # the app's code never pays for ours
        logger.warning("weespin: reading request.auser() failed (%s); no user id", exc)
        return None
    return str(user.pk) if getattr(user, "is_authenticated", False) else None


class WeespinMiddleware:
    """Give each request its visitor's identity (device, user, link); see the module doc.

    Sync and async: Django runs it in whichever mode the rest of the stack is in.

    Example::

        MIDDLEWARE = [..., "weespin_instrument.django.WeespinMiddleware"]
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.visitors, self._given_user_id = _configuration()
        self._user_id = SafeUserId(
            self._given_user_id or _authenticated_user_id, "WeespinMiddleware"
        )
        self._waits = DeviceWaits(self.visitors.device_wait)
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self._call_async(request)
        visit = self._read(request)
        if visit is None:
            return self.get_response(request)
        identity = identity_for(visit, self._user_id(request))
        visitor = VisitorDevice() if identity.device_id is None else None
        with bound_identity(identity, visitor):
            response = self.get_response(request)
        device_id = self._waits.wait_for(visitor)
        self._set_cookies(response, request, visit, device_id)
        return response

    async def _call_async(self, request: HttpRequest) -> Any:
        import asyncio

        visit = self._read(request)
        if visit is None:
            return await self.get_response(request)
        if self._given_user_id is None:
            user = await _authenticated_user_id_async(request)
        else:
            user = self._user_id(request)
        identity = identity_for(visit, user)
        visitor = None
        if identity.device_id is None:
            visitor = VisitorDevice(loop=asyncio.get_running_loop())
        with bound_identity(identity, visitor):
            response = await self.get_response(request)
        device_id = await self._waits.wait_for_async(visitor)
        self._set_cookies(response, request, visit, device_id)
        return response

    def _read(self, request: HttpRequest) -> Visit | None:
        visitors = self.visitors
        if visitors.excluded(request.path_info):
            return None
        return visitors.read(
            header=request.headers.get(visitors.device_header),
            cookie_header=request.headers.get("Cookie"),
            query=request.META.get("QUERY_STRING", ""),
        )

    def _set_cookies(
        self, response: Any, request: HttpRequest, visit: Visit, device_id: str | None
    ) -> None:
        visitors = self.visitors
        for name, value, max_age in visitors.cookies_to_set(device_id=device_id, visit=visit):
            response.set_cookie(
                name,
                value,
                max_age=max_age,
                path=visitors.cookie_path,
                domain=visitors.cookie_domain,
                secure=visitors.secure(request.is_secure()),
                httponly=visitors.cookie_httponly,
                samesite=visitors.cookie_samesite,
            )
