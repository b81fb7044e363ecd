"""A generated wrapper with a plain function's exact parameters: no proxy, no binding per call.

``@track_event`` on a plain function compiles one (see :func:`generated_wrapper`); methods,
descriptors and callable objects keep the wrapt proxy.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any, cast

from . import _facade
from ._client import _CLEARED
from ._enrich import current_span
from ._facade import get_client
from ._recipe import RAISED, RETURNED
from .errors import WeespinError

if TYPE_CHECKING:
    from ._call_recipe import CallRecipe

__all__ = ["exact_signature_source", "generated_wrapper"]


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
        _client = {client}
        {disabled}_span = _w_span() if "opentelemetry.trace" in _w_modules else None
        {started_line}try:
            _result = _w_wrapped({call})
        except Exception as _exc:
            if _w_recipe.track_errors:
                _w_recipe.emit(_client, None, ({args}), {{{kwargs}}}, None, _exc, {started_var},
                               _w_RAISED, _span)
            raise
        {send}
        return _result
    return {name}
"""


def _plan_checks(recipe: CallRecipe) -> str | None:
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


def generated_wrapper(func: Any, recipe: CallRecipe) -> Any:
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
                f"_client._emit_payload(_w_name, {{{fields}}}, _w_origin, _span, True) "
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
            f"None, {'_started' if recipe.timing else '0.0'}, _w_RETURNED, _span)"
        )
    name = code.co_name if code.co_name.isidentifier() and code.co_name not in _RESERVED else "f"
    source = _TEMPLATE.format(
        name=name,
        parameters=parameters,
        call=call,
        args=args_source,
        kwargs=", ".join(kwargs),
        started_line="_started = _w_perf_counter()\n        " if recipe.timing else "",
        started_var="_started" if recipe.timing else "0.0",
        # client= is fixed when decorating; the default client is looked up per call.
        client="_w_facade._default or _w_get_client()"
        if recipe.client is None
        else "_w_recipe.client",
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
        RETURNED, RAISED, recipe.name, recipe.origin, recipe.schema, recipe.name_checked,
        WeespinError, _CLEARED,
    )  # fmt: skip
    wrapper.__code__ = wrapper.__code__.replace(co_qualname=func.__qualname__)
    wrapper.__defaults__ = func.__defaults__
    wrapper.__kwdefaults__ = func.__kwdefaults__
    functools.update_wrapper(wrapper, func)
    return wrapper


def exact_signature_source(func: Callable[..., Any], reserved: frozenset[str]) -> tuple[str, str]:
    """``(parameters, call)`` source for a wrapper with ``func``'s exact parameters.

    ``parameters`` declares them (each default as ``None``: the caller sets the wrapper's
    ``__defaults__`` and ``__kwdefaults__`` to ``func``'s); ``call`` passes them on, positional
    ones by position. Raises ``ValueError`` when ``func`` is not a plain function whose code
    states its own parameters (a ``__wrapped__`` or ``__signature__`` says otherwise), or when
    a parameter is named like one of ``reserved`` (the wrapper's own names).

    Example::

        exact_signature_source(lambda a, /, b=1, *c, d, **e: None, frozenset())
        # ('a, /, b=None, *c, d, **e', 'a, b, *c, d=d, **e')
    """
    if not inspect.isfunction(func) or hasattr(func, "__wrapped__"):
        raise ValueError("not a plain function")
    if "__signature__" in getattr(func, "__dict__", {}):
        raise ValueError("a __signature__ of its own")
    code = func.__code__
    positional = code.co_argcount
    keyword_only = code.co_kwonlyargcount
    names = code.co_varnames[: positional + keyword_only]
    var_positional = var_keyword = None
    index = positional + keyword_only
    if code.co_flags & inspect.CO_VARARGS:
        var_positional, index = code.co_varnames[index], index + 1
    if code.co_flags & inspect.CO_VARKEYWORDS:
        var_keyword = code.co_varnames[index]
    every = {*names, var_positional, var_keyword} - {None}
    if every & reserved or any(not str(n).isidentifier() for n in every):
        raise ValueError("a parameter is named like the wrapper's own")
    defaults = len(func.__defaults__ or ())
    kwdefaults = func.__kwdefaults__ or {}
    declared: list[str] = []
    passed: list[str] = []
    for i, name in enumerate(names[:positional]):
        declared.append(f"{name}=None" if i >= positional - defaults else name)
        passed.append(name)
        if i + 1 == code.co_posonlyargcount:
            declared.append("/")
    if var_positional:
        declared.append(f"*{var_positional}")
        passed.append(f"*{var_positional}")
    elif keyword_only:
        declared.append("*")
    for name in names[positional:]:
        declared.append(f"{name}=None" if name in kwdefaults else name)
        passed.append(f"{name}={name}")
    if var_keyword:
        declared.append(f"**{var_keyword}")
        passed.append(f"**{var_keyword}")
    return ", ".join(declared), ", ".join(passed)
