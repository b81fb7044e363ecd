"""The exceptions weespin-instrument raises.

Every exception derives from :class:`WeespinError`, so one ``except`` clause catches them all::

    import weespin_instrument as weespin

    try:
        weespin.track("purchase", {"amount": float("nan")})
    except weespin.WeespinError as exc:
        print(exc)

Outside strict mode none of these reach the code you instrument: the event is dropped, counted
in :func:`weespin_instrument.stats` and handed to the ``on_error`` hook instead.
"""

from __future__ import annotations

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "DeliveryError",
    "InvalidEventError",
    "RateLimitedError",
    "RejectedError",
    "ServerError",
    "WeespinError",
]


class WeespinError(Exception):
    """Base class of every error of this library.

    Example::

        try:
            client.flush_or_raise()
        except WeespinError as exc:
            log.warning("weespin: %s", exc)
    """

    #: Whether sending the same request again may succeed.
    retryable: bool = False


class ConfigurationError(WeespinError):
    """A setting is missing or wrong: the message names the setting and how to fix it.

    Example::

        weespin.configure(transport="carrier-pigeon")  # ConfigurationError
    """


class InvalidEventError(WeespinError, ValueError):
    """An event breaks the API's payload rules.

    ``event_name`` and ``key`` say where; the message says what was wrong and how to fix it.
    Raised at the call site only in strict mode; otherwise the event is dropped and counted.

    Example::

        weespin.configure(strict=True)
        weespin.track("purchase", {"items": ["a", "b"]})
        # InvalidEventError: event 'purchase', payload key 'items': list values are not
        # supported ...
    """

    def __init__(
        self,
        message: str,
        *,
        event_name: str | None = None,
        key: str | None = None,
        reason: str = "invalid_event",
    ) -> None:
        super().__init__(message)
        self.event_name = event_name
        self.key = key
        #: Short machine-readable reason, the one counted in stats (``"invalid_payload"``...).
        self.reason = reason


class APIError(WeespinError):
    """The Weespin API answered with an error status.

    Example::

        except APIError as exc:
            print(exc.status_code)
    """

    def __init__(self, message: str, *, status_code: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        #: The start of the response body (at most 500 characters), for diagnosis.
        self.body = body[:500]


class AuthenticationError(APIError):
    """The API refused the key (401 or 403). Never retried.

    The message names ``WEESPIN_API_KEY`` and shows at most the key's last 4 characters.

    Example::

        except AuthenticationError as exc:
            alert(str(exc))  # safe to log: no key in it
    """


class _RetriedAnswer(APIError):
    """An answer worth trying again, after the server's ``Retry-After`` (seconds) if it gave one."""

    retryable = True
    #: ``status_code`` when none is given.
    _default_status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        status = self._default_status if status_code is None else status_code
        super().__init__(message, status_code=status, body=body)
        self.retry_after = retry_after


class RateLimitedError(_RetriedAnswer):
    """The API answered 429. ``retry_after`` holds its ``Retry-After``, in seconds, if any.

    Example::

        except RateLimitedError as exc:
            time.sleep(exc.retry_after or 1.0)
    """

    _default_status = 429


class ServerError(_RetriedAnswer):
    """The API failed on its side (5xx) or timed the request out (408). Retried.

    ``retry_after`` holds its ``Retry-After``, in seconds, if any.

    Example::

        except ServerError as exc:
            print(exc.status_code)  # 503
    """


class RejectedError(APIError):
    """The API refused the request itself (400, 404, 422, other 4xx). Never retried.

    Example::

        except RejectedError as exc:
            print(exc.status_code, exc.body)
    """


class DeliveryError(WeespinError):
    """The request did not get an answer: connection refused or reset, DNS, timeout. Retried.

    Example::

        except DeliveryError:
            ...  # the API is unreachable for now
    """

    retryable = True
