r"""Evaluation kit for the GAN recipes: certified critic bounds, W1 noise floors, swiss-roll
quality, and digits and image-folder metrics from in-house classifiers (no Inception weights).

Protocol: the GAN spec §1.2. Definitions::

    certified bound:  est = mean s(x_i) − mean s(y_j),  L̂ = max_{u≠v ∈ X∪Y} |s(u) − s(v)|/‖u − v‖
                      s/L̂ is 1-Lipschitz on X∪Y, so est/L̂ ≤ W1(X, Y) (Kantorovich–Rubinstein)
    noise floor:      W1(stratified reference, i.i.d. sample of the true mixture) at the same n
    swiss roll HQ:    distance to the curve {(t cos t, t sin t)/7.5 : t ∈ [1.5π, 4.5π]} ≤ 0.1
    digits:           features = the 64-d penultimate layer of an MLP 64→128→64→10 classifier;
                      fd_digits = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}) on those features;
                      class_coverage = #classes with ≥ 5 % of predicted labels;
                      confident = fraction with max softmax ≥ 0.9; label_kl = KL(labels ‖ uniform)
    image folders:    a small CNN (`ImageClassifier`) trained on the folder's class subfolders;
                      the same label statistics over K classes (`image_label_stats`), with the
                      digits' 5 % read as half the uniform share 1/(2K), plus
                      coverage_confident = the fraction of the K classes that each receive at
                      least a tenth of their uniform share, n/(10K), of CONFIDENT samples
                      (predicted as that class with max softmax ≥ 0.9)

Digits are flat (N, 64) in [−1, 1] (pixel/8 − 1); folder images (N, C, H, W) in [−1, 1].
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
    "ImageClassifier",
    "fit_image_classifier",
    "image_label_stats",
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
    torch.manual_seed(seed)
    clf = DigitClassifier()
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    return _fit(clf, xt, yt, epochs=epochs, seed=seed)  # type: ignore[return-value]


def _fit(
    clf: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    epochs: int,
    seed: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    device: str | torch.device = "cpu",
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None,
) -> nn.Module:
    """The classifiers' one loop: Adam(lr), cross-entropy, `epochs` passes in an order drawn
    from a generator seeded with `seed`; returns `clf` in eval mode."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    clf.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            xb = x[idx].to(device)
            if augment is not None:
                xb = augment(xb, g)
            loss = F.cross_entropy(clf(xb), y[idx].to(device))
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


def _label_stats(probs: np.ndarray) -> dict[str, float]:
    """Label statistics of (n, K) class probabilities of generated samples (module docstring).

    A class counts for `class_coverage` with ≥ 1/(2K) of the predicted labels (5 % for the ten
    digits) and for `coverage_confident` with ≥ n/(10K) samples predicted as it at max softmax
    ≥ 0.9 (a tenth of its fair share, so one stray sample does not cover a class).
    """
    n, k = probs.shape
    pred, top = probs.argmax(1), probs.max(1)
    hist = np.bincount(pred, minlength=k) / n
    sure = np.bincount(pred[top >= 0.9], minlength=k)
    nz = hist > 0
    return {
        "class_coverage": float((hist >= 0.5 / k).sum()),
        "label_kl": float((hist[nz] * np.log(hist[nz] * k)).sum()),
        "confident": float((top >= 0.9).mean()),
        "confident_classes": float((sure >= n / (10 * k)).sum()),
        "coverage_confident": float((sure >= n / (10 * k)).mean()),
    }


@torch.no_grad()
def digit_label_stats(clf: DigitClassifier, x_gen: object) -> dict[str, float]:
    """{"class_coverage", "label_kl", "confident", "confident_classes", "coverage_confident"} of
    generated images (n, 64) in [−1, 1] (definitions: `_label_stats`)."""
    probs = torch.softmax(clf(torch.as_tensor(_np(x_gen), dtype=torch.float32)), 1).numpy()
    return _label_stats(probs)


