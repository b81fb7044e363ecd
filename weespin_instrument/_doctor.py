"""``weespin-instrument send`` and ``doctor``: talk to the API the way the library does.

The decisions are pure functions (:func:`parse_field`); the two
commands print what they decided, so nothing about a value's type or a setting's origin is
left to guessing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import NamedTuple, TextIO

from ._client import Client
from ._config import ENV_API_KEY, ENV_BASE_URL, Settings
from ._guard import blocked_reason, is_local_url
from .errors import AuthenticationError, ConfigurationError, RejectedError, WeespinError
from .transports._protocol import encode_body
from .transports._sync_client import SyncAPI

__all__ = ["TYPE_SUFFIXES", "Field", "parse_field", "run_doctor", "send_one"]

#: ``key:TYPE=value`` forces a type; without a suffix the value's shape decides.
TYPE_SUFFIXES = ("str", "int", "float", "bool")

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")
_EXPONENT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]+")
_LEADING_ZERO = re.compile(r"-?0[0-9]+(?:\.[0-9]+)?")
_NOT_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_BOOLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


class Field(NamedTuple):
    """One ``key=value`` of ``send``: the value as typed, and a note when the rule may surprise.

    Example::

        parse_field("amount=019")
        # Field(key='amount', value='019', type='str', note='a leading zero keeps it text ...')
    """

    key: str
    value: str | int | float | bool | None
    type: str
    note: str = ""

    def describe(self) -> str:
        """One line for the terminal: ``amount = 19.99  (float)``."""
        shown = repr(self.value)
        note = f": {self.note}" if self.note else ""
        return f"  {self.key} = {shown}  ({self.type}{note})"


def parse_field(text: str) -> Field:
    """``key=value`` (or ``key:TYPE=value``) from the command line, typed as documented.

    Without a suffix: ``true``/``false`` are booleans, ``42`` an int, ``19.99`` a float,
    ``1e3`` a float (noted), ``019`` stays the string ``"019"`` (noted, so zip codes and ids
    keep their zeros), ``null`` leaves the key out, anything else is a string.

    >>> parse_field("amount=19.99").value
    19.99
    >>> parse_field("currency=EUR").value
    'EUR'
    >>> parse_field("zip:int=019").value
    19
    """
    spec, sep, raw = text.partition("=")
    key, colon, forced = spec.partition(":")
    if not sep or not key:
        raise ValueError(f"{text!r} is not key=value (e.g. amount=19.99 or plan=pro)")
    if colon:
        return _forced(key, forced, raw)
    if raw in ("true", "false"):
        return Field(key, raw == "true", "bool")
    if _INT.fullmatch(raw):
        return Field(key, int(raw), "int")
    if _DECIMAL.fullmatch(raw):
        return Field(key, float(raw), "float")
    if _EXPONENT.fullmatch(raw):
        return Field(
            key,
            float(raw),
            "float",
            f"exponent notation is a float; write {key}:int={int(float(raw))} for an integer "
            f"or {key}:str={raw} for text",
        )
    if _LEADING_ZERO.fullmatch(raw):
        return Field(
            key,
            raw,
            "str",
            f"a leading zero keeps it text (codes like zip=019 keep their zeros); "
            f"write {key}:int={raw} or {key}:float={raw} for a number",
        )
    if raw in _NOT_FINITE:
        return Field(key, _NOT_FINITE[raw], "float", "not a finite number: the API refuses it")
    if raw == "null":
        return Field(key, None, "null", "the key is left out of the payload")
    return Field(key, raw, "str")


def _forced(key: str, type_name: str, raw: str) -> Field:
    where = f"{key}:{type_name}={raw}"
    try:
        if type_name == "str":
            return Field(key, raw, "str", "forced")
        if type_name == "int":
            return Field(key, int(raw, 10), "int", "forced")
        if type_name == "float":
            return Field(key, float(raw), "float", "forced")
        if type_name == "bool" and raw.lower() in _BOOLS:
            return Field(key, _BOOLS[raw.lower()], "bool", "forced")
    except ValueError:
        pass
    if type_name not in TYPE_SUFFIXES:
        raise ValueError(
            f"{where!r}: unknown type suffix {type_name!r}; use one of "
            + ", ".join(f":{name}" for name in TYPE_SUFFIXES)
        )
    raise ValueError(f"{where!r}: {raw!r} is not a valid {type_name}")


def send_one(
    settings: Settings,
    name: str,
    fields: list[Field],
    *,
    user_id: str | None,
    link_id: str | None,
    out: TextIO,
) -> int:
    """Send one event synchronously through the full pipeline; print what happened.

    Prints how each value was typed, then the outcome, then which keys were redacted.
    """
    payload = {field.key: field.value for field in fields}
    if fields:
        out.write("payload (force a type with key:str=, key:int=, key:float=, key:bool=):\n")
        out.writelines(field.describe() + "\n" for field in fields)
    client = Client(settings=Settings.resolve({}, **_as_options(settings, transport="sync")))
    event = client.track(name, payload, user_id=user_id, link_id=link_id)
    stats = client.stats()
    client.shutdown(timeout=settings.timeout)
    if event is None or stats.sent != 1:
        reason = ", ".join(stats.dropped) or "unknown"
        out.write(f"not sent ({reason}): {stats.last_error or 'see the log above'}\n")
        return 1
    out.write(f"sent {name!r} event_id={event.event_id} to {settings.base_url}\n")
    if is_local_url(settings.base_url):
        out.write(f"see it: weespin-instrument events, or {settings.base_url.rstrip('/')}/\n")
    changed = [key for key, value in payload.items() if event.payload.get(key, value) != value]
    if changed:
        stored = ", ".join(f"{key}={event.payload.get(key, '(left out)')!r}" for key in changed)
        out.write(
            f"redacted (sensitive data, policy {settings.sensitive_data!r}): stored as {stored}\n"
        )
    return 0


def _as_options(settings: Settings, **overrides: object) -> dict[str, object]:
    names = ("api_key", "base_url", "init_path", "events_path", "timeout", "max_attempts")
    options: dict[str, object] = {name: getattr(settings, name) for name in names}
    options.update(overrides)
    return options


class _Failed(Exception):
    """A doctor step failed: ``str()`` says what, ``fix`` says what to do."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.fix = fix


