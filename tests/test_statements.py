"""Every recipe lists its article's checkable statements and where each is checked (issue 15)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from kexue.articles import ARTICLES

ROOT = Path(__file__).resolve().parents[1]
READY = [a for a in ARTICLES if a.ready]


def _test_exists(node: str) -> bool:
    path, _, name = node.partition("::")
    file = ROOT / path
    if not path.startswith("tests/") or not file.is_file() or not name:
        return False
    name = name.split("[", 1)[0].split("::")[-1]
    return (
        re.search(rf"^\s*def {re.escape(name)}\(", file.read_text(encoding="utf-8"), re.M)
        is not None
    )


@pytest.mark.parametrize("article", READY, ids=[a.slug for a in READY])
def test_statements_point_at_real_claims_and_tests(article):
    """Every recipe lists its article's checkable statements; each points at a claim of the
    recipe, an existing unit test, or gives its reason; every article claim is one of them."""
    from kexue.runs import Statement

    recipe = importlib.import_module(article.recipe)
    statements = getattr(recipe, "STATEMENTS", ())
    assert statements, f"{article.slug}: the recipe lists no STATEMENTS"
    assert all(isinstance(s, Statement) for s in statements)
    metrics = {c.metric for c in recipe.CLAIMS}
    for s in statements:
        if s.status == "claim":
            assert s.where in metrics, f"{article.slug}: {s.where!r} is not a claim's metric"
        elif s.status == "test":
            assert _test_exists(s.where), f"{article.slug}: no test {s.where!r}"
        else:
            assert len(s.where) > 15, f"{article.slug}: say why for {s.text!r}"
    stated = {s.where for s in statements if s.status == "claim"}
    for c in recipe.CLAIMS:
        if c.kind == "article":
            assert c.metric in stated, f"{article.slug}: claim {c.metric!r} has no statement"
    assert "Checkable statements of the article:" in (recipe.__doc__ or ""), (
        f"{article.slug}: append the statements to the docstring with runs.statements_doc"
    )
