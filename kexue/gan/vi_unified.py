r"""Variational inference as one view of VAE, GAN, AAE and ALI; the GAN generator regulariser.

Article:  用变分推断统一理解生成模型（VAE、GAN、AAE、ALI） — 苏剑林, 2018-07-18
URL:      https://kexue.fm/archives/5716
Paper:    arXiv 1807.05936
Original: bojone/gan vgan/*.py

Key equations::

    KL(p(x,z) ‖ q(x,z)) = KL(p̃(x) ‖ q(x)) + ∫ p̃(x) KL(p(z|x) ‖ q(z|x)) dx  ≥  KL(p̃(x) ‖ q(x))
    GAN, G step with D = p̃/(p̃ + q°):  ∫ q log[q / ((1 − D) p̃)] = −E_q log D + KL(q ‖ q°)
    regulariser:   L_G = E_z [ −log D(G(z)) + λ ‖G(z) − G°(z)‖² ]     (G° = G before the step)
    AAE:  E step  E_x[−log D(E(x)) + λ ‖x − G(E(x))‖²]
    ALI (the article's variant):  L_{G,E} = −E_{(x,E(x))} log D − E_{(G(z),z)} log D

Symbols: p̃ data, q model, q° the previous model; D = σ(s) with s the critic's logit, D = 1 on
data (GAN, AAE: prior samples; ALI: encoder pairs).

Deviations from the article: the regulariser is a mean over elements (λ per element, as in the
author's code, λ = 5 there). The anchor G°(z) is the generator at the start of a round of
generator steps and is held for the round, as in the author's code (two G steps per critic
step on the same z and target; kexue.recipes.vi_unified does the same): the regulariser and
its gradient are zero at the anchor, so an anchor recomputed before every single step would
leave the update unchanged.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch.nn.functional as F
from torch import Tensor

from kexue.gan.losses import _flat

__all__ = [
    "anchor_regularizer",
    "aae_encoder_loss",
    "ali_d_loss",
    "ali_g_loss",
    "joint_kl_decomposition",
]


def anchor_regularizer(x_fake: Tensor, x_anchor: Tensor, *, lam: float = 5.0) -> Tensor:
    """λ mean (G(z) − sg G°(z))² over batch and elements: the article's KL(q‖q°) surrogate.

    Args:
        x_fake: (B, ...) G(z) from the generator being updated.
        x_anchor: (B, ...) G°(z) on the same z, from before the update (detached here).
    """
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    return lam * ((x_fake - x_anchor.detach()) ** 2).mean()


def aae_encoder_loss(d_code: Tensor, x: Tensor, x_rec: Tensor, *, lam: float = 1.0) -> Tensor:
    """E_x[−log D(E(x))] + λ mean (x − G(E(x)))², the AAE encoder/decoder step (D = 1: prior)."""
    return F.softplus(-_flat(d_code)).mean() + lam * ((x - x_rec) ** 2).mean()


def ali_d_loss(d_enc: Tensor, d_gen: Tensor) -> Tensor:
    """−E_enc log D − E_gen log(1 − D): encoder pairs (x, E(x)) labelled 1, (G(z), z) 0."""
    return F.softplus(-_flat(d_enc)).mean() + F.softplus(_flat(d_gen)).mean()


def ali_g_loss(
    d_enc: Tensor, d_gen: Tensor, *, mode: Literal["vi", "minimax", "swap"] = "vi"
) -> Tensor:
    """The E/G loss of ALI.

    "vi" (the article): −E_enc log D − E_gen log D (both pairs pushed to the encoder side);
    "minimax": E_enc log D + E_gen log(1 − D); "swap": −E_enc log(1 − D) − E_gen log D.
    """
    a, b = _flat(d_enc), _flat(d_gen)
    if mode == "vi":
        return F.softplus(-a).mean() + F.softplus(-b).mean()
    if mode == "minimax":
        return -F.softplus(-a).mean() - F.softplus(b).mean()
    if mode == "swap":
        return F.softplus(a).mean() + F.softplus(-b).mean()
    raise ValueError(f"mode must be 'vi', 'minimax' or 'swap', got {mode!r}")


def joint_kl_decomposition(p_joint: np.ndarray, q_joint: np.ndarray) -> dict[str, float]:
    """For discrete joints p(x, z), q(x, z) (X, Z) > 0: the three terms of the identity.

    Returns {"joint": KL(p‖q), "marginal": KL(p(x)‖q(x)), "conditional": E_p(x) KL(p(z|x)‖q(z|x))}.
    """
    p = np.asarray(p_joint, np.float64)
    q = np.asarray(q_joint, np.float64)
    px, qx = p.sum(1), q.sum(1)
    joint = float((p * np.log(p / q)).sum())
    marginal = float((px * np.log(px / qx)).sum())
    pc, qc = p / px[:, None], q / qx[:, None]
    conditional = float((px * (pc * np.log(pc / qc)).sum(1)).sum())
    return {"joint": joint, "marginal": marginal, "conditional": conditional}
