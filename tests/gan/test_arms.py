"""The arms table: each objective is a finite scalar with gradients, and matches its loss."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kexue.gan import (
    ARMS,
    arm,
    critic_objective,
    gan_qp_d_loss,
    generator_objective,
    sgan_d_loss,
    wgan_d_loss,
)
from kexue.nn import MLP


@pytest.mark.parametrize("a", ARMS, ids=lambda a: a.name)
def test_objectives_finite_with_gradients(a: object) -> None:
    torch.manual_seed(0)
    disc = MLP(2, 1, (8,), activation=lambda: nn.LeakyReLU(0.2))
    gen = MLP(2, 2, (8,))
    x_real = torch.randn(16, 2)
    x_fake = gen(torch.randn(16, 2))
    loss = critic_objective(a, disc, x_real, x_fake.detach(), generator=torch.Generator())
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in disc.parameters())
    disc.zero_grad()
    g_loss = generator_objective(a, disc, x_real, x_fake)
    g_loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in gen.parameters())


def test_objectives_are_the_library_losses() -> None:
    torch.manual_seed(0)
    disc = MLP(2, 1, (8,))
    x_real, x_fake = torch.randn(16, 2), torch.randn(16, 2)
    d_r, d_f = disc(x_real), disc(x_fake)
    assert torch.allclose(
        critic_objective(arm("sgan_ns"), disc, x_real, x_fake), sgan_d_loss(d_r, d_f)
    )
    assert torch.allclose(
        critic_objective(arm("wgan_sn"), disc, x_real, x_fake), wgan_d_loss(d_r, d_f)
    )
    want = gan_qp_d_loss(d_r, d_f, x_real, x_fake, lam=10.0, norm="l1")
    assert torch.allclose(critic_objective(arm("gan_qp_l1"), disc, x_real, x_fake), want)
    with pytest.raises(ValueError):
        arm("nope")
