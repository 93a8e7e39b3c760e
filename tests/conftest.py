"""Shared test set-up: one torch thread (small models run faster on 2 cores), seeded RNGs,
a hypothesis profile sized for CI."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from hypothesis import settings

torch.set_num_threads(1)
settings.register_profile("kexue", max_examples=25, deadline=None, derandomize=True)
settings.load_profile("kexue")


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def f64():
    """Run the test in float64 (Jacobian and log-det checks need it)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch.float64
    torch.set_default_dtype(old)


@pytest.fixture(scope="session")
def shapes_folder(tmp_path_factory):
    """A real PNG folder of the synthetic shapes set (12 classes × 8 images at 16 px), the
    image recipes' `--data` in smoke tests."""
    from kexue.data import write_shapes

    return write_shapes(tmp_path_factory.mktemp("data") / "shapes", per_class=8, size=16)


@pytest.fixture(scope="module")
def smoke_runs(shapes_folder, tmp_path_factory):
    """`smoke_runs(slug)` → (run folder, result): the recipe's smoke run on the shapes folder,
    made once per test module."""
    from kexue.cli import execute

    made = {}

    def run(slug):
        if slug not in made:
            out = tmp_path_factory.mktemp(slug)
            made[slug] = (out, execute(slug, budget="smoke", out=out, data=str(shapes_folder),
                                       threads=1))  # fmt: skip
        return made[slug]

    return run
