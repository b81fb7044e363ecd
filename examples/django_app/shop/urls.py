"""URLs of the example shop."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("checkout", views.checkout),
    path("cart", views.add_to_cart),
    path("about", views.about),
    path("healthz", views.healthz),
]
