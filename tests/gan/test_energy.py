"""Energy view: = WGAN under U = −s; R1 on a quadratic energy by hand; hinge margins; R1 = GP."""

from __future__ import annotations

import pytest
import torch

from kexue.gan import (
    DCGANCritic,
    ebgan_margin_d_loss,
    energy_critic_loss,
    energy_d_loss,
    energy_g_loss,
    energy_gradient_penalty,
    energy_hinge_d_loss,
    gradient_norm_penalty,
    hinge_d_loss,
    r1_penalty,
    roll_downhill,
    wgan_d_loss,
    wgan_div_penalty,
    wgan_g_loss,
)


def test_energy_losses_equal_wgan_under_u_minus_s() -> None:
    s_r, s_f = torch.randn(6), torch.randn(6)
    assert torch.allclose(energy_d_loss(-s_r, -s_f), wgan_d_loss(s_r, s_f))
    assert torch.allclose(energy_g_loss(-s_f), wgan_g_loss(s_f))
    assert torch.allclose(energy_hinge_d_loss(-s_r, -s_f), hinge_d_loss(s_r, s_f))


def test_r1_on_quadratic_energy_by_hand(f64: torch.dtype) -> None:
    mu = torch.tensor([1.0, -2.0])
    energy = lambda x: 0.5 * ((x - mu) ** 2).sum(1)  # noqa: E731 - ∇U = x − μ
    x = torch.randn(20, 2)
    want = ((x - mu) ** 2).sum(1).mean()
    assert float(energy_gradient_penalty(energy, x)) == pytest.approx(float(want), rel=1e-12)
    assert float(r1_penalty(energy, x, gamma=4.0)) == pytest.approx(2 * float(want), rel=1e-12)
    # WGAN-div with p = 2 on real and fake = E_p‖∇‖² + E_q‖∇‖² (k = 2)
    y = torch.randn(20, 2)
    both = float(want) + float(((y - mu) ** 2).sum(1).mean())
    assert float(wgan_div_penalty(energy, x, y, k=2.0, p=2.0)) == pytest.approx(both, rel=1e-12)
    # WGAN-div p = 2 on real only = R1 family
    only_real = gradient_norm_penalty(energy, x, y, center=0.0, where="real", eps=0.0)
    assert float(only_real) == pytest.approx(float(want), rel=1e-12)


def test_zero_gradient_point_has_finite_penalty_gradient(f64: torch.dtype) -> None:
    w = torch.zeros(2, requires_grad=True)
    x = torch.randn(4, 2)
    pen = energy_gradient_penalty(lambda v: (v @ w) ** 2, x)
    (g,) = torch.autograd.grad(pen, w)
    assert torch.isfinite(g).all()


def test_hinge_gradient_vanishes_for_satisfied_margins() -> None:
    u_r = torch.tensor([-2.0, -1.5], requires_grad=True)  # real: U ≤ −1 satisfied
    u_f = torch.tensor([1.5, 3.0], requires_grad=True)  # fake: U ≥ 1 satisfied
    energy_hinge_d_loss(u_r, u_f).backward()
    assert u_r.grad.abs().sum() == 0 and u_f.grad.abs().sum() == 0
    assert float(
        ebgan_margin_d_loss(torch.tensor([0.5]), torch.tensor([0.2]), margin=1.0)
    ) == pytest.approx(0.5 + 0.8)


def test_roll_downhill_reaches_the_pit() -> None:
    mu = torch.tensor([1.0, -2.0])
    x = roll_downhill(lambda v: 0.5 * ((v - mu) ** 2).sum(1), torch.zeros(3, 2), steps=200, lr=0.1)
    assert torch.allclose(x, mu.expand(3, 2), atol=1e-6)


def test_energy_critic_loss_penalises_the_squared_image_gradient_at_real_points(f64) -> None:
    """The image GAN's U objective on a convolutional U: the penalty is E_p‖∇_x U‖², checked
    against central differences, and its double backward reaches U's weights."""
    torch.manual_seed(0)
    energy = DCGANCritic(8, 3, width=8, norm="none")
    x_r, x_f = torch.randn(3, 3, 8, 8), torch.randn(3, 3, 8, 8)
    u_r, u_f = energy(x_r), energy(x_f)
    loss = energy_critic_loss(energy, x_r, u_r, u_f, lam=2.5)
    h, n = 1e-5, x_r[0].numel()
    steps = h * torch.eye(n).view(n, 3, 8, 8)
    with torch.no_grad():  # ∂U/∂x_k for every pixel k of each real image, by differences
        grads = torch.stack([(energy(x + steps) - energy(x - steps)) / (2 * h) for x in x_r])
    penalty = float((grads**2).sum(1).mean())
    base = float(energy_d_loss(u_r, u_f).detach())
    assert float(loss.detach()) == pytest.approx(base + 2.5 * penalty, rel=1e-7)
    assert penalty > 1e-3 * abs(base)  # not lost in the energy term
    loss.backward()  # every weight gets a gradient (the score's bias cancels in E_p U − E_q U)
    for name, p in energy.named_parameters():
        assert torch.isfinite(p.grad).all() and (p.grad.abs().sum() > 0) == ("weight" in name)
