"""MkDocs hooks of the documentation site (``hooks:`` in mkdocs.yml).

- The configuration reference is generated from the code: ``<!-- settings-table -->`` in a
  page becomes one row per field of :class:`weespin_instrument.Settings` (its type, default,
  environment variable and the ``#:`` comment above it), so the page cannot drift from it.
- A page the nav names but another branch has not written yet gets a stub, so the site
  builds meanwhile (``web.md`` belongs to the web integrations).

``python docs/hooks/site.py`` prints the table.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

MARKER = "<!-- settings-table -->"

#: Pages that may be missing, and the stub that stands in for each.
STUBS = {
    "web.md": (
        "# Web frameworks and workers\n\n"
        "The ASGI/WSGI middleware (`weespin_instrument.web`), Django's "
        "(`weespin_instrument.django`) and workers are documented here soon; see their "
        "docstrings in the [API reference](api.md) meanwhile.\n"
    ),
}

#: What the fields without a ``#:`` comment in ``Settings`` mean.
DESCRIPTIONS = {
    "api_key": "The application's key (dashboard: Application -> Configuration -> "
    "Integration), sent as the raw `Authorization` header; shown only by its last 4 "
    "characters. A local collector accepts any non-empty value.",
    "base_url": "Where the API is; point it at a local collector in development.",
    "init_path": "The device initialization endpoint.",
    "events_path": "The events endpoint.",
    "disabled": "Turn tracking off: calls return at once, nothing is counted or sent.",
    "strict": "Raise `InvalidEventError` (and configuration errors) at the call instead of "
    "dropping and counting. Always on in the pytest fixture.",
    "transport": "`background`, `sync`, `console`, `memory`, `none`, or a transport instance.",
    "device_id": "Use this device id and skip device initialization.",
    "device_store": "Where the device id is kept (`FileDeviceStore(path)` keeps it across "
    "restarts).",
    "sensitive_data": "What happens to sensitive values: `redact`, `drop_event`, `raise` or `off`.",
    "on_error": "Called with a `DroppedEvent` for every event that will not be delivered.",
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


def settings_rows() -> list[tuple[str, str, str, str, str]]:
    """``(setting, type, default, environment variable, meaning)`` for every setting."""
    from weespin_instrument import _config
    from weespin_instrument._config import Settings

    comments = _comments(Settings)
    rows = []
    for name in Settings._fields:
        default = Settings._field_defaults.get(name)
        shown_default = "none" if default is None else f"`{default!r}`"
        env = getattr(_config, "ENV_" + name.upper(), None)
        meaning = _rst_to_markdown(comments.get(name) or DESCRIPTIONS.get(name, ""))
        kind = str(Settings.__annotations__.get(name, "")).replace("|", "\\|")
        rows.append((f"`{name}`", f"`{kind}`", shown_default, f"`{env}`" if env else "", meaning))
    return rows


def settings_table() -> str:
    """The Markdown table of every setting."""
    lines = [
        "| `configure()` argument | type | default | environment variable | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in settings_rows()]
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, settings_table())
    return markdown


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for name, content in STUBS.items():
        if files.get_file_from_path(name) is None:
            files.append(File.generated(config, name, content=content))
    return files


if __name__ == "__main__":
    print(settings_table(), end="")
