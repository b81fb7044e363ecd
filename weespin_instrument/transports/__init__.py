"""Where events go: pick one by name in ``configure(transport=...)`` or pass an instance.

Example::

    import weespin_instrument as weespin
    from weespin_instrument.transports import MemoryTransport

    weespin.configure(transport=MemoryTransport())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import BaseTransport, Transport
from ._local import ConsoleTransport, MemoryTransport, NullTransport

if TYPE_CHECKING:
    from ._background import BackgroundTransport
    from ._http import HttpTransport

__all__ = [
    "BackgroundTransport",
    "BaseTransport",
    "ConsoleTransport",
    "HttpTransport",
    "MemoryTransport",
    "NullTransport",
    "Transport",
]


def __getattr__(name: str) -> Any:
    # The HTTP transports pull in httpx: load them only when asked for.
    if name == "HttpTransport":
        from ._http import HttpTransport

        return HttpTransport
    if name == "BackgroundTransport":
        from ._background import BackgroundTransport

        return BackgroundTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
