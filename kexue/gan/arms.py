r"""The GAN objectives compared side by side ("arms"), as a literal table of settings.

Article:  不用L约束又不会梯度消失的GAN，了解一下？ — 苏剑林, 2018-11-20 (its comparison)
URL:      https://kexue.fm/archives/6163

An arm = a critic objective (loss + Lipschitz device) and a generator objective, with the
optimiser settings of its source. `critic_objective` and `generator_objective` evaluate them
with the library's loss functions; the training loop stays in the recipe or benchmark::

    SGAN-NS     sgan_d_loss                    / sgan_g_loss(non-saturating)
    SGAN-SN     the same, spectral-normalised critic
    LSGAN-SN    lsgan_d_loss                   / lsgan_g_loss
    hinge-SN    hinge_d_loss                   / hinge_g_loss
    WGAN-clip   wgan_d_loss, weights in [−c, c] / wgan_g_loss
    WGAN-GP     wgan_d_loss + λ·GP(interp)     / wgan_g_loss
    WGAN-SN     wgan_d_loss, SN critic         / wgan_g_loss
    WGAN-div    wgan_d_loss + (k/2)(E_p‖∇‖^p + E_q‖∇‖^p), k = 2, p = 6
    R1          sgan_d_loss + (γ/2)E_p‖∇D‖²    / sgan_g_loss
    f-GAN       f_d_loss(name)                 / f_g_loss(name, "alt")
    GAN-QP      gan_qp_d_loss(λ = 10, l1/l2)   / gan_qp_g_loss

Deviations from the article: none (a bookkeeping module; settings cite their sources).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from kexue.gan.energy import r1_penalty, wgan_div_penalty
from kexue.gan.f_gan import f_d_loss, f_g_loss
from kexue.gan.gan_qp import gan_qp_d_loss, gan_qp_g_loss
from kexue.gan.lipschitz import gradient_norm_penalty
from kexue.gan.losses import (
    hinge_d_loss,
    hinge_g_loss,
    lsgan_d_loss,
    lsgan_g_loss,
    sgan_d_loss,
    sgan_g_loss,
)
from kexue.gan.wgan import wgan_d_loss, wgan_g_loss

__all__ = ["Arm", "ARMS", "arm", "critic_objective", "generator_objective"]


@dataclass(frozen=True)
class Arm:
    """One GAN variant.

    Attributes:
        name: the key.
        loss: "sgan", "lsgan", "hinge", "wgan", "gan_qp_l1", "gan_qp_l2" or "f:<divergence>".
        penalty: "none", "gp", "r1", "wgan_div".
        lam: the penalty's weight (GP λ, R1 γ, GAN-QP λ).
        sn: spectral-normalise the critic.
        clip: WGAN weight clipping value (0 = none).
        n_d: critic steps per generator step.
        lr, betas: Adam settings for both networks.
    """

    name: str
    loss: str
    penalty: str = "none"
    lam: float = 0.0
    sn: bool = False
    clip: float = 0.0
    n_d: int = 1
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)


_W = {"n_d": 5, "lr": 1e-4, "betas": (0.5, 0.9)}  # WGAN-GP paper's toy settings

ARMS: tuple[Arm, ...] = (
    Arm("sgan_ns", "sgan"),
    Arm("sgan_sn", "sgan", sn=True),
    Arm("lsgan_sn", "lsgan", sn=True),
    Arm("hinge_sn", "hinge", sn=True),
    Arm("wgan_clip", "wgan", clip=0.01, n_d=5, lr=5e-5, betas=(0.5, 0.9)),
    Arm("wgan_gp", "wgan", penalty="gp", lam=0.1, **_W),  # λ = 0.1 as in gan_toy.py
    Arm("wgan_sn", "wgan", sn=True, **_W),
    Arm("wgan_div", "wgan", penalty="wgan_div", lam=2.0, **_W),
    Arm("r1", "sgan", penalty="r1", lam=1.0),
    Arm("fgan_kl", "f:kl"),
    Arm("fgan_reverse_kl", "f:reverse_kl"),
    Arm("fgan_hellinger", "f:squared_hellinger"),
    Arm("gan_qp_l1", "gan_qp_l1", lam=10.0, n_d=2),
    Arm("gan_qp_l2", "gan_qp_l2", lam=10.0, n_d=2),
)

_BY_NAME = {a.name: a for a in ARMS}


def arm(name: str) -> Arm:
    """The arm called `name`."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown arm {name!r}; valid: {', '.join(_BY_NAME)}") from None


def critic_objective(
    a: Arm,
    critic: Callable[[Tensor], Tensor],
    x_real: Tensor,
    x_fake: Tensor,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The critic's loss (with its penalty) for arm `a`; x_fake must be detached by the caller."""
    d_real, d_fake = critic(x_real), critic(x_fake)
    if a.loss == "sgan":
        loss = sgan_d_loss(d_real, d_fake)
    elif a.loss == "lsgan":
        loss = lsgan_d_loss(d_real, d_fake)
    elif a.loss == "hinge":
        loss = hinge_d_loss(d_real, d_fake)
    elif a.loss == "wgan":
        loss = wgan_d_loss(d_real, d_fake)
    elif a.loss.startswith("gan_qp_"):
        loss = gan_qp_d_loss(d_real, d_fake, x_real, x_fake, lam=a.lam, norm=a.loss[-2:])
    elif a.loss.startswith("f:"):
        loss = f_d_loss(a.loss[2:], d_real, d_fake)
    else:
        raise ValueError(f"unknown loss {a.loss!r}")
    if a.penalty == "gp":
        loss = loss + a.lam * gradient_norm_penalty(critic, x_real, x_fake, generator=generator)
    elif a.penalty == "r1":
        loss = loss + r1_penalty(critic, x_real, gamma=a.lam)
    elif a.penalty == "wgan_div":
        loss = loss + wgan_div_penalty(critic, x_real, x_fake, k=a.lam, p=6.0)
    elif a.penalty != "none":
        raise ValueError(f"unknown penalty {a.penalty!r}")
    return loss


def generator_objective(
    a: Arm, critic: Callable[[Tensor], Tensor], x_real: Tensor, x_fake: Tensor
) -> Tensor:
    """The generator's loss for arm `a` (x_fake = G(z) with its graph)."""
    d_fake = critic(x_fake)
    if a.loss == "sgan":
        return sgan_g_loss(d_fake)
    if a.loss == "lsgan":
        return lsgan_g_loss(d_fake)
    if a.loss == "hinge":
        return hinge_g_loss(d_fake)
    if a.loss == "wgan":
        return wgan_g_loss(d_fake)
    if a.loss.startswith("gan_qp_"):
        with torch.no_grad():  # T(x_real) carries no generator gradient
            d_real = critic(x_real)
        return gan_qp_g_loss(d_real, d_fake)
    if a.loss.startswith("f:"):
        return f_g_loss(a.loss[2:], d_fake, mode="alt")
    raise ValueError(f"unknown loss {a.loss!r}")
