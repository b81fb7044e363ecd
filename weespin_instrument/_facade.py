"""The default client and the module-level functions that use it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._client import Client

if TYPE_CHECKING:
    from ._config import SensitiveDataPolicy
    from ._device import DeviceStore
    from ._event import Event
    from ._reporting import DroppedEvent, Stats
    from .transports import Transport

__all__ = ["configure", "flush", "get_client", "shutdown", "stats", "track"]

_default: Client | None = None
_default_lock = threading.Lock()


def get_client() -> Client:
    """The default client; built from the environment on first use if never configured.

    Example::

        weespin.get_client().stats()
    """
    client = _default
    if client is not None:
        return client
    return _install(None)


def _install(new: Client | None) -> Client:
    global _default
    with _default_lock:
        if new is None:
            if _default is None:
                _default = Client()
            return _default
        old, _default = _default, new
    if old is not None:
        old.shutdown()
    return new


def configure(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    transport: str | Transport | None = None,
    strict: bool | None = None,
    disabled: bool | None = None,
    device_id: str | None = None,
    device_store: DeviceStore | None = None,
    sensitive_data: SensitiveDataPolicy | None = None,
    send_metadata: bool | None = None,
    trace_correlation: bool | None = None,
    on_error: Callable[[DroppedEvent], object] | None = None,
    timeout: float | None = None,
    max_attempts: int | None = None,
    max_retry_time: float | None = None,
    init_path: str | None = None,
    events_path: str | None = None,
) -> Client:
    """Configure the default client (optional: the environment is enough) and return it.

    Arguments left out (``None``) come from the environment, then from defaults. Nothing
    touches the network here; a previous default client is flushed and shut down.

    ``transport``: ``"background"`` (default), ``"sync"``, ``"console"``, ``"memory"``,
    ``"none"``, or an instance. ``sensitive_data``: ``"redact"`` (default),
    ``"drop_event"``, ``"raise"`` or ``"off"``. ``send_metadata=False`` sends only the
    fields the API documents (no ``event_id``, ``timestamp``, trace ids).

    Example::

        weespin.configure(api_key=os.environ["WEESPIN_API_KEY"], strict=settings.DEBUG)
    """
    return _install(
        Client(
            api_key=api_key,
            base_url=base_url,
            transport=transport,
            strict=strict,
            disabled=disabled,
            device_id=device_id,
            device_store=device_store,
            sensitive_data=sensitive_data,
            send_metadata=send_metadata,
            trace_correlation=trace_correlation,
            on_error=on_error,
            timeout=timeout,
            max_attempts=max_attempts,
            max_retry_time=max_retry_time,
            init_path=init_path,
            events_path=events_path,
        )
    )


def track(
    name: str,
    payload: Mapping[str, Any] | None = None,
    *,
    user_id: str | int | None = None,
    link_id: str | None = None,
    device_id: str | None = None,
) -> Event | None:
    """Track one event with the default client. Never raises outside strict mode.

    Example::

        weespin.track("share_link", {"channel": "email"}, user_id="u_42")
    """
    return get_client().emit(name, payload, user_id=user_id, link_id=link_id, device_id=device_id)


def flush(timeout: float | None = 5.0) -> bool:
    """Wait for the default client's events to leave; ``True`` if all did within ``timeout``.

    Example::

        weespin.flush(timeout=5.0)
    """
    client = _default
    return True if client is None else client.flush(timeout)


def shutdown(timeout: float | None = 5.0) -> bool:
    """Flush and close the default client. Events tracked after this are dropped
    (reason ``closed``) until :func:`configure` installs a new client.

    Example::

        weespin.shutdown()
    """
    client = _default
    return True if client is None else client.shutdown(timeout)


def stats() -> Stats:
    """The default client's counters (see :class:`Stats`).

    Example::

        weespin.stats().sent
    """
    return get_client().stats()
