"""Views of the example shop: a sync view, an async one, and two that track nothing."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

import weespin_instrument as weespin


@weespin.track_event("purchase", payload_from={"amount": "request.GET.total"})
def checkout(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"paid": request.GET.get("total")})


async def add_to_cart(request: HttpRequest) -> JsonResponse:
    weespin.track("add_to_cart", {"sku": request.GET.get("sku", "")})
    return JsonResponse({"added": request.GET.get("sku")})


def about(request: HttpRequest) -> HttpResponse:
    return HttpResponse("nothing tracked here")


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")
