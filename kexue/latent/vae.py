r"""Shared VAE / AE building blocks: Gaussian encoder, analytic Gaussian KL, ELBO pieces, IWAE.

Used by vae_geometry (变分自编码器（六）), vib (从变分编码、信息瓶颈到正态分布) and infomax
(深度学习的互信息); the article-specific math lives in those modules.
Original: bojone/vae, vae_keras.py (MLP VAE: μ, log σ² heads, Σ BCE + KL).

Equations (nats, per example, summed over the Z latent dimensions)::

    z = μ(x) + σ(x) ⊗ ε,  ε ~ N(0, I)                          (reparameterisation)
    KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ_i (μ_i² + σ_i² − log σ_i² − 1)
    ELBO(x) = E_z[log p(x|z)] − KL          rec = −log p(x|z) (Bernoulli: Σ BCE;
                                                              "mse": ‖x − x̂‖², the 7725 form)
    IWAE_k(x) = log (1/k) Σ_j p(x|z_j) p(z_j) / q(z_j|x),  z_j ~ q(z|x)    (≥ ELBO)

Symbols: x (B, D) data; μ, logvar (B, Z) posterior; z (B, Z) code; x_logits (B, D) decoder output.

Deviations from the article:
    - logvar is clamped to [−10, 10] in the encoder (latent-space pitfall of spec §3.3); the
      clamp is inactive in normal training.
    - The AE is the same network with the log-variance head unused (z = μ), so AE and VAE differ
      only by the noise and the KL term, as the article's comparison requires.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.latent.gumbel import normal_rsample
from kexue.nn import MLP

__all__ = [
    "VAE",
    "GaussianEncoder",
    "gaussian_kl",
    "gaussian_kl_per_dim",
    "gaussian_log_prob",
    "iwae_bound",
    "reconstruction_nll",
]

Likelihood = Literal["bernoulli", "mse"]


def gaussian_kl_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) per coordinate: ½(μ² + σ² − log σ² − 1), shape of `mu`."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) in nats, summed over the last axis: (B, Z) -> (B,)."""
    return gaussian_kl_per_dim(mu, logvar).sum(-1)


def gaussian_log_prob(z: Tensor, mu: Tensor | None = None, logvar: Tensor | None = None) -> Tensor:
    """log N(z; μ, diag σ²) summed over the last axis (default N(0, I)): (..., Z) -> (...)."""
    mu = torch.zeros_like(z) if mu is None else mu
    logvar = torch.zeros_like(z) if logvar is None else logvar
    sq = (z - mu).pow(2) * torch.exp(-logvar)
    return -0.5 * (sq + logvar + math.log(2 * math.pi)).sum(-1)


def reconstruction_nll(x: Tensor, x_out: Tensor, likelihood: Likelihood = "bernoulli") -> Tensor:
    """−log p(x|z) per example, (B, D) -> (B,).

    Args:
        x: targets (B, D); in {0, 1} (or [0, 1]) for "bernoulli".
        x_out: decoder output (B, D): logits for "bernoulli", the mean x̂ for "mse".
        likelihood: "bernoulli" (Σ BCE, the reference code) or "mse" (‖x − x̂‖², the article's
            geometric loss; a Gaussian likelihood with variance ½ up to a constant).
    """
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(x_out, x, reduction="none").sum(-1)
    if likelihood == "mse":
        return (x - x_out).pow(2).sum(-1)
    raise ValueError(f"unknown likelihood {likelihood!r}; valid: bernoulli, mse")


class GaussianEncoder(nn.Module):
    """x -> (μ, log σ²): an MLP body with two linear heads.

    Args:
        in_features: D.
        z_dim: Z.
        hidden: hidden sizes of the body (ReLU).
        logvar_clamp: log σ² is clamped to [−c, c].

    Shapes: (B, D) -> ((B, Z), (B, Z)).
    """

    def __init__(
        self,
        in_features: int,
        z_dim: int,
        *,
        hidden: Sequence[int] = (128, 128),
        logvar_clamp: float = 10.0,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("hidden must name at least one layer")
        self.body = nn.Sequential(MLP(in_features, hidden[-1], hidden=hidden[:-1]), nn.ReLU())
        self.mu = nn.Linear(hidden[-1], z_dim)
        self.logvar = nn.Linear(hidden[-1], z_dim)
        self.logvar_clamp = logvar_clamp

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h).clamp(-self.logvar_clamp, self.logvar_clamp)


class VAE(nn.Module):
    """A Gaussian-posterior VAE (or, with `deterministic=True`, the AE of the same shape).

    Args:
        in_features: D.
        z_dim: Z.
        hidden: encoder hidden sizes; the decoder mirrors them.
        deterministic: True gives the autoencoder z = μ(x) with no KL (article 7725's AE).

    `forward(x, generator)` returns (x_out (B, D), μ (B, Z), logvar (B, Z), z (B, Z)).
    """

    def __init__(
        self,
        in_features: int,
        z_dim: int,
        *,
        hidden: Sequence[int] = (128, 128),
        deterministic: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = GaussianEncoder(in_features, z_dim, hidden=hidden)
        self.decoder = MLP(z_dim, in_features, hidden=tuple(reversed(hidden)))
        self.z_dim = z_dim
        self.deterministic = deterministic

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, logvar), each (B, Z)."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """Decoder output (logits or means), (B, Z) -> (B, D)."""
        return self.decoder(z)

    def forward(
        self, x: Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(x)
        z = mu if self.deterministic else normal_rsample(mu, logvar, generator=generator)
        return self.decode(z), mu, logvar, z

    def loss_terms(
        self,
        x: Tensor,
        *,
        likelihood: Likelihood = "bernoulli",
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """(rec (B,), kl (B,)) from one reparameterised sample; −ELBO = rec + kl (AE: kl = 0)."""
        x_out, mu, logvar, _ = self(x, generator=generator)
        rec = reconstruction_nll(x, x_out, likelihood)
        kl = torch.zeros_like(rec) if self.deterministic else gaussian_kl(mu, logvar)
        return rec, kl


def iwae_bound(
    model: VAE, x: Tensor, k: int = 100, *, generator: torch.Generator | None = None
) -> Tensor:
    r"""Importance-weighted bound log (1/k) Σ_j p(x|z_j)p(z_j)/q(z_j|x) (Bernoulli decoder), (B,).

    k = 1 is an unbiased one-sample ELBO estimate; the bound rises towards log p(x) with k.
    """
    mu, logvar = model.encode(x)
    eps = torch.randn((k, *mu.shape), generator=generator, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps  # (k, B, Z)
    logits = model.decode(z.flatten(0, 1)).view(k, *x.shape)
    log_px = -F.binary_cross_entropy_with_logits(
        logits, x.expand_as(logits), reduction="none"
    ).sum(-1)
    log_w = log_px + gaussian_log_prob(z) - gaussian_log_prob(z, mu, logvar)  # (k, B)
    return torch.logsumexp(log_w, 0) - math.log(k)