class ImageClassifier(nn.Module):
    """A small CNN for (N, C, H, W) images in [−1, 1], any side ≥ 4: three blocks of 3×3
    convolution → BatchNorm → ReLU (→ 2×2 max-pool after the first two), global MAX pooling (a
    shape is found wherever it sits; average pooling learned the synthetic shapes' classes
    several times slower), a linear map to the classes. `features` = the pooled 4·width
    activations (for a Fréchet distance)."""

    def __init__(self, n_classes: int, channels: int = 3, *, width: int = 32) -> None:
        super().__init__()

        def block(a: int, b: int) -> list[nn.Module]:
            return [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU()]

        self.body = nn.Sequential(
            *block(channels, width), nn.MaxPool2d(2), *block(width, 2 * width), nn.MaxPool2d(2),
            *block(2 * width, 4 * width), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Linear(4 * width, n_classes)

    def features(self, x: Tensor) -> Tensor:
        """(N, C, H, W) images -> (N, 4·width) features."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) images -> (N, n_classes) logits."""
        return self.head(self.body(x))


def _batched(fn: Callable[[Tensor], Tensor], x: Tensor, device: object, size: int = 256) -> Tensor:
    return torch.cat(
        [fn(x[i : i + size].to(device)).float().cpu() for i in range(0, len(x), size)]
    )


def _random_blur(x: Tensor, max_sigma: float, g: torch.Generator) -> Tensor:
    """Each image of (B, C, H, W) blurred by a Gaussian of its own σ ~ U(0, max_sigma) (7×7,
    separable, edges replicated)."""
    b, c, h, w = x.shape
    sigma = (torch.rand(b, generator=g) * max_sigma).clamp_min(1e-3).to(x.device)
    r = torch.arange(-3, 4, dtype=x.dtype, device=x.device)
    k = torch.exp(-(r[None] ** 2) / (2 * sigma[:, None] ** 2))
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B·C, 7): one kernel per map
    y = F.pad(x.reshape(1, b * c, h, w), (3, 3, 3, 3), mode="replicate")
    y = F.conv2d(y, k[:, None, :, None], groups=b * c)  # vertical
    y = F.conv2d(y, k[:, None, None, :], groups=b * c)  # horizontal
    return y.reshape(b, c, h, w)


def fit_image_classifier(
    images: object,
    labels: object,
    *,
    epochs: int = 3,
    seed: int = 0,
    n_classes: int | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    blur: float = 0.0,
    device: str | torch.device = "cpu",
) -> ImageClassifier:
    """Train an `ImageClassifier` on (N, C, H, W) images in [−1, 1] and labels (N,) in 0..K−1:
    Adam(lr), cross-entropy, `epochs` passes in seeded random order. Returns it in eval mode
    (on `device`). n_classes defaults to max(labels) + 1.

    `blur` > 0 blurs each training image by a Gaussian of σ ~ U(0, blur) pixels: without it the
    classifier's confidence rides on the pixel texture (the synthetic shapes' noise: σ = 1
    leaves its accuracy at 99 % but its confident fraction at 20 %), and generated images would
    be judged by their texture rather than by their class."""
    x = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.long)
    if x.dim() != 4 or len(x) != len(y):
        raise ValueError(f"images (N, C, H, W) and labels (N,) expected, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")  # fmt: skip
    k = int(y.max()) + 1 if n_classes is None else n_classes
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"labels must lie in 0..{k - 1}")
    torch.manual_seed(seed)
    clf = ImageClassifier(k, x.shape[1]).to(device)
    augment = (lambda xb, g: _random_blur(xb, blur, g)) if blur > 0 else None
    return _fit(clf, x, y, epochs=epochs, seed=seed, batch_size=batch_size, lr=lr,
                device=device, augment=augment)  # type: ignore[return-value]  # fmt: skip


@torch.no_grad()
def image_label_stats(
    clf: ImageClassifier, images: object, n_classes: int | None = None
) -> dict[str, float]:
    """Label statistics of generated (n, C, H, W) images in [−1, 1] under the folder's
    classifier: {"class_coverage", "label_kl", "confident", "confident_classes",
    "coverage_confident"} (module docstring; n_classes defaults to the classifier's)."""
    device = next(clf.parameters()).device
    x = torch.as_tensor(images, dtype=torch.float32)
    probs = torch.softmax(_batched(clf, x, device), 1).numpy()
    if n_classes is not None and probs.shape[1] != n_classes:
        raise ValueError(f"the classifier has {probs.shape[1]} classes, not {n_classes}")
    return _label_stats(probs)
