r"""Reparameterisation, Gumbel-Max, Gumbel-Softmax and score-function gradient estimators.

Article:  漫谈重参数：从正态分布到Gumbel Softmax — 苏剑林, 2019-06-10
URL:      https://kexue.fm/archives/6705
Original: bojone/vae, vae_keras_cnn_gs.py (the Gumbel-Softmax VAE demo)
See also: Jang, Gu, Poole 2017 (Gumbel-Softmax, straight-through); Maddison et al. 2017 (Concrete)

Objective L(θ) = E_{z~p_θ}[f(z)]. The article's routes to ∇_θ L::

    reparameterisation   z = μ + σ ε, ε ~ N(0, 1):  ∇L = E_ε[∂f/∂z · ∂z/∂θ]
    Gumbel-Max           y = argmax_i (o_i − log(−log ε_i)),  ε_i ~ U[0, 1]   (exact sampler)
    Gumbel-Softmax       ỹ = softmax((o_i − log(−log ε_i)) / τ)                (τ → 0: Gumbel-Max)
    score function       ∇L = E_z[(f(z) − b) ∇_θ log p_θ(z)]   (unbiased for any b ⟂ z)

and, from the Gumbel-Softmax paper, the straight-through estimator
y = one_hot(argmax ỹ) − sg(ỹ) + ỹ (hard forward, soft backward).

Implemented:
    normal_rsample, gumbel_noise, gumbel_max, gumbel_softmax, TauSchedule,
    categorical_kl_uniform (the discrete VAE's KL against the uniform prior),
    categorical_grad_samples (per-sample gradient estimates of E_y[r_y] w.r.t. the logits for
    "exact", "sf", "sf_baseline", "sf_loo", "gumbel_softmax", "st_gumbel") and
    exact_categorical_grad: ∂/∂o_k Σ_y p_y r_y = p_k (r_k − p·r).

Symbols: logits o (…, K); τ temperature; r (K,) rewards; S samples.

Deviations from the article:
    - Gumbel noise is −log(E) with E ~ Exponential(1) by default (never log 0); the author's
      code uses −log(−log(u + 1e-7) + 1e-7), available as `eps=1e-7`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ESTIMATORS",
    "TauSchedule",
    "categorical_grad_samples",
    "categorical_kl_uniform",
    "exact_categorical_grad",
    "gumbel_max",
    "gumbel_noise",
    "gumbel_softmax",
    "normal_rsample",
]

ESTIMATORS = ("exact", "sf", "sf_baseline", "sf_loo", "gumbel_softmax", "st_gumbel")


def normal_rsample(
    mu: Tensor, logvar: Tensor, *, generator: torch.Generator | None = None
) -> Tensor:
    """z = μ + exp(logvar/2)·ε, ε ~ N(0, I): differentiable in μ and logvar."""
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def gumbel_noise(
    shape: tuple[int, ...] | torch.Size,
    *,
    eps: float | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Standard Gumbel noise g = −log(−log u).

    Args:
        eps: None draws −log(Exponential(1)) (exact, never infinite); a float reproduces the
            author's −log(−log(u + eps) + eps).
    """
    if eps is None:
        # E ~ Exponential(1) equals −log u in law; −log E is Gumbel, as in F.gumbel_softmax.
        e = torch.empty(shape, dtype=dtype).exponential_(generator=generator)
        return -e.log()
    u = torch.rand(shape, generator=generator, dtype=dtype)
    return -torch.log(-torch.log(u + eps) + eps)


