r"""BiGAN-QP: an encoder and a generator trained together under the QP divergence.

Article:  BiGAN-QP：简单清晰的编码&生成模型 — 苏剑林, 2018-12-10
URL:      https://kexue.fm/archives/6214
Original: bojone/gan-qp bigan-qp/bigan_qp_128.py

Key equations (one-argument critic on joint pairs)::

    ΔT = T(x, E(x)) − T(G(z), z)
    T      = argmax E[ ΔT − ΔT² / (2λ d((x, E(x)), (G(z), z))) ]
    d      = mean_pixels |x − G(z)| + mean_dims |E(x) − z|
    (G, E) = argmin E[ ΔT + β₁‖z − E(G_ng(z))‖² + β₂‖x − G(E_ng(x))‖² ]

_ng = stop-gradient: the z-reconstruction trains E only, the x-reconstruction G only.

Symbols: x (B, D) data, z (B, Z) latent codes, E encoder, G generator, T critic on (x, z).

Deviations from the article: the squared norms are means over elements (as in the author's
code: his β₁ = 2, β₂ = 3 at 128 px and β₁ = 4, β₂ = 6 at 256 px); the critic here is an MLP on
concat(x, z). The digits recipe keeps his 2 : 3 ratio but uses β₁ = 16, β₂ = 24, larger than
the article's "keep them small", because at a CPU budget of 4 000 steps his weights leave E far
from inverting G (see kexue.recipes.bigan_qp).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from kexue.gan.gan_qp import pair_distance, qp_critic_loss
from kexue.gan.losses import _flat

__all__ = ["bigan_qp_distance", "bigan_qp_d_loss", "bigan_qp_g_loss", "bigan_recon_losses"]


@torch.no_grad()
def bigan_qp_distance(x_real: Tensor, z_real: Tensor, x_fake: Tensor, z_fake: Tensor) -> Tensor:
    """d_i = mean|x_real,i − x_fake,i| + mean|z_real,i − z_fake,i| (B,), no gradient."""
    return pair_distance(x_real, x_fake, norm="l1") + pair_distance(z_real, z_fake, norm="l1")


def bigan_qp_d_loss(
    t_real: Tensor,
    t_fake: Tensor,
    x_real: Tensor,
    z_real: Tensor,
    x_fake: Tensor,
    z_fake: Tensor,
    *,
    lam: float = 10.0,
) -> Tensor:
    """Critic loss mean[−Δ + Δ²/(2λd)] with Δ = T(x, E(x)) − T(G(z), z) (B,).

    `z_real` = E(x_real) and `x_fake` = G(z_fake), both computed with E and G frozen.
    """
    delta = _flat(t_real) - _flat(t_fake)
    return qp_critic_loss(delta, bigan_qp_distance(x_real, z_real, x_fake, z_fake), lam=lam)


def bigan_qp_g_loss(t_real: Tensor, t_fake: Tensor) -> Tensor:
    """mean Δ = mean[T(x, E(x)) − T(G(z), z)], minimised jointly over E and G."""
    return (_flat(t_real) - _flat(t_fake)).mean()


def bigan_recon_losses(
    encoder: Callable[[Tensor], Tensor],
    generator: Callable[[Tensor], Tensor],
    x: Tensor,
    z: Tensor,
    *,
    stop_gradient: bool = True,
) -> tuple[Tensor, Tensor]:
    """The two guide terms, separately: (mean (z − E(sg G(z)))², mean (x − G(sg E(x)))²).

    The first trains only E, the second only G (stop-gradients inside). `stop_gradient=False`
    is the article's first version, before its "small adjustment": both terms train E and G.
    """
    g_z, e_x = generator(z), encoder(x)
    if stop_gradient:
        g_z, e_x = g_z.detach(), e_x.detach()  # sg: no gradient into G, resp. E
    z_rec, x_rec = encoder(g_z), generator(e_x)
    return ((z - z_rec) ** 2).mean(), ((x - x_rec) ** 2).mean()
