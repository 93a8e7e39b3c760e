"""Digits for the flow training tests, split and dequantised as the flow recipes do it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kexue.data import DIGIT_LEVELS, digits
from kexue.flows import dequantize_uniform

N_VALID = 237  # the flow recipes carve 237 validation images from digits("train")


@pytest.fixture(scope="module")
def digit_splits() -> dict[str, torch.Tensor]:
    """Integer images (N, 1, 8, 8): train and valid, carved from digits("train") with seed 0."""
    train = torch.from_numpy(digits("train").images.astype(np.int64)).unsqueeze(1)
    perm = torch.from_numpy(np.random.RandomState(0).permutation(len(train)))
    return {"train": train[perm[N_VALID:]], "valid": train[perm[:N_VALID]]}


@pytest.fixture
def digit_batch():
    """batch(images, size, g): a random minibatch, dequantised to w = (x + u)/17 − ½."""

    def batch(images: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(images), (size,), generator=g)
        return dequantize_uniform(images[idx], DIGIT_LEVELS, g)

    return batch
