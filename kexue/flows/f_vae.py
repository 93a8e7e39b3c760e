r"""f-VAE: a VAE whose posterior is a conditional flow; the article's model F_x(u) = F(σ₁u + E(x)).

Article:  细水长flow之f-VAEs：Glow与VAEs的联姻 — 苏剑林, 2018-09-21
URL:      https://kexue.fm/archives/5977
Original: bojone/flow (f-VAEs.py); paper Su & Wu, arXiv 1809.05861

Key equations::

    p(z|x) = ∫ δ(z − F_x(u)) q(u) du,  q(u) = N(0, I)
    L = E_x E_u [ log q(u) − log q(x | F_x(u)) − log q(F_x(u)) − log|det ∂F_x(u)/∂u| ]
    special case 1 (VAE):  F_x(u) = σ(x) ⊙ u + μ(x)
    special case 2 (noisy flow): F_x(u) = F(σu + x), q(x|z) = N(x; F⁻¹(z), σ²)
    the model used: F_x(u) = F(σ₁u + E(x)),  q(x|z) = N(x; G(F⁻¹(z)), σ₂²)
      per example, with h = σ₁u + E(x):
      ½σ₂⁻²‖G(h) − x‖² + D log σ₂ + ½‖F(h)‖² − log|det J_F(h)| − D log σ₁ − ½‖u‖²  (+ consts)

Equivalent reading (used here): a VAE with posterior N(h; E(x), σ₁²I), likelihood
N(x; G(h), σ₂²I) and the flow prior p_F(h) = N(F(h); 0, I)·|det J_F(h)|.

Symbols: x (B, C, H, W) data; u ~ N(0, I) noise of the same size; E encoder, G decoder, F an
unconditional flow (`prior`, any model with `log_prob`, `sample`); σ₁, σ₂ learned scalars.

Implemented: conditional_flow_loss (the article's L for any F_x), ResidualStep, encoder/decoder
builders (one squeeze for the digits, several for images: the author's E and G), FVAE (neg_elbo,
iwae_nll, sample, reconstruct).

Deviations from the article:
    - Data are dequantised (the author trains on undequantised pixels), so σ₂ cannot collapse.
    - The additive Gaussian constant D/2·log 2π is kept, so neg_elbo is a true bound in nats.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from kexue.flows.core import Squeeze
from kexue.flows.nice import zero_last_layer

__all__ = ["conditional_flow_loss", "ResidualStep", "encoder", "decoder", "FVAE"]


def conditional_flow_loss(
    log_q_u: Tensor, log_lik: Tensor, log_prior_z: Tensor, logdet: Tensor
) -> Tensor:
    """The article's per-sample loss log q(u) − log q(x|z) − log q(z) − log|det ∂F_x(u)/∂u|."""
    return log_q_u - log_lik - log_prior_z - logdet


class ResidualStep(nn.Module):
    """x + Conv1×1_zero(ReLU(BN(Conv3×3(x)))) (the author's E/G building block)."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            zero_last_layer(nn.Conv2d(width, channels, 1)),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class _Squeeze(nn.Module):
    def __init__(self, inverse: bool) -> None:
        super().__init__()
        self.op, self.inv = Squeeze(), inverse

    def forward(self, x: Tensor) -> Tensor:
        return (self.op.inverse(x) if self.inv else self.op(x))[0]


def encoder(channels: int, steps: int = 4, width: int = 64, squeezes: int = 1) -> nn.Sequential:
    """E: `squeezes` × [squeeze (C, H, W) → (4C, H/2, W/2), then `steps` residual steps].

    The author's 128×128 model is `squeezes=3, steps=12` (16×16×192 codes) with each step's
    width equal to its channel count (`width=0` here).
    """
    layers: list[nn.Module] = []
    c = channels
    for _ in range(squeezes):
        c *= 4
        layers += [_Squeeze(False), *[ResidualStep(c, width or c) for _ in range(steps)]]
    return nn.Sequential(*layers)


def decoder(channels: int, steps: int = 4, width: int = 64, squeezes: int = 1) -> nn.Sequential:
    """G: the mirror of `encoder` (`squeezes` × [residual steps, then unsqueeze]); no tanh."""
    layers: list[nn.Module] = []
    c = channels * 4**squeezes
    for _ in range(squeezes):
        layers += [*[ResidualStep(c, width or c) for _ in range(steps)], _Squeeze(True)]
        c //= 4
    return nn.Sequential(*layers)


class FVAE(nn.Module):
    """f-VAE with F_x(u) = F(σ₁u + E(x)) and q(x|z) = N(x; G(F⁻¹(z)), σ₂²).

    Args:
        encoder, decoder: E and G (h has the shape of E(x)).
        prior: the flow F as a density model on h (`log_prob(h)`, `sample(n, T)`); a standard
            normal on h gives the plain fixed-variance VAE (F = identity).
        sigma1, sigma2: initial posterior and decoder standard deviations (log-parametrised).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        prior: nn.Module,
        *,
        sigma1: float = 1.0,
        sigma2: float = 0.1,
    ) -> None:
        super().__init__()
        self.encoder, self.decoder, self.prior = encoder, decoder, prior
        self.log_sigma1 = nn.Parameter(torch.tensor(math.log(sigma1)))
        self.log_sigma2 = nn.Parameter(torch.tensor(math.log(sigma2)))

    def log_weights(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        """log p(x|h) + log p_F(h) − log q(h|x) per example, h = σ₁u + E(x)."""
        mean = self.encoder(x).to(x.dtype)  # the loss in x's dtype (autocast: nets in bf16)
        if u is None:
            u = torch.randn_like(mean)
        d_h, d_x = mean[0].numel(), x[0].numel()
        h = self.log_sigma1.exp() * u + mean
        resid = (self.decoder(h).to(x.dtype) - x).flatten(1)
        log_lik = (
            -0.5 * resid.pow(2).sum(1) * torch.exp(-2 * self.log_sigma2)
            - d_x * self.log_sigma2
            - 0.5 * d_x * math.log(2 * math.pi)
        )
        log_q = (
            -0.5 * u.flatten(1).pow(2).sum(1)
            - 0.5 * d_h * math.log(2 * math.pi)
            - d_h * self.log_sigma1
        )
        return log_lik + self.prior.log_prob(h) - log_q

    def neg_elbo(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        """Per-example negative ELBO in nats (an upper bound on −log p(x)), shape (B,)."""
        return -self.log_weights(x, u)

    @torch.no_grad()
    def iwae_nll(self, x: Tensor, k: int = 256, chunk: int = 64) -> Tensor:
        """Importance-weighted estimate −log (1/K) Σ_k w_k of −log p(x), shape (B,)."""
        logw = []
        for start in range(0, k, chunk):
            n = min(chunk, k - start)
            xr = x.repeat_interleave(n, 0)
            logw.append(self.log_weights(xr).view(x.shape[0], n))
        lw = torch.cat(logw, 1)
        return -(torch.logsumexp(lw, 1) - math.log(k))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """G(E(x)): the decoder's mean at the posterior's mean code (the author's
        `encode_decode_sample`)."""
        return self.decoder(self.encoder(x))

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """x = G(F⁻¹(T·ε)): the decoder's mean at a prior sample."""
        return self.decoder(self.prior.sample(n, temperature, generator))
