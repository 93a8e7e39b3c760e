r"""Capsules as clustering: squash, the author's dynamic routing (normalise, recompute logits),
Sabour's routing, the capsule layer (shared or per-input weights) and the margin loss.

Article:  再来一顿贺岁宴：从K-Means到Capsule — 苏剑林, 2018-02-12
URL:      https://kexue.fm/archives/5112
See also: 揭开迷雾，来一顿美味的Capsule盛宴 (https://kexue.fm/archives/4819)
Original: bojone/Capsule (Capsule_Keras.py, capsule_test.py)

Key equations::

    squash(v) = ‖v‖² / (a + ‖v‖²) · v / ‖v‖        (a = 0.5 by default; Sabour: a = 1)
    soft K-means with d(u, v) = −⟨u, v/‖v‖⟩:
        c_ij = softmax_j ⟨û_ij, v_j/‖v_j‖⟩,  v_j = Σ_i c_ij û_ij
    'su' routing (r iterations, b = 0):
        c = softmax_j(b);  o_j = Σ_i c_ij û_ij;  if not last: o_j ← o_j/‖o_j‖, b_ij = ⟨o_j, û_ij⟩
        output squash(o_j)
    'sabour' routing: c = softmax_j(b); v_j = squash(Σ_i c_ij û_ij); b_ij ← b_ij + ⟨v_j, û_ij⟩
    margin loss Σ_c T_c max(0, 0.9 − ‖v_c‖)² + 0.25 (1 − T_c) max(0, ‖v_c‖ − 0.1)²

Symbols: u (B, n, d_in) input capsules; û (B, k, n, d_out) predictions; o, v (B, k, d_out);
b, c (B, k, n) logits and assignments (softmax over the k output capsules).

Deviations from the article:
    - none in the math. `routing='sabour'` (squash inside the iterations: the paper's and the
      earlier article's routing) is the baseline the article's change is measured against
      (recipe `capsule`); `squash_const=1` is Sabour's squash.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["Capsule", "dynamic_routing", "margin_loss", "squash"]

Routing = Literal["su", "sabour"]


def squash(v: Tensor, const: float = 0.5, dim: int = -1, eps: float = 1e-7) -> Tensor:
    """v · s / ((const + s) √s), s = ‖v‖² + eps: norm s/(const + s) < 1."""
    s = (v * v).sum(dim, keepdim=True) + eps
    return v * s.sqrt() / (const + s)


def dynamic_routing(
    u_hat: Tensor, routings: int = 3, mode: Routing = "su", squash_const: float = 0.5
) -> Tensor:
    """Route predictions û (B, k, n, d) to k output capsules (B, k, d)."""
    if mode not in ("su", "sabour"):
        raise ValueError(f"unknown routing {mode!r}; valid: su, sabour")
    b = torch.zeros(u_hat.shape[:3], dtype=u_hat.dtype, device=u_hat.device)
    for t in range(routings):
        c = b.softmax(1)  # over output capsules
        o = torch.einsum("bkn,bknd->bkd", c, u_hat)
        if mode == "sabour":
            o = squash(o, squash_const)
            if t < routings - 1:
                b = b + torch.einsum("bkd,bknd->bkn", o, u_hat)
        elif t < routings - 1:
            o = o / o.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            b = torch.einsum("bkd,bknd->bkn", o, u_hat)
    return o if mode == "sabour" else squash(o, squash_const)


class Capsule(nn.Module):
    """u (B, n, d_in) → (B, k, d_out). shared: one W (d_in → k·d_out) for every input capsule
    (permutation-invariant, any n); else W_i per input (fixed n_in)."""

    def __init__(self, in_dim: int, n_out: int, out_dim: int, *, routings: int = 3,
                 shared: bool = True, n_in: int | None = None, routing: Routing = "su",
                 squash_const: float = 0.5) -> None:  # fmt: skip
        super().__init__()
        if routing not in ("su", "sabour"):
            raise ValueError(f"unknown routing {routing!r}; valid: su, sabour")
        self.k, self.d, self.routings, self.shared = n_out, out_dim, routings, shared
        self.routing, self.squash_const = routing, squash_const
        shape = (in_dim, n_out * out_dim) if shared else (n_in, in_dim, n_out * out_dim)
        if not shared and n_in is None:
            raise ValueError("an unshared capsule layer needs n_in")
        self.weight = nn.Parameter(torch.randn(*shape) * (2.0 / (in_dim + n_out * out_dim)) ** 0.5)

    def predictions(self, u: Tensor) -> Tensor:
        b, n, _ = u.shape
        if self.shared:
            u_hat = u @ self.weight
        else:
            u_hat = torch.einsum("bni,nio->bno", u, self.weight)
        return u_hat.reshape(b, n, self.k, self.d).transpose(1, 2)

    def forward(self, u: Tensor) -> Tensor:
        return dynamic_routing(self.predictions(u), self.routings, self.routing, self.squash_const)


def margin_loss(
    lengths: Tensor, targets: Tensor, m_pos: float = 0.9, m_neg: float = 0.1, lam: float = 0.25
) -> Tensor:
    """Mean over the batch of the margin loss; lengths, targets (B, K), targets multi-hot."""
    pos = targets * (m_pos - lengths).clamp_min(0) ** 2
    neg = lam * (1 - targets) * (lengths - m_neg).clamp_min(0) ** 2
    return (pos + neg).sum(-1).mean()
