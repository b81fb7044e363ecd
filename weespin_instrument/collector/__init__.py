"""A local Weespin-compatible collector, for development, demos and tests.

Needs the ``collector`` extra (``pip install 'weespin-instrument[collector]'``).

Example::

    from weespin_instrument.collector import Collector

    with Collector() as collector:          # a free port on 127.0.0.1, a temporary database
        weespin.configure(base_url=collector.url, api_key="dev")
        weespin.track("signup", {"plan": "pro"})
        weespin.flush()
        assert collector.wait_for(1, name="signup")[0]["payload"] == {"plan": "pro"}
"""

from __future__ import annotations

from ..errors import ConfigurationError as _ConfigurationError

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise _ConfigurationError(
        f"the local collector needs starlette and uvicorn ({exc.name} is missing): "
        "pip install 'weespin-instrument[collector]'"
    ) from exc

from ._collector import Collector
from ._state import RequestRecord

__all__ = ["Collector", "RequestRecord"]
