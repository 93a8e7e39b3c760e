"""Imports flow one way: cli -> recipes -> themes -> nn/data/runs. Themes do no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "kexue"
THEME_DIRS = ["gan", "flows", "latent", "stats", "text", "graph", "train", "seq", "bert", "nn"]
THEME_FILES = sorted(p for d in THEME_DIRS for p in (PKG / d).rglob("*.py"))
FORBIDDEN = ("kexue.recipes", "kexue.cli", "kexue.report", "matplotlib", "requests", "urllib")


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", THEME_FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_theme_modules_import_no_recipe_no_plotting_no_io(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for name in _imports(tree):
        assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"
    for node in tree.body:  # module level only: no side effects on import
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            assert not (isinstance(func, ast.Name) and func.id in ("open", "print")), path.name


def test_only_plot_module_imports_matplotlib():
    for path in (PKG / "recipes").rglob("*.py"):
        if path.name == "_plot.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not any(n.startswith("matplotlib") for n in _imports(tree)), path.name


def test_package_init_is_light():
    tree = ast.parse((PKG / "__init__.py").read_text(encoding="utf-8"))
    assert _imports(tree) == []
