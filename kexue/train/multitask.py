r"""Multi-task balancing: loss-level weights (initial, prior, real-time, generalised mean, gradient
normalisation) and the gradient-level min-norm (Pareto) direction with Frank–Wolfe.

Article:  多任务学习漫谈（二）：行梯度之事 — 苏剑林, 2022-02-08
URL:      https://kexue.fm/archives/8896
And (一): 多任务学习漫谈（一）：以损失之名 (https://kexue.fm/archives/8870), 2022-01-18

Key equations. (一) L = Σ α_i L_i with::

    initial     α_i = 1/L_i^(init)   (K-class CE: log K; L2 regression: E‖y‖²)
    prior       α_i = 1/L_i^(prior)  (class frequencies p: H = −Σ p log p; regression: E‖y − Ey‖²)
    real-time   L = Σ L_i / sg(L_i)  ⇒ ∇L = Σ ∇L_i / L_i = ∇ Σ log L_i   (scale-invariant)
    gen. mean   L(γ) = ((1/n) Σ L_i^γ)^{1/γ}  (γ = 1 arithmetic, γ → 0 geometric, ±∞ max/min)
    grad-norm   L = Σ L_i / sg(‖∇L_i‖)  ⇒ ∇L = Σ ∇L_i/‖∇L_i‖   (scale- and shift-invariant)

(二) the update direction u* = argmax_u min_i ⟨g_i, u⟩ − ½‖u‖², whose dual is the min-norm
point of the convex hull of the task gradients::

    α* = argmin_{α ∈ Δ} ‖Σ α_i g_i‖²,   u* = g̃(α*) = Σ α_i* g_i
    n = 2:   α_1 = clip(⟨g_2 − g_1, g_2⟩ / ‖g_1 − g_2‖², 0, 1)   (the altitude of a triangle)
    n > 2:   Frank–Wolfe: τ = argmin_i ⟨g_i, g̃(α)⟩; γ = the n = 2 solution between g̃(α) and g_τ;
             α ← (1 − γ)α + γ e_τ
    shared encoder (upper bound, MGDA-UB): g_i = (∇_H L_i)(∇_θ H), so
        ‖Σ α_i g_i‖² ≤ ‖Σ α_i ∇_H L_i‖² ‖∇_θ H‖²;
    minimise the bound: α from ∇_H L_i (n backward passes through the heads only), then ONE
    backward pass through the encoder with the cotangent Σ α_i ∇_H L_i (MGDA: n passes).
    The original paper's proof that the upper bound reaches a Pareto-stationary point uses
    "M SPD ⇒ (xᵀy ≥ 0 ⇔ xᵀMy ≥ 0)", which is false (counterexample in the tests).

Derived: ⟨g_i, u*⟩ ≥ ‖u*‖² ≥ 0 for every task (all losses non-increasing to first order);
u* = 0 ⇔ 0 ∈ conv{g_i} (Pareto-stationary).

Symbols: L_i task losses (n,), g_i (n, P) task gradients on shared parameters, G = g gᵀ the
Gram matrix (n, n), α ∈ Δ_n simplex weights.

Delegation: per-task gradients use torch.autograd.grad; the combined direction is written into
`.grad` and any torch optimiser steps. Written by hand: the weightings, Frank–Wolfe, the exact
active-set oracle (small n) used as a test reference.

Deviations from the article:
    - Gradient norms get an ε (1e-12) so that a task at a stationary point does not divide by 0.
    - Frank–Wolfe stops when γ < tol (1e-8 default) or after max_iter (1000); the article does
      not fix these. The article's plain Frank–Wolfe converges sublinearly when α* lies on a
      face of the simplex (found by the tests: gap 7e-4 after 1000 iterations), so the default
      is Frank–Wolfe with away steps (linear convergence); method="frank_wolfe" is the article's.
    - `min_norm_weights(method="exact")` enumerates active sets (n ≤ 10): a test oracle, not in
      the article.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "generalized_mean_loss",
    "grad_normalized_loss",
    "initial_loss",
    "mgda_shared_grads",
    "min_norm_direction",
    "min_norm_weights",
    "prior_loss",
    "realtime_normalized_loss",
    "task_gradients",
]


def initial_loss(
    kind: Literal["ce", "mse"], *, n_classes: int | None = None, y: Tensor | None = None
) -> float:
    """The theoretical initial loss: log K for K-class cross-entropy, E‖y‖² for L2 regression."""
    if kind == "ce":
        if n_classes is None:
            raise ValueError("kind='ce' needs n_classes")
        return math.log(n_classes)
    if kind == "mse":
        if y is None:
            raise ValueError("kind='mse' needs the labels y")
        return float(y.reshape(len(y), -1).pow(2).sum(-1).mean())
    raise ValueError(f"unknown kind {kind!r}")


def prior_loss(kind: Literal["ce", "mse"], y: Tensor) -> float:
    """The loss of predicting the label prior: entropy of class frequencies (ce) or E‖y − Ey‖²."""
    if kind == "ce":
        p = torch.bincount(y.long()).double()
        p = p[p > 0] / p.sum()
        return float(-(p * p.log()).sum())
    if kind == "mse":
        yy = y.reshape(len(y), -1).double()
        return float((yy - yy.mean(0)).pow(2).sum(-1).mean())
    raise ValueError(f"unknown kind {kind!r}")


def realtime_normalized_loss(losses: Tensor) -> Tensor:
    """Σ L_i / sg(L_i): value n, gradient Σ ∇L_i / L_i. losses (n,) positive."""
    return (losses / losses.detach()).sum()


def generalized_mean_loss(losses: Tensor, gamma: float) -> Tensor:
    """((1/n) Σ L_i^γ)^{1/γ}; γ = 0 is the geometric mean (the limit)."""
    if gamma == 0:
        return losses.log().mean().exp()
    return losses.pow(gamma).mean().pow(1 / gamma)


def grad_normalized_loss(losses: Tensor, grad_norms: Tensor, eps: float = 1e-12) -> Tensor:
    """Σ L_i / sg(‖∇L_i‖): its gradient is Σ ∇L_i / ‖∇L_i‖ (scale- and shift-invariant)."""
    return (losses / (grad_norms.detach() + eps)).sum()


def task_gradients(losses: Sequence[Tensor], params: Sequence[Tensor]) -> Tensor:
    """Gradients of each task loss w.r.t. the shared parameters, flattened: (n, P)."""
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, list(params), retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (g if g is not None else torch.zeros_like(p)).reshape(-1)
                    for g, p in zip(grads, params, strict=True)
                ]
            )
        )
    return torch.stack(rows)


def _two_task(g11: float, g12: float, g22: float) -> float:
    """Weight on the first vector of min ‖γ a + (1 − γ) b‖² with G entries ⟨a,a⟩, ⟨a,b⟩, ⟨b,b⟩."""
    den = g11 - 2 * g12 + g22
    if den <= 0:
        return 0.5
    return min(max((g22 - g12) / den, 0.0), 1.0)


def _exact(gram_in: Tensor) -> Tensor:
    gram = gram_in.double()  # float32 gradients: solve the small KKT systems in float64
    n = gram.shape[0]
    best, best_val = None, math.inf
    for r in range(1, n + 1):
        for sub in itertools.combinations(range(n), r):
            idx = torch.tensor(sub)
            gs = gram[idx][:, idx]
            # KKT of min αᵀGα s.t. Σα = 1 on the subset: [2G 1; 1ᵀ 0][α; μ] = [0; 1]
            kkt = torch.zeros(r + 1, r + 1, dtype=gram.dtype)
            kkt[:r, :r] = 2 * gs
            kkt[:r, r] = 1
            kkt[r, :r] = 1
            rhs = torch.zeros(r + 1, dtype=gram.dtype)
            rhs[r] = 1
            sol = torch.linalg.lstsq(kkt, rhs.unsqueeze(1)).solution.squeeze(1)
            a = torch.zeros(n, dtype=gram.dtype)
            a[idx] = sol[:r]
            if (a < -1e-10).any() or abs(float(a.sum()) - 1) > 1e-8:
                continue
            a = a.clamp(min=0)
            a = a / a.sum()
            val = float(a @ gram @ a)
            if val < best_val - 1e-15:
                best, best_val = a, val
    if best is None:  # degenerate systems everywhere: the best vertex is always feasible
        best = torch.zeros(n, dtype=gram.dtype)
        best[int(torch.argmin(torch.diagonal(gram)))] = 1
    return best.to(gram_in.dtype)


def _away_frank_wolfe(gram: Tensor, max_iter: int, tol: float) -> Tensor:
    n = gram.shape[0]
    alpha = torch.full((n,), 1.0 / n, dtype=gram.dtype)
    for _ in range(max_iter):
        g_alpha = gram @ alpha  # ½∇ of αᵀGα
        aga = float(alpha @ g_alpha)
        s = int(torch.argmin(g_alpha))
        active = alpha > 0
        v = int(torch.argmax(torch.where(active, g_alpha, torch.full_like(g_alpha, -math.inf))))
        gap_fw, gap_away = aga - float(g_alpha[s]), float(g_alpha[v]) - aga
        if gap_fw < tol:
            break
        d = -alpha.clone()
        if gap_fw >= gap_away:
            d[s] += 1
            step_max = 1.0
        else:
            d = alpha.clone()
            d[v] -= 1
            step_max = float(alpha[v] / (1 - alpha[v])) if alpha[v] < 1 else math.inf
        curv = float(d @ gram @ d)
        step = step_max if curv <= 0 else min(max(-float(d @ g_alpha) / curv, 0.0), step_max)
        alpha = (alpha + step * d).clamp(min=0)
        alpha = alpha / alpha.sum()
    return alpha


def min_norm_weights(
    grads: Tensor | None = None,
    *,
    gram: Tensor | None = None,
    method: Literal["frank_wolfe", "away_frank_wolfe", "two_task", "exact"] = "away_frank_wolfe",
    max_iter: int = 1000,
    tol: float = 1e-8,
) -> Tensor:
    """α* = argmin_{α ∈ Δ} ‖Σ α_i g_i‖² from the gradients (n, P) or their Gram matrix (n, n).

    "frank_wolfe" is the article's iteration (sublinear: it zig-zags when α* lies on a face);
    "away_frank_wolfe" adds away steps (move weight off the worst active task), which converges
    linearly; "exact" enumerates active sets (test oracle); "two_task" is the closed form.

    Returns:
        (n,) simplex weights.
    """
    if gram is None:
        if grads is None:
            raise ValueError("pass grads or gram")
        gram = grads @ grads.T
    n = gram.shape[0]
    if method == "two_task":
        if n != 2:
            raise ValueError("method='two_task' needs n = 2")
        a1 = _two_task(float(gram[0, 0]), float(gram[0, 1]), float(gram[1, 1]))
        return torch.tensor([a1, 1 - a1], dtype=gram.dtype)
    if method == "exact":
        if n > 10:
            raise ValueError("the exact oracle enumerates 2^n active sets; use n ≤ 10")
        return _exact(gram)
    if method == "away_frank_wolfe":
        return _away_frank_wolfe(gram, max_iter, tol)
    if method != "frank_wolfe":
        raise ValueError(f"unknown method {method!r}")
    alpha = torch.full((n,), 1.0 / n, dtype=gram.dtype)
    for _ in range(max_iter):
        g_alpha = gram @ alpha  # ⟨g_i, g̃(α)⟩
        tau = int(torch.argmin(g_alpha))
        aga = float(alpha @ g_alpha)  # ‖g̃(α)‖²
        # the n = 2 problem between g̃(α) and g_τ: weight γ on g_τ
        gamma = 1 - _two_task(aga, float(g_alpha[tau]), float(gram[tau, tau]))
        alpha = (1 - gamma) * alpha
        alpha[tau] += gamma
        if gamma < tol:
            break
    return alpha


def min_norm_direction(
    grads: Tensor,
    *,
    normalize: Literal["none", "l2"] = "none",
    method: Literal["frank_wolfe", "away_frank_wolfe", "two_task", "exact"] = "away_frank_wolfe",
    eps: float = 1e-12,
) -> tuple[Tensor, Tensor]:
    """u* = Σ α_i* g_i (optionally on g_i/‖g_i‖, which makes it scale-invariant).

    Returns:
        u (P,) and α (n,).
    """
    g = grads
    if normalize == "l2":
        g = grads / (grads.norm(dim=1, keepdim=True) + eps)
    elif normalize != "none":
        raise ValueError(f"unknown normalize {normalize!r}")
    alpha = min_norm_weights(g, method=method)
    return alpha @ g, alpha


def mgda_shared_grads(
    losses: Sequence[Tensor],
    shared: Sequence[Tensor],
    h: Tensor | None = None,
    *,
    normalize: Literal["none", "l2"] = "none",
    method: Literal["frank_wolfe", "away_frank_wolfe", "two_task", "exact"] = "away_frank_wolfe",
) -> tuple[list[Tensor], Tensor]:
    """The MGDA update of the shared (encoder) parameters, exact or from the upper bound.

    h None: MGDA. One backward pass through the encoder per task (`task_gradients` on
    `shared`), α* = min-norm weights of those (P-dimensional) gradients.
    h given: MGDA-UB. `h` is the encoder's output H, and every loss must reach `shared` only
    through it. α* is solved on ∇_H L_i, which are computed by passes that stop at H (heads
    only); the encoder is then traversed once, with the cotangent Σ α_i* ∇_H L_i.

    Returns:
        the gradient of each tensor in `shared` (its `.grad` to write) and α* (n,).
    """
    if h is None:
        grads = task_gradients(losses, shared)
        u, alpha = min_norm_direction(grads, normalize=normalize, method=method)
        out, offset = [], 0
        for p in shared:
            out.append(u[offset : offset + p.numel()].view_as(p))
            offset += p.numel()
        return out, alpha
    g_h = task_gradients(losses, [h])  # (n, B·d): autograd stops at H
    cotangent, alpha = min_norm_direction(g_h, normalize=normalize, method=method)
    out = torch.autograd.grad(h, list(shared), cotangent.view_as(h), retain_graph=True)
    return list(out), alpha
