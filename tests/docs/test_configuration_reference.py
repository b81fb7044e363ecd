"""The configuration reference is generated from ``Settings``: every setting, nothing else."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from weespin_instrument import Settings

ROOT = Path(__file__).resolve().parents[2]


def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("site_hooks", ROOT / "docs/hooks/site.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_has_one_row_per_setting_each_with_a_meaning() -> None:
    rows = hooks().settings_rows()

    assert [row[0] for row in rows] == [f"`{name}`" for name in Settings._fields]
    assert all(row[4] for row in rows), [row[0] for row in rows if not row[4]]
    by_name = {row[0]: row for row in rows}
    assert by_name["`base_url`"][3] == "`WEESPIN_BASE_URL`"
    assert by_name["`max_backoff`"][2] == "`10.0`"
    assert "Retry-After" in by_name["`max_backoff`"][4], "the #: comment of the field"


def test_the_page_takes_the_table_where_its_marker_is() -> None:
    page = (ROOT / "docs/configuration.md").read_text()
    rendered = hooks().on_page_markdown(page)

    assert "<!-- settings-table -->" in page
    assert "| `max_backoff` |" in rendered and "<!-- settings-table -->" not in rendered


def test_the_readme_names_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z_]+)", section))
    assert set(Settings._fields) - named == set()


def test_the_page_has_a_table_per_group_and_one_of_every_environment_variable() -> None:
    from weespin_instrument._config import GROUPS
    from weespin_instrument._environment import ENVIRONMENT

    page = (ROOT / "docs/configuration.md").read_text()
    rendered = hooks().on_page_markdown(page)

    assert "<!-- environment-table -->" in page and "<!-- environment-table -->" not in rendered
    for attribute, cls in GROUPS:
        assert f"### `settings.{attribute}` (`{cls.__name__}`)" in rendered
    for variable in ENVIRONMENT:
        assert f"| `{variable.name}` | `{variable.setting}` | {variable.description} |" in rendered
    assert '`"drop_newest" \\| "drop_oldest" \\| "block"`' in rendered  # the enumeration's values
