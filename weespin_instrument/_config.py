"""Settings: explicit arguments first, then environment variables, then defaults."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypedDict

from .errors import ConfigurationError, key_suffix

if TYPE_CHECKING:
    from ._device import DeviceStore
    from ._reporting import DroppedEvent
    from .transports import Transport

__all__ = ["DEFAULT_BASE_URL", "OverflowPolicy", "SensitiveDataPolicy", "Settings"]

DEFAULT_BASE_URL = "https://developer.weespin.io"
SensitiveDataPolicy = Literal["redact", "drop_event", "raise", "off"]
_SENSITIVE_POLICIES = ("redact", "drop_event", "raise", "off")
#: What the background transport does with a new event when its queue is full.
OverflowPolicy = Literal["drop_newest", "drop_oldest", "block"]
_OVERFLOW_POLICIES = ("drop_newest", "drop_oldest", "block")
#: The transports a name selects (``configure(transport="sync")``, ``WEESPIN_TRANSPORT``).
TRANSPORT_NAMES = ("background", "sync", "console", "memory", "none")

#: Environment variables, documented in README.md's table.
ENV_API_KEY = "WEESPIN_API_KEY"
ENV_BASE_URL = "WEESPIN_BASE_URL"
ENV_DISABLED = "WEESPIN_DISABLED"
ENV_STRICT = "WEESPIN_STRICT"
ENV_TRANSPORT = "WEESPIN_TRANSPORT"
ENV_OUTBOX = "WEESPIN_OUTBOX"
ENV_ALLOW_INSECURE_HTTP = "WEESPIN_ALLOW_INSECURE_HTTP"

#: Hosts a plain ``http://`` base URL may name without ``allow_insecure_http``.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _env_flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigurationError(
        f"{name}={raw!r} is not a boolean. Use 1/0, true/false, yes/no or on/off."
    )


class Options(TypedDict, total=False):
    """The keyword arguments of ``configure()`` and ``Client()``, one per setting.

    Each is optional: left out (or ``None``) means from the environment, then the default.
    See :class:`Settings` for what each one does.
    """

    api_key: str | None
    base_url: str | None
    transport: str | Transport | None
    strict: bool | None
    disabled: bool | None
    device_id: str | None
    device_store: DeviceStore | None
    sensitive_data: SensitiveDataPolicy | None
    send_metadata: bool | None
    trace_correlation: bool | None
    on_error: Callable[[DroppedEvent], object] | None
    timeout: float | None
    max_attempts: int | None
    max_retry_time: float | None
    max_backoff: float | None
    init_path: str | None
    events_path: str | None
    max_queue: int | None
    overflow: OverflowPolicy | None
    block_timeout: float | None
    max_in_flight: int | None
    outbox: str | os.PathLike[str] | None
    exit_timeout: float | None
    allow_insecure_http: bool | None
    sensitive_keys: Iterable[str] | None
    sensitive_patterns: Iterable[str | re.Pattern[str]] | None


#: Settings left out of ``repr()``: the key is shown by its suffix, the hook is noise.
_HIDDEN = frozenset({"api_key", "on_error"})


class Settings(NamedTuple):
    """Everything a client needs, resolved once. Build it with :meth:`resolve`.

    ``repr()`` shows only the last 4 characters of the API key. Immutable: derive a variant
    with ``settings._replace(strict=True)``.

    Example::

        settings = Settings.resolve(api_key="wsk_123456789", strict=True)
        settings.base_url  # 'https://developer.weespin.io' unless WEESPIN_BASE_URL is set
    """

    api_key: str | None = None
    base_url: str = DEFAULT_BASE_URL
    init_path: str = "/initialize-device"
    events_path: str = "/events"
    #: Seconds one request may take in all: connect, send, and the whole response.
    timeout: float = 10.0
    #: Attempts per request, the first included, for transient failures only.
    max_attempts: int = 20
    #: Upper bound on the time spent retrying one request, in seconds.
    max_retry_time: float = 30.0
    #: Upper bound on one wait between attempts (also caps ``Retry-After``), in seconds.
    max_backoff: float = 10.0
    disabled: bool = False
    strict: bool = False
    transport: str | Transport = "background"
    device_id: str | None = None
    device_store: DeviceStore | None = None
    sensitive_data: SensitiveDataPolicy = "redact"
    #: Send ``event_id``/``timestamp``/trace ids, which the API docs do not name.
    send_metadata: bool = True
    #: Attach the active OpenTelemetry span's ids to events.
    trace_correlation: bool = True
    on_error: Callable[[DroppedEvent], object] | None = None
    #: Background transport: events held at most (queued, waiting for a retry, in flight).
    #: Room for a cold burst while the sender starts; at most ~45 MB of small events.
    max_queue: int = 100_000
    #: Background transport, queue full: ``drop_newest``, ``drop_oldest`` or ``block``.
    overflow: OverflowPolicy = "drop_newest"
    #: With ``overflow="block"``: seconds a caller waits for room before dropping its event.
    block_timeout: float = 1.0
    #: Background transport: requests in flight at once. ``None``: follow the round trip
    #: (16 to 256, see ``transports/_concurrency.py``); a number: exactly that many at most.
    max_in_flight: int | None = None
    #: Background transport: a SQLite file where each event is committed before ``send()``
    #: returns and kept until the API accepted it (durable, opt-in).
    outbox: str | None = None
    #: Seconds the exit hook waits for queued events before reporting them as not delivered.
    exit_timeout: float = 5.0
    #: Allow a plain ``http://`` base URL to a host that is not loopback (the key and the
    #: events then travel in clear).
    allow_insecure_http: bool = False
    #: Extra key words the sensitive-data guard treats as sensitive (``["iban", "tax_id"]``).
    sensitive_keys: tuple[str, ...] = ()
    #: Extra regular expressions whose matches in string values are sensitive.
    sensitive_patterns: tuple[str | re.Pattern[str], ...] = ()

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self._fields if name not in _HIDDEN
        )
        return f"Settings(api_key={key_suffix(self.api_key)!r}, {fields})"

    @property
    def key_hint(self) -> str:
        """The API key as it may be shown: its last 4 characters at most."""
        return key_suffix(self.api_key)

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Settings:
        """Settings from ``options`` (``None`` means "not given"), the environment, defaults.

        Raises :class:`ConfigurationError` naming the bad option and how to fix it.
        """
        env = os.environ if environ is None else environ
        given = {k: v for k, v in options.items() if v is not None}
        unknown = set(given) - set(cls._fields)
        if unknown:
            names = ", ".join(sorted(unknown))
            valid = ", ".join(cls._fields)
            raise ConfigurationError(f"unknown setting(s): {names}. Valid settings: {valid}.")
        given.setdefault("api_key", env.get(ENV_API_KEY) or None)
        if isinstance(given["api_key"], str):
            given["api_key"] = given["api_key"].strip() or None
        given.setdefault("base_url", env.get(ENV_BASE_URL, "").strip() or DEFAULT_BASE_URL)
        for name, variable in (
            ("disabled", ENV_DISABLED),
            ("strict", ENV_STRICT),
            ("allow_insecure_http", ENV_ALLOW_INSECURE_HTTP),
        ):
            if name not in given:
                given[name] = _env_flag(env, variable)
        if "transport" not in given and env.get(ENV_TRANSPORT, "").strip():
            given["transport"] = env[ENV_TRANSPORT].strip()
            if given["transport"] not in TRANSPORT_NAMES:
                names = ", ".join(repr(n) for n in TRANSPORT_NAMES)
                raise ConfigurationError(
                    f"{ENV_TRANSPORT}={given['transport']!r} is not a transport; use one of "
                    f"{names}."
                )
        if "outbox" in given:
            given["outbox"] = os.fspath(given["outbox"])
        elif env.get(ENV_OUTBOX, "").strip():
            given["outbox"] = env[ENV_OUTBOX].strip()
        for name in ("sensitive_keys", "sensitive_patterns"):
            if name in given:
                given[name] = _as_tuple(name, given[name])
        settings = cls(**{k: v for k, v in given.items() if v is not None})
        settings._check()
        return settings

    @classmethod
    def resolve_lazily(
        cls, environ: Mapping[str, str] | None = None, **options: Any
    ) -> tuple[Settings, ConfigurationError | None]:
        """Like :meth:`resolve`, but a bad environment does not raise: it is returned.

        Bad explicit ``options`` still raise (that is the caller's own code, at start-up).
        When the environment is bad, the settings returned are those of the options alone,
        with ``strict`` as the environment says when it says it clearly.

        Example::

            settings, problem = Settings.resolve_lazily({"WEESPIN_STRICT": "maybe"})
            problem  # ConfigurationError("WEESPIN_STRICT='maybe' is not a boolean. ...")
        """
        env = os.environ if environ is None else environ
        alone = cls.resolve({}, **options)
        try:
            return cls.resolve(env, **options), None
        except ConfigurationError as exc:
            # Two flags still count when the environment says them clearly: strict mode (the
            # error is then raised at the call) and disabled (nothing to report then).
            strict, disabled = alone.strict, alone.disabled
            if options.get("strict") is None:
                strict = _lenient_flag(env, ENV_STRICT)
            if options.get("disabled") is None:
                disabled = _lenient_flag(env, ENV_DISABLED)
            return alone._replace(strict=strict, disabled=disabled), exc

    def _check(self) -> None:
        self._check_base_url()
        self._check_transport()
        for name in ("init_path", "events_path"):
            if not getattr(self, name).startswith("/"):
                raise ConfigurationError(f"{name} {getattr(self, name)!r} must start with '/'.")
        if self.sensitive_data not in _SENSITIVE_POLICIES:
            allowed = ", ".join(repr(p) for p in _SENSITIVE_POLICIES)
            raise ConfigurationError(
                f"sensitive_data={self.sensitive_data!r} is not a policy; use one of {allowed}."
            )
        if self.timeout <= 0 or self.max_attempts < 1 or self.max_retry_time < 0:
            raise ConfigurationError(
                "timeout must be > 0, max_attempts >= 1 and max_retry_time >= 0 "
                f"(got timeout={self.timeout}, max_attempts={self.max_attempts}, "
                f"max_retry_time={self.max_retry_time})."
            )
        self._check_delivery()
        if self.api_key is not None and not _is_printable(self.api_key):
            # Never shown, not even its suffix: a key with control characters may be pasted
            # with something else around it.
            raise ConfigurationError(
                f"the API key (configure(api_key=...) or {ENV_API_KEY}) holds control "
                "characters or spaces inside it; set it to the key exactly as the Weespin "
                "dashboard shows it (Application -> Configuration -> Integration)."
            )

    def _check_base_url(self) -> None:
        from urllib.parse import urlsplit

        url = self.base_url
        where = f"set it with configure(base_url=...) or {ENV_BASE_URL}"
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"base_url {url!r} must start with http:// or https:// ({where})."
            )
        try:
            host = urlsplit(url).hostname
        except ValueError:
            host = None
        if not host:
            raise ConfigurationError(f"base_url {url!r} names no host ({where}).")
        if url.startswith("http://") and not self.allow_insecure_http and not _is_loopback(host):
            raise ConfigurationError(
                f"base_url {url!r} ({ENV_BASE_URL} or configure(base_url=...)) is plain "
                f"http:// to {host}, which is not this machine: the API key and the events "
                "would travel unencrypted. Use https://, or set "
                f"configure(allow_insecure_http=True) or {ENV_ALLOW_INSECURE_HTTP}=1 if the "
                "network is trusted."
            )

    def _check_transport(self) -> None:
        transport = self.transport
        if isinstance(transport, str) and transport not in TRANSPORT_NAMES:
            names = ", ".join(repr(n) for n in TRANSPORT_NAMES)
            raise ConfigurationError(
                f"unknown transport {transport!r}: use one of {names}, or pass an "
                "instance (configure(transport=MyTransport()))."
            )

    def _check_delivery(self) -> None:
        if self.overflow not in _OVERFLOW_POLICIES:
            allowed = ", ".join(repr(p) for p in _OVERFLOW_POLICIES)
            raise ConfigurationError(
                f"overflow={self.overflow!r} is not a policy; use one of {allowed}."
            )
        if self.max_queue < 1 or (self.max_in_flight is not None and self.max_in_flight < 1):
            raise ConfigurationError(
                f"max_queue and max_in_flight must be >= 1 (got max_queue={self.max_queue}, "
                f"max_in_flight={self.max_in_flight})."
            )
        if self.block_timeout < 0 or self.exit_timeout < 0:
            raise ConfigurationError(
                f"block_timeout and exit_timeout must be >= 0 (got block_timeout="
                f"{self.block_timeout}, exit_timeout={self.exit_timeout})."
            )
        if self.outbox is not None and not self.outbox.strip():
            raise ConfigurationError(
                f"outbox must be a file path (set it with configure(outbox=...) or {ENV_OUTBOX})."
            )


def _lenient_flag(environ: Mapping[str, str], name: str) -> bool:
    try:
        return _env_flag(environ, name)
    except ConfigurationError:
        return False


def _is_printable(key: str) -> bool:
    return key.isprintable() and not any(c.isspace() for c in key)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified  # 0.0.0.0 connects to this machine


def _as_tuple(name: str, value: object) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"{name} must be a list, e.g. {name}=['iban', 'tax_id'] (got {type(value).__name__})."
        )
    return tuple(value)
