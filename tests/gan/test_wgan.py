"""WGAN losses, clipping and the gradient penalty against hand computations."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from kexue.gan import clip_weights, dual_estimate, gradient_penalty, wgan_d_loss, wgan_g_loss
from kexue.nn import MLP


@given(st.integers(1, 20), st.floats(-3, 3), st.floats(-3, 3))
def test_losses_are_the_dual_objective(n, a, b):
    d_real = torch.randn(n, 1) + a
    d_fake = torch.randn(n, 1) + b
    dual = d_real.mean() - d_fake.mean()
    assert torch.allclose(dual_estimate(d_real, d_fake), dual)
    assert torch.allclose(wgan_d_loss(d_real, d_fake), -dual)
    assert torch.allclose(wgan_g_loss(d_fake), -d_fake.mean())


def test_penalty_of_a_linear_critic_is_its_slope_error():
    # D(x) = w·x has gradient w everywhere: the penalty is (‖w‖ − 1)², exactly.
    for norm in (1.0, 2.0, 0.25):
        w = torch.tensor([0.6, 0.8]) * norm
        critic = lambda x, w=w: x @ w  # noqa: E731
        x_real, x_fake = torch.randn(64, 2), torch.randn(64, 2)
        gp = gradient_penalty(critic, x_real, x_fake)
        assert torch.allclose(gp, torch.tensor((norm - 1.0) ** 2))
        gp0 = gradient_penalty(critic, x_real, x_fake, center=0.0)
        assert torch.allclose(gp0, torch.tensor(norm**2))


def test_penalty_matches_a_loop_over_samples_and_reaches_the_critic():
    critic = MLP(3, 1, hidden=(8,), activation=torch.nn.Tanh)
    x_real, x_fake = torch.randn(5, 3), torch.randn(5, 3)
    g = torch.Generator().manual_seed(3)
    gp = gradient_penalty(critic, x_real, x_fake, generator=g)
    eps = torch.rand(5, 1, generator=torch.Generator().manual_seed(3))
    expected = 0.0
    for i in range(5):
        x = (eps[i] * x_real[i] + (1 - eps[i]) * x_fake[i]).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x[None]).sum(), x)
        expected += (grad.norm() - 1) ** 2 / 5
    assert torch.allclose(gp, expected, atol=1e-6)
    gp.backward()
    # ∇_x D does not depend on the output bias, so the penalty reaches every other parameter.
    *reached, out_bias = critic.parameters()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in reached)
    assert out_bias.grad is None or out_bias.grad.abs().sum() == 0


def test_clip_weights_bounds_every_parameter():
    net = MLP(2, 1, hidden=(16, 16))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(100)
    clip_weights(net, 0.01)
    assert all(p.abs().max() <= 0.01 for p in net.parameters())
