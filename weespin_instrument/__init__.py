"""weespin-instrument: turn ordinary Python application code into Weespin analytics events.

Example::

    import weespin_instrument as weespin

    weespin.configure()      # WEESPIN_API_KEY / WEESPIN_BASE_URL are enough
    weespin.track("share_link", {"channel": "email"}, user_id="u_42")
    weespin.flush(timeout=5.0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import context
from ._client import Client
from ._config import Settings
from ._context import identify
from ._device import DeviceStore, FileDeviceStore, MemoryDeviceStore
from ._event import Event
from ._facade import Flushing, configure, flush, flushing, get_client, shutdown, stats, track
from ._options import (
    ApiOptions,
    DeliveryOptions,
    IdentityOptions,
    RetryOptions,
    ScrubbingOptions,
)
from ._reporting import DroppedEvent, Stats
from ._tracked import TrackedEvent, tracked
from ._version import __version__
from .errors import (
    AuthenticationError,
    ConfigurationError,
    DeliveryError,
    InvalidEventError,
    RateLimitedError,
    RejectedError,
    ServerError,
    WeespinError,
)

if TYPE_CHECKING:
    from ._decorators import EventDecorator, track_event
    from ._extract import Call

__all__ = [
    "ApiOptions",
    "AuthenticationError",
    "Call",
    "Client",
    "ConfigurationError",
    "DeliveryError",
    "DeliveryOptions",
    "DeviceStore",
    "DroppedEvent",
    "Event",
    "EventDecorator",
    "FileDeviceStore",
    "Flushing",
    "IdentityOptions",
    "InvalidEventError",
    "MemoryDeviceStore",
    "RateLimitedError",
    "RejectedError",
    "RetryOptions",
    "ScrubbingOptions",
    "ServerError",
    "Settings",
    "Stats",
    "TrackedEvent",
    "WeespinError",
    "__version__",
    "configure",
    "context",
    "flush",
    "flushing",
    "get_client",
    "identify",
    "shutdown",
    "stats",
    "track",
    "track_event",
    "tracked",
]


def __getattr__(name: str) -> Any:
    # @track_event pulls in wrapt, which imports asyncio and importlib.metadata: load it on
    # first use so that `import weespin_instrument` stays cheap.
    if name in ("track_event", "EventDecorator", "Call"):
        from . import _decorators

        return getattr(_decorators, name)
    if name == "events":  # the common names and their models: pydantic, on first use
        import importlib

        return importlib.import_module(f"{__name__}.events")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
