r"""The energy view of GANs: the critic digs pits (an energy U), the generator rolls into them.

Article:  能量视角下的GAN模型（一）：GAN＝“挖坑”＋“跳坑” — 苏剑林, 2019-01-30
URL:      https://kexue.fm/archives/6316

Key equations (U(x) = −s(x), low energy = real)::

    U = argmin_U  E_p U(x) − E_q U(x) + λ E_p ‖∇_x U(x)‖²     (zero-centred GP on real samples)
    G = argmin_G  E_z U(G(z))
    hinge:  E_p max(0, 1 + U) + E_q max(0, 1 − U);   EBGAN (U ≥ 0):  E_p U + E_q max(0, m − U)
    related penalties:  R1 (γ/2)E_p‖∇D‖²  (= the energy GP with λ = γ/2);
                        WGAN-div (k/2)(E_p‖∇‖^p + E_q‖∇‖^p), the author's k = 2, p = 6

Symbols: u_real = U(x_real), u_fake = U(x_fake) (B,); λ = `lam`.

Deviations from the article: none in the formulas; the article gives no λ (recipes record
theirs). `roll_downhill` is a diagnostic for the article's optimiser argument (particles moved
by gradient descent on a frozen U), not an article formula.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from kexue.gan.lipschitz import gradient_norm_penalty
from kexue.gan.losses import _flat

__all__ = [
    "energy_d_loss",
    "energy_g_loss",
    "energy_hinge_d_loss",
    "ebgan_margin_d_loss",
    "energy_gradient_penalty",
    "energy_critic_loss",
    "r1_penalty",
    "wgan_div_penalty",
    "roll_downhill",
]


def energy_d_loss(u_real: Tensor, u_fake: Tensor) -> Tensor:
    """E_p U − E_q U (equals WGAN's critic loss under U = −s)."""
    return _flat(u_real).mean() - _flat(u_fake).mean()


def energy_g_loss(u_fake: Tensor) -> Tensor:
    """E_z U(G(z))."""
    return _flat(u_fake).mean()


def energy_hinge_d_loss(u_real: Tensor, u_fake: Tensor) -> Tensor:
    """E_p relu(1 + U) + E_q relu(1 − U) (the hinge loss with U = −D)."""
    return F.relu(1 + _flat(u_real)).mean() + F.relu(1 - _flat(u_fake)).mean()


def ebgan_margin_d_loss(u_real: Tensor, u_fake: Tensor, *, margin: float = 1.0) -> Tensor:
    """E_p U + E_q relu(m − U) for a non-negative energy (EBGAN)."""
    if margin <= 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    return _flat(u_real).mean() + F.relu(margin - _flat(u_fake)).mean()


def energy_gradient_penalty(energy: Callable[[Tensor], Tensor], x_real: Tensor) -> Tensor:
    """E_p ‖∇_x U(x)‖² on real samples (zero-centred: real points become minima)."""
    return gradient_norm_penalty(energy, x_real, x_real, center=0.0, where="real", eps=0.0)


def energy_critic_loss(
    energy: Callable[[Tensor], Tensor],
    x_real: Tensor,
    u_real: Tensor,
    u_fake: Tensor,
    *,
    lam: float,
) -> Tensor:
    """The article's "dig" objective in one piece: E_p U − E_q U + λ E_p ‖∇_x U(x)‖²
    (u_real = U(x_real), u_fake = U(x_fake); the penalty recomputes U on x_real with grad)."""
    return energy_d_loss(u_real, u_fake) + lam * energy_gradient_penalty(energy, x_real)


def r1_penalty(critic: Callable[[Tensor], Tensor], x_real: Tensor, *, gamma: float) -> Tensor:
    """Mescheder et al.'s R1 (γ/2) E_p ‖∇_x D(x)‖²."""
    return 0.5 * gamma * energy_gradient_penalty(critic, x_real)


def wgan_div_penalty(
    critic: Callable[[Tensor], Tensor],
    x_real: Tensor,
    x_fake: Tensor,
    *,
    k: float = 2.0,
    p: float = 6.0,
) -> Tensor:
    """WGAN-div (k/2)(E_p ‖∇D‖^p + E_q ‖∇D‖^p), zero-centred on real and fake samples."""
    pen = gradient_norm_penalty(critic, x_real, x_fake, center=0.0, where="real+fake", power=p)
    return 0.5 * k * pen


def roll_downhill(
    energy: Callable[[Tensor], Tensor],
    x0: Tensor,
    *,
    steps: int = 100,
    lr: float = 0.01,
    optimizer: str = "sgd",
    momentum: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
) -> Tensor:
    """Move particles x0 (N, D) down a frozen energy by `steps` optimiser steps on E U(x).

    optimizer "sgd" (with `momentum`) or "adam" (with `betas`). Returns the final (N, D).
    """
    x = x0.detach().clone().requires_grad_(True)
    if optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD([x], lr=lr, momentum=momentum)
    elif optimizer == "adam":
        opt = torch.optim.Adam([x], lr=lr, betas=betas)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    for _ in range(steps):
        # Sum (not mean): each particle moves by its own gradient, independent of N.
        loss = _flat(energy(x)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return x.detach()
