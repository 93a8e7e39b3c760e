r"""GAN-QP: the quadratic-potential divergence, a GAN without a Lipschitz constraint.

Article:  不用L约束又不会梯度消失的GAN，了解一下？ — 苏剑林, 2018-11-20
URL:      https://kexue.fm/archives/6163
Paper:    arXiv 1811.07296
Original: bojone/gan-qp (128/gan_qp_l2.py, 128/gan_gp_l1.py, after the 2018-12-03 shape fix)

Key equations::

    L[p,q] = max_T E_{x_r∼p, x_f∼q} [ ΔT − ΔT² / (2λ d(x_r, x_f)) ]
    ΔT     = T(x_r, x_f) − T(x_f, x_r)
    G      = argmin_G E[ ΔT ]            (the quadratic term is NOT in the generator's loss)
    one-argument critic: T(x_r, x_f) ≡ T(x_r)  ⇒  ΔT = T(x_r) − T(x_f)
    optimum (discrete):  ΔT*/(λd) = (A − B)/(A + B),  A = p(x_r)q(x_f), B = p(x_f)q(x_r)
                         L = (λ/4) Σ_{r,f} (A − B)²/(A + B) · d(x_r, x_f)
    point masses p = δ_α, q = δ_β:  Δ* = λd(α, β),  L = λd/2   (no vanishing gradient)

Symbols: d_real = T(x_real), d_fake = T(x_fake) (B,); Δ (B,) = d_real − d_fake paired by batch
index; d (B,) the pair distances; λ = `lam` (10 in the author's code).

Deviations from the article:
- "l1"/"l2" distances are the author's code's per-pixel mean |x_r − x_f| and RMS, not norms
  (the λ = 10 of the code is tied to them); "l1_sum"/"l2_norm" give the plain norms.
- Shapes are enforced to be (B,): the scripts of 2018-11-18 broadcast (B,1) against (B,),
  replacing each d_i by the batch harmonic mean; kexue computes the per-pair formula.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from kexue.gan.losses import _flat

__all__ = [
    "pair_distance",
    "qp_critic_loss",
    "gan_qp_d_loss",
    "gan_qp_g_loss",
    "TwoArgCritic",
    "qp_divergence_exact",
]

Distance = Literal["l1", "l2", "l1_sum", "l2_norm"]


@torch.no_grad()
def pair_distance(x_real: Tensor, x_fake: Tensor, *, norm: Distance = "l1") -> Tensor:
    """Per-pair distance d_i (B,) between x_real[i] and x_fake[i] (B, ...); no gradient.

    "l1" = mean over elements of |x_r − x_f| (the author's), "l2" = sqrt(mean (x_r − x_f)²),
    "l1_sum" = ‖x_r − x_f‖₁, "l2_norm" = ‖x_r − x_f‖₂.
    """
    if x_real.shape != x_fake.shape:
        raise ValueError(f"x_real {tuple(x_real.shape)} and x_fake {tuple(x_fake.shape)} differ")
    diff = (x_real - x_fake).flatten(1)  # (B, D)
    if norm == "l1":
        return diff.abs().mean(1)
    if norm == "l2":
        return diff.pow(2).mean(1).sqrt()
    if norm == "l1_sum":
        return diff.abs().sum(1)
    if norm == "l2_norm":
        return diff.norm(dim=1)
    raise ValueError(f"unknown norm {norm!r}; valid: l1, l2, l1_sum, l2_norm")


def qp_critic_loss(delta: Tensor, d: Tensor, *, lam: float = 10.0, eps: float = 1e-8) -> Tensor:
    """mean_i [ −Δ_i + Δ_i² / (2λ d_i) ], the negated QP objective (the critic minimises it).

    Args:
        delta: (B,) ΔT per pair.
        d: (B,) pair distances (no gradient); clamped at `eps`.
    """
    if lam <= 0:
        raise ValueError(f"lam must be > 0, got {lam}")
    if delta.dim() != 1 or delta.shape != d.shape:
        raise ValueError(f"delta {tuple(delta.shape)} and d {tuple(d.shape)} must both be (B,)")
    d = d.detach().clamp_min(eps)
    return (-delta + delta**2 / (2 * lam * d)).mean()


def gan_qp_d_loss(
    d_real: Tensor,
    d_fake: Tensor,
    x_real: Tensor,
    x_fake: Tensor,
    *,
    lam: float = 10.0,
    norm: Distance = "l1",
) -> Tensor:
    """GAN-QP critic loss with a one-argument critic: Δ = T(x_real) − T(x_fake) per pair.

    Args:
        d_real, d_fake: (B,) or (B, 1) critic outputs.
        x_real, x_fake: (B, ...) the paired samples (for the distance only).
    """
    delta = _flat(d_real) - _flat(d_fake)
    return qp_critic_loss(delta, pair_distance(x_real, x_fake, norm=norm), lam=lam)


def gan_qp_g_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """mean_i (T(x_real,i) − T(x_fake,i)): no quadratic term (the article insists)."""
    return (_flat(d_real) - _flat(d_fake)).mean()


class TwoArgCritic(nn.Module):
    """T(x_r, x_f) = net([x_r, x_f]) and ΔT = T(x_r, x_f) − T(x_f, x_r) (the general form).

    Args:
        net: maps (B, 2D) to (B,) or (B, 1) for flat inputs of size D.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x_a: Tensor, x_b: Tensor) -> Tensor:
        """T(x_a, x_b) (B,)."""
        return _flat(self.net(torch.cat([x_a.flatten(1), x_b.flatten(1)], 1)))

    def delta(self, x_real: Tensor, x_fake: Tensor) -> Tensor:
        """ΔT (B,), antisymmetric in its arguments."""
        return self(x_real, x_fake) - self(x_fake, x_real)


def qp_divergence_exact(p: np.ndarray, q: np.ndarray, dist: np.ndarray, lam: float) -> float:
    r"""Closed-form QP divergence of discrete p, q (N,) on points with distances dist (N, N).

    L = (λ/4) Σ_{i,j} (A_ij − B_ij)² / (A_ij + B_ij) · d_ij with A_ij = p_i q_j, B_ij = p_j q_i
    (terms with A + B = 0 are 0), in float64.
    """
    p, q, dist = (np.asarray(a, np.float64) for a in (p, q, dist))
    a = p[:, None] * q[None, :]
    b = a.T  # B_ij = p_j q_i
    s = a + b
    ratio = np.divide((a - b) ** 2, s, out=np.zeros_like(s), where=s > 0)
    return float(lam / 4 * (ratio * dist).sum())
