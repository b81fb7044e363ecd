"""``weespin-instrument send`` and ``doctor``: talk to the API the way the library does."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TextIO

from ._api import WeespinAPI
from ._client import Client
from ._config import ENV_API_KEY, ENV_BASE_URL, Settings
from .errors import ConfigurationError, WeespinError

__all__ = ["parse_field", "run_doctor", "send_one"]


def parse_field(text: str) -> tuple[str, object]:
    """``key=value`` from the command line: JSON numbers and booleans, else a string.

    >>> parse_field("amount=19.99")
    ('amount', 19.99)
    >>> parse_field("currency=EUR")
    ('currency', 'EUR')
    """
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ValueError(f"{text!r} is not key=value (e.g. amount=19.99 or plan=pro)")
    try:
        value = json.loads(raw)
    except ValueError:
        return key, raw
    if isinstance(value, (bool, int, float)) or value is None:
        return key, value
    return key, raw


def send_one(
    settings: Settings,
    name: str,
    payload: dict[str, object],
    *,
    user_id: str | None,
    link_id: str | None,
    out: TextIO,
) -> int:
    """Send one event synchronously through the full pipeline; print what happened."""
    client = Client(settings=Settings.resolve({}, **_as_options(settings, transport="sync")))
    event = client.track(name, payload, user_id=user_id, link_id=link_id)
    stats = client.stats()
    client.shutdown(timeout=settings.timeout)
    if event is not None and stats.sent == 1:
        out.write(f"sent {name!r} event_id={event.event_id} to {settings.base_url}\n")
        return 0
    reason = ", ".join(stats.dropped) or "unknown"
    out.write(f"not sent ({reason}): {stats.last_error or 'see the log above'}\n")
    return 1


def _as_options(settings: Settings, **overrides: object) -> dict[str, object]:
    names = ("api_key", "base_url", "init_path", "events_path", "timeout", "max_attempts")
    options: dict[str, object] = {name: getattr(settings, name) for name in names}
    options.update(overrides)
    return options


def run_doctor(settings: Settings, out: TextIO) -> int:
    """Check the configuration, then device initialization and one test event, step by step."""
    state: dict[str, str] = {}

    def configuration() -> str:
        if not settings.api_key:
            raise ConfigurationError(f"no API key: set {ENV_API_KEY} or pass --api-key")
        return (
            f"base_url={settings.base_url} ({ENV_BASE_URL}), api_key={settings.key_hint}, "
            f"transport={settings.transport!r}, strict={settings.strict}, "
            f"disabled={settings.disabled}"
        )

    def device() -> str:
        api = WeespinAPI(Settings.resolve({}, **_as_options(settings, max_attempts=1)))
        try:
            state["device_id"] = api.initialize_device()
        finally:
            api.close()
        return f"POST {settings.init_path} gave device {state['device_id']}"

    def test_event() -> str:
        api = WeespinAPI(Settings.resolve({}, **_as_options(settings, max_attempts=1)))
        body = {
            "event_name": "weespin_doctor",
            "device_id": state["device_id"],
            "payload": {"check": "doctor"},
        }
        try:
            api.send_event(body)
        finally:
            api.close()
        return f"POST {settings.events_path} accepted a 'weespin_doctor' event"

    checks: list[tuple[str, Callable[[], str]]] = [
        ("configuration", configuration),
        ("device initialization", device),
        ("test event", test_event),
    ]
    for title, check in checks:
        try:
            detail = check()
        except WeespinError as exc:
            out.write(f"FAIL {title}: {exc}\n")
            return 1
        out.write(f"ok   {title}: {detail}\n")
    out.write("everything works: events will reach Weespin\n")
    return 0
