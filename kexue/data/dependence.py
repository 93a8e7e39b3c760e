"""Paired samples (x, y) with known dependence, for independence tests.

The definitions mirror hyppo's `indep_sim` with p = 1 and noise on (so powers can be compared
with published tables), drawn from a seeded numpy generator:

    linear       x ~ U(−1, 1),  y = x + ε
    quadratic    x ~ U(−1, 1),  y = x² + 0.5 ε
    sin_four_pi  x = u + 0.02 v, u ~ U(−1, 1),  y = sin(4π x) + ε
    circle       u ~ U(−1, 1),  x = cos(π u) + 0.4 g,  y = sin(π u)
    independent  x = a/3 + 2b − 1,  y = c/3 + 2d − 1   (a, c normal; b, d Bernoulli(½))

with ε, v, g standard normal.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["DEPENDENCE_SIMS", "dependence_sim"]

DEPENDENCE_SIMS = ("linear", "quadratic", "sin_four_pi", "circle", "independent")


def dependence_sim(name: str, n: int, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw n pairs; returns x (n, 1) and y (n, 1), float64."""
    if name not in DEPENDENCE_SIMS:
        raise ValueError(f"unknown simulation {name!r}; valid: {', '.join(DEPENDENCE_SIMS)}")
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1, 1, (n, 1))
    eps = rng.standard_normal((n, 1))
    if name == "linear":
        return u, u + eps
    if name == "quadratic":
        return u, u**2 + 0.5 * eps
    if name == "sin_four_pi":
        x = u + 0.02 * rng.standard_normal((n, 1))
        return x, np.sin(4 * math.pi * x) + eps
    if name == "circle":
        return np.cos(math.pi * u) + 0.4 * eps, np.sin(math.pi * u)
    b, d = rng.integers(0, 2, (n, 1)), rng.integers(0, 2, (n, 1))
    return eps / 3 + 2 * b - 1, rng.standard_normal((n, 1)) / 3 + 2 * d - 1
