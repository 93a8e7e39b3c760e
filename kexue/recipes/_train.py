"""Data preparation and evaluation shared by the train-theme recipes (no math lives here)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch
from torch import Tensor, nn

from kexue.data import digits, reviews


def digits_tensors(split: str, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """The fixed digits split as (N, 64) in [0, 1] and (N,) int64 labels."""
    d = digits(split)
    x = torch.from_numpy(d.images.reshape(len(d), -1).astype(np.float64) / 16.0).to(dtype)
    return x, torch.from_numpy(d.labels)


def batches(n: int, batch_size: int, g: torch.Generator) -> list[Tensor]:
    """A shuffled epoch of index batches (the last one may be smaller)."""
    perm = torch.randperm(n, generator=g)
    return [perm[i : i + batch_size] for i in range(0, n, batch_size)]


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    was = model.training
    model.eval()
    acc = float((model(x).argmax(-1) == y).double().mean())
    model.train(was)
    return acc


def review_tensors(
    n_train: int, maxlen: int, min_count: int = 2, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    """Char ids of `n_train` training reviews (a seeded subset) and the whole fixed test split.

    Returns:
        x_train (N, maxlen), y_train (N,), x_test (M, maxlen), y_test (M,), vocabulary size
        (0 = padding, 1 = unknown).
    """
    train, test = reviews("train"), reviews("test")
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(train))[:n_train]
    train = [train[i] for i in idx]
    counts = Counter(c for text, _ in train for c in text)
    vocab = {
        c: i + 2 for i, c in enumerate(sorted(c for c, k in counts.items() if k >= min_count))
    }

    def encode(items: list[tuple[str, int]]) -> tuple[Tensor, Tensor]:
        ids = torch.zeros(len(items), maxlen, dtype=torch.long)
        for r, (text, _) in enumerate(items):
            row = [vocab.get(c, 1) for c in text[:maxlen]]
            ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        return ids, torch.tensor([label for _, label in items])

    x_tr, y_tr = encode(train)
    x_te, y_te = encode(test)
    return x_tr, y_tr, x_te, y_te, len(vocab) + 2
