r"""Word vectors from the library (minimum-entropy) objective, PPMI-SVD, and the dimension rule.

Article:  最小熵原理（四）：“物以类聚”之从图书馆到词向量 — 苏剑林, 2018-12-02
URL:      https://kexue.fm/archives/6191
See also: 最小熵原理（六）：词向量的维度应该怎么选择？ (https://kexue.fm/archives/7695)
Original: none (the article uses Word2Vec; this module implements the objective directly)

Key equations::

    library cost   S = Σ_{i,j} p(i, j) f(v_i, v_j)  with  f = −ln q(j|i),
                   q(j|i) = e^{−‖v_i − v_j‖²} / Z_i   (L2, "books that go together stand close")
                   q(j|i) = e^{⟨u_i, v_j⟩} / Z_i      (dot, two sets: Word2Vec's skip-gram)
    so S = H(J|I) + E_i KL(p(·|i) ‖ q(·|i)) ≥ H(J|I)  ("minimum entropy = maximum likelihood")
    optimum (two sets, enough dims)   ⟨u_i, v_j⟩ = ln p(j|i) + c_i = PMI(i, j) + ln p(j) + c_i
    PPMI-SVD       M_ij = max(0, ln p(i,j) / (p(i) p_α(j))),  p_α(j) ∝ c(j)^α,  V = U_d √S_d
    dimension rule (MEP VI) H ≈ ln N² + h_n, h_n = ln E[e^s] − E[s e^s] / E[e^s], s = n cos θ of
                   two uniform directions in Rⁿ (h_n ≈ −0.24 n), H < 0  ⇒  n > 8.33 ln N

Symbols: C[i, j] windowed co-occurrence counts, p(i, j) = C / ΣC; N vocabulary size; n dimension.

Deviations from the article:
    - The one-set dot model excludes the self term (with one set ‖v_i‖² dominates Z_i; spec §8.20);
      the L2 model keeps it as the article does (a constant e⁰).
    - Full softmax only (fine for N ≤ 20k on CPU); no sampled losses, no SNE/t-SNE mode.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

__all__ = [
    "cooccurrence",
    "ppmi_matrix",
    "ppmi_svd",
    "pmi_dense",
    "LibraryEmbedding",
    "library_cost_epoch",
    "knn_agreement",
    "sphere_entropy_gap",
    "dimension_rule",
    "top_words",
]


def cooccurrence(
    sentences: Sequence[Sequence[str]], vocab: Sequence[str], window: int = 5
) -> sp.csr_matrix:
    """Symmetric counts of in-vocabulary word pairs at distance 1..window within a sentence."""
    index = {w: i for i, w in enumerate(vocab)}
    rows, cols = [], []
    for s in sentences:
        ids = np.array([index.get(w, -1) for w in s], np.int64)
        for d in range(1, window + 1):
            a, b = ids[:-d], ids[d:]
            ok = (a >= 0) & (b >= 0)
            rows += [a[ok], b[ok]]
            cols += [b[ok], a[ok]]
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    n = len(vocab)
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, n))


def pmi_dense(counts: sp.spmatrix, alpha: float = 1.0) -> np.ndarray:
    """ln p(i,j) / (p(i) p_α(j)) as a dense array (−inf where the pair was never seen)."""
    c = counts.toarray().astype(np.float64)
    total = c.sum()
    row = c.sum(1, keepdims=True) / total
    col = c.sum(0, keepdims=True) ** alpha
    col = col / col.sum()
    with np.errstate(divide="ignore"):
        return np.log(c / total) - np.log(row) - np.log(col)


def ppmi_matrix(counts: sp.spmatrix, alpha: float = 0.75) -> sp.csr_matrix:
    """Sparse positive PMI, max(0, ln p(i,j) / (p(i) p_α(j))), over the observed pairs."""
    c = sp.coo_matrix(counts, dtype=np.float64)
    total = c.sum()
    row = np.asarray(counts.sum(1)).ravel() / total
    col = np.asarray(counts.sum(0)).ravel() ** alpha
    col = col / col.sum()
    val = np.log(c.data / total) - np.log(row[c.row]) - np.log(col[c.col])
    keep = val > 0
    return sp.csr_matrix((val[keep], (c.row[keep], c.col[keep])), shape=counts.shape)


def ppmi_svd(
    counts: sp.spmatrix, dim: int = 100, alpha: float = 0.75, seed: int = 0
) -> np.ndarray:
    """Truncated SVD of positive PMI with context smoothing α (Levy & Goldberg's closed-form
    peer): V = U_d √S_d, by randomized SVD (Halko et al.; 7 power iterations)."""
    from sklearn.utils.extmath import randomized_svd

    u, s, _ = randomized_svd(ppmi_matrix(counts, alpha), dim, n_iter=7, random_state=seed)
    return u * np.sqrt(s)


class LibraryEmbedding(nn.Module):
    """q(j|i) = softmax_j(score(v_i, w_j)); loss −Σ p(i,j) ln q(j|i) over a batch of pairs.

    Args:
        n_items: vocabulary size. dim: vector dimension.
        metric: "l2" (score −‖v_i − v_j‖²) or "dot" (⟨v_i, w_j⟩).
        two_sets: separate centre and context vectors (Word2Vec) or one set (the library).
        exclude_self: drop j = i from the softmax (default: one-set dot only).
    """

    def __init__(self, n_items: int, dim: int, *, metric: Literal["dot", "l2"] = "dot",
                 two_sets: bool = True, exclude_self: bool | None = None,
                 generator: torch.Generator | None = None) -> None:  # fmt: skip
        super().__init__()
        if metric not in ("l2", "dot"):
            raise ValueError(f"metric must be 'l2' or 'dot', got {metric!r}")
        self.metric = metric
        self.exclude_self = (
            (metric == "dot" and not two_sets) if exclude_self is None else exclude_self
        )
        self.centre = nn.Parameter(torch.randn(n_items, dim, generator=generator) / math.sqrt(dim))
        self.context = (
            nn.Parameter(torch.randn(n_items, dim, generator=generator) / math.sqrt(dim))
            if two_sets
            else None
        )

    def logits(self, i: torch.Tensor) -> torch.Tensor:
        """(B, N) scores of every item j for the centres i."""
        v = self.centre[i]
        w = self.context if self.context is not None else self.centre
        if self.metric == "dot":
            out = v @ w.T
        else:
            out = -((v * v).sum(1, keepdim=True) - 2 * v @ w.T + (w * w).sum(1)[None, :])
        if self.exclude_self:
            out = out.scatter(1, i[:, None], -torch.inf)
        return out

    def forward(self, i: torch.Tensor, j: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """−Σ_b weight_b ln q(j_b | i_b) / Σ weight (the cross-entropy S on a batch)."""
        logq = torch.log_softmax(self.logits(i), dim=1).gather(1, j[:, None]).squeeze(1)
        return -(weight * logq).sum() / weight.sum()

    def vectors(self) -> np.ndarray:
        return self.centre.detach().cpu().numpy()


def library_cost_epoch(
    model: LibraryEmbedding,
    optimizer: torch.optim.Optimizer,
    p_ij: torch.Tensor,
    order: torch.Tensor,
    rows_per_batch: int = 500,
) -> float:
    """One pass over the centre words in `order`, one optimiser step per batch of rows on
    S restricted to those rows, −Σ_{i in batch, j} p(i, j) ln q(j|i) (full softmax, exact).

    Returns the sum of the batches' costs: S over the whole table, as the pass saw it.
    """
    total = 0.0
    for b in range(0, len(order), rows_per_batch):
        rows = order[b : b + rows_per_batch]
        logq = torch.log_softmax(model.logits(rows), dim=1)
        weights = p_ij[rows]
        loss = -(weights * logq.masked_fill(weights == 0, 0.0)).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total


def knn_agreement(vectors: np.ndarray, labels: Sequence[object], k: int = 10) -> float:
    """Mean fraction of the k cosine-nearest neighbours (self excluded) sharing the label."""
    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    nn_idx = np.argpartition(-sim, k, axis=1)[:, :k]
    lab = np.asarray(labels)
    return float((lab[nn_idx] == lab[:, None]).mean())


def sphere_entropy_gap(n: int, grid: int = 2_000_001) -> float:
    """h_n = ln E[e^s] − E[s e^s]/E[e^s], s = n cos θ, θ between uniform directions (nats)."""
    t = np.linspace(-1.0, 1.0, grid)[1:-1]
    base = (n - 3) / 2 * np.log1p(-t * t)  # density of cos θ up to a constant
    tilted = base + n * t
    w0 = np.exp(base - base.max())
    w = np.exp(tilted - tilted.max())
    ln_e = math.log(w.sum() / w0.sum()) + tilted.max() - base.max()
    return ln_e - float((n * t * w).sum() / w.sum())


def dimension_rule(n_words: int) -> float:
    """The smallest dimension with H ≈ ln N² − 0.24 n < 0: n > 8.33 ln N (MEP VI)."""
    return 8.33 * math.log(n_words)


def top_words(
    sentences: Sequence[Sequence[str]], size: int, exclude: set[str] | None = None
) -> list[str]:
    """The `size` most frequent words (ties by string), skipping `exclude`."""
    counts = Counter(w for s in sentences for w in s if not exclude or w not in exclude)
    return [w for w, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:size]]
