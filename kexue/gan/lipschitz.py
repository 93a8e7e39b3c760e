r"""Lipschitz constraints: spectral norm (power iteration), spectral normalisation and its
regulariser, Frobenius bounds, and the gradient-penalty family.

Article:  深度学习中的Lipschitz约束：泛化与生成模型 — 苏剑林, 2018-10-07
URL:      https://kexue.fm/archives/6051
Original: bojone/gan keras/wgan_sn_celeba.py (SN), keras/wgan_gp_celeba.py (GP)

Key equations::

    ‖f(Wx₁+b) − f(Wx₂+b)‖ ≤ ‖W‖₂ ‖x₁ − x₂‖     (activation slopes ≤ 1)
    ‖W‖₂ = max_{x≠0} ‖Wx‖/‖x‖ = sqrt(λ_max(WᵀW)) ≤ ‖W‖_F
    power iteration:  v ← Wᵀu/‖Wᵀu‖,  u ← Wv/‖Wv‖,  σ ≈ uᵀWv
    spectral normalisation:  W ↦ W/σ(W)   (applied in the forward pass, a reparametrisation)
    spectral-norm regularisation:  loss + λ Σ_l ‖W_l‖₂²
    gradient penalty:  λ E_x̂ (‖∇f(x̂)‖ − 1)²;  one-sided (the author's choice):
                       λ E_x̂ max(‖∇f(x̂)‖ − 1, 0)²

Symbols: W (out, in) a weight (conv kernels reshaped to (out, −1)); u (out,), v (in,) the
singular-vector estimates; σ the spectral norm.

Deviations from the article:
- `spectral_norm(..., state="persistent")` is PyTorch's own parametrisation
  (`torch.nn.utils.parametrizations.spectral_norm`: one iteration per training forward, u kept);
  `state="fresh"` is the author's Keras variant (u from ones, 5 iterations, every call).
- `spectral_norm_penalty` takes σ from an SVD (exact, differentiable) instead of one power
  iteration: the toy weights are small, and the gradient is the same u₁v₁ᵀ at convergence.
- The author also applied SN to BatchNorm's γ (γ/‖γ‖₂); not reproduced (it is not BN's
  Lipschitz constant).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from kexue.gan.losses import _flat

__all__ = [
    "spectral_norm_estimate",
    "FreshSpectralNorm",
    "spectral_norm",
    "spectral_norm_penalty",
    "project_spectral_",
    "frobenius_penalty",
    "lipschitz_upper_bound",
    "gradient_norm_penalty",
    "one_sided_gradient_penalty",
]


def spectral_norm_estimate(
    weight: Tensor,
    *,
    n_iter: int = 50,
    u: Tensor | None = None,
    generator: torch.Generator | None = None,
    eps: float = 1e-12,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Largest singular value of `weight` by power iteration.

    Args:
        weight: (out, ...) a weight; reshaped to (out, in) = (out, −1).
        n_iter: iterations of v ← Wᵀu/‖Wᵀu‖, u ← Wv/‖Wv‖.
        u: (out,) starting vector; random normal (from `generator`) if None.
        eps: guards the normalisations.

    Returns:
        sigma (scalar) = uᵀWv, u (out,), v (in,).
    """
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}")
    w = weight.reshape(weight.shape[0], -1)  # (out, in)
    if u is None:
        u = torch.randn(w.shape[0], generator=generator, dtype=w.dtype)
    u = F.normalize(u, dim=0, eps=eps)
    for _ in range(n_iter):
        v = F.normalize(w.T @ u, dim=0, eps=eps)
        u = F.normalize(w @ v, dim=0, eps=eps)
    return u @ w @ v, u, v


class FreshSpectralNorm(nn.Module):
    """W ↦ W/σ with σ from `n_iter` power iterations started at u = ones on every call.

    The author's Keras variant (no persistent state). Gradients flow through σ.
    """

    def __init__(self, n_iter: int = 5) -> None:
        super().__init__()
        self.n_iter = n_iter

    def forward(self, weight: Tensor) -> Tensor:
        u0 = torch.ones(weight.shape[0], dtype=weight.dtype, device=weight.device)
        sigma, _, _ = spectral_norm_estimate(weight, n_iter=self.n_iter, u=u0)
        return weight / sigma


def spectral_norm(
    module: nn.Module,
    *,
    state: Literal["persistent", "fresh"] = "persistent",
    n_iter: int | None = None,
) -> nn.Module:
    """Spectral-normalise every Linear/Conv weight of `module` in place; returns `module`.

    Args:
        state: "persistent" = PyTorch's parametrisation (u in a buffer, `n_iter` iterations per
            training forward, default 1, frozen in eval()); "fresh" = `FreshSpectralNorm`
            (default 5 iterations from ones every call).
    """
    if state not in ("persistent", "fresh"):
        raise ValueError(f"state must be 'persistent' or 'fresh', got {state!r}")
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    for layer in layers:
        if state == "persistent":
            nn.utils.parametrizations.spectral_norm(layer, n_power_iterations=n_iter or 1)
        else:
            parametrize.register_parametrization(layer, "weight", FreshSpectralNorm(n_iter or 5))
    return module


