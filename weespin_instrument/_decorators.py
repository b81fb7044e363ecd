"""``@track_event``: one event per completed call, its payload pulled from arguments and result."""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any, Literal, Protocol, SupportsIndex, TypeVar, cast

from . import _facade
from ._client import _CLEARED
from ._enrich import current_span
from ._extract import Call, FieldGetter, PathError, Signature, compile_path, compile_payload_from
from ._facade import get_client
from ._reporting import logger
from ._validate import validate_event_name
from ._wrapping import exact_signature_source
from .errors import InvalidEventError, WeespinError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ._client import Client
    from ._extract import Getter, PayloadFrom

__all__ = ["EventDecorator", "OnException", "track_event"]

F = TypeVar("F")
OnException = Literal["skip", "track"]

_RETURNED, _RAISED, _CLOSED = "returned", "raised", "closed"


class EventDecorator(Protocol):
    """What ``track_event(...)`` returns: a decorator that keeps the exact type it is given.

    Example::

        decorate: EventDecorator = weespin.track_event("purchase", payload_from="order.total")
        checkout = decorate(checkout)  # same signature, for mypy and pyright too
    """

    def __call__(self, func: F, /) -> F: ...


class _Recipe:
    """Everything about one decorated function that can be worked out once, at decoration."""

    __slots__ = (
        "_reported_paths",
        "all_fields",
        "arg_fields",
        "bare",
        "bind",
        "binds_instance",
        "client",
        "link_get",
        "name",
        "name_checked",
        "needs_call",
        "origin",
        "payload_fn",
        "schema",
        "static",
        "timing",
        "track_errors",
        "user_get",
        "when",
    )

    def __init__(
        self,
        func: Any,
        name: str,
        payload_from: PayloadFrom | None,
        *,
        payload: Mapping[str, Any] | None,
        user_id_from: str | None,
        link_id_from: str | None,
        when: Callable[[Call], bool] | None,
        timing: bool,
        on_exception: OnException,
        client: Client | None,
        allow_return: bool,
        schema: type[BaseModel] | None = None,
    ) -> None:
        target = func.__func__ if isinstance(func, (classmethod, staticmethod)) else func
        self.origin = getattr(target, "__qualname__", None) or type(target).__qualname__
        where = f"@track_event({name!r}) on {self.origin}"
        if not isinstance(name, str) or not name.strip():
            raise TypeError(f"{where}: the event name must be a non-empty string.")
        if on_exception not in ("skip", "track"):
            raise TypeError(
                f"{where}: on_exception must be 'skip' or 'track', not {on_exception!r}."
            )
        if payload is not None and not isinstance(payload, Mapping):
            raise TypeError(f"{where}: payload= must be a mapping of static fields.")
        if schema is not None:
            from .events import check_schema

            check_schema(schema, where=where)
        self.schema = schema
        signature = Signature.of(func)
        self.name = name
        try:  # once here, not per call (a bad name is still reported per call, as before)
            self.name_checked = validate_event_name(name) is name
        except InvalidEventError:
            self.name_checked = False
        self.static = dict(payload or {})
        self.payload_fn: Callable[[Call], Mapping[str, Any]] | None = None
        fields: tuple[FieldGetter, ...] = ()
        if callable(payload_from) and not isinstance(payload_from, str):
            self.payload_fn = payload_from
        else:
            fields = compile_payload_from(
                payload_from, signature, where=where, allow_return=allow_return
            )
        self.arg_fields = tuple((f.key, f.get) for f in fields if not f.reads_result)
        self.all_fields = tuple((f.key, f.get) for f in fields)
        # Fields that are parameters themselves ("sku"): a generated wrapper reads its locals.
        plain = {
            p.name for p in signature.parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        bare = tuple((f.key, f.path) for f in fields if f.path in plain)
        self.bare = bare if len(bare) == len(fields) else None
        self.user_get = self._identity("user_id", user_id_from, signature, where, allow_return)
        self.link_get = self._identity("link_id", link_id_from, signature, where, allow_return)
        self.when = when
        self.needs_call = when is not None or self.payload_fn is not None
        self.timing = timing
        self.track_errors = on_exception == "track"
        self.client = client
        self.bind = signature.binder()
        positional = [p for p in signature.parameters if p.kind <= p.POSITIONAL_OR_KEYWORD]
        self.binds_instance = bool(positional) and not isinstance(func, staticmethod)
        self._reported_paths: set[str] = set()

    @staticmethod
    def _identity(
        key: str, path: str | None, signature: Signature, where: str, allow_return: bool
    ) -> tuple[str, Getter, bool] | None:
        if path is None:
            return None
        get, reads_result = compile_path(path, signature, where=where, allow_return=allow_return)
        return (key, get, reads_result)

    @property
    def inlined(self) -> bool:
        """Whether a generated wrapper can build the payload from its parameters alone."""
        return (
            self.bare is not None
            and not self.needs_call
            and not self.timing
            and self.user_get is None
            and self.link_get is None
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
            payload = self._payload(client, args, kwargs, result, outcome is _RETURNED)
            if call is not None and self.payload_fn is not None:
                payload.update(self.payload_fn(call))
            if error is not None:
                payload["error"] = type(error).__name__
            elif outcome is _CLOSED:
                payload["outcome"] = _CLOSED
            if self.timing:
                payload["duration_ms"] = (perf_counter() - started) * 1000.0
            user_id = link_id = None
            if self.user_get is not None:
                user_id = self._identity_value(client, self.user_get, args, kwargs, result, outcome)
            if self.link_get is not None:
                link_id = self._identity_value(client, self.link_get, args, kwargs, result, outcome)
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
        has_result: bool,
    ) -> dict[str, Any]:
        payload = dict(self.static) if self.static else {}
        fields = self.all_fields if has_result else self.arg_fields
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

    def _identity_value(
        self,
        client: Client,
        spec: tuple[str, Getter, bool],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        result: Any,
        outcome: str,
    ) -> Any:
        key, get, reads_result = spec
        if reads_result and outcome is not _RETURNED:
            return None
        try:
            return get(args, kwargs, result)
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


@functools.cache
def _event_function() -> type:
    """The decorated method, descriptor or callable object: a transparent wrapt proxy that
    pickles by reference. wrapt (which loads asyncio) is imported only when one is decorated.
    """
    import wrapt

    class _EventFunction(wrapt.FunctionWrapper[..., Any]):
        def __reduce_ex__(self, protocol: SupportsIndex) -> str:
            return str(self.__qualname__)

    return _EventFunction


#: The generated wrapper's own names: a parameter named so keeps the wrapt proxy.
_RESERVED = frozenset(
    {"_client", "_span", "_result", "_exc", "_started"}
) | frozenset(f"_w_{n}" for n in ("wrapped", "recipe", "facade", "get_client", "span", "modules",
                                   "perf_counter", "RETURNED", "RAISED", "name", "origin",
                                   "schema", "checked", "WeespinError", "CLEARED"))  # fmt: skip

_TEMPLATE = """
def _make(_w_wrapped, _w_recipe, _w_facade, _w_get_client, _w_span, _w_modules, _w_perf_counter,
          _w_RETURNED, _w_RAISED, _w_name, _w_origin, _w_schema, _w_checked, _w_WeespinError,
          _w_CLEARED):
    def {name}({parameters}):
        _client = _w_recipe.client or _w_facade._default or _w_get_client()
        {disabled}_span = _w_span() if "opentelemetry.trace" in _w_modules else None
        _started = {started}
        try:
            _result = _w_wrapped({call})
        except Exception as _exc:
            if _w_recipe.track_errors:
                _w_recipe.emit(_client, None, ({args}), {{{kwargs}}}, None, _exc, _started,
                               _w_RAISED, _span)
            raise
        {send}
        return _result
    return {name}
"""


def _plan_checks(recipe: _Recipe) -> str | None:
    """The per-call checks of an inlined call site's values, compiled from its keys: when
    they hold, the payload is valid as it is and the guard has nothing to look at. ``None``
    when some key or the name always needs the full way (or a schema or static fields do).
    """
    from ._scrub import is_clean_name, plain_value_check

    assert recipe.bare is not None
    if recipe.static or recipe.schema is not None or not recipe.name_checked:
        return None
    if not is_clean_name(recipe.name):
        return None
    checks = [plain_value_check(key, path) for key, path in recipe.bare]
    if any(check is None for check in checks):
        return None
    return " and ".join(cast(list[str], checks)) or "True"


def _generated_wrapper(func: Any, recipe: _Recipe) -> Any:
    """A plain function with ``func``'s exact parameters that runs the recipe: no proxy, no
    binding per call. ``None`` when ``func`` is not a plain function one can be made for.
    """
    try:
        parameters, call = exact_signature_source(func, _RESERVED)
    except ValueError:
        return None
    code = func.__code__
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    args = [n for n in names[: code.co_argcount]]
    kwargs = [f"{n!r}: {n}" for n in names[code.co_argcount :]]
    rest = code.co_argcount + code.co_kwonlyargcount
    if code.co_flags & inspect.CO_VARARGS:
        args.append("*" + code.co_varnames[rest])
        rest += 1
    if code.co_flags & inspect.CO_VARKEYWORDS:
        kwargs.append("**" + code.co_varnames[rest])
    args_source = ", ".join(args) + ("," if len(args) == 1 else "")
    if recipe.inlined:
        assert recipe.bare is not None
        fields = ", ".join(f"{key!r}: {path}" for key, path in recipe.bare)
        static = "**_w_recipe.static, " if recipe.static else ""
        pipeline = (
            f"_client._pipeline(_w_name, {{{static}{fields}}}, None, None, None, _w_origin, "
            "_span, _w_schema, _w_checked)"
        )
        checks = _plan_checks(recipe)
        if checks is not None:  # values that pass need nothing more than enrich and send
            pipeline = (
                f"_client._emit_cleared(_w_name, {{{fields}}}, _w_origin, _span) "
                f"if _client._scrub.standard and {checks} else {pipeline}"
            )
        send = (
            "try:\n"
            f"            {pipeline}\n"
            "        except _w_WeespinError as _exc:\n"
            "            _w_recipe.failed(_client, _exc)"
        )
    else:
        send = (
            f"_w_recipe.emit(_client, None, ({args_source}), {{{', '.join(kwargs)}}}, _result, "
            "None, _started, _w_RETURNED, _span)"
        )
    name = code.co_name if code.co_name.isidentifier() and code.co_name not in _RESERVED else "f"
    source = _TEMPLATE.format(
        name=name,
        parameters=parameters,
        call=call,
        args=args_source,
        kwargs=", ".join(kwargs),
        started="_w_perf_counter()" if recipe.timing else "0.0",
        # Disabled: the call only; an inlined site's pipeline says so itself, at once.
        disabled=""
        if recipe.inlined and not recipe.track_errors
        else f"if _client.settings.disabled:\n            return _w_wrapped({call})\n        ",
        send=send,
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<weespin track_event {recipe.origin}>", "exec"), namespace)
    wrapper = namespace["_make"](
        func, recipe, _facade, get_client, current_span, sys.modules, perf_counter,
        _RETURNED, _RAISED, recipe.name, recipe.origin, recipe.schema, recipe.name_checked,
        WeespinError, _CLEARED,
    )  # fmt: skip
    wrapper.__code__ = wrapper.__code__.replace(co_qualname=func.__qualname__)
    wrapper.__defaults__ = func.__defaults__
    wrapper.__kwdefaults__ = func.__kwdefaults__
    functools.update_wrapper(wrapper, func)
    return wrapper


def _callable_kind(func: Any) -> Any:
    target = func.__func__ if isinstance(func, (classmethod, staticmethod)) else func
    if inspect.isfunction(target) or inspect.ismethod(target):
        return target
    call = getattr(type(target), "__call__", None)  # noqa: B004 - a callable object's method
    return call if call is not None else target


def _sync_wrapper(recipe: _Recipe) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        client = recipe.client or _facade._default or get_client()
        if client.settings.disabled:
            return wrapped(*args, **kwargs)
        span = current_span()
        started = perf_counter() if recipe.timing else 0.0
        try:
            result = wrapped(*args, **kwargs)
        except Exception as exc:
            if recipe.track_errors:
                recipe.emit(client, instance, args, kwargs, None, exc, started, _RAISED, span)
            raise
        recipe.emit(client, instance, args, kwargs, result, None, started, _RETURNED, span)
        return result

    return wrapper


def _async_wrapper(recipe: _Recipe) -> Callable[..., Any]:
    async def wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        client = recipe.client or _facade._default or get_client()
        if client.settings.disabled:
            return await wrapped(*args, **kwargs)
        span = current_span()
        started = perf_counter() if recipe.timing else 0.0
        try:
            result = await wrapped(*args, **kwargs)
        except Exception as exc:
            if recipe.track_errors:
                recipe.emit(client, instance, args, kwargs, None, exc, started, _RAISED, span)
            raise
        recipe.emit(client, instance, args, kwargs, result, None, started, _RETURNED, span)
        return result

    return wrapper


def _generator_wrapper(recipe: _Recipe) -> Callable[..., Any]:
    def run(
        client: Client,
        generator: Generator[Any, Any, Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Generator[Any, Any, Any]:
        span = current_span()
        started = perf_counter() if recipe.timing else 0.0
        try:
            result = yield from generator
        except GeneratorExit:
            recipe.emit(client, instance, args, kwargs, None, None, started, _CLOSED, span)
            raise
        except Exception as exc:
            if recipe.track_errors:
                recipe.emit(client, instance, args, kwargs, None, exc, started, _RAISED, span)
            raise
        recipe.emit(client, instance, args, kwargs, result, None, started, _RETURNED, span)
        return result

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        client = recipe.client or _facade._default or get_client()
        if client.settings.disabled:
            return wrapped(*args, **kwargs)
        return run(client, wrapped(*args, **kwargs), instance, args, kwargs)

    return wrapper


def _async_generator_wrapper(recipe: _Recipe) -> Callable[..., Any]:
    async def run(
        client: Client,
        agen: AsyncGenerator[Any, Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> AsyncGenerator[Any, Any]:
        span = current_span()
        started = perf_counter() if recipe.timing else 0.0
        try:
            try:
                value = await agen.__anext__()
            except StopAsyncIteration:
                pass
            else:
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        await agen.aclose()
                        raise
                    except BaseException as thrown:
                        try:
                            value = await agen.athrow(thrown)
                        except StopAsyncIteration:
                            break
                    else:
                        try:
                            value = await agen.asend(sent)
                        except StopAsyncIteration:
                            break
        except GeneratorExit:
            recipe.emit(client, instance, args, kwargs, None, None, started, _CLOSED, span)
            raise
        except Exception as exc:
            if recipe.track_errors:
                recipe.emit(client, instance, args, kwargs, None, exc, started, _RAISED, span)
            raise
        recipe.emit(client, instance, args, kwargs, None, None, started, _RETURNED, span)

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        client = recipe.client or _facade._default or get_client()
        if client.settings.disabled:
            return wrapped(*args, **kwargs)
        return run(client, wrapped(*args, **kwargs), instance, args, kwargs)

    return wrapper


def track_event(
    name: str,
    payload_from: PayloadFrom | None = None,
    *,
    payload: Mapping[str, Any] | None = None,
    user_id_from: str | None = None,
    link_id_from: str | None = None,
    when: Callable[[Call], bool] | None = None,
    timing: bool = False,
    on_exception: OnException = "skip",
    client: Client | None = None,
    schema: type[BaseModel] | None = None,
) -> EventDecorator:
    """Track an event each time the decorated callable completes.

    Works on functions, coroutine functions, generator and async generator functions,
    methods, classmethods and staticmethods (put ``@track_event`` outside), and callable
    objects. The decorated callable keeps its name, signature, docstring and kind, and its
    return values and exceptions pass through untouched.

    ``payload_from``: a path (``"sku"``), paths (``["sku", "quantity"]``; the key is the last
    segment), a mapping ``{payload_key: path}``, or a callable taking a :class:`Call` and
    returning a mapping. A path starts at a parameter name or ``return`` and goes on through
    attributes (or keys, for mappings). Unknown roots raise ``TypeError`` right here.

    ``payload``: static fields. ``user_id_from`` / ``link_id_from``: paths. ``when``: a
    predicate on the :class:`Call`. ``timing=True`` adds ``duration_ms``.
    ``on_exception="track"`` also sends the event of a call that raised, with ``error`` set to
    the exception's class name (``"skip"``, the default, sends nothing then). A generator
    closed before it is exhausted sends its event once, with ``outcome="closed"`` and without
    the fields that needed its return value. ``schema``: a pydantic model the payload is
    validated and coerced through before the API's rules (see :mod:`weespin_instrument.events`);
    a model that is not one raises ``TypeError`` here.

    Example::

        @weespin.track_event(
            "purchase",
            payload_from={"amount": "order.total", "order_id": "return.id"},
            user_id_from="user.id",
        )
        def checkout(order: Order, user: User) -> Receipt: ...
    """

    def decorate(func: F) -> F:
        if not callable(func) and not isinstance(func, (classmethod, staticmethod)):
            raise TypeError(f"@track_event({name!r}) needs a callable, got {type(func).__name__}.")
        kind = _callable_kind(func)
        is_async_generator = inspect.isasyncgenfunction(kind)
        recipe = _Recipe(
            func,
            name,
            payload_from,
            payload=payload,
            user_id_from=user_id_from,
            link_id_from=link_id_from,
            when=when,
            timing=timing,
            on_exception=on_exception,
            client=client,
            allow_return=not is_async_generator,
            schema=schema,
        )
        if is_async_generator:
            wrapper = _async_generator_wrapper(recipe)
        elif inspect.isgeneratorfunction(kind):
            wrapper = _generator_wrapper(recipe)
        elif inspect.iscoroutinefunction(kind):
            wrapper = _async_wrapper(recipe)
        else:
            generated = _generated_wrapper(func, recipe)
            if generated is not None:
                return cast(F, generated)
            wrapper = _sync_wrapper(recipe)
        return cast(F, _event_function()(cast(Callable[..., Any], func), wrapper))

    return decorate
