r"""The December-2018 GAN reading list, mapped to what kexue offers; Roth et al.'s regulariser.

Article:  【学习清单】最近比较重要的GAN进展论文 — 苏剑林, 2018-12-26
URL:      https://kexue.fm/archives/6240

The list has eleven entries (ten papers; Mescheder et al. appears in both sections) in two
sections: "let results speak" (high-resolution models) and "stabilise training first" (theory
and dynamics). `PAPERS` is a literal table; `docs/gan_papers.md` renders it.

Key equation (Roth et al. 2017, the one list item small enough to add here), for D = σ(φ)::

    Ω(φ) = (γ/2) · ( E_p[(1 − D(x))² ‖∇_x φ(x)‖²] + E_q[D(x)² ‖∇_x φ(x)‖²] )

Symbols: φ the discriminator's logit, γ the weight.

Deviations from the article: the article is a reading list; nothing to deviate from. The
entries kexue does not offer (PGGAN, IntroVAE, VDB, StyleGAN, CT-GAN) are out of CPU/toy scope:
their `offers` is empty and their note says "not offered" (IntroVAE and CT-GAN name kexue's
nearest alternative under `related`); of BigGAN kexue offers the hinge loss and SN only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from kexue.gan.losses import _flat

__all__ = ["Paper", "PAPERS", "papers_table", "roth_regularizer"]


@dataclass(frozen=True)
class Paper:
    """One entry of the list: what it is and what kexue offers for it (importable names).

    `offers` names what implements the paper (all of it or the parts the note lists); it is
    empty exactly when the note starts with "not offered". `related` names kexue's nearest
    alternative for a paper it does not offer (not counted as offered).
    """

    index: int
    section: str
    title: str
    arxiv: str
    offers: tuple[str, ...]
    note: str
    related: tuple[str, ...] = ()


_RESULTS, _STABLE = "let results speak", "stabilise training first"

PAPERS: tuple[Paper, ...] = (
    Paper(1, _RESULTS, "Progressive Growing of GANs", "1710.10196", (),
          "not offered: progressive high-resolution training is out of CPU scope"),
    Paper(2, _RESULTS, "Which Training Methods for GANs do actually Converge?", "1801.04406",
          ("kexue.gan.r1_penalty", "kexue.gan.energy_gradient_penalty"),
          "R1 = zero-centred GP on real samples (energy-gan recipe); a special case of WGAN-div"),
    Paper(3, _RESULTS, "IntroVAE", "1807.06358", (),
          "not offered; the encoder-GAN route is BiGAN-QP (bigan-qp recipe)",
          ("kexue.gan.bigan_qp_g_loss",)),
    Paper(4, _RESULTS, "BigGAN", "1809.11096",
          ("kexue.gan.hinge_d_loss", "kexue.gan.hinge_g_loss", "kexue.gan.spectral_norm"),
          "hinge loss and SN offered; orthogonal regularisation and truncation not offered"),
    Paper(5, _RESULTS, "Variational Discriminator Bottleneck", "1810.00821", (),
          "not offered"),
    Paper(6, _RESULTS, "StyleGAN", "1812.04948", (),
          "not offered: out of CPU scope"),
    Paper(7, _STABLE, "Stabilizing Training of GANs through Regularization", "1705.09367",
          ("kexue.gan.roth_regularizer",),
          "the noise-derived gradient regulariser for the JS-GAN"),
    Paper(8, _STABLE, "GANs Trained by a Two Time-Scale Update Rule (TTUR)", "1706.08500",
          ("kexue.recipes.gan_qp.Config",),
          "a critic learning rate apart from the generator's: gan-qp's lr_d_scale (TTUR if ≠ 1)"),
    Paper(9, _STABLE, "Which Training Methods for GANs do actually Converge? (with The Numerics "
          "of GANs 1705.10461, GD GAN optimization is locally stable 1706.04156)", "1801.04406",
          ("kexue.gan.r1_penalty", "kexue.gan.gradient_norm_penalty"),
          "R1 / R2 and every zero-centred penalty via gradient_norm_penalty(where=...)"),
    Paper(10, _STABLE, "Spectral Normalization for GANs", "1802.05957",
          ("kexue.gan.spectral_norm", "kexue.gan.spectral_norm_estimate",
           "kexue.gan.spectral_norm_penalty"),
          "persistent (PyTorch's) and fresh (the author's) SN; spectral-norm regularisation"),
    Paper(11, _STABLE, "Improving the Improved Training of WGANs: a Consistency Term (CT-GAN)",
          "1803.01541", (),
          "not offered: no CT term; the article likens it to GAN-QP's quadratic term (offered)",
          ("kexue.gan.gan_qp_d_loss",)),
)  # fmt: skip


def papers_table() -> str:
    """`PAPERS` as the Markdown table of docs/gan_papers.md (what kexue offers, and its nearest
    alternative where it offers nothing)."""

    def names(dotted: tuple[str, ...]) -> str:
        return ", ".join(f"`{d}`" for d in dotted)

    rows = ["| # | section | paper | arXiv | kexue offers | note |", "|---|---|---|---|---|---|"]
    for p in PAPERS:
        note = p.note + (f" (nearest in kexue: {names(p.related)})" if p.related else "")
        cells = [str(p.index), p.section, p.title, p.arxiv, names(p.offers) or "—", note]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def roth_regularizer(
    critic: Callable[[Tensor], Tensor], x_real: Tensor, x_fake: Tensor, *, gamma: float = 2.0
) -> Tensor:
    """(γ/2)(E_p[(1 − σ(φ))² ‖∇φ‖²] + E_q[σ(φ)² ‖∇φ‖²]) for a logit critic φ.

    Args:
        critic: (B, ...) -> (B,) or (B, 1) logits.
        x_real, x_fake: (B, ...) samples (detached).
    """
    total = x_real.new_zeros(())
    for x, real in ((x_real, True), (x_fake, False)):
        x = x.detach().requires_grad_(True)
        phi = _flat(critic(x))
        (grad,) = torch.autograd.grad(phi.sum(), x, create_graph=True)
        weight = (1 - torch.sigmoid(phi)) ** 2 if real else torch.sigmoid(phi) ** 2
        total = total + (weight * (grad.flatten(1) ** 2).sum(1)).mean()
    return 0.5 * gamma * total