def _probe_collector(base_url: str, timeout: float) -> bool:
    """Whether ``base_url`` is a local Weespin collector (it answers its query API).

    Raises :class:`_Failed` with the fix when nothing answers there.
    """
    import httpx

    if blocked_reason(base_url) is not None:  # inside a test run, like every client
        raise _Failed(
            f"not contacted: the weespin pytest plugin keeps test runs off {base_url} "
            "(not this machine)",
            "point --base-url at a local collector, or run pytest with --weespin-allow-network",
        )
    try:
        response = httpx.get(base_url.rstrip("/") + "/api/events?limit=1", timeout=timeout)
    except httpx.HTTPError as exc:
        if is_local_url(base_url):
            fix = (
                "start the local collector in another terminal: weespin-instrument collector "
                f"(or check the port in {ENV_BASE_URL} / --base-url)"
            )
        else:
            fix = (
                f"check the URL ({ENV_BASE_URL} / --base-url; the Weespin API is "
                "https://developer.weespin.io) and this machine's network"
            )
        raise _Failed(f"cannot connect to {base_url}: {type(exc).__name__}: {exc}", fix) from None
    if response.status_code not in (200, 401):  # 401: a collector that guards its query API
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and ("events" in body or body.get("error") == "unauthorized")


def run_doctor(
    settings: Settings,
    out: TextIO,
    *,
    sources: Mapping[str, str] | None = None,
    send_test_event: bool = False,
) -> int:
    """Check the configuration, the server, device initialization and (on request) an event.

    ``sources`` says where each setting came from (``{"base_url": "--base-url"}``); every
    failure is printed with the fix.
    """
    origin = dict(sources or {})
    state: dict[str, object] = {}

    def configuration() -> str:
        if not settings.api_key:
            raise _Failed(
                "no API key",
                f"export {ENV_API_KEY}=<your key> or pass --api-key / --api-key-file "
                f"(a local collector accepts any non-empty value: export {ENV_API_KEY}=dev)",
            )
        return (
            f"base_url={settings.base_url} (from {origin.get('base_url', 'default')}), "
            f"api_key={settings.key_hint} (from {origin.get('api_key', ENV_API_KEY)}), "
            f"transport={settings.transport!r}, strict={settings.strict}, "
            f"disabled={settings.disabled}"
        )

    def server() -> str:
        local = _probe_collector(settings.base_url, settings.timeout)
        state["local"] = local
        if local:
            return (
                f"{settings.base_url} is a local Weespin collector (development): events stay "
                f"in its database and never reach Weespin; see them at {settings.base_url}/"
            )
        return f"{settings.base_url} answers (not a local collector)"

    def device() -> str:
        api = SyncAPI(settings)  # one attempt: a doctor reports, it does not retry
        try:
            state["device_id"] = api.initialize_device()
        except AuthenticationError as exc:
            fix = (
                "use the key the collector was started with (its --api-key)"
                if state.get("local")
                else f"check {ENV_API_KEY}: it must be this application's key from the "
                "Weespin dashboard (Application -> Configuration -> Integration)"
            )
            raise _Failed(str(exc), fix) from None
        except RejectedError as exc:
            raise _Failed(
                str(exc), f"check the URL ({ENV_BASE_URL} / --base-url) and init_path"
            ) from None
        except WeespinError as exc:
            raise _Failed(str(exc), f"check the URL ({ENV_BASE_URL} / --base-url)") from None
        finally:
            api.close()
        return f"POST {settings.init_path} gave device {state['device_id']}"

    def test_event() -> str:
        if not send_test_event:
            return "not sent (pass --send-test-event to post a 'weespin_doctor' event)"
        api = SyncAPI(settings)
        body = {
            "event_name": "weespin_doctor",
            "device_id": state["device_id"],
            "payload": {"check": "doctor"},
        }
        try:
            api.send_event(encode_body(body))
        except WeespinError as exc:
            raise _Failed(str(exc), "check the URL, events_path and the key") from None
        finally:
            api.close()
        return f"POST {settings.events_path} accepted a 'weespin_doctor' event"

    checks: list[tuple[str, Callable[[], str]]] = [
        ("configuration", configuration),
        ("server", server),
        ("device initialization", device),
        ("test event", test_event),
    ]
    for title, check in checks:
        try:
            detail = check()
        except (_Failed, ConfigurationError) as exc:
            out.write(f"FAIL {title}: {exc}\n")
            fix = getattr(exc, "fix", f"check the settings ({ENV_API_KEY}, {ENV_BASE_URL})")
            out.write(f"     fix: {fix}\n")
            return 1
        out.write(f"ok   {title}: {detail}\n")
    where = (
        f"the local collector at {settings.base_url} (weespin-instrument events, or the page "
        f"at {settings.base_url}/)"
        if state.get("local")
        else f"Weespin at {settings.base_url}"
    )
    out.write(f"everything works: events will reach {where}\n")
    return 0
