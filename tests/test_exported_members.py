"""The public surface is pinned: each public module's ``__all__`` lists exactly what it offers.

httpx's ``tests/test_exported_members.py`` is the model: ``__all__`` equals, sorted as the
lists are kept (ruff's RUF022), the public names the module binds. Read from each module's
source, so that what happens to be imported at the moment does not count:

- a package's ``__init__`` offers what it defines and what it imports from the package's
  other modules: importing is what it is for;
- a plain module offers what it defines; what it imports is for its own use, unless it lists
  the name in ``__all__`` (a re-export);
- names served lazily by a module ``__getattr__`` (``weespin.track_event``, which loads
  wrapt on first use) are offered too: they are in ``__all__`` without being bound by the
  import, so the test reads them from ``__getattr__`` itself and checks that each resolves.
  A submodule it serves (``weespin.events``) is public by its own path.

A name added to a module without being exported (or exported without existing) fails here:
add it to ``__all__``, or give it a leading underscore.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

import weespin_instrument

PACKAGE = Path(weespin_instrument.__file__).parent

#: Public-looking names some modules define without exporting them, each for a reason. The
#: test checks the list itself: each is defined there and left out of ``__all__``.
NOT_EXPORTED = {
    # pytest finds a plugin's hooks by these names: they cannot have an underscore.
    "weespin_instrument.testing": {"pytest_addoption", "pytest_configure", "pytest_unconfigure"},
}


@dataclass
class Source:
    """What a module's source binds at import time (``TYPE_CHECKING`` blocks aside)."""

    defined: set[str]
    imported: set[str]  # from the package's other modules
    lazy: set[str]  # served by a module __getattr__

    @classmethod
    def read(cls, path: Path) -> Source:
        source = cls(set(), set(), set())
        source._walk(ast.parse(path.read_text(encoding="utf-8")).body)
        return source

    def _walk(self, statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    self._walk(node.body)
                self._walk(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, *(h.body for h in node.handlers), node.orelse):
                    self._walk(block)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defined.add(node.name)
                if node.name == "__getattr__" and isinstance(node, ast.FunctionDef):
                    self.lazy |= _served_names(node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                self.defined |= {t.id for t in targets if isinstance(t, ast.Name)}
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                self.imported |= {alias.asname or alias.name for alias in node.names}


def _served_names(getattr_: ast.FunctionDef) -> set[str]:
    """The names ``__getattr__(name)`` compares ``name`` with: the ones it serves."""
    param = getattr_.args.args[0].arg
    served: set[str] = set()
    for node in ast.walk(getattr_):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name):
            if node.left.id != param:
                continue
            for right in node.comparators:
                many = isinstance(right, (ast.Tuple, ast.List, ast.Set))
                values = right.elts if many else [right]
                served |= {v.value for v in values if isinstance(v, ast.Constant)}
    return served


def _public(names: set[str]) -> set[str]:
    return {name for name in names if not name.startswith("_")} | (names & {"__version__"})


def kept_order(name: str) -> tuple[int, str]:
    """The order ``__all__`` is kept in (ruff's RUF022): CONSTANTS, Classes, then the rest."""
    if len(name) > 1 and name.isupper():
        return (0, name)
    return (1 if name[0].isupper() else 2, name)


def public_modules() -> list[str]:
    """Every module of the package whose dotted path has no ``_`` part (``__main__`` aside)."""
    names = ["weespin_instrument"]
    for info in pkgutil.walk_packages([str(PACKAGE)], "weespin_instrument."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def path_of(name: str) -> Path:
    relative = Path(*name.split(".")[1:])
    package = PACKAGE / relative / "__init__.py"
    return package if package.exists() else (PACKAGE / relative).with_suffix(".py")


def is_submodule(module: str, name: str) -> bool:
    return path_of(f"{module}.{name}").exists()


def test_every_public_module_declares_its_surface() -> None:
    assert public_modules() == [
        "weespin_instrument",
        "weespin_instrument.celery",
        "weespin_instrument.cli",
        "weespin_instrument.collector",
        "weespin_instrument.context",
        "weespin_instrument.devices",
        "weespin_instrument.django",
        "weespin_instrument.errors",
        "weespin_instrument.events",
        "weespin_instrument.otel",
        "weespin_instrument.testing",
        "weespin_instrument.transports",
        "weespin_instrument.web",
    ]
    for name in public_modules():
        assert "__all__" in Source.read(path_of(name)).defined, f"{name} has no __all__"


@pytest.mark.parametrize("name", public_modules())
def test_all_is_what_the_module_offers(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    exported: list[str] = module.__all__
    source = Source.read(path_of(name))
    not_exported = NOT_EXPORTED.get(name, set())
    lazy = {served for served in source.lazy if not is_submodule(name, served)}
    if path_of(name).name == "__init__.py":
        offered = source.defined | source.imported | lazy
    else:
        offered = (source.defined - not_exported) | (source.imported & set(exported)) | lazy
    assert exported == sorted(_public(offered) - {"__all__"}, key=kept_order)
    assert not_exported <= source.defined - set(exported), "NOT_EXPORTED is out of date"


@pytest.mark.parametrize("name", public_modules())
def test_every_exported_name_resolves(name: str) -> None:
    module = importlib.import_module(name)
    missing = [member for member in module.__all__ if not hasattr(module, member)]
    assert missing == []


def test_the_lazy_names_load_on_first_use_only() -> None:
    # In a fresh interpreter: the names of __all__ that `import weespin_instrument` leaves
    # unbound are exactly those its __getattr__ serves, and `import *` still gets them.
    code = (
        "import json, weespin_instrument as w\n"
        "unbound = sorted(set(w.__all__) - set(vars(w)))\n"
        "from weespin_instrument import *\n"
        "print(json.dumps([unbound, sorted(set(w.__all__) - set(globals()))]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    unbound, not_imported = json.loads(done.stdout)
    lazy = Source.read(path_of("weespin_instrument")).lazy
    assert unbound == sorted(n for n in lazy if not is_submodule("weespin_instrument", n))
    assert unbound == ["Call", "EventDecorator", "track_event"]
    assert not_imported == []
