"""A minimal Django site for the middleware tests: settings, views, URLs in one module."""

from __future__ import annotations

from typing import Any

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

import weespin_instrument as weespin
from weespin_instrument.context import current_identity


def _identity() -> JsonResponse:
    identity = current_identity()
    return JsonResponse({"user_id": identity.user_id, "link_id": identity.link_id})


def checkout(request: HttpRequest) -> JsonResponse:
    weespin.track("add_to_cart", {"sku": "A1"})
    weespin.track("purchase", {"amount": 19.99})
    return _identity()


async def checkout_async(request: HttpRequest) -> JsonResponse:
    weespin.track("add_to_cart", {"sku": "A1"})
    weespin.track("purchase", {"amount": 19.99})
    return _identity()


def browse(request: HttpRequest) -> HttpResponse:
    return HttpResponse("nothing tracked")


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


class FakeUser:
    is_authenticated = True

    def __init__(self, pk: int) -> None:
        self.pk = pk


def fake_auth(get_response: Any) -> Any:
    """Stands in for AuthenticationMiddleware: ``X-Login: <pk>`` logs the user in."""

    def middleware(request: HttpRequest) -> Any:
        login = request.headers.get("X-Login")
        request.user = FakeUser(int(login)) if login else None  # type: ignore[assignment]
        return get_response(request)

    return middleware


urlpatterns = [
    path("checkout", checkout),
    path("checkout-async", checkout_async),
    path("browse", browse),
    path("healthz", healthz),
]


def setup() -> None:
    """Configure Django once for this process (tests only)."""
    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[f"{__name__}.fake_auth", "weespin_instrument.django.WeespinMiddleware"],
        INSTALLED_APPS=[],
        DATABASES={},
        WEESPIN={"EXCLUDE_PATHS": ["/healthz"]},
    )
    django.setup()
