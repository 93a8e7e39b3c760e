r"""Smooth (differentiable) approximations of max, one-hot argmax, argmax, top-k, accuracy and F1.

Article:  函数光滑化杂谈：不可导函数的可导逼近 — 苏剑林, 2019-05-20
URL:      https://kexue.fm/archives/6620
See also: 寻求一个光滑的最大值函数 (https://kexue.fm/archives/3290)

Key equations (τ = 1/K is the temperature)::

    max(x_1..x_n)        = lim_{K→∞} (1/K) log Σ_i e^{K x_i}  ≈ τ logsumexp(x/τ)       (smooth_max)
    onehot(argmax x)     ≈ softmax(x/τ)                                               (soft_onehot)
    argmax x             ≈ Σ_i i · softmax(x/τ)_i                                     (soft_argmax)
    accuracy             ≈ (1/|B|) Σ_x ⟨1_{y(x)}, p(x)⟩                             (soft_accuracy)
    positive-class F1    ≈ 2 Σ_x t(x) p(x) / Σ_x [t(x) + p(x)]                     (soft_f1_binary)
    soft-k-max: x ← x − min x; p⁰ = 0; for i = 1..k:
                y = (1 − p^{i−1}) ⊗ x; pⁱ = p^{i−1} + softmax(y)

Bounds (derived): max ≤ smooth_max_τ ≤ max + τ log n, and ∇ smooth_max_τ = softmax(x/τ).
Corollaries (derived): relu(x) ≈ τ log(1 + e^{x/τ}) (softplus), |x| ≈ τ logsumexp(x/τ, −x/τ).

Symbols: x (…, n) scores; τ temperature (`tau`); logits (B, K); y (B,) integer labels;
p (B,) positive-class probability; t (B,) 0/1 targets.

Deviations from the article:
    - soft_argmax counts from 0 by default (the article counts from 1; `base=1` gives its form).
    - Every function takes a temperature τ (the article's 1/K, set to 1 "absorbed into the model");
      τ → 0 recovers the exact non-smooth function (tested).
    - soft-k-max takes an explicit temperature and divides y by τ inside the softmax; at τ = 1
      it is the article's recursion. As in the article, it is a recursion, not a closed form.
    - soft-k-max requires k < n (for k = n the recursion gives 1 + 1/n per entry, see soft_kmax).
    - soft F1 has an ε in the denominator (an empty batch of positives would divide by zero).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "smooth_abs",
    "smooth_max",
    "smooth_min",
    "smooth_relu",
    "soft_accuracy",
    "soft_accuracy_loss",
    "soft_argmax",
    "soft_f1",
    "soft_f1_binary",
    "soft_f1_loss",
    "soft_kmax",
    "soft_onehot",
]


def _check_tau(tau: float) -> None:
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")


def smooth_max(x: Tensor, dim: int = -1, *, tau: float = 1.0) -> Tensor:
    """τ·logsumexp(x/τ) along `dim`: the smooth maximum (eq. of the max section).

    Args:
        x: (…, n) scores.
        dim: the reduced axis.
        tau: temperature τ = 1/K > 0.

    Returns:
        (…) with `dim` removed; max ≤ result ≤ max + τ log n.

    Example:
        >>> float(smooth_max(torch.tensor([0.0, 10.0]), tau=0.01))
        10.0
    """
    _check_tau(tau)
    return tau * torch.logsumexp(x / tau, dim=dim)


def smooth_min(x: Tensor, dim: int = -1, *, tau: float = 1.0) -> Tensor:
    """min x ≈ −τ logsumexp(−x/τ); min − τ log n ≤ result ≤ min."""
    return -smooth_max(-x, dim, tau=tau)


def soft_onehot(x: Tensor, dim: int = -1, *, tau: float = 1.0) -> Tensor:
    """onehot(argmax x) ≈ softmax(x/τ), the gradient of `smooth_max`. Shape of `x`."""
    _check_tau(tau)
    return F.softmax(x / tau, dim=dim)


def soft_argmax(x: Tensor, dim: int = -1, *, tau: float = 1.0, base: int = 0) -> Tensor:
    """argmax x ≈ Σ_i i·softmax(x/τ)_i, with i counted from `base` (the article uses 1).

    Returns:
        (…) with `dim` removed, a float "index".
    """
    p = soft_onehot(x, dim, tau=tau)
    n = x.shape[dim]
    shape = [1] * x.dim()
    shape[dim] = n
    idx = torch.arange(base, base + n, dtype=p.dtype, device=p.device).view(shape)
    return (p * idx).sum(dim)


def soft_kmax(x: Tensor, k: int, *, tau: float = 1.0) -> Tensor:
    """The article's recursive soft-k-max along the last axis: ≈ the 0/1 mask of the top k.

    x ← x − min(x); p⁰ = 0; for i = 1..k: y = (1 − p^{i−1}) ⊗ x; pⁱ = p^{i−1} + softmax(y/τ).

    Args:
        x: (…, n) scores.
        k: how many largest entries to mark, 1 ≤ k < n. (k = n is excluded: the shift makes the
            minimum 0, so at the last round it ties with the already chosen entries and the
            recursion returns 1 + 1/n, not 1 — a property of the article's recursion.)
        tau: temperature; the article's form is τ = 1.

    Returns:
        (…, n) entries summing to k; → the top-k indicator as τ → 0 (no ties).
    """
    _check_tau(tau)
    n = x.shape[-1]
    if not 1 <= k < n:
        raise ValueError(f"k must be in 1..{n - 1}, got {k}")
    x = x - x.min(dim=-1, keepdim=True).values  # all entries ≥ 0, so (1 − p)·x removes a winner
    p = torch.zeros_like(x)
    for _ in range(k):
        y = (1 - p) * x
        p = p + F.softmax(y / tau, dim=-1)
    return p


def smooth_relu(x: Tensor, *, tau: float = 1.0) -> Tensor:
    """relu(x) = max(0, x) ≈ τ log(1 + e^{x/τ}) (softplus with β = 1/τ); overshoot τ log 2 at 0."""
    _check_tau(tau)
    return F.softplus(x, beta=1.0 / tau)


def smooth_abs(x: Tensor, *, tau: float = 1.0) -> Tensor:
    """|x| = max(x, −x) ≈ τ logsumexp(x/τ, −x/τ); overshoot τ log 2 at 0."""
    return smooth_max(torch.stack([x, -x], dim=-1), -1, tau=tau)


def soft_accuracy(logits: Tensor, y: Tensor, *, tau: float = 1.0) -> Tensor:
    """(1/|B|) Σ_x ⟨1_{y(x)}, softmax(f(x)/τ)⟩: the batch's smooth accuracy.

    Args:
        logits: (B, K).
        y: (B,) integer labels.

    Returns:
        0-dim tensor in [0, 1]; → the hard accuracy as τ → 0 (no ties).
    """
    p = soft_onehot(logits, -1, tau=tau)
    return p.gather(1, y.long().unsqueeze(1)).mean()


def soft_accuracy_loss(logits: Tensor, y: Tensor, *, tau: float = 1.0) -> Tensor:
    """1 − soft accuracy (the article: its negative as a loss)."""
    return 1 - soft_accuracy(logits, y, tau=tau)


def soft_f1_binary(p: Tensor, t: Tensor, *, eps: float = 1e-7) -> Tensor:
    """Positive-class F1 ≈ 2 Σ t·p / Σ (t + p) over the batch.

    Args:
        p: (B,) positive-class probabilities in [0, 1] (hard 0/1 predictions give the exact F1).
        t: (B,) 0/1 targets.
        eps: keeps the ratio finite when the batch has no positives and no predictions.
    """
    t = t.to(p.dtype)
    return 2 * (t * p).sum() / ((t + p).sum() + eps)


def soft_f1(
    logits: Tensor,
    y: Tensor,
    *,
    tau: float = 1.0,
    average: Literal["macro", "binary"] = "macro",
    eps: float = 1e-7,
) -> Tensor:
    """Soft F1 from logits: per-class soft F1 of softmax(logits/τ) against one-hot y.

    Args:
        logits: (B, K).
        y: (B,) integer labels.
        average: "macro" (mean of the K per-class F1) or "binary" (class 1 of K = 2).

    Returns:
        0-dim tensor; → sklearn's f1_score(average=…) as τ → 0.
    """
    p = soft_onehot(logits, -1, tau=tau)  # (B, K)
    onehot = F.one_hot(y.long(), logits.shape[-1]).to(p.dtype)  # (B, K)
    per_class = 2 * (onehot * p).sum(0) / ((onehot + p).sum(0) + eps)  # (K,)
    if average == "binary":
        if logits.shape[-1] != 2:
            raise ValueError("average='binary' needs K = 2 classes")
        return per_class[1]
    if average == "macro":
        return per_class.mean()
    raise ValueError(f"average must be 'macro' or 'binary', got {average!r}")


def soft_f1_loss(
    logits: Tensor, y: Tensor, *, tau: float = 1.0, average: Literal["macro", "binary"] = "macro"
) -> Tensor:
    """1 − soft F1; the article advises fine-tuning with it after cross-entropy training."""
    return 1 - soft_f1(logits, y, tau=tau, average=average)
