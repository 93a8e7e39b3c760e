r"""Evaluation of generators on toy mixtures: modes covered, high-quality fraction, mode balance.

Protocol (VEEGAN/PacGAN style, as in the GAN spec §1.2): assign each generated sample to its
nearest mode centre; it is *high quality* (HQ) if within 3σ of that centre. With c_k the HQ count
of mode k among n samples and K modes:

    modes_covered = #{k : c_k ≥ 0.1 · n / K}
    hq_fraction   = Σ_k c_k / n
    mode_kl       = KL(ĉ ‖ uniform),  ĉ = c / Σ c     (0 when perfectly balanced)
"""

from __future__ import annotations

import numpy as np

__all__ = ["modes_covered", "hq_fraction", "mode_kl"]


def _mode_stats(samples: object, centres: np.ndarray, std: float) -> np.ndarray:
    """HQ counts c_k (K,) of `samples` (n, d) around `centres` (K, d) with radius 3·std."""
    x = np.asarray(samples.detach().cpu() if hasattr(samples, "detach") else samples, np.float64)
    centres = np.asarray(centres, np.float64)
    dist = np.linalg.norm(x[:, None, :] - centres[None, :, :], axis=-1)  # (n, K)
    nearest = dist.argmin(1)
    hq = dist[np.arange(len(x)), nearest] <= 3.0 * std
    return np.bincount(nearest[hq], minlength=len(centres))


def modes_covered(samples: object, centres: np.ndarray, std: float) -> int:
    counts = _mode_stats(samples, centres, std)
    n = len(np.asarray(samples))
    return int((counts >= 0.1 * n / len(centres)).sum())


def hq_fraction(samples: object, centres: np.ndarray, std: float) -> float:
    counts = _mode_stats(samples, centres, std)
    return float(counts.sum() / len(np.asarray(samples)))


def mode_kl(samples: object, centres: np.ndarray, std: float) -> float:
    counts = _mode_stats(samples, centres, std).astype(np.float64)
    if counts.sum() == 0:
        return float("inf")
    p = counts / counts.sum()
    nz = p > 0
    return float((p[nz] * np.log(p[nz] * len(p))).sum())
