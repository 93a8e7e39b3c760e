"""gan-papers: every name the table says kexue offers imports; Roth's regulariser by hand."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

from kexue.gan import PAPERS, roth_regularizer


def _resolve(dotted: str) -> object:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: str(p.index))
def test_offered_names_import(paper: object) -> None:
    for dotted in paper.offers:
        assert _resolve(dotted) is not None


def test_eleven_entries_and_docs_table_lists_them() -> None:
    assert [p.index for p in PAPERS] == list(range(1, 12))
    doc = Path(__file__).resolve().parents[2] / "docs" / "gan_papers.md"
    text = doc.read_text(encoding="utf-8")
    for p in PAPERS:
        assert p.arxiv in text
        for dotted in p.offers:
            assert dotted in text
            _resolve(dotted)


def test_roth_regularizer_linear_critic_by_hand(f64: torch.dtype) -> None:
    w = torch.tensor([1.0, 2.0])  # ‖∇φ‖² = 5 everywhere
    xr, xf = torch.randn(6, 2), torch.randn(6, 2)
    d_r, d_f = torch.sigmoid(xr @ w), torch.sigmoid(xf @ w)
    want = 0.5 * 3.0 * (((1 - d_r) ** 2 * 5).mean() + (d_f**2 * 5).mean())
    assert float(roth_regularizer(lambda x: x @ w, xr, xf, gamma=3.0)) == pytest.approx(
        float(want)
    )
