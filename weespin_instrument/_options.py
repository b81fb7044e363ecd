"""The settings by concern: small immutable groups, each knowing how to check its values.

:class:`~weespin_instrument.Settings` holds one of each (``settings.api``, ``settings.retry``,
``settings.delivery``, ``settings.identity``, ``settings.scrubbing``) and checks each as it
takes it: a bad value is a :class:`ConfigurationError` naming it. Every field is also a
``configure()`` argument of the same name, and ``settings.<field>`` reads it.

Named tuples rather than dataclasses: ``dataclasses`` imports ``inspect``, which
``import weespin_instrument`` must not pay for.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from ._api_key import key_suffix
from ._choices import OVERFLOW_POLICIES, OverflowPolicy, SensitiveDataPolicy, listed
from ._environment import (
    ENV_ALLOW_INSECURE_HTTP,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_MAX_EVENT_AGE,
    ENV_OUTBOX,
)
from ._scrub import Scrubber
from .errors import ConfigurationError

if TYPE_CHECKING:
    from ._device import DeviceStore

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_EVENT_AGE",
    "ApiOptions",
    "DeliveryOptions",
    "IdentityOptions",
    "RetryOptions",
    "ScrubbingOptions",
]

DEFAULT_BASE_URL = "https://developer.weespin.io"
#: Seconds an event may wait for an unreachable API before it is dropped (without an outbox).
DEFAULT_MAX_EVENT_AGE = 600.0

#: Hosts a plain ``http://`` base URL may name without ``allow_insecure_http``.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class ApiOptions(NamedTuple):
    """Where the Weespin API is, with which key, and how long one request may take.

    ``repr()`` shows the key by its last 4 characters only.

    Example::

        api = ApiOptions(api_key="wsk_live_0123456789", base_url="http://127.0.0.1:8765")
        api.key_hint  # '…6789'
    """

    #: The application's key (dashboard: Application -> Configuration -> Integration), sent
    #: as the raw `Authorization` header; shown only by its last 4 characters. Whitespace
    #: around it is stripped. A local collector accepts any non-empty value.
    api_key: str | None = None
    #: Where the API is; point it at a local collector in development.
    base_url: str = DEFAULT_BASE_URL
    #: The device initialization endpoint.
    init_path: str = "/initialize-device"
    #: The events endpoint.
    events_path: str = "/events"
    #: Seconds one request may take in all: connect, send, and the whole response.
    timeout: float = 10.0
    #: Allow a plain ``http://`` base URL to a host that is not loopback (the key and the
    #: events then travel in clear).
    allow_insecure_http: bool = False

    def _checked(self) -> ApiOptions:
        """These options with the key stripped; raises for a bad value."""
        if isinstance(self.api_key, str) and self.api_key.strip() != self.api_key:
            return self._replace(api_key=self.api_key.strip() or None)._checked()
        self._check_base_url()
        for name in ("init_path", "events_path"):
            if not getattr(self, name).startswith("/"):
                raise ConfigurationError(f"{name} {getattr(self, name)!r} must start with '/'.")
        if not self.timeout > 0:
            raise ConfigurationError(f"timeout must be > 0 (got timeout={self.timeout}).")
        if self.api_key is not None and not _is_printable(self.api_key):
            # Never shown, not even its suffix: a key with control characters may be pasted
            # with something else around it.
            raise ConfigurationError(
                f"the API key (configure(api_key=...) or {ENV_API_KEY}) holds control "
                "characters or spaces inside it; set it to the key exactly as the Weespin "
                "dashboard shows it (Application -> Configuration -> Integration)."
            )
        return self

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self._fields if name != "api_key"
        )
        return f"ApiOptions(api_key={self.key_hint!r}, {shown})"

    @property
    def key_hint(self) -> str:
        """The API key as it may be shown: its last 4 characters at most."""
        return key_suffix(self.api_key)

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


class RetryOptions(NamedTuple):
    """How transient failures (network errors, 429, 5xx) are retried, per request.

    Example::

        RetryOptions(max_attempts=5, max_retry_time=10.0)
    """

    #: Attempts per request, the first included, for transient failures only.
    max_attempts: int = 20
    #: Upper bound on the time spent retrying one request, in seconds.
    max_retry_time: float = 30.0
    #: Upper bound on one wait between attempts (also caps ``Retry-After``), in seconds.
    max_backoff: float = 10.0

    def _checked(self) -> RetryOptions:
        """These options; raises for a bad value."""
        if self.max_attempts < 1 or self.max_retry_time < 0 or self.max_backoff < 0:
            raise ConfigurationError(
                "max_attempts must be >= 1, max_retry_time and max_backoff >= 0 "
                f"(got max_attempts={self.max_attempts}, max_retry_time={self.max_retry_time}, "
                f"max_backoff={self.max_backoff})."
            )
        return self


class DeliveryOptions(NamedTuple):
    """How the background transport holds and delivers events (see ``docs/delivery.md``).

    Only the background transport reads these, and ``exit_timeout``, the client at exit.

    Example::

        DeliveryOptions(max_queue=50_000, overflow="drop_oldest", max_event_age=3600.0)
    """

    #: Background transport: events held at most (queued, waiting for a retry, in flight).
    #: Room for a cold burst while the sender starts; at most ~45 MB of small events.
    max_queue: int = 100_000
    #: Background transport, queue full: drop the new event, drop the oldest queued one, or
    #: wait up to ``block_timeout`` for room.
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
    #: Background transport: seconds an event may wait for an unreachable API before it is
    #: dropped (``delivery_failed``). ``None``: 600 s, or no limit with an outbox;
    #: ``math.inf``: no limit.
    max_event_age: float | None = None

    def _checked(self) -> DeliveryOptions:
        """These options with the outbox as a ``str``; raises for a bad value."""
        if self.outbox is not None and not isinstance(self.outbox, str):
            return self._replace(outbox=os.fspath(self.outbox))._checked()
        if self.overflow not in OVERFLOW_POLICIES:
            raise ConfigurationError(
                f"overflow={self.overflow!r} is not a policy; use one of "
                f"{listed(OVERFLOW_POLICIES)}."
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
        age = self.max_event_age
        if age is not None and (
            isinstance(age, bool) or not isinstance(age, (int, float)) or not age > 0
        ):
            raise ConfigurationError(
                f"max_event_age={age!r} is not a number of seconds above 0; set "
                f"configure(max_event_age=...) or {ENV_MAX_EVENT_AGE} to e.g. 600, or to "
                "math.inf for no limit."
            )
        return self

    @property
    def age_limit(self) -> float | None:
        """Seconds an event may wait for an unreachable API; ``None``: no limit.

        >>> DeliveryOptions().age_limit, DeliveryOptions(outbox="o.sqlite").age_limit
        (600.0, None)
        """
        age = self.max_event_age
        if age is None:
            return None if self.outbox is not None else DEFAULT_MAX_EVENT_AGE
        return None if math.isinf(age) else float(age)


class IdentityOptions(NamedTuple):
    """Which device events belong to, and which ids travel with them.

    Example::

        IdentityOptions(device_id="ws_device_1", send_metadata=False)
    """

    #: Use this device id and skip device initialization.
    device_id: str | None = None
    #: Where the device id is kept (``FileDeviceStore(path)`` keeps it across restarts).
    device_store: DeviceStore | None = None
    #: Send ``event_id``/``timestamp``/trace ids, which the API docs do not name.
    send_metadata: bool = True
    #: Attach the active OpenTelemetry span's ids to events.
    trace_correlation: bool = True

    def _checked(self) -> IdentityOptions:
        """These options (nothing to check)."""
        return self


class ScrubbingOptions(NamedTuple):
    """What the sensitive-data guard looks for and what it does when it finds it.

    Example::

        ScrubbingOptions(sensitive_data="drop_event", sensitive_keys=("iban", "tax_id"))
    """

    #: What happens to sensitive values: redacted, the event dropped, an error raised, or
    #: nothing (see ``docs/payload-rules.md``).
    sensitive_data: SensitiveDataPolicy = "redact"
    #: Extra key words the sensitive-data guard treats as sensitive (``["iban", "tax_id"]``).
    sensitive_keys: tuple[str, ...] = ()
    #: Extra regular expressions whose matches in string values are sensitive.
    sensitive_patterns: tuple[str | re.Pattern[str], ...] = ()

    def _checked(self) -> ScrubbingOptions:
        """These options with lists as tuples; raises for a bad policy, key or pattern."""
        keys = _as_tuple("sensitive_keys", self.sensitive_keys)
        patterns = _as_tuple("sensitive_patterns", self.sensitive_patterns)
        checked = self._replace(sensitive_keys=keys, sensitive_patterns=patterns)
        checked.scrubber()  # the guard's own checks
        return checked

    def scrubber(self) -> Scrubber:
        """A new sensitive-data guard following these options."""
        return Scrubber(
            self.sensitive_data,
            sensitive_keys=self.sensitive_keys,
            sensitive_patterns=self.sensitive_patterns,
        )


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
