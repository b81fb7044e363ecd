"""Settings: explicit arguments first, then environment variables, then defaults."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

from ._choices import (
    TRANSPORT_NAMES,
    OverflowPolicy,
    SensitiveDataPolicy,
    TransportName,
    listed,
)
from ._environment import (
    ENV_ALLOW_INSECURE_HTTP,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_DISABLED,
    ENV_OUTBOX,
    ENV_STRICT,
    ENV_TRANSPORT,
    from_environment,
    lenient_flag,
)
from ._options import (
    DEFAULT_BASE_URL,
    ApiOptions,
    DeliveryOptions,
    IdentityOptions,
    RetryOptions,
    ScrubbingOptions,
)
from .errors import ConfigurationError

if TYPE_CHECKING:
    from ._device import DeviceStore
    from ._reporting import DroppedEvent
    from .transports import Transport

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_ALLOW_INSECURE_HTTP",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_DISABLED",
    "ENV_OUTBOX",
    "ENV_STRICT",
    "ENV_TRANSPORT",
    "GROUPS",
    "GROUP_OF",
    "TRANSPORT_NAMES",
    "Options",
    "OverflowPolicy",
    "SensitiveDataPolicy",
    "Settings",
]


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
    max_event_age: float | None
    allow_insecure_http: bool | None
    sensitive_keys: Iterable[str] | None
    sensitive_patterns: Iterable[str | re.Pattern[str]] | None


#: The option groups: the attribute of :class:`Settings` holding each, and its class.
GROUPS: tuple[tuple[str, type[Any]], ...] = (
    ("api", ApiOptions),
    ("retry", RetryOptions),
    ("delivery", DeliveryOptions),
    ("identity", IdentityOptions),
    ("scrubbing", ScrubbingOptions),
)
#: Every flat setting name a group holds (``configure(base_url=...)``, ``settings.base_url``)
#: and the group holding it: ``"base_url": "api"``. Built from the groups, so it cannot drift.
GROUP_OF: dict[str, str] = {name: attribute for attribute, cls in GROUPS for name in cls._fields}
#: The settings that belong to no group: the client's own.
_GLOBALS = ("strict", "disabled", "transport", "on_error")
#: What a Settings is made of: its groups and the client's own settings.
_PARTS = (*(attribute for attribute, _ in GROUPS), *_GLOBALS)


class Settings:
    """Everything a client needs, resolved once. Build it with :meth:`resolve`.

    The settings come in groups by concern: ``settings.api`` (:class:`ApiOptions`),
    ``settings.retry``, ``settings.delivery``, ``settings.identity``, ``settings.scrubbing``;
    ``strict``, ``disabled``, ``transport`` and ``on_error`` are the client's own. Every
    setting is also read by its flat name, the ``configure()`` argument: ``settings.base_url``
    is ``settings.api.base_url``.

    Built by hand, it takes groups, flat names or both (``Settings(max_queue=10)``), with no
    environment. ``repr()`` shows only the last 4 characters of the API key. Immutable:
    derive a variant with ``settings._replace(strict=True)`` (flat names or whole groups).

    Example::

        settings = Settings.resolve(api_key="wsk_123456789", strict=True)
        settings.base_url  # 'https://developer.weespin.io' unless WEESPIN_BASE_URL is set
        settings.delivery.max_queue  # 100000
    """

    # The flat names are slots too, filled from the groups (GROUP_OF) when a Settings is
    # built: reading ``settings.device_id`` on every event costs what a field read did.
    __slots__ = (*_PARTS, *GROUP_OF)

    api: ApiOptions
    retry: RetryOptions
    delivery: DeliveryOptions
    identity: IdentityOptions
    scrubbing: ScrubbingOptions
    #: Raise `InvalidEventError` (and configuration errors) at the call instead of dropping
    #: and counting. Always on in the pytest fixture.
    strict: bool
    #: Turn tracking off: calls return at once, nothing is counted or sent.
    disabled: bool
    #: Where events go: a transport instance, or the name of one.
    transport: TransportName | Transport
    #: Called with a `DroppedEvent` for every event that will not be delivered.
    on_error: Callable[[DroppedEvent], object] | None

    # The flat names: each is its group's field (see ``GROUP_OF``), with the same type
    # (tests/test_config.py checks it).
    api_key: str | None
    base_url: str
    init_path: str
    events_path: str
    timeout: float
    allow_insecure_http: bool
    max_attempts: int
    max_retry_time: float
    max_backoff: float
    max_queue: int
    overflow: OverflowPolicy
    block_timeout: float
    max_in_flight: int | None
    outbox: str | None
    exit_timeout: float
    max_event_age: float | None
    device_id: str | None
    device_store: DeviceStore | None
    send_metadata: bool
    trace_correlation: bool
    sensitive_data: SensitiveDataPolicy
    sensitive_keys: tuple[str, ...]
    sensitive_patterns: tuple[str | re.Pattern[str], ...]

    #: Every setting's flat name, groups first (the names ``resolve`` and ``_replace`` take).
    _fields: ClassVar[tuple[str, ...]]
    #: Every setting's default, by flat name.
    _field_defaults: ClassVar[dict[str, Any]]

    def __init__(
        self,
        *,
        api: ApiOptions | None = None,
        retry: RetryOptions | None = None,
        delivery: DeliveryOptions | None = None,
        identity: IdentityOptions | None = None,
        scrubbing: ScrubbingOptions | None = None,
        strict: bool = False,
        disabled: bool = False,
        transport: str | Transport = "background",
        on_error: Callable[[DroppedEvent], object] | None = None,
        **flat: Any,
    ) -> None:
        unknown = set(flat) - set(GROUP_OF)
        if unknown:
            raise _unknown(unknown)
        groups = (api, retry, delivery, identity, scrubbing)
        for (attribute, cls), group in zip(GROUPS, groups, strict=True):
            if group is None:
                group = cls()
            elif not isinstance(group, cls):
                raise ConfigurationError(
                    f"Settings({attribute}=...) takes a {cls.__name__} "
                    f"(got {type(group).__name__})."
                )
            changes = {name: flat[name] for name in cls._fields if name in flat}
            group = (group._replace(**changes) if changes else group)._checked()
            object.__setattr__(self, attribute, group)
            for name, value in zip(cls._fields, group, strict=True):
                object.__setattr__(self, name, value)
        for name, value in zip(_GLOBALS, (strict, disabled, transport, on_error), strict=True):
            object.__setattr__(self, name, value)
        self._check()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(
            f"Settings are immutable: derive a variant with settings._replace({name}=...)."
        )

    def __repr__(self) -> str:
        parts = [f"{attribute}={getattr(self, attribute)!r}" for attribute, _ in GROUPS]
        parts += [f"{name}={getattr(self, name)!r}" for name in ("strict", "disabled")]
        parts.append(f"transport={self.transport!r}")  # on_error left out: noise
        return f"Settings({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return self._parts() == other._parts()

    def __hash__(self) -> int:
        return hash(self._parts())

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (self._parts(),))

    def _parts(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _PARTS)

    @property
    def key_hint(self) -> str:
        """The API key as it may be shown: its last 4 characters at most."""
        return self.api.key_hint

    def _replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``: flat names (``max_queue=10``) or whole groups.

        Example::

            settings._replace(strict=True, max_queue=10)
            settings._replace(delivery=DeliveryOptions(max_queue=10))
        """
        return Settings(**{**{name: getattr(self, name) for name in _PARTS}, **changes})

    def _asdict(self) -> dict[str, Any]:
        """Every setting by its flat name."""
        return {name: getattr(self, name) for name in self._fields}

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Settings:
        """Settings from ``options`` (``None`` means "not given"), the environment, defaults.

        Raises :class:`ConfigurationError` naming the bad option and how to fix it.
        """
        env = os.environ if environ is None else environ
        given = {k: v for k, v in options.items() if v is not None}
        unknown = set(given) - set(cls._fields)
        if unknown:
            raise _unknown(unknown)
        given.update(from_environment(env, set(cls._fields) - set(given)))
        return _DEFAULTS._replace(**given)

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
                strict = lenient_flag(env, ENV_STRICT)
            if options.get("disabled") is None:
                disabled = lenient_flag(env, ENV_DISABLED)
            return alone._replace(strict=strict, disabled=disabled), exc

    def _check(self) -> None:
        """Check what no group checks; each group checked its own values when built."""
        transport = self.transport
        if isinstance(transport, str) and transport not in TRANSPORT_NAMES:
            raise ConfigurationError(
                f"unknown transport {transport!r}: use one of {listed(TRANSPORT_NAMES)}, or "
                "pass an instance (configure(transport=MyTransport()))."
            )


def _rebuilt(parts: tuple[Any, ...]) -> Settings:
    return Settings(**dict(zip(_PARTS, parts, strict=True)))


def _unknown(names: Iterable[str]) -> ConfigurationError:
    return ConfigurationError(
        f"unknown setting(s): {', '.join(sorted(names))}. "
        f"Valid settings: {', '.join(Settings._fields)}."
    )


Settings._fields = (*GROUP_OF, *_GLOBALS)
_DEFAULTS = Settings()
Settings._field_defaults = _DEFAULTS._asdict()
