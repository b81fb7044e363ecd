"""Settings of the example shop: the Weespin lines are MIDDLEWARE's last and WEESPIN."""

from __future__ import annotations

SECRET_KEY = "example-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True

MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "weespin_instrument.django.WeespinMiddleware",  # the one line
]

WEESPIN = {
    # Who is logged in; by default request.user.pk when authenticated (after
    # django.contrib.auth's AuthenticationMiddleware). A header keeps this example small.
    "USER_ID": lambda request: request.headers.get("X-User"),
    "EXCLUDE_PATHS": ["/healthz"],
}
