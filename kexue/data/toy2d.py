"""Two-dimensional toy distributions, seeded, with the mode centres where they have modes.

These are the usual test beds of the GAN and flow literature: WGAN-GP's ring of 8 and grid of 25
Gaussians (small, well separated modes, for counting modes), and the FFJORD / i-ResNet toys
(checkerboard, pinwheel, two spirals, moons, circles and their broad 8 Gaussians, here
`wide_eight_gaussians`) whose true densities are known, for flows.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.datasets import make_circles, make_moons, make_swiss_roll

__all__ = ["TOY2D", "toy2d", "mode_centres", "mode_std"]

TOY2D = (
    "eight_gaussians",
    "twentyfive_gaussians",
    "swiss_roll",
    "two_moons",
    "circles",
    "checkerboard",
    "pinwheel",
    "two_spirals",
    "wide_eight_gaussians",
)


def mode_centres(name: str) -> np.ndarray | None:
    """Centres (K, 2) of the mixture's modes, or None for distributions without discrete modes."""
    if name == "eight_gaussians":
        angles = 2 * math.pi * np.arange(8) / 8
        return 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if name == "twentyfive_gaussians":
        grid = np.arange(-2.0, 2.0 + 1e-9, 1.0)
        return np.array([[x, y] for x in grid for y in grid])
    if name == "wide_eight_gaussians":
        angles = 2 * math.pi * np.arange(8) / 8
        return (4.0 / 1.414) * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    _check(name)
    return None


def mode_std(name: str) -> float | None:
    """The per-coordinate standard deviation of each mode (None where there are no modes)."""
    stds = {
        "eight_gaussians": 0.02,
        "twentyfive_gaussians": 0.05,
        "wide_eight_gaussians": 0.5 / 1.414,
    }
    return stds.get(_check(name))


def _check(name: str) -> str:
    if name not in TOY2D:
        raise ValueError(f"unknown toy2d distribution {name!r}; valid: {', '.join(TOY2D)}")
    return name


def toy2d(name: str, n: int, seed: int | None = 0, *, stratified: bool = False) -> np.ndarray:
    """Draw `n` points (n, 2) float32 from the toy distribution `name`.

    Args:
        name: one of `TOY2D`.
        n: number of points.
        seed: seed of the numpy generator (the same seed gives the same points).
        stratified: for mixtures, exactly n/K points per mode (n must be a multiple of K), a
            low-variance reference for evaluation.

    Example:
        >>> toy2d("eight_gaussians", 4, seed=0).shape
        (4, 2)
    """
    _check(name)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    centres = mode_centres(name)
    if centres is not None:
        k = len(centres)
        if stratified and n % k:
            raise ValueError(f"stratified sampling of {name} needs n divisible by {k}, got {n}")
        idx = np.repeat(np.arange(k), n // k) if stratified else rng.integers(k, size=n)
        x = centres[idx] + mode_std(name) * rng.standard_normal((n, 2))
    elif name == "swiss_roll":  # as in WGAN-GP's gan_toy.py
        pts, _ = make_swiss_roll(n, noise=0.25, random_state=_state(rng))
        x = pts[:, [0, 2]] / 7.5
    elif name == "two_moons":
        pts, _ = make_moons(n, noise=0.1, random_state=_state(rng))
        x = pts * 2.0 + [-1.0, -0.2]
    elif name == "circles":
        pts, _ = make_circles(n, factor=0.5, noise=0.08, random_state=_state(rng))
        x = pts * 3.0
    elif name == "checkerboard":
        # Uniform on the 8 black squares (side 2) of a 4x4 board on [-4, 4]^2: density 1/32.
        x1 = rng.uniform(-2, 2, n)
        x2 = rng.uniform(0, 1, n) - 2.0 * rng.integers(0, 2, n) + (np.floor(x1) % 2)
        x = 2.0 * np.stack([x1, x2], axis=1)
    elif name == "pinwheel":
        n_arms, radial_std, tangential_std, rate = 5, 0.3, 0.1, 0.25
        labels = rng.integers(n_arms, size=n)
        feats = rng.standard_normal((n, 2)) * [radial_std, tangential_std]
        feats[:, 0] += 1.0
        angles = 2 * math.pi * labels / n_arms + rate * np.exp(feats[:, 0])
        c, s = np.cos(angles), np.sin(angles)
        x = 2.0 * np.stack(
            [feats[:, 0] * c + feats[:, 1] * s, -feats[:, 0] * s + feats[:, 1] * c], 1
        )
    else:  # two_spirals
        t = np.sqrt(rng.uniform(0, 1, n)) * 540 * (2 * math.pi) / 360
        sign = np.where(rng.uniform(size=n) < 0.5, 1.0, -1.0)
        xy = np.stack([-np.cos(t) * t, np.sin(t) * t], axis=1) + rng.uniform(0, 0.5, (n, 2))
        x = xy * sign[:, None] / 3.0 + 0.1 * rng.standard_normal((n, 2))
    return x.astype(np.float32)


def _state(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))
