"""The article table, the module headers, the recipes and the tests stay in step."""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

from kexue.articles import ARTICLES, THEMES, get
from kexue.cli import table_markdown
from kexue.runs import BUDGETS, Claim

ROOT = Path(__file__).resolve().parents[1]
SHARED_ARTICLES = ROOT.parent / "shared" / "articles"
READY = [a for a in ARTICLES if a.ready]


def test_table_shape():
    assert len(ARTICLES) == 40
    assert len({a.row for a in ARTICLES}) == 37
    assert len({a.slug for a in ARTICLES}) == 40
    assert {a.theme for a in ARTICLES} == set(THEMES)
    for a in ARTICLES:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", a.date), a.slug
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", a.slug), a.slug
        assert a.module.startswith("kexue."), a.slug


def test_get_unknown_slug_names_valid_ones():
    with pytest.raises(KeyError, match="valid: wgan, lipschitz"):
        get("no-such-article")


@pytest.mark.skipif(
    not SHARED_ARTICLES.is_dir(), reason="the article texts are not beside the checkout"
)
def test_titles_dates_and_urls_match_the_article_texts():
    for a in ARTICLES:
        files = list(SHARED_ARTICLES.glob(f"{a.archive}-*.md"))
        assert len(files) == 1, f"{a.slug}: no article text for archive {a.archive}"
        text = files[0].read_text(encoding="utf-8")
        assert f"title={{{a.title}}}" in text, f"{a.slug}: title differs from {files[0].name}"
        assert f"kexue.fm/archives/{a.archive}" in text


def test_foundation_rows_are_ready():
    assert get("wgan").ready


@pytest.mark.parametrize("article", READY, ids=[a.slug for a in READY])
def test_module_header_names_its_article(article):
    module = importlib.import_module(article.module)
    doc = module.__doc__ or ""
    assert article.title in doc, f"{article.module} docstring lacks the title"
    assert article.date in doc, f"{article.module} docstring lacks the date"
    assert article.url in doc, f"{article.module} docstring lacks the URL"
    assert "Deviations" in doc, f"{article.module} docstring lacks its deviations list"


@pytest.mark.parametrize("article", READY, ids=[a.slug for a in READY])
def test_recipe_contract(article):
    recipe = importlib.import_module(article.recipe)
    assert recipe.__doc__, f"{article.recipe} has no docstring"
    cfg_cls = recipe.Config
    assert dataclasses.is_dataclass(cfg_cls) and cfg_cls.__dataclass_params__.frozen
    names = {f.name for f in dataclasses.fields(cfg_cls)}
    assert "seed" in names
    for overrides in (recipe.SMOKE, getattr(recipe, "QUICK", {})):
        assert set(overrides) <= names, f"{article.slug}: overrides name unknown fields"
    assert callable(recipe.run)
    for claim in getattr(recipe, "CLAIMS", ()):
        assert isinstance(claim, Claim)
        assert set(claim.budgets) <= set(BUDGETS) - {"smoke"}


@pytest.mark.parametrize("article", READY, ids=[a.slug for a in READY])
def test_each_ready_article_has_its_tests(article):
    parts = article.module.split(".")
    path = ROOT / "tests" / parts[1] / f"test_{parts[-1]}.py"
    assert path.exists(), f"{article.slug}: expected tests at {path.relative_to(ROOT)}"


def test_readme_table_is_generated_from_the_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert table_markdown() in readme, (
        "README's article table is stale: regenerate it with `kexue list --markdown`"
    )


def test_docs_articles_md_is_current():
    from kexue.cli import recorded
    from kexue.report import articles_markdown

    text = (ROOT / "docs" / "articles.md").read_text(encoding="utf-8")
    assert text == articles_markdown(recorded()), (
        "docs/articles.md is stale: regenerate it with `kexue docs`"
    )


def test_every_module_lives_in_a_package_of_its_theme():
    for a in ARTICLES:
        assert a.module.rsplit(".", 1)[0] in THEMES[a.theme], (
            f"{a.slug}: {a.module} is outside {THEMES[a.theme]}; move it or say so in THEMES"
        )


def test_docs_claims_md_is_current():
    from kexue.cli import recorded
    from kexue.report import claims_markdown

    text = (ROOT / "docs" / "claims.md").read_text(encoding="utf-8")
    assert text == claims_markdown(recorded()), (
        "docs/claims.md is stale: regenerate it with `kexue docs`"
    )
