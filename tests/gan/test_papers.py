"""gan-papers: every name the table says kexue offers imports, a paper is offered exactly when its
note does not say "not offered"; Roth's regulariser by hand."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import torch

from kexue.gan import PAPERS, papers_table, roth_regularizer


def _resolve(dotted: str) -> object:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: str(p.index))
def test_offered_names_import(paper: object) -> None:
    for dotted in paper.offers:
        assert _resolve(dotted) is not None


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: str(p.index))
def test_offered_only_when_the_note_does_not_say_not_offered(paper: object) -> None:
    # issue 15: IntroVAE and CT-GAN were counted as offered while their notes said "not offered"
    note = paper.note.lower()
    says_not_offered = note.startswith("not offered")
    assert bool(paper.offers) != says_not_offered, (paper.title, paper.offers, paper.note)
    if paper.offers and "not offered" in note:  # partly offered: the note says what is
        assert re.search(r"(?<!not )offered", note), (paper.title, paper.note)
    assert not (paper.offers and paper.related), "related names are for papers not offered"
    for dotted in paper.related:
        assert _resolve(dotted) is not None


def test_offered_counts() -> None:
    # what the gan-papers recipe reports as offered_names and papers_with_an_offer
    assert sum(len(p.offers) for p in PAPERS) == 12
    assert [p.index for p in PAPERS if p.offers] == [2, 4, 7, 8, 9, 10]


def test_eleven_entries_and_docs_table_lists_them() -> None:
    assert [p.index for p in PAPERS] == list(range(1, 12))
    doc = Path(__file__).resolve().parents[2] / "docs" / "gan_papers.md"
    text = doc.read_text(encoding="utf-8")
    assert papers_table() in text, "docs/gan_papers.md's table is stale: render papers_table()"
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
