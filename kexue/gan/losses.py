r"""The standard GAN objectives as plain functions of critic outputs (the baselines of GAN-QP).

Article:  不用L约束又不会梯度消失的GAN，了解一下？ — 苏剑林, 2018-11-20 (its comparison table)
URL:      https://kexue.fm/archives/6163

Every critic returns a realness score s(x) (a logit; higher = more real), shape (B,) after
flattening. With σ the logistic function and softplus(v) = log(1 + e^v):

    SGAN (minimax)      L_D = E_p softplus(−s) + E_q softplus(s)        (= BCE with logits)
                        L_G = −E_q softplus(s)                          (= E_q log(1 − σ(s)))
    SGAN (non-sat.)     L_G = E_q softplus(−s)                          (= −E_q log σ(s))
    LSGAN               L_D = ½E_p (s − 1)² + ½E_q s²,   L_G = ½E_q (s − 1)²
    hinge               L_D = E_p relu(1 − s) + E_q relu(1 + s),   L_G = −E_q s

Symbols: d_real = s(x_real), d_fake = s(x_fake), (B,) or (B, 1).

Deviations from the article: none; the article quotes these losses, it does not define them.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "sgan_d_loss",
    "sgan_g_loss",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "hinge_d_loss",
    "hinge_g_loss",
]


def _flat(s: Tensor) -> Tensor:
    """Critic outputs (B,) or (B, 1) -> (B,); anything else raises (no silent broadcasting)."""
    if s.dim() == 2 and s.shape[1] == 1:
        return s[:, 0]
    if s.dim() != 1:
        raise ValueError(f"critic outputs must have shape (B,) or (B, 1), got {tuple(s.shape)}")
    return s


def sgan_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E_p softplus(−s) + E_q softplus(s): binary cross-entropy with logits, real = 1."""
    return F.softplus(-_flat(d_real)).mean() + F.softplus(_flat(d_fake)).mean()


def sgan_g_loss(d_fake: Tensor, *, mode: str = "non_saturating") -> Tensor:
    """Generator loss: "non_saturating" −E log σ(s) or "minimax" E log(1 − σ(s))."""
    s = _flat(d_fake)
    if mode == "non_saturating":
        return F.softplus(-s).mean()
    if mode == "minimax":
        return -F.softplus(s).mean()
    raise ValueError(f"mode must be 'non_saturating' or 'minimax', got {mode!r}")


def lsgan_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """½E_p (s − 1)² + ½E_q s² (LSGAN with targets a=0, b=1)."""
    return 0.5 * ((_flat(d_real) - 1) ** 2).mean() + 0.5 * (_flat(d_fake) ** 2).mean()


def lsgan_g_loss(d_fake: Tensor) -> Tensor:
    """½E_q (s − 1)² (LSGAN, c = 1)."""
    return 0.5 * ((_flat(d_fake) - 1) ** 2).mean()


def hinge_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E_p relu(1 − s) + E_q relu(1 + s) (SNGAN/BigGAN hinge; margins at ±1)."""
    return F.relu(1 - _flat(d_real)).mean() + F.relu(1 + _flat(d_fake)).mean()


def hinge_g_loss(d_fake: Tensor) -> Tensor:
    """−E_q s."""
    return -_flat(d_fake).mean()
