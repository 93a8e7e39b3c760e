r"""Evaluation kit for the GAN recipes: certified critic bounds, W1 noise floors, swiss-roll
quality, and digits metrics from an in-house feature classifier (no Inception weights).

Protocol: the GAN spec §1.2. Definitions::

    certified bound:  est = mean s(x_i) − mean s(y_j),  L̂ = max_{u≠v ∈ X∪Y} |s(u) − s(v)|/‖u − v‖
                      s/L̂ is 1-Lipschitz on X∪Y, so est/L̂ ≤ W1(X, Y) (Kantorovich–Rubinstein)
    noise floor:      W1(stratified reference, i.i.d. sample of the true mixture) at the same n
    swiss roll HQ:    distance to the curve {(t cos t, t sin t)/7.5 : t ∈ [1.5π, 4.5π]} ≤ 0.1
    digits:           features = the 64-d penultimate layer of an MLP 64→128→64→10 classifier;
                      fd_digits = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}) on those features;
                      class_coverage = #classes with ≥ 5 % of predicted labels;
                      confident = fraction with max softmax ≥ 0.9; label_kl = KL(labels ‖ uniform)

Images are flat (N, 64) in [−1, 1] (pixel/8 − 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.data import mode_centres, mode_std, toy2d
from kexue.gan.metrics import hq_fraction, mode_kl, modes_covered
from kexue.nn import MLP
from kexue.stats import w1_exact

__all__ = [
    "certified_lower_bound",
    "w1_noise_floor",
    "toy_scores",
    "evaluate_toy_generator",
    "swiss_roll_distance",
    "swiss_roll_hq_fraction",
    "digits_to_unit",
    "DigitClassifier",
    "fit_digit_classifier",
    "frechet_distance",
    "fd_digits",
    "digit_label_stats",
]


def _np(x: object) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)


def certified_lower_bound(
    s_real: object, s_fake: object, x_real: object, x_fake: object, *, chunk: int = 1024
) -> dict[str, float]:
    """The critic's dual estimate divided by its empirical Lipschitz constant on the samples.

    Args:
        s_real (n,), s_fake (m,): critic values; x_real (n, d), x_fake (m, d): the points.

    Returns:
        {"est": mean s_real − mean s_fake, "L_hat": max pairwise slope, "certified_lb": est/L̂}.
        certified_lb ≤ W1 of the two empirical measures, always.
    """
    sr, sf = _np(s_real).reshape(-1), _np(s_fake).reshape(-1)
    xs = np.concatenate([_np(x_real).reshape(len(sr), -1), _np(x_fake).reshape(len(sf), -1)])
    s = np.concatenate([sr, sf])
    est = float(sr.mean() - sf.mean())
    l_hat = 0.0
    for i in range(0, len(s), chunk):
        dist = np.linalg.norm(xs[i : i + chunk, None, :] - xs[None, :, :], axis=-1)
        ds = np.abs(s[i : i + chunk, None] - s[None, :])
        ok = dist > 0  # identical points constrain nothing
        if ok.any():
            l_hat = max(l_hat, float((ds[ok] / dist[ok]).max()))
    lb = est / l_hat if l_hat > 0 else 0.0
    return {"est": est, "L_hat": l_hat, "certified_lb": lb}


def w1_noise_floor(name: str, n: int, *, seed: int = 0, n_draws: int = 1) -> float:
    """Mean W1 between a stratified reference and i.i.d. samples of toy mixture `name` (n points).

    The value a perfect generator scores at this n; report W1 − floor. n is rounded down to a
    multiple of the number of modes.
    """
    k = len(mode_centres(name))
    n -= n % k  # a stratified reference needs a multiple of K points
    ref = toy2d(name, n, seed=seed, stratified=True)
    return float(
        np.mean([w1_exact(ref, toy2d(name, n, seed=seed + 1 + k)) for k in range(n_draws)])
    )


def toy_scores(samples: object, name: str, *, ref: object | None = None) -> dict[str, float]:
    """Modes covered, HQ fraction and mode KL of 2-D samples of the toy mixture `name`, and
    their exact W1 to the reference samples `ref` when given (kexue.gan.metrics, spec §1.2).

    Args:
        samples: (n, 2) generated points; ref: (m, 2) held-out points of `name`, or None.

    Returns:
        {"modes": int, "hq", "mode_kl"[, "w1"]}. Samples with a NaN or inf (a diverged
        generator) score 0 modes, HQ 0, mode KL inf and W1 nan.
    """
    centres, std = mode_centres(name), mode_std(name)
    if centres is None:
        raise ValueError(f"{name!r} has no modes to cover")
    if not np.isfinite(_np(samples)).all():
        scores = {"modes": 0, "hq": 0.0, "mode_kl": float("inf")}
        return scores if ref is None else {**scores, "w1": float("nan")}
    scores = {
        "modes": modes_covered(samples, centres, std),
        "hq": hq_fraction(samples, centres, std),
        "mode_kl": mode_kl(samples, centres, std),
    }
    return scores if ref is None else {**scores, "w1": w1_exact(samples, ref)}


def evaluate_toy_generator(
    gen: Callable[[Tensor], Tensor],
    name: str,
    *,
    n: int,
    ref: object | None = None,
    seed: int = 99,
    z_dim: int = 2,
) -> tuple[np.ndarray, dict[str, float]]:
    """Samples x = G(z) of n codes z ~ N(0, I) (z_dim) drawn from a generator seeded `seed`,
    so every arm of a comparison is scored on the same codes, and their `toy_scores`.

    Returns:
        x (n, 2) as float32 NumPy (gradient-free), and `toy_scores(x, name, ref=ref)`.
    """
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        x = gen(z).detach().cpu().numpy()
    return x, toy_scores(x, name, ref=ref)


_T = np.linspace(1.5 * math.pi, 4.5 * math.pi, 10_000)
_CURVE = np.stack([_T * np.cos(_T), _T * np.sin(_T)], 1) / 7.5  # (10⁴, 2) dense polyline


def swiss_roll_distance(samples: object) -> np.ndarray:
    """Distance (n,) from each 2-D sample to the noiseless swiss-roll curve (dense polyline)."""
    x = _np(samples)
    out = np.empty(len(x))
    for i in range(0, len(x), 512):
        d = np.linalg.norm(x[i : i + 512, None, :] - _CURVE[None], axis=-1)
        out[i : i + 512] = d.min(1)
    return out


def swiss_roll_hq_fraction(samples: object, *, radius: float = 0.1) -> float:
    """Fraction of samples within `radius` (3·0.25/7.5) of the swiss-roll curve."""
    return float((swiss_roll_distance(samples) <= radius).mean())


def digits_to_unit(images: np.ndarray) -> np.ndarray:
    """(N, 8, 8) or (N, 64) pixels in 0..16 -> (N, 64) float32 in [−1, 1] (x/8 − 1)."""
    return (np.asarray(images, np.float32).reshape(len(images), -1) / 8.0 - 1.0).astype(np.float32)


class DigitClassifier(nn.Module):
    """MLP 64→128→64→10 (ReLU); `features` = the 64-d penultimate activations."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(MLP(64, 64, hidden=(128,)), nn.ReLU())
        self.head = nn.Linear(64, 10)

    def features(self, x: Tensor) -> Tensor:
        """(N, 64) images -> (N, 64) features."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """(N, 64) images -> (N, 10) logits."""
        return self.head(self.features(x))


def fit_digit_classifier(
    x: np.ndarray, y: np.ndarray, *, epochs: int = 60, seed: int = 0
) -> DigitClassifier:
    """Train the feature classifier on (N, 64) images in [−1, 1] and labels (N,): Adam 1e-3."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    clf = DigitClassifier()
    opt = torch.optim.Adam(clf.parameters(), lr=1e-3)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(clf(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return clf.eval()


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}) between Gaussian fits of (n, k) features."""
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        off = 1e-6 * np.eye(len(s1))
        covmean = scipy.linalg.sqrtm((s1 + off) @ (s2 + off))
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


@torch.no_grad()
def fd_digits(clf: DigitClassifier, x_gen: object, x_ref: object) -> float:
    """Fréchet distance of classifier features: generated (n, 64) vs reference (m, 64)."""
    a = clf.features(torch.as_tensor(_np(x_gen), dtype=torch.float32)).numpy()
    b = clf.features(torch.as_tensor(_np(x_ref), dtype=torch.float32)).numpy()
    return frechet_distance(a, b)


@torch.no_grad()
def digit_label_stats(clf: DigitClassifier, x_gen: object) -> dict[str, float]:
    """{"class_coverage", "label_kl", "confident"} of generated images (n, 64) in [−1, 1]."""
    probs = torch.softmax(clf(torch.as_tensor(_np(x_gen), dtype=torch.float32)), 1).numpy()
    hist = np.bincount(probs.argmax(1), minlength=10) / len(probs)
    nz = hist > 0
    return {
        "class_coverage": float((hist >= 0.05).sum()),
        "label_kl": float((hist[nz] * np.log(hist[nz] * 10)).sum()),
        "confident": float((probs.max(1) >= 0.9).mean()),
    }
