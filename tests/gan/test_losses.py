"""Equation pins for the standard GAN losses: hand-worked 3-sample values and BCE identities."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from kexue.gan import (
    hinge_d_loss,
    hinge_g_loss,
    lsgan_d_loss,
    lsgan_g_loss,
    sgan_d_loss,
    sgan_g_loss,
    wgan_d_loss,
    wgan_g_loss,
)

REAL = torch.tensor([0.0, 2.0, -1.0], dtype=torch.float64)
FAKE = torch.tensor([1.0, -3.0, 0.5], dtype=torch.float64)


def _sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_sgan_is_bce_by_hand() -> None:
    # −mean log σ(real) − mean log(1 − σ(fake)), each term written out
    want = (
        -sum(math.log(_sig(v)) for v in REAL.tolist()) / 3
        - sum(math.log(1 - _sig(v)) for v in FAKE.tolist()) / 3
    )
    assert float(sgan_d_loss(REAL, FAKE)) == pytest.approx(want, abs=1e-12)
    bce = F.binary_cross_entropy_with_logits(REAL, torch.ones(3, dtype=torch.float64))
    bce = bce + F.binary_cross_entropy_with_logits(FAKE, torch.zeros(3, dtype=torch.float64))
    assert float(sgan_d_loss(REAL, FAKE)) == pytest.approx(float(bce), abs=1e-12)


def test_sgan_generator_modes() -> None:
    ns = -sum(math.log(_sig(v)) for v in FAKE.tolist()) / 3
    mm = sum(math.log(1 - _sig(v)) for v in FAKE.tolist()) / 3
    assert float(sgan_g_loss(FAKE)) == pytest.approx(ns, abs=1e-12)
    assert float(sgan_g_loss(FAKE, mode="minimax")) == pytest.approx(mm, abs=1e-12)
    with pytest.raises(ValueError):
        sgan_g_loss(FAKE, mode="nope")


def test_lsgan_and_hinge_by_hand() -> None:
    ls = 0.5 * ((1 + 1 + 4) / 3) + 0.5 * ((1 + 9 + 0.25) / 3)  # (s−1)² real, s² fake
    assert float(lsgan_d_loss(REAL, FAKE)) == pytest.approx(ls, abs=1e-12)
    assert float(lsgan_g_loss(FAKE)) == pytest.approx(0.5 * (0 + 16 + 0.25) / 3, abs=1e-12)
    # relu(1 − s): 1, 0, 2 ; relu(1 + s): 2, 0, 1.5
    assert float(hinge_d_loss(REAL, FAKE)) == pytest.approx(3 / 3 + 3.5 / 3, abs=1e-12)
    assert float(hinge_g_loss(FAKE)) == pytest.approx(-(1 - 3 + 0.5) / 3, abs=1e-12)


def test_shapes_b1_equal_b_and_bad_shapes_raise() -> None:
    assert float(sgan_d_loss(REAL[:, None], FAKE[:, None])) == float(sgan_d_loss(REAL, FAKE))
    with pytest.raises(ValueError):
        hinge_d_loss(REAL[None, :].expand(2, 3), FAKE)


@given(st.lists(st.floats(-5, 5), min_size=2, max_size=8), st.floats(-3, 3))
def test_wgan_losses_linear(values: list[float], c: float) -> None:
    s = torch.tensor(values, dtype=torch.float64)
    # shifting every output by c leaves the critic loss unchanged (linearity)
    assert float(wgan_d_loss(s + c, s + c)) == pytest.approx(0.0, abs=1e-9)
    assert float(wgan_g_loss(2 * s)) == pytest.approx(2 * float(wgan_g_loss(s)), abs=1e-9)
