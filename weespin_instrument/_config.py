"""Settings: explicit arguments first, then environment variables, then defaults."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
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

#: Environment variables, documented in README.md's table.
ENV_API_KEY = "WEESPIN_API_KEY"
ENV_BASE_URL = "WEESPIN_BASE_URL"
ENV_DISABLED = "WEESPIN_DISABLED"
ENV_STRICT = "WEESPIN_STRICT"
ENV_TRANSPORT = "WEESPIN_TRANSPORT"
ENV_OUTBOX = "WEESPIN_OUTBOX"

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
    max_queue: int = 10_000
    #: Background transport, queue full: ``drop_newest``, ``drop_oldest`` or ``block``.
    overflow: OverflowPolicy = "drop_newest"
    #: With ``overflow="block"``: seconds a caller waits for room before dropping its event.
    block_timeout: float = 1.0
    #: Background transport: requests in flight at most.
    max_in_flight: int = 64
    #: Background transport: a SQLite file where each event is committed before ``send()``
    #: returns and kept until the API accepted it (durable, opt-in).
    outbox: str | None = None
    #: Seconds the exit hook waits for queued events before reporting them as not delivered.
    exit_timeout: float = 5.0

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
        given.setdefault("base_url", env.get(ENV_BASE_URL) or DEFAULT_BASE_URL)
        if "disabled" not in given:
            given["disabled"] = _env_flag(env, ENV_DISABLED)
        if "strict" not in given:
            given["strict"] = _env_flag(env, ENV_STRICT)
        if "transport" not in given and env.get(ENV_TRANSPORT):
            given["transport"] = env[ENV_TRANSPORT].strip()
        if "outbox" in given:
            given["outbox"] = os.fspath(given["outbox"])
        elif env.get(ENV_OUTBOX, "").strip():
            given["outbox"] = env[ENV_OUTBOX].strip()
        settings = cls(**{k: v for k, v in given.items() if v is not None})
        settings._check()
        return settings

    def _check(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"base_url {self.base_url!r} must start with http:// or https:// "
                f"(set it with configure(base_url=...) or {ENV_BASE_URL})."
            )
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
        if self.api_key is not None and (not self.api_key.strip() or "\n" in self.api_key):
            raise ConfigurationError(
                f"the API key is blank or spans lines; set {ENV_API_KEY} to the key from the "
                "Weespin dashboard (Application -> Configuration -> Integration)."
            )

    def _check_delivery(self) -> None:
        if self.overflow not in _OVERFLOW_POLICIES:
            allowed = ", ".join(repr(p) for p in _OVERFLOW_POLICIES)
            raise ConfigurationError(
                f"overflow={self.overflow!r} is not a policy; use one of {allowed}."
            )
        if self.max_queue < 1 or self.max_in_flight < 1:
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
