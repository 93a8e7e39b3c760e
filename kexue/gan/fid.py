r"""FID and KID between two sets of images: the scores of the GAN-QP article's comparison table.

Article:  不用L约束又不会梯度消失的GAN，了解一下？ — 苏剑林, 2018-11-20
URL:      https://kexue.fm/archives/6163 (its table: FID on CelebA-HQ 128×128, GAN-QP 44.7–45.0)
Papers:   FID, Heusel et al. 2017 (arXiv 1706.08500); KID, Bińkowski et al. 2018, "Demystifying
          MMD GANs" (arXiv 1801.01401)

Key equations, on features f(x) ∈ R^D of real images X and generated images Y::

    FID = ‖μ_X − μ_Y‖² + tr(Σ_X + Σ_Y − 2(Σ_X Σ_Y)^{1/2})        (Gaussian fits of the features)
    k(a, b) = (aᵀb / D + 1)³                                     (the cubic polynomial kernel)
    MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m−1)) + Σ_{i≠j} k(y_i, y_j) / (n(n−1))
             − 2 Σ_{i,j} k(x_i, y_j) / (mn)                      (unbiased: E[MMD²_u] = MMD²)
    KID = mean of MMD²_u over `subsets` random subsets of `subset_size` of each set
          (without replacement within a subset), reported with their standard deviation

MMD²_u can be negative: for two draws of one distribution it is 0 in expectation, which is the
point of KID (FID is biased upwards at small n, so FIDs at different n do not compare).

Features: `inception_features(weights)` is torch-fidelity's InceptionV3 (2048-d pool features,
the pt_inception-2015-12-05 weights converted from TensorFlow, the numbers papers quote); the
weights are read from the path given (`--set fid_weights=PATH` in the image recipes), nothing is
downloaded. Any other `features` callable (uint8 (N, 3, H, W) → (N, D)) works the same way:
the tests use a small seeded conv net.

Implemented: fid_kid, kid_from_features, polynomial_mmd2, image_features, inception_features.
FID itself is `kexue.gan.frechet_distance` on the features.

Deviations: KID's subset size is clamped to the smaller set (torch-fidelity refuses instead);
the estimate stays unbiased, only its spread grows. Images are converted to uint8 before the
features (Inception's input), so float images are rounded to 256 levels first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from kexue.errors import InputError
from kexue.gan.evaluate import frechet_distance

__all__ = ["fid_kid", "image_features", "inception_features", "kid_from_features",
           "polynomial_mmd2"]  # fmt: skip

Features = Callable[[Tensor], Tensor]
_INSTALL = "pip install torch-fidelity (with a torchvision that matches your torch)"


class _MissingPackage(InputError, ImportError):
    """torch-fidelity is not importable: an ImportError to callers, one line on the CLI."""


def polynomial_mmd2(
    f1: np.ndarray, f2: np.ndarray, *, degree: int = 3, gamma: float | None = None,
    coef0: float = 1.0,
) -> float:  # fmt: skip
    """Unbiased MMD² between feature sets (m, D) and (n, D) with k(a, b) = (γ aᵀb + c₀)^degree
    (γ = 1/D by default): the diagonals of k(X, X) and k(Y, Y) are left out."""
    x, y = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"features must be (m, D) and (n, D), got {x.shape} and {y.shape}")
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"the unbiased MMD² needs ≥ 2 samples per set, got {m} and {n}")
    g = 1.0 / x.shape[1] if gamma is None else gamma
    k_xx = (x @ x.T * g + coef0) ** degree
    k_yy = (y @ y.T * g + coef0) ** degree
    k_xy = (x @ y.T * g + coef0) ** degree
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * k_xy.mean())


def kid_from_features(
    f1: np.ndarray, f2: np.ndarray, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: (mean, std) of `polynomial_mmd2` over `subsets` random subsets of `subset_size`
    rows of each feature set (torch-fidelity's and Bińkowski et al.'s protocol; subset_size is
    clamped to the smaller set)."""
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"need subsets ≥ 1 and subset_size ≥ 2, got {subsets}, {subset_size}")
    x, y = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    size = min(subset_size, len(x), len(y))
    rng = np.random.default_rng(seed)
    mmds = [
        polynomial_mmd2(
            x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)]
        )  # fmt: skip
        for _ in range(subsets)
    ]
    return float(np.mean(mmds)), float(np.std(mmds))


