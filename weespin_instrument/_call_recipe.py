"""The recipe of a decorated function, and the event of each of its calls.

The options are the shared :class:`._recipe.Recipe`'s, their paths compiled against the
function's signature (:mod:`._extract`). What is left per call is reading the fields, the
outcome, and handing the event to the client's pipeline.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._extract import Call, Getter, PathError, Signature, compile_field
from ._recipe import RETURNED, Field, Recipe, add_outcome
from ._reporting import logger
from ._validate import validate_event_name
from .errors import InvalidEventError, WeespinError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ._client import Client

__all__ = ["CallRecipe"]


class CallRecipe(Recipe[Getter, Call]):
    """Everything about one decorated function that can be worked out once, at decoration.

    Example::

        recipe = CallRecipe(checkout, "purchase", client=None, allow_return=True,
                            payload_from="order.total")
        recipe.emit(client, None, (order,), {}, receipt, None, 0.0, RETURNED, None)
    """

    __slots__ = (
        "_reported_paths",
        "all_fields",
        "arg_fields",
        "bare",
        "bind",
        "binds_instance",
        "client",
        "name_checked",
        "needs_call",
        "origin",
        "schema",
    )

    def __init__(
        self,
        func: Any,
        name: str,
        *,
        client: Client | None,
        allow_return: bool,
        schema: type[BaseModel] | None = None,
        **options: Any,
    ) -> None:
        """``options``: the shared ones of :class:`._recipe.Recipe` (``payload_from``, ``when``...),
        checked there; the others are a function's own."""
        target = func.__func__ if isinstance(func, (classmethod, staticmethod)) else func
        self.origin = getattr(target, "__qualname__", None) or type(target).__qualname__
        where = f"@track_event({name!r}) on {self.origin}"
        signature = Signature.of(func)
        compile_path = functools.partial(
            compile_field, signature=signature, where=where, allow_return=allow_return
        )
        super().__init__(name, where, compile_path, **options)
        if schema is not None:
            from .events import check_schema

            check_schema(schema, where=where)
        self.schema = schema
        try:  # once here, not per call (a bad name is still reported per call, as before)
            self.name_checked = validate_event_name(name) is name
        except InvalidEventError:
            self.name_checked = False
        fields = self.fields
        self.arg_fields = tuple((f.key, f.get) for f in fields if not f.reads_result)
        self.all_fields = tuple((f.key, f.get) for f in fields)
        # Fields that are parameters themselves ("sku"): a generated wrapper reads its locals.
        plain = {
            p.name for p in signature.parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        bare = tuple((f.key, f.path) for f in fields if f.path in plain)
        self.bare = bare if len(bare) == len(fields) else None
        self.needs_call = self.when is not None or self.payload_fn is not None
        self.client = client
        self.bind = signature.binder()
        positional = [p for p in signature.parameters if p.kind <= p.POSITIONAL_OR_KEYWORD]
        self.binds_instance = bool(positional) and not isinstance(func, staticmethod)
        self._reported_paths: set[str] = set()

    @property
    def inlined(self) -> bool:
        """Whether a generated wrapper can build the payload from its parameters alone."""
        return (
            self.bare is not None
            and not self.needs_call
            and not self.timing
            and self.user is None
            and self.link is None
        )

    def failed(self, client: Client, exc: WeespinError) -> None:
        """What the generated wrapper does when its inlined :meth:`emit` raised ``exc``."""
        if client.settings.strict:
            raise exc
        client.reporter.dropped(
            "extraction_failed", event_name=self.name, error=exc, origin=self.origin
        )

    def emit(
        self,
        client: Client,
        instance: Any,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        result: Any,
        error: BaseException | None,
        started: float,
        outcome: str,
        span: Any,
    ) -> None:
        """Build and track this call's event. Never raises outside strict mode."""
        try:
            if instance is not None and self.binds_instance:
                args = (instance, *args)
            call = None
            if self.needs_call:
                call = Call(self.bind(args, kwargs), result, error)
                if self.when is not None and not self.when(call):
                    return
            returned = outcome == RETURNED
            payload = self._payload(client, args, kwargs, result, returned)
            if call is not None and self.payload_fn is not None:
                payload.update(self.payload_fn(call))
            if error is not None or not returned or self.timing:
                add_outcome(payload, error, outcome, started if self.timing else None)
            user_id = link_id = None
            if self.user is not None:
                user_id = self._read(client, "user_id", self.user, args, kwargs, result, returned)
            if self.link is not None:
                link_id = self._read(client, "link_id", self.link, args, kwargs, result, returned)
            client._pipeline(
                self.name, payload, user_id, link_id, None, self.origin, span, self.schema,
                self.name_checked,
            )  # fmt: skip
        except WeespinError as exc:
            if client.settings.strict:
                raise
            client.reporter.dropped(
                "extraction_failed", event_name=self.name, error=exc, origin=self.origin
            )
        except Exception as exc:  # a user's when=, payload_from= or object raised
            error = InvalidEventError(
                f"event {self.name!r} (from {self.origin}): building the event raised "
                f"{type(exc).__qualname__} (in when=, payload_from= or a value read from the "
                "call). Fix it, or read plain values.",
                event_name=self.name,
                reason="extraction_failed",
            )
            if client.settings.strict:
                raise error from exc
            client.reporter.dropped(
                "extraction_failed", event_name=self.name, error=error, origin=self.origin
            )

    def _payload(
        self,
        client: Client,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        result: Any,
        returned: bool,
    ) -> dict[str, Any]:
        payload = dict(self.static) if self.static else {}
        fields = self.all_fields if returned else self.arg_fields
        try:
            for key, get in fields:
                payload[key] = get(args, kwargs, result)
        except Exception:
            # Rare: read the fields one by one to leave out (and report) each failing path.
            for key, get in fields:
                try:
                    payload[key] = get(args, kwargs, result)
                except PathError as exc:
                    self._path_failed(client, key, exc)
                except Exception as exc:  # a property of the user's object raised
                    raise self._raised(key, exc) from exc
        return payload

    def _raised(self, key: str, exc: Exception) -> InvalidEventError:
        return InvalidEventError(
            f"event {self.name!r} (from {self.origin}), payload key {key!r}: reading it "
            f"raised {type(exc).__qualname__}. Fix the attribute, or read another path.",
            event_name=self.name,
            key=key,
            reason="extraction_failed",
        )

    def _read(
        self,
        client: Client,
        key: str,
        field: Field[Getter],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        result: Any,
        returned: bool,
    ) -> Any:
        if field.reads_result and not returned:
            return None
        try:
            return field.get(args, kwargs, result)
        except PathError as exc:
            self._path_failed(client, key, exc)
            return None
        except Exception as exc:
            raise self._raised(key, exc) from exc

    def _path_failed(self, client: Client, key: str, error: PathError) -> None:
        message = (
            f"event {self.name!r} (from {self.origin}), payload key {key!r}: {error}. "
            "The key was left out; check the path, or make the value always present."
        )
        if client.settings.strict:
            raise InvalidEventError(
                message, event_name=self.name, key=key, reason="extraction_failed"
            )
        client.reporter.count("missing_fields")
        if error.path not in self._reported_paths:
            self._reported_paths.add(error.path)
            logger.log(logging.WARNING, "weespin: %s (logged once per function and path)", message)