def _weights(module: nn.Module) -> list[Tensor]:
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    return [m.weight.reshape(m.weight.shape[0], -1) for m in layers]


@torch.no_grad()
def project_spectral_(module: nn.Module) -> None:
    """W ← W/‖W‖₂ in place for every Linear/Conv weight (exact SVD): SN as a post-step projection.

    This is what a Keras `constraint` does (the pitfall the article patched): the gradient step
    sees the unnormalised weight, and the projection follows it.
    """
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    for layer in layers:
        w = layer.weight
        w.div_(torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), 2))


def spectral_norm_penalty(module: nn.Module, lam: float = 1.0) -> Tensor:
    """λ Σ_l ‖W_l‖₂² over the Linear/Conv layers of `module` (Yoshida & Miyato's regulariser)."""
    return lam * sum(torch.linalg.matrix_norm(w, 2) ** 2 for w in _weights(module))


def frobenius_penalty(module: nn.Module, lam: float = 1.0) -> Tensor:
    """λ Σ_l ‖W_l‖_F² (weight decay read as a crude L-constraint, since ‖W‖₂ ≤ ‖W‖_F)."""
    return lam * sum((w**2).sum() for w in _weights(module))


@torch.no_grad()
def lipschitz_upper_bound(module: nn.Module) -> float:
    """Π_l ‖W_l‖₂ (exact SVD): a Lipschitz bound for an MLP with activation slopes ≤ 1."""
    bound = 1.0
    for w in _weights(module):
        bound *= float(torch.linalg.matrix_norm(w, 2))
    return bound


def gradient_norm_penalty(
    critic: Callable[[Tensor], Tensor],
    x_real: Tensor,
    x_fake: Tensor,
    *,
    center: float = 1.0,
    one_sided: bool = False,
    where: Literal["interp", "real", "fake", "real+fake"] = "interp",
    power: float = 2.0,
    generator: torch.Generator | None = None,
    eps: float = 1e-12,
) -> Tensor:
    r"""The gradient-penalty family E[φ(‖∇_x s(x)‖)] on chosen points.

    φ(r) = |r − center|^power, or max(r − center, 0)^power if `one_sided`. Points: random
    interpolates ε·x_real + (1 − ε)·x_fake ("interp", WGAN-GP), real samples ("real", R1 and the
    energy view), fake samples, or "real+fake" = E_p φ + E_q φ (WGAN-div's two terms).

    Args:
        critic: (B, ...) -> (B,) or (B, 1).
        x_real, x_fake: (B, ...) samples; detached (the penalty shapes the critic only).

    Returns:
        A scalar, differentiable in the critic's parameters (double backward).

    Note:
        r = sqrt(Σ g² + eps): eps keeps the gradient of the penalty finite at g = 0.
    """
    if where not in ("interp", "real", "fake", "real+fake"):
        raise ValueError(f"unknown where={where!r}")
    if x_real.shape != x_fake.shape:
        raise ValueError(f"x_real {tuple(x_real.shape)} and x_fake {tuple(x_fake.shape)} differ")
    if where == "interp":
        shape = (x_real.shape[0],) + (1,) * (x_real.dim() - 1)
        mix = torch.rand(shape, generator=generator, dtype=x_real.dtype).to(x_real.device)
        points = [mix * x_real.detach() + (1 - mix) * x_fake.detach()]
    else:
        points = {"real": [x_real], "fake": [x_fake], "real+fake": [x_real, x_fake]}[where]
    total = x_real.new_zeros(())
    for x in points:
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(_flat(critic(x)).sum(), x, create_graph=True)
        sq = (grad.flatten(1) ** 2).sum(1) + eps  # (B,) ‖∇s‖² (+ eps)
        if center == 0:  # |r|^p = (r²)^(p/2): no sqrt, so no singular gradient at ∇s = 0
            total = total + (sq ** (power / 2)).mean()
            continue
        r = torch.sqrt(sq)
        dev = (r - center).clamp_min(0) if one_sided else (r - center).abs()
        total = total + (dev**power).mean()
    return total


def one_sided_gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    x_real: Tensor,
    x_fake: Tensor,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """E_x̂ max(‖∇s(x̂)‖ − 1, 0)² on interpolates: the article's preferred one-sided penalty."""
    return gradient_norm_penalty(critic, x_real, x_fake, one_sided=True, generator=generator)
