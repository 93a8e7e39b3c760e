"""One public-API rule (zuko's): `__all__` lives in each module and lists every public function and
class the module defines; a package `__init__` re-exports its modules (`import *`) and its
`__all__` is the union of theirs, so an exported name is written once; helpers start with an
underscore; tests import public names from public paths only."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "kexue"
#: the theme and data packages; kexue.recipes is not a library package (a recipe's interface is
#: the recipe contract checked by tests/test_articles.py: Config, SMOKE, QUICK, run, CLAIMS)
PACKAGES = sorted(
    p.name for p in PKG.iterdir() if (p / "__init__.py").exists() and p.name != "recipes"
)
LIBRARY_MODULES = sorted(
    [f"kexue.{p.stem}" for p in PKG.glob("*.py") if not p.stem.startswith("_")]
    + [
        f"kexue.{pkg}.{m.name}"
        for pkg in PACKAGES
        for m in pkgutil.iter_modules([str(PKG / pkg)])
        if not m.name.startswith("_")
    ]
)
TEST_FILES = sorted((ROOT / "tests").rglob("*.py"))
#: (test file, private module) pairs allowed on purpose, each with its reason.
PRIVATE_IMPORTS_ALLOWED = {
    # Plotting is recipe-private by the layering rule (only kexue/recipes/_plot.py may import
    # matplotlib, tests/test_layering.py); the report's tests check its figures directly.
    ("tests/test_report.py", "kexue.recipes._plot"),
}


def _tree(module: str) -> ast.Module:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return ast.parse(Path(spec.origin).read_text(encoding="utf-8"))


def _is_submodule(module: str, name: str) -> bool:
    try:
        return importlib.util.find_spec(f"{module}.{name}") is not None
    except ModuleNotFoundError:
        return False


def test_there_is_something_to_check() -> None:
    assert {"gan", "flows", "text", "graph", "stats", "data"} <= set(PACKAGES)
    assert "kexue.gan.wgan" in LIBRARY_MODULES and "kexue.runs" in LIBRARY_MODULES


@pytest.mark.parametrize("name", LIBRARY_MODULES)
def test_module_all_lists_its_public_definitions(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, list | tuple), f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    tree = _tree(name)
    defined = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    missing = [d for d in defined if not d.startswith("_") and d not in exported]
    assert not missing, (
        f"{name} defines public {missing} outside __all__: export them, or prefix the helpers "
        f"with an underscore"
    )
    imported = {
        (alias.asname or alias.name).split(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    for export in exported:
        assert not export.startswith("_"), f"{name}.__all__ lists the private {export!r}"
        assert hasattr(module, export), f"{name}.__all__ lists {export!r}, which is not defined"
        # written once: a module exports what it defines, never what it imports
        assert export not in imported, f"{name}.__all__ re-exports the imported {export!r}"


@pytest.mark.parametrize("pkg", PACKAGES)
def test_package_all_is_the_union_of_its_modules(pkg: str) -> None:
    package = importlib.import_module(f"kexue.{pkg}")
    modules = [m for m in LIBRARY_MODULES if m.startswith(f"kexue.{pkg}.")]
    assert modules, pkg
    owner: dict[str, str] = {}
    for name in modules:
        for export in importlib.import_module(name).__all__:
            assert export not in owner, f"{export!r} is exported by {owner.get(export)} and {name}"
            owner[export] = name
    assert sorted(package.__all__) == sorted(owner), f"kexue.{pkg}.__all__ is not the union"
    for export, name in owner.items():
        assert getattr(package, export) is getattr(importlib.import_module(name), export), export


def _private_imports(path: Path) -> list[str]:
    """`from kexue... import x` where a module segment or x is private, or x is not public."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "kexue" and any(p.startswith("_") for p in parts):
                    bad.append(alias.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "kexue":
            module = node.module or ""
            if any(p.startswith("_") for p in module.split(".")):
                bad.append(module)
                continue
            exported = getattr(importlib.import_module(module), "__all__", None)
            for alias in node.names:
                target = f"{module}.{alias.name}"
                if alias.name.startswith("_"):
                    bad.append(target)
                elif _is_submodule(module, alias.name):
                    continue
                elif exported is not None and alias.name not in exported:
                    bad.append(f"{target} (not in {module}.__all__)")
    return bad


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_tests_import_public_names_only(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    bad = [b for b in _private_imports(path) if (rel, b) not in PRIVATE_IMPORTS_ALLOWED]
    assert not bad, (
        f"{rel} imports {bad}: test through the public API, or make what the test needs public "
        f"(in its module's __all__, in a library module for a recipe's helper)"
    )


def test_the_checker_sees_private_imports(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "from kexue.recipes import _flows\n"
        "from kexue.gan.losses import _flat\n"
        "from kexue.runs import Path\n"
        "import kexue.recipes._plot\n"
        "from kexue.gan import wgan_d_loss\n"
        "from kexue.gan import wgan\n"
        "from kexue.recipes.wgan import Config\n"
    )
    assert _private_imports(probe) == [
        "kexue.recipes._flows",
        "kexue.gan.losses._flat",
        "kexue.runs.Path (not in kexue.runs.__all__)",
        "kexue.recipes._plot",
    ]
