"""The synchronous HTTP transport: each ``send`` is one request, on the caller's thread."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .._config import Settings
from .._device import DeviceManager
from ..errors import AuthenticationError, DeliveryError, RejectedError, WeespinError
from ._base import BaseTransport, settings_from
from ._protocol import encode_body
from ._retry import RetryPolicy, outcome_of, retrying
from ._sync_client import SyncAPI

if TYPE_CHECKING:
    import httpx
    from typing_extensions import Unpack

    from .._config import Options
    from .._event import Event

__all__ = ["HttpTransport"]

_T = TypeVar("_T")
#: Longest stretch (seconds) of single attempts after requests kept spending their budget.
_MAX_HURRY = 300.0


class HttpTransport(BaseTransport):
    """Sends each event with one blocking ``POST /events`` (httpx, keep-alive, retries).

    The device is initialized on the first event that needs one. Failures are counted and
    reported; in strict mode they are also raised at the call: :class:`AuthenticationError`
    (401/403), :class:`RejectedError`, or :class:`DeliveryError` once the retries are spent.
    Use it for scripts and for workers where blocking is fine; web
    apps want the default background transport.

    Settings not given are read from the environment (``WEESPIN_API_KEY``, ...).

    Example::

        weespin.configure(transport="sync")
        # or, explicitly:
        weespin.configure(transport=HttpTransport(base_url="http://127.0.0.1:8765"))
    """

    needs_api = True

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        http_client: httpx.Client | None = None,
        **options: Unpack[Options],
    ) -> None:
        super().__init__()
        #: Options given here, kept over the settings of a client that adopts this transport.
        settings, self._given = settings_from(settings, options)
        self._http_client = http_client
        self._sent_any = False
        #: Set by ``close()``: a retry wait ends at once.
        self._closed = threading.Event()
        self._give_ups = 0
        self._hurried_until = 0.0
        self._use(settings)

    def _use(self, settings: Settings) -> None:
        self.settings = settings
        self.api = SyncAPI(settings, http_client=self._http_client)
        self.policy = policy = RetryPolicy.from_settings(settings)
        self._one_attempt = dataclasses.replace(policy, max_attempts=1)
        self.devices = DeviceManager(
            lambda: self._with_retries(self.api.initialize_device),
            store=settings.device_store,
            # After a failed initialization (its own retries spent), events fail fast for a
            # while instead of each redoing the whole ladder: 1 s, doubling, up to 5 min.
            backoff=lambda failures: min(300.0, max(policy.base, 2.0 ** min(failures - 1, 9))),
        )

    def adopt(self, settings: Settings) -> None:
        """Take the adopting client's settings for every option not given to the constructor."""
        if self._given is not None and not self._sent_any:
            merged = settings._replace(transport="sync", **self._given)
            merged._check()
            self._use(merged)

    def __repr__(self) -> str:
        return f"HttpTransport(base_url={self.settings.base_url!r})"

    def send(self, event: Event) -> None:
        self._sent_any = True
        try:
            device_id = event.device_id or self.settings.device_id or self.devices.get()
        except WeespinError as exc:
            self._failed(event, exc, initializing=True)
            return
        try:
            body = encode_body(event.to_wire(device_id, metadata=self.settings.send_metadata))
            self._with_retries(lambda: self.api.send_event(body))
        except WeespinError as exc:
            self._failed(event, exc)
            return
        self.reporter.count_sent()

    def _raise_if_strict(self, error: WeespinError) -> None:
        if not self.settings.strict:
            return
        if isinstance(error, (AuthenticationError, RejectedError, DeliveryError)):
            raise error
        raise DeliveryError(f"the event was not delivered, retries spent: {error}") from error

    def close(self, timeout: float | None = None) -> None:
        self._closed.set()
        self.api.close()

    def _with_retries(self, call: Callable[[], _T]) -> _T:
        """``call()`` (one request) with the policy's retries, each counted as ``retried``.

        Soon after a call spent its whole budget, each call makes one attempt: a dead API
        then costs a blocking caller one request, not ``max_retry_time`` per call.
        """
        hurried = time.monotonic() < self._hurried_until
        policy = self._one_attempt if hurried else self.policy
        try:
            result = retrying(call, policy, pause=self._closed.wait, on_retry=self._count_retry)
        except WeespinError as error:
            if outcome_of(error).action == "retry":  # transient, but out of budget
                self._give_ups += 1
                backoff = min(_MAX_HURRY, 2.0 ** min(self._give_ups - 1, 9))
                self._hurried_until = time.monotonic() + backoff
            raise
        self._give_ups, self._hurried_until = 0, 0.0
        return result

    def _count_retry(self) -> None:
        self.reporter.count("retried")

    def _failed(self, event: Event, error: WeespinError, *, initializing: bool = False) -> None:
        outcome = outcome_of(error)
        if outcome.action == "stop":
            self.reporter.dropped("unauthorized", event=event, error=error, level=logging.ERROR)
        elif initializing:
            self.reporter.dropped("device_init_failed", event=event, error=error)
        else:
            self.reporter.dropped(outcome.reason or "delivery_failed", event=event, error=error)
        self._raise_if_strict(error)
