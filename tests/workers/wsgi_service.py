"""A small WSGI service as people deploy them, for the prefork-server tests (gunicorn).

Configured from the environment at import: ``WEESPIN_API_KEY``, ``WEESPIN_BASE_URL`` and
``SERVICE_DEVICE_FILE`` (the FileDeviceStore the workers share).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

import weespin_instrument as weespin
from weespin_instrument.web import WSGIMiddleware, preload

weespin.configure(device_store=weespin.FileDeviceStore(os.environ["SERVICE_DEVICE_FILE"]))
preload()  # with --preload: the HTTP engine is imported once, in the master


def service(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/checkout":
        weespin.track("purchase", {"amount": 19.99, "pid": os.getpid()})
    elif path == "/internal/job":  # excluded from visitor identity: the service's device
        weespin.track("job_done", {"n": int(query.get("n", ["0"])[0]), "pid": os.getpid()})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]


app = WSGIMiddleware(
    service,
    user_id=lambda environ: environ.get("HTTP_X_USER"),
    exclude_paths=["/internal"],
)
