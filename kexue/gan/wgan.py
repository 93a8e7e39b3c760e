r"""Wasserstein GAN: the critic's dual estimate of W1, weight clipping and the gradient penalty.

Article:  从Wasserstein距离、对偶理论到WGAN — 苏剑林, 2019-01-20
URL:      https://kexue.fm/archives/6280
Original: none (the article is theory; the losses follow WGAN and WGAN-GP)

Key equation (Kantorovich–Rubinstein duality, the article's end point)::

    W1(p, q) = max_{‖f‖_L ≤ 1}  E_{x~p}[f(x)] − E_{x~q}[f(x)]

so a critic f trained to maximise the right side under a Lipschitz constraint estimates W1, and
a generator q = G(z) trained to minimise it is a WGAN.

Implemented:
    wgan_d_loss(d_real, d_fake)   = E[D(x_fake)] − E[D(x_real)]     (the critic minimises −dual)
    wgan_g_loss(d_fake)           = −E[D(x_fake)]
    dual_estimate(d_real, d_fake) = E[D(x_real)] − E[D(x_fake)]
    clip_weights(module, c)       : every parameter clamped to [−c, c] (WGAN's constraint)
    gradient_penalty(D, x_real, x_fake) = E[(‖∇_x̂ D(x̂)‖₂ − 1)²],  x̂ = ε x_real + (1 − ε) x_fake

Symbols: x_real, x_fake (B, ...) samples; d_real, d_fake (B,) or (B, 1) critic outputs.

Deviations from the article: none. Clipping only bounds the Lipschitz constant by an unknown K,
so its dual estimate is K·W1; the recipe divides by a measured K̂ to compare.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = [
    "wgan_d_loss",
    "wgan_g_loss",
    "dual_estimate",
    "clip_weights",
    "gradient_penalty",
]


def dual_estimate(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E[D(x_real)] − E[D(x_fake)], the critic's estimate of W1 (a lower bound if ‖D‖_L ≤ 1)."""
    return d_real.mean() - d_fake.mean()


def wgan_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Critic loss E[D(x_fake)] − E[D(x_real)]: minimising it maximises the dual estimate."""
    return -dual_estimate(d_real, d_fake)


def wgan_g_loss(d_fake: Tensor) -> Tensor:
    """Generator loss −E[D(G(z))] (the E[D(x_real)] term has no generator gradient)."""
    return -d_fake.mean()


@torch.no_grad()
def clip_weights(module: nn.Module, c: float = 0.01) -> None:
    """Clamp every parameter of `module` to [−c, c] in place (WGAN's Lipschitz constraint)."""
    if c <= 0:
        raise ValueError(f"clip value c must be > 0, got {c}")
    for p in module.parameters():
        p.clamp_(-c, c)


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    x_real: Tensor,
    x_fake: Tensor,
    *,
    center: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP's penalty E[(‖∇D(x̂)‖₂ − center)²] on random interpolates x̂.

    Args:
        critic: maps (B, ...) to (B,) or (B, 1).
        x_real, x_fake: (B, ...) samples; the penalty does not backpropagate into them.
        center: 1 for WGAN-GP's two-sided penalty, 0 for the zero-centred one.
        generator: RNG for the interpolation weights ε ~ U[0, 1].

    Returns:
        A scalar, differentiable with respect to the critic's parameters.
    """
    if x_real.shape != x_fake.shape:
        raise ValueError(f"x_real {tuple(x_real.shape)} and x_fake {tuple(x_fake.shape)} differ")
    shape = (x_real.shape[0],) + (1,) * (x_real.dim() - 1)
    eps = torch.rand(shape, generator=generator, dtype=x_real.dtype).to(x_real.device)
    # Interpolates are leaves of their own: the penalty shapes the critic, not the samples.
    x_hat = (eps * x_real.detach() + (1 - eps) * x_fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(dim=1)
    return ((norms - center) ** 2).mean()