def _uint8_nchw(images: Tensor | np.ndarray) -> Tensor:
    """A batch as uint8 (N, 3, H, W): uint8 kept, float read as [−1, 1] (the library's images);
    (N, H, W, C) arrays (ImageFolder.pixels) are moved to channels-first; one channel → three."""
    x = images if isinstance(images, Tensor) else torch.from_numpy(np.array(images))  # a copy
    if x.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W) or (N, H, W, C), got {tuple(x.shape)}")
    first, last = x.shape[1] in (1, 3), x.shape[-1] in (1, 3)
    if last and not first:
        x = x.permute(0, 3, 1, 2)
    elif not first:
        raise ValueError(f"cannot find a channel axis of 1 or 3 in {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        x = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


@torch.no_grad()
def image_features(
    images: Tensor | np.ndarray, features: Features, *, batch_size: int = 200
) -> np.ndarray:
    """features(batch) for the images in batches of `batch_size`, as float64 (N, D).

    Args:
        images: (N, C, H, W) or (N, H, W, C), C ∈ {1, 3}; uint8 0..255 or float in [−1, 1];
            a tensor or an array (a memory map is read one batch at a time).
        features: uint8 (B, 3, H, W) → (B, D); it moves the batch to its own device.
    """
    if len(images) == 0:
        raise ValueError("no images")
    out = [
        features(_uint8_nchw(images[i : i + batch_size])).detach().double().cpu().numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(out)


def inception_features(weights: str | Path, device: str | torch.device | None = None) -> Features:
    """torch-fidelity's InceptionV3 2048-d features (its pt_inception-2015-12-05 weights read
    from `weights`; nothing downloads): uint8 (B, 3, H, W) → float (B, 2048).

    Raises:
        InputError: `weights` does not exist, or torch-fidelity is not installed (then also an
            ImportError).
    """
    path = Path(weights).expanduser()
    if not path.is_file():
        raise InputError(f"{path}: no such Inception weights file (fid_weights); torch-fidelity's "
                         "is weights-inception-2015-12-05-6726825d.pth")  # fmt: skip
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except (ImportError, RuntimeError) as err:  # a torchvision built for another torch raises
        # RuntimeError ("operator torchvision::nms does not exist") while importing
        raise _MissingPackage(f"FID/KID need torch-fidelity: {_INSTALL} ({err})") from None
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    net = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)
    ).to(dev)

    def fn(x: Tensor) -> Tensor:
        return net(x.to(dev))[0]

    return fn


def fid_kid(
    real: Tensor | np.ndarray,
    fake: Tensor | np.ndarray,
    weights: str | Path | None = None,
    *,
    features: Features | None = None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
    batch_size: int = 200,
) -> dict[str, float]:
    """FID and KID of `fake` against `real` (images as in `image_features`).

    Args:
        weights: a path to torch-fidelity's Inception weights (`fid_weights`), or
        features: any feature map (exactly one of the two).

    Returns:
        {"fid", "kid", "kid_std"}: FID on the full sets, KID mean and std over the subsets.
    """
    if (features is None) == (weights is None):
        raise ValueError("give exactly one of features= and weights=")
    fn = features if features is not None else inception_features(weights)  # type: ignore[arg-type]
    f_real = image_features(real, fn, batch_size=batch_size)
    f_fake = image_features(fake, fn, batch_size=batch_size)
    kid, kid_std = kid_from_features(
        f_real, f_fake, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed
    )
    return {"fid": frechet_distance(f_real, f_fake), "kid": kid, "kid_std": kid_std}
