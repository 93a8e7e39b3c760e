"""Library (minimum-entropy) embedding objective, PPMI-SVD, co-occurrence counts, h_n rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kexue.text import (
    LibraryEmbedding,
    cooccurrence,
    dimension_rule,
    knn_agreement,
    ppmi_matrix,
    ppmi_svd,
    sphere_entropy_gap,
)


def synthetic(n=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(n, n, generator=g)
    cond = torch.softmax(logits, 1)  # asymmetric p(j|i)
    p_i = torch.softmax(torch.randn(n, generator=g), 0)
    return p_i[:, None] * cond, cond


def fit(model, p_ij, steps=1500, lr=0.05):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rows = torch.arange(p_ij.shape[0])
    for _ in range(steps):
        logq = torch.log_softmax(model.logits(rows), 1)
        loss = -(p_ij * logq.masked_fill(p_ij == 0, 0)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def test_two_set_dot_reaches_the_conditional_entropy():
    p_ij, cond = synthetic()
    h = float(-(p_ij * torch.log(cond)).sum())
    model = LibraryEmbedding(
        30, 32, metric="dot", two_sets=True, generator=torch.Generator().manual_seed(0)
    )
    s = fit(model, p_ij)
    assert s - h < 1e-3  # S = H(J|I) + KL, KL → 0
    # the batch loss of forward() is the same cross-entropy per pair
    i, j = torch.nonzero(p_ij > 0, as_tuple=True)
    assert model(i, j, p_ij[i, j]).item() == pytest.approx(s, rel=1e-4)


def test_one_set_l2_cannot_fit_an_asymmetric_table():
    p_ij, cond = synthetic()
    h = float(-(p_ij * torch.log(cond)).sum())
    model = LibraryEmbedding(
        30, 32, metric="l2", two_sets=False, generator=torch.Generator().manual_seed(0)
    )
    assert fit(model, p_ij) > h + 0.05  # symmetric distances: a documented limitation


def test_one_set_dot_excludes_self():
    model = LibraryEmbedding(5, 3, metric="dot", two_sets=False)
    logits = model.logits(torch.arange(5))
    assert torch.isinf(logits.diagonal()).all() and model.exclude_self


def test_cooccurrence_matches_brute_force():
    sents = [["a", "b", "c", "a"], ["b", "x", "a"]]
    vocab = ["a", "b", "c"]
    c = cooccurrence(sents, vocab, window=2).toarray()
    brute = np.zeros((3, 3))
    for s in sents:
        for i in range(len(s)):
            for j in range(len(s)):
                if i != j and abs(i - j) <= 2 and s[i] in vocab and s[j] in vocab:
                    brute[vocab.index(s[i]), vocab.index(s[j])] += 1
    assert np.array_equal(c, brute)


def test_ppmi_and_svd():
    rng = np.random.default_rng(0)
    import scipy.sparse as sp

    counts = sp.csr_matrix(rng.poisson(2.0, (40, 40)) * (rng.random((40, 40)) < 0.3))
    m = ppmi_matrix(counts, alpha=1.0).toarray()
    c = counts.toarray().astype(float)
    with np.errstate(divide="ignore"):
        pmi = np.log(c * c.sum() / (c.sum(1, keepdims=True) * c.sum(0, keepdims=True)))
    assert np.allclose(m, np.where(c > 0, np.maximum(pmi, 0), 0))
    v = ppmi_svd(counts, dim=40, alpha=1.0)
    u, s, _ = np.linalg.svd(m)
    assert np.allclose(np.sort(np.linalg.norm(v, axis=0) ** 2)[::-1], s, atol=1e-6)


def test_knn_agreement_hand_case():
    x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    assert knn_agreement(x, ["n", "n", "v", "v"], k=1) == 1.0
    assert knn_agreement(x, ["n", "v", "n", "v"], k=1) == 0.0


@pytest.mark.parametrize("n, h", [(32, -7.775), (64, -15.473), (128, -30.872), (256, -61.669)])
def test_sphere_entropy_gap_matches_mep_vi(n, h):
    assert sphere_entropy_gap(n) == pytest.approx(h, abs=1e-3)


def test_dimension_rule():
    # H ≈ 2 ln N + h_n < 0 with h_n ≈ −0.24 n  ⇒  n > 8.33 ln N; N = 1e5 → ≈ 96
    assert dimension_rule(100_000) == pytest.approx(95.9, abs=0.1)
    n = int(np.ceil(dimension_rule(100_000)))
    assert 2 * np.log(100_000) + sphere_entropy_gap(n) < 0
    assert 2 * np.log(100_000) + sphere_entropy_gap(n - 4) > 0