def gumbel_max(logits: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """Exact categorical samples (…) from unnormalised log-probabilities (…, K)."""
    g = gumbel_noise(logits.shape, generator=generator, dtype=logits.dtype).to(logits.device)
    return (logits + g).argmax(-1)


def gumbel_softmax(
    logits: Tensor,
    tau: float,
    *,
    hard: bool = False,
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
) -> Tensor:
    """Relaxed one-hot sample softmax((o + g)/τ) (…, K); `hard` gives the straight-through
    one-hot with the relaxed sample's gradient. `noise` passes shared Gumbel noise (tests)."""
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if noise is None:
        noise = gumbel_noise(logits.shape, generator=generator, dtype=logits.dtype)
    soft = F.softmax((logits + noise.to(logits.device)) / tau, dim=-1)
    if not hard:
        return soft
    index = soft.argmax(-1, keepdim=True)
    one_hot = torch.zeros_like(soft).scatter_(-1, index, 1.0)
    return one_hot - soft.detach() + soft  # forward: one-hot; backward: ∂soft


def categorical_kl_uniform(logits: Tensor) -> Tensor:
    """KL(q ‖ Uniform(K)) summed over the L latents of a discrete VAE, (…, L, K) → (…):
    Σ q log q + L·log K. The author's demo keeps only Σ q log q (its "negative entropy"); the
    L·log K constant makes the ELBO a bound on log p(x)."""
    log_q = F.log_softmax(logits, -1)
    return (log_q.exp() * log_q).sum((-2, -1)) + logits.shape[-2] * math.log(logits.shape[-1])


@dataclass(frozen=True, kw_only=True)
class TauSchedule:
    """Temperature schedules.

    kind="exp_per_step": τ_t = τ_min + (τ0 − τ_min)·decay^t, t = batches seen (the author's
    VAE demo: 0.01 + 0.99·0.999^t). kind="jang": τ = max(τ_floor, τ0·exp(−r·t)) updated every
    `every` steps (the Gumbel-Softmax paper's recipe, as recalled: r = 1e-5, floor 0.5).
    """

    kind: Literal["exp_per_step", "jang"] = "exp_per_step"
    tau0: float = 1.0
    tau_min: float = 0.01
    decay: float = 0.999
    rate: float = 1e-5
    every: int = 1000

    def __post_init__(self) -> None:
        if self.kind not in ("exp_per_step", "jang"):
            raise ValueError(f"unknown schedule {self.kind!r}; valid: exp_per_step, jang")

    def __call__(self, step: int) -> float:
        if self.kind == "exp_per_step":
            return self.tau_min + (self.tau0 - self.tau_min) * self.decay**step
        if self.kind == "jang":
            t = (step // self.every) * self.every
            return max(self.tau_min, self.tau0 * math.exp(-self.rate * t))
        raise ValueError(f"unknown schedule {self.kind!r}; valid: exp_per_step, jang")


def exact_categorical_grad(logits: Tensor, rewards: Tensor) -> Tensor:
    """∇_o Σ_y softmax(o)_y r_y = p ⊙ (r − p·r), shape (K,)."""
    p = F.softmax(logits, -1)
    return p * (rewards - (p * rewards).sum())


def categorical_grad_samples(
    logits: Tensor,
    rewards: Tensor,
    method: str,
    n_samples: int,
    *,
    tau: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per-sample estimates (S, K) of ∇_o E_{y~softmax(o)}[r_y], for f(y) = r·y.

    Methods: "exact" (S copies of the exact gradient), "sf" (REINFORCE), "sf_baseline"
    (baseline b = p·r, the oracle E f), "sf_loo" (leave-one-out baseline over the S samples,
    unbiased), "gumbel_softmax" (reparameterised through ỹ; biased for τ > 0), "st_gumbel"
    (straight-through; biased).
    """
    if method not in ESTIMATORS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(ESTIMATORS)}")
    k = logits.shape[-1]
    logits = logits.detach()
    p = F.softmax(logits, -1)
    if method == "exact":
        return exact_categorical_grad(logits, rewards).expand(n_samples, k).clone()
    if method.startswith("sf"):
        y = gumbel_max(logits.expand(n_samples, k), generator=generator)
        f = rewards[y]  # (S,)
        score = F.one_hot(y, k).to(logits.dtype) - p  # ∇_o log p_y = e_y − p
        if method == "sf_baseline":
            f = f - (p * rewards).sum()
        elif method == "sf_loo":
            if n_samples < 2:
                raise ValueError("sf_loo needs n_samples >= 2")
            f = f - (f.sum() - f) / (n_samples - 1)
        return f[:, None] * score
    o = logits.expand(n_samples, k).clone().requires_grad_(True)
    y = gumbel_softmax(o, tau, hard=method == "st_gumbel", generator=generator)
    (y @ rewards).sum().backward()  # rows are independent: the gradient is per sample
    return o.grad
