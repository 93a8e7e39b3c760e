"""Doctests in kexue/ run under a fixed seed, like the tests (pytest collects both)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_doctests(request: pytest.FixtureRequest) -> None:
    if isinstance(request.node, pytest.DoctestItem):
        torch.manual_seed(0)
        np.random.seed(0)
