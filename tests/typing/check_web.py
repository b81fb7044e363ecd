"""Type-checked by mypy --strict (not run): the web middlewares as applications wire them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette

from weespin_instrument.web import ASGIMiddleware, WSGIMiddleware


def user_of(scope: Any) -> str | None:
    return None


fastapi_app = FastAPI()
fastapi_app.add_middleware(ASGIMiddleware, user_id=user_of, exclude_paths=["/healthz"])

starlette_app = ASGIMiddleware(Starlette(), link_param=None, device_wait=1.0)

flask_app = Flask(__name__)
flask_app.wsgi_app = WSGIMiddleware(flask_app.wsgi_app, cookie_secure=True)  # type: ignore[method-assign]
