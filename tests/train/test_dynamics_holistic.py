"""The loss-rate identity dL/dt = ⟨∇L, θ'⟩ and the flows of the holistic view."""

from __future__ import annotations

import math

import pytest
import torch

from kexue.train import (
    article_demo_grad,
    article_demo_loss,
    euler_flow,
    gradient_velocity,
    loss_rate,
    polyak_velocity,
    sign_velocity,
)


def _quad(th):
    return 0.5 * (torch.tensor([1.0, 5.0], dtype=torch.float64) * th * th).sum(-1)


def _quad_grad(th):
    return torch.tensor([1.0, 5.0], dtype=torch.float64) * th


def test_loss_rate_matches_finite_differences_for_each_flow():
    th = torch.tensor([0.8, -0.3], dtype=torch.float64)
    g, loss = _quad_grad(th), _quad(th)
    for v, want in (
        (gradient_velocity(g, 2.0), -2.0 * g.norm() ** 2),
        (sign_velocity(g), -g.abs().sum()),
        (polyak_velocity(g, loss), -loss),
    ):
        h = 1e-6
        fd = (_quad(th + h * v) - _quad(th - h * v)) / (2 * h)
        assert float(loss_rate(g, v)) == pytest.approx(float(fd), rel=1e-6)
        assert float(loss_rate(g, v)) == pytest.approx(float(want), rel=1e-12)


def test_polyak_flow_decays_as_exp_minus_t():
    th0 = torch.tensor([1.0, 1.0], dtype=torch.float64)
    h, n = 1e-3, 3000
    tr = euler_flow(lambda t: polyak_velocity(_quad_grad(t), _quad(t)), th0, h, n)
    ratio = _quad(tr[-1]) / _quad(th0)
    assert float(ratio) == pytest.approx(math.exp(-h * n), rel=1e-2)


def test_demo_grad_is_the_derivative():
    x = torch.linspace(-1, 5, 50, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(article_demo_loss(x).sum(), x)
    assert torch.allclose(g, article_demo_grad(x.detach()), atol=1e-5)


def test_article_demo_gd_local_truncated_global():
    x0 = torch.tensor([4.0], dtype=torch.float64)
    gd = euler_flow(lambda x: -article_demo_grad(x), x0, 0.01, 2500)
    assert float(gd[-1]) == pytest.approx(3.0, abs=1e-3)

    def trunc(x):
        return polyak_velocity(article_demo_grad(x), article_demo_loss(x).sum(), 1000.0)

    tr = euler_flow(trunc, x0, 0.01, 2500)
    assert abs(float(tr[-1]) - 0.41) < 0.05
    assert float(article_demo_loss(tr[-1])) < 1e-3


def test_sign_flow_never_stops_and_untruncated_raises():
    x0 = torch.tensor([0.7, -0.2], dtype=torch.float64)
    tr = euler_flow(lambda t: sign_velocity(_quad_grad(t)), x0, 0.01, 500)
    speeds = (tr[1:] - tr[:-1]).norm(dim=-1) / 0.01
    assert torch.allclose(speeds[-50:], torch.full((50,), math.sqrt(2), dtype=torch.float64))
    with pytest.raises(ZeroDivisionError):
        polyak_velocity(torch.zeros(2), torch.tensor(1.0))
