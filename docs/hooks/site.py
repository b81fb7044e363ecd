"""MkDocs hooks of the documentation site (``hooks:`` in mkdocs.yml).

- The configuration reference is generated from the code: ``<!-- settings-table -->`` in a
  page becomes one table per option group of :class:`weespin_instrument.Settings`, one row
  per setting (its type, default, environment variable and the ``#:`` comment above it);
  ``<!-- environment-table -->`` becomes the table of the environment variables
  (``weespin_instrument._environment.ENVIRONMENT``). The page cannot drift from the code.
- A page the nav names but another branch has not written yet gets a stub, so the site
  builds meanwhile (``web.md`` belongs to the web integrations).

``python docs/hooks/site.py`` prints the table.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, get_args

MARKER = "<!-- settings-table -->"
ENVIRONMENT_MARKER = "<!-- environment-table -->"

#: Pages that may be missing, and the stub that stands in for each.
STUBS = {
    "web.md": (
        "# Web frameworks and workers\n\n"
        "The ASGI/WSGI middleware (`weespin_instrument.web`), Django's "
        "(`weespin_instrument.django`) and workers are documented here soon; see their "
        "docstrings in the [API reference](api.md) meanwhile.\n"
    ),
}


def _comments(cls: type) -> dict[str, str]:
    """The ``#:`` comment lines right above each field of ``cls``'s body."""
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(cls).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        field = re.match(r"([a-z_][a-z0-9_]*)\s*:", stripped)
        if field and pending:
            found[field.group(1)] = " ".join(pending)
        pending = []
    return found


def _rst_to_markdown(text: str) -> str:
    return text.replace("``", "`")


def _shown_type(annotation: str) -> str:
    """``annotation`` with each enumeration's name replaced by its values."""
    from weespin_instrument import _choices

    for name in ("OverflowPolicy", "SensitiveDataPolicy", "TransportName"):
        values = " | ".join(f'"{value}"' for value in get_args(getattr(_choices, name)))
        annotation = re.sub(rf"\b{name}\b", values, annotation)
    return annotation.replace("|", "\\|")


def _sections() -> list[tuple[str, type, list[str]]]:
    """``(title, class, flat names)``: each option group, then the client's own settings."""
    from weespin_instrument._config import GROUP_OF, GROUPS, Settings

    sections = []
    for attribute, cls in GROUPS:
        title = _rst_to_markdown((cls.__doc__ or "").strip().splitlines()[0].rstrip("."))
        names = [name for name, group in GROUP_OF.items() if group == attribute]
        sections.append((f"`settings.{attribute}` (`{cls.__name__}`): {title}", cls, names))
    own = [name for name in Settings._fields if name not in GROUP_OF]
    sections.append(("The client's own (`Settings`)", Settings, own))
    return sections


def settings_rows() -> list[tuple[str, str, str, str, str]]:
    """``(setting, type, default, environment variable, meaning)`` for every setting."""
    from weespin_instrument._config import Settings
    from weespin_instrument._environment import ENVIRONMENT

    variables = {variable.setting: variable.name for variable in ENVIRONMENT}
    found = {}
    for _, cls, names in _sections():
        comments = _comments(cls)
        for name in names:
            default = Settings._field_defaults[name]
            shown_default = "none" if default is None else f"`{default!r}`"
            env = variables.get(name)
            meaning = _rst_to_markdown(comments.get(name, ""))
            annotation = cls.__annotations__.get(name, "")  # a NamedTuple's: a ForwardRef
            kind = _shown_type(str(getattr(annotation, "__forward_arg__", annotation)))
            found[name] = (
                f"`{name}`",
                f"`{kind}`",
                shown_default,
                f"`{env}`" if env else "",
                meaning,
            )
    return [found[name] for name in Settings._fields]


_HEADER = (
    "| `configure()` argument | type | default | environment variable | meaning |\n"
    "| --- | --- | --- | --- | --- |\n"
)


def settings_table() -> str:
    """The Markdown tables of every setting, one per group."""
    rows = {row[0]: row for row in settings_rows()}
    parts = []
    for title, _, names in _sections():
        lines = ["| " + " | ".join(rows[f"`{name}`"]) + " |" for name in names]
        parts.append(f"### {title}\n\n{_HEADER}" + "\n".join(lines) + "\n")
    return "\n".join(parts)


def environment_table() -> str:
    """The Markdown table of every environment variable :meth:`Settings.resolve` reads."""
    from weespin_instrument._environment import ENVIRONMENT

    lines = ["| variable | setting | takes |", "| --- | --- | --- |"]
    lines += [f"| `{v.name}` | `{v.setting}` | {v.description} |" for v in ENVIRONMENT]
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, settings_table())
    if ENVIRONMENT_MARKER in markdown:
        markdown = markdown.replace(ENVIRONMENT_MARKER, environment_table())
    return markdown


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for name, content in STUBS.items():
        if files.get_file_from_path(name) is None:
            files.append(File.generated(config, name, content=content))
    return files


if __name__ == "__main__":
    print(settings_table() + "\n" + environment_table(), end="")
