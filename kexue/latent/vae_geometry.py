r"""The geometric picture of the VAE: posterior ellipses that tile the code space.

Article:  变分自编码器（六）：从几何视角来理解VAE的尝试 — 苏剑林, 2020-09-10
URL:      https://kexue.fm/archives/7725
Original: bojone/vae, vae_keras.py (the 15×15 decoder grid over Φ⁻¹(linspace(0.05, 0.95, 15)))

The AE maps each x to a point z = E(x); the VAE maps it to an axis-aligned ellipse
(centre μ(x), radii σ(x)) and asks the decoder to reconstruct x from any point of it::

    geometric loss   ‖x − D(μ(x) + ε ⊗ σ(x))‖² + Σ_i ½(μ_i² + σ_i² − log σ_i² − 1),  ε ~ N(0, I)

("points cannot tile a region, regions can"). The KL term pulls every ellipse towards the unit
circle, so the aggregated posterior p(z) = E_x N(μ(x), σ²(x)) fills the standard normal:

    mean_x μ_i ≈ 0,    Var_x μ_i + E_x σ_i² ≈ 1     (per coordinate i)

Implemented (measurements of that picture; the models are `kexue.latent.vae.VAE`):
    aggregate_moments, prior_coverage, line_roughness, lerp_path, standardize_codes,
    quantile_grid, active_units.

Symbols: μ, σ (N, Z) posterior means and standard deviations of N data points; z (M, Z) probes.

Deviations from the article:
    - The article draws pictures; the numbers here (coverage of prior samples by 2σ ellipses,
      roughness of decoded straight lines, aggregated moments) are the spec's quantification of
      them, not formulas of the article.
    - The recipe trains with the Bernoulli likelihood on binarised digits (primary) instead of
      the article's MSE; `reconstruction_nll(..., "mse")` is the article's form.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "active_units",
    "aggregate_moments",
    "lerp_path",
    "line_roughness",
    "prior_coverage",
    "prior_covered",
    "quantile_grid",
    "standardize_codes",
]


def aggregate_moments(mu: Tensor, logvar: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and variance per coordinate of the aggregated posterior E_x N(μ(x), σ²(x)).

    By the law of total variance the mixture's variance is Var_x μ + E_x σ² (population
    variance over the N points).

    Args:
        mu, logvar: (N, Z).

    Returns:
        (mean (Z,), variance (Z,)).
    """
    mean = mu.mean(0)
    var = mu.var(0, unbiased=False) + logvar.exp().mean(0)
    return mean, var


def active_units(mu: Tensor, threshold: float = 0.01) -> int:
    """Number of coordinates with Var_x μ_i > threshold (Burda et al. 2016)."""
    return int((mu.var(0, unbiased=False) > threshold).sum())


def standardize_codes(z: Tensor, ref: Tensor | None = None) -> Tensor:
    """Per-coordinate standardisation (z − mean) / std with the moments of `ref` (default z).

    AE codes have an arbitrary scale; they are standardised before any geometric comparison.
    """
    ref = z if ref is None else ref
    return (z - ref.mean(0)) / ref.std(0, unbiased=False)


def prior_covered(
    z: Tensor, mu: Tensor, sigma: Tensor, *, radius: float = 2.0, chunk: int = 1024
) -> Tensor:
    """Which probes z lie in some ellipse: min_n ‖(z − μ_n) / σ_n‖₂ ≤ radius, (M,) bool.

    Args:
        z: (M, Z) probe points (e.g. samples of N(0, I)).
        mu: (N, Z) ellipse centres.
        sigma: (N, Z) or (Z,) or scalar ellipse radii.
        radius: in units of σ (2 = the 2σ ellipse).
    """
    sigma = torch.as_tensor(sigma, dtype=mu.dtype).expand_as(mu)
    covered = []
    for start in range(0, len(z), chunk):
        zc = z[start : start + chunk]  # (m, Z)
        d2 = (((zc[:, None, :] - mu[None]) / sigma[None]) ** 2).sum(-1)  # (m, N)
        covered.append(d2.min(1).values <= radius**2)
    return torch.cat(covered)


def prior_coverage(
    z: Tensor, mu: Tensor, sigma: Tensor, *, radius: float = 2.0, chunk: int = 1024
) -> float:
    """Fraction of probes z with min_n ‖(z − μ_n) / σ_n‖₂ ≤ radius (see `prior_covered`)."""
    return int(prior_covered(z, mu, sigma, radius=radius, chunk=chunk).sum()) / len(z)


def lerp_path(z_start: Tensor, z_end: Tensor, n_points: int = 21) -> Tensor:
    """Straight lines z_t = (1 − t) z_start + t z_end at n_points steps, (P, Z) -> (P, T, Z)."""
    t = torch.linspace(0, 1, n_points, dtype=z_start.dtype)[None, :, None]
    return (1 - t) * z_start[:, None] + t * z_end[:, None]


def line_roughness(
    decode: Callable[[Tensor], Tensor], z_start: Tensor, z_end: Tensor, n_points: int = 21
) -> Tensor:
    """max_t ‖D(z_{t+1}) − D(z_t)‖ / ‖D(z_end) − D(z_start)‖ along straight lines.

    1/(n_points − 1) for a decoder linear along the line; close to 1 when the decoded image jumps
    in one step (a hole or a cliff between the two codes).

    Args:
        decode: (K, Z) -> (K, D), e.g. sigmoid of the decoder logits.
        z_start, z_end: (P, Z).

    Returns:
        (P,) roughness per pair.
    """
    path = lerp_path(z_start, z_end, n_points)  # (P, T, Z)
    x = decode(path.flatten(0, 1)).view(len(z_start), n_points, -1)  # (P, T, D)
    steps = (x[:, 1:] - x[:, :-1]).norm(dim=-1).max(1).values
    return steps / (x[:, -1] - x[:, 0]).norm(dim=-1)


def quantile_grid(n: int = 15, lo: float = 0.05, hi: float = 0.95) -> Tensor:
    """The reference 2-D decoder grid Φ⁻¹(linspace(lo, hi, n))², (n·n, 2), top row first."""
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(lo, hi, n))
    yy, xx = torch.meshgrid(q.flip(0), q, indexing="ij")  # top row = largest z_2
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
