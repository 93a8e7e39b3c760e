"""scikit-learn's 8x8 handwritten digits: 1,797 images with 17 grey levels (0..16)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DIGIT_LEVELS", "Digits", "digits", "dequantize"]

DIGIT_LEVELS = 17
_SPLIT_SEED = 0
_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Digits:
    """One split of the digits.

    Attributes:
        images: (N, 8, 8) uint8 in 0..16.
        labels: (N,) int64 in 0..9.
        index: (N,) positions in sklearn's `load_digits()` order (stable across versions).
    """

    images: np.ndarray
    labels: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def digits(split: str = "train") -> Digits:
    """The fixed stratified split (seeded): 80% train, 20% test; "all" for every image."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in ("train", "test", "all"):
        raise ValueError(f"unknown digits split {split!r}; valid: train, test, all")
    bunch = load_digits()
    images = bunch.images.astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    index = np.arange(len(labels))
    if split == "all":
        return Digits(images, labels, index)
    train_idx, test_idx = train_test_split(
        index, test_size=_TEST_FRACTION, stratify=labels, random_state=_SPLIT_SEED
    )
    idx = np.sort(train_idx if split == "train" else test_idx)
    return Digits(images[idx], labels[idx], idx)


def dequantize(images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Uniform dequantisation to [0, 1): (x + u) / 17 with u ~ U[0, 1); u = 1/2 without `rng`.

    A density on the result, times 17^D, is a probability mass on the integer images, so
    bits/dim = (NLL in nats − D ln 17) / (D ln 2) up to the dequantisation gap.
    """
    x = np.asarray(images, dtype=np.float64)
    u = 0.5 if rng is None else rng.uniform(size=x.shape)
    return ((x + u) / DIGIT_LEVELS).astype(np.float32)
