"""Every ready recipe runs at the smoke budget and writes its run folder."""

from __future__ import annotations

import json
import math

import pytest

from kexue.articles import ARTICLES
from kexue.cli import execute

READY = [a for a in ARTICLES if a.ready]


@pytest.mark.parametrize("article", READY, ids=[a.slug for a in READY])
def test_smoke_run_writes_its_folder(article, tmp_path):
    result = execute(article.slug, budget="smoke", out=tmp_path, threads=1)
    for name in ("config.json", "metrics.json", "claims.json"):
        assert (tmp_path / name).exists(), name
    assert json.loads((tmp_path / "claims.json").read_text()) == []  # smoke judges nothing
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["budget"] == "smoke" and config["world_size"] == 1
    assert result["metrics"] and all(isinstance(v, float) for v in result["metrics"].values())
    assert any(math.isfinite(v) for v in result["metrics"].values())
    assert list(tmp_path.glob("*.png")), "a recipe draws at least one figure"
