r"""The variational information bottleneck classifier, and interpolation that respects N(0, I).

Article:  从变分编码、信息瓶颈到正态分布：论遗忘的重要性 — 苏剑林, 2018-11-27
URL:      https://kexue.fm/archives/6181
See also: Alemi et al. 2017, Deep Variational Information Bottleneck (alexalemi/vib_demo)

Information bottleneck: minimise E[−log p(y|z)] + β·I(X; Z). Since for any q(z)

    I(X; Z) = E_x KL(p(z|x) ‖ p(z)) = E_x KL(p(z|x) ‖ q(z)) − KL(p(z) ‖ q(z))
            ≤ E_x KL(p(z|x) ‖ q(z)),

the VIB loss with q = N(0, I) is

    L = E_{x,y} [ E_{z~p(z|x)} −log p(y|z) + β·KL(p(z|x) ‖ N(0, I)) ]      (rate R = E_x KL, nats)

and a VAE is the VIB with y := x. The standard normal makes coordinates independent, and since
α z₁ + β z₂ ~ N(0, α² + β²) for independent standard normals, straight-line interpolation
(α + β = 1) shrinks the variance (½ at the midpoint); the article keeps α² + β² = 1:

    z_θ = z₁ cos θ + z₂ sin θ,   θ ∈ [0, π/2]                          (slerp_normal)

Symbols: K code size; μ, σ (B, K) posterior; β the bottleneck weight; logits (B, C).

Deviations from the article:
    - σ = softplus(ρ − 5) (Alemi et al.'s offset: σ ≈ 0.0067 at initialisation, so early noise
      does not swamp the signal); the article writes the generic Gaussian encoder.
    - Test-time prediction averages the softmax over `n_samples` codes (12, as in the VIB demo).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.latent.vae import gaussian_kl
from kexue.nn import MLP

__all__ = [
    "VIBClassifier",
    "expected_calibration_error",
    "lerp",
    "slerp_normal",
    "vib_loss",
]


class VIBClassifier(nn.Module):
    """Gaussian encoder p(z|x) = N(μ(x), σ(x)²) followed by a linear softmax decoder p(y|z).

    Args:
        in_features: D.
        n_classes: C.
        z_dim: K.
        hidden: encoder hidden sizes (ReLU); the last layer outputs 2K (μ and ρ).
        std_offset: σ = softplus(ρ − std_offset).
        stochastic: False gives the deterministic baseline z = μ (same network, no noise).

    `forward(x, generator)` returns (logits (B, C), μ (B, K), σ (B, K)).
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        *,
        z_dim: int = 32,
        hidden: Sequence[int] = (256, 256),
        std_offset: float = 5.0,
        stochastic: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = MLP(in_features, 2 * z_dim, hidden=hidden)
        self.decoder = nn.Linear(z_dim, n_classes)
        self.z_dim = z_dim
        self.std_offset = std_offset
        self.stochastic = stochastic

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, σ), each (B, K)."""
        mu, rho = self.encoder(x).chunk(2, dim=-1)
        return mu, F.softplus(rho - self.std_offset)

    def forward(
        self, x: Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        mu, std = self.encode(x)
        z = mu
        if self.stochastic:
            z = mu + std * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
        return self.decoder(z), mu, std

    def rate(self, x: Tensor) -> Tensor:
        """KL(p(z|x) ‖ N(0, I)) per example in nats (on average a bound on I(X; Z)), (B,)."""
        mu, std = self.encode(x)
        return gaussian_kl(mu, 2 * std.log())

    @torch.no_grad()
    def predict_proba(
        self, x: Tensor, n_samples: int = 12, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """Predictive p(y|x) = E_{z~p(z|x)} softmax(decoder(z)) over n_samples draws, (B, C)."""
        mu, std = self.encode(x)
        if not self.stochastic:
            return F.softmax(self.decoder(mu), -1)
        probs = torch.zeros(len(x), self.decoder.out_features, dtype=mu.dtype)
        for _ in range(n_samples):
            z = mu + std * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
            probs += F.softmax(self.decoder(z), -1)
        return probs / n_samples


def vib_loss(
    logits: Tensor, y: Tensor, mu: Tensor, std: Tensor, *, beta: float
) -> tuple[Tensor, Tensor, Tensor]:
    """The VIB objective mean_B [−log p(y|z) + β·KL(N(μ, σ²) ‖ N(0, I))].

    Args:
        logits: (B, C) decoder output for one sampled z per example.
        y: (B,) class indices.
        mu, std: (B, K).
        beta: bottleneck weight β ≥ 0 (β = 0: noise but no KL).

    Returns:
        (loss, cross-entropy, rate), all scalars in nats (batch means).
    """
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    ce = F.cross_entropy(logits, y)
    rate = gaussian_kl(mu, 2 * std.log()).mean()  # summed over dims, averaged over the batch
    return ce + beta * rate, ce, rate


def lerp(z1: Tensor, z2: Tensor, t: float | Tensor) -> Tensor:
    """Straight-line interpolation (1 − t) z₁ + t z₂ (variance (1 − t)² + t² for N(0, I) ends)."""
    return (1 - t) * z1 + t * z2


def slerp_normal(z1: Tensor, z2: Tensor, theta: float | Tensor) -> Tensor:
    """The article's interpolation z₁ cos θ + z₂ sin θ, θ ∈ [0, π/2]: stays N(0, I) for
    independent standard-normal ends (cos² + sin² = 1)."""
    theta = torch.as_tensor(theta, dtype=z1.dtype)
    return z1 * torch.cos(theta) + z2 * torch.sin(theta)


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """ECE: Σ_bins (n_b / N)·|accuracy_b − confidence_b| over equal-width confidence bins.

    Args:
        probs: (N, C) predicted probabilities.
        y: (N,) labels.
    """
    probs, y = np.asarray(probs), np.asarray(y)
    conf, pred = probs.max(1), probs.argmax(1)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)  # conf = 1 goes to the last bin
    ece = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            ece += sel.mean() * abs((pred[sel] == y[sel]).mean() - conf[sel].mean())
    return float(ece)
