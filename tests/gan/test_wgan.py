"""WGAN: the transport LP and its duals (strong duality, g = −f for metric costs only), and the
losses, clipping and gradient penalty against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from kexue.gan import (
    clip_weights,
    dual_estimate,
    gradient_penalty,
    kr_dual,
    transport_lp,
    wgan_d_loss,
    wgan_g_loss,
)
from kexue.nn import MLP
from kexue.stats import w1_exact, w1_lp


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


def _points(seed: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2)), rng.standard_normal((m, 2)) + rng.uniform(-2, 2, 2)


def test_transport_lp_strong_duality():
    # The article's LP: min ⟨Γ, C⟩ s.t. AΓ = b, Γ ≥ 0 equals max ⟨b, F⟩ s.t. AᵀF ≤ C, and its
    # optimum is W1 (the assignment problem for equal sizes, the sparse LP of kexue.stats).
    for seed, (n, m) in enumerate([(20, 30), (25, 25), (7, 40)]):
        x, y = _points(seed, n, m)
        rng = np.random.default_rng(seed)
        a, b = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m))
        res = transport_lp(x, y, a, b)
        assert res["dual"] == pytest.approx(res["primal"], abs=1e-8)
        assert (res["f"][:, None] + res["g"][None, :] <= cdist(x, y) + 1e-9).all()  # AᵀF ≤ C
        assert res["primal"] == pytest.approx(w1_lp(x, y, a, b), abs=1e-9)
    x, y = _points(9, 25, 25)
    assert transport_lp(x, y)["primal"] == pytest.approx(w1_exact(x, y), abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_weak_duality_every_feasible_pair_is_below_the_primal(seed):
    # Any f, with g its c-transform g_j = min_i (c_ij − f_i) (feasible by construction), gives
    # Σ a f + Σ b g ≤ the primal cost.
    x, y = _points(seed, 12, 9)
    f = np.random.default_rng(seed).standard_normal(12) * 3
    g = (cdist(x, y) - f[:, None]).min(0)
    assert f.mean() + g.mean() <= transport_lp(x, y)["primal"] + 1e-9


def test_g_equals_minus_f_only_for_metric_costs():
    # For c = ‖x − y‖ (a metric) the one-potential dual max Σ(p − q)f, f(u) − f(v) ≤ c(u, v)
    # equals the transport cost; for c = ‖x − y‖² (no triangle inequality) it falls below.
    for seed in range(3):
        x, y = _points(seed, 15, 12)
        assert kr_dual(x, y) == pytest.approx(transport_lp(x, y)["primal"], abs=1e-8)
        sq = transport_lp(x, y, power=2)
        assert sq["dual"] == pytest.approx(sq["primal"], abs=1e-8)  # strong duality still holds
        assert kr_dual(x, y, power=2) < sq["primal"] - 1e-3


def test_translation_moves_w1_by_the_shift():
    # W1(P, P + t) = ‖t‖ exactly, and the linear critic f(x) = −⟨x, t⟩/‖t‖ attains it.
    x, _ = _points(4, 30, 1)
    t = np.array([0.3, -0.4])
    assert transport_lp(x, x + t)["primal"] == pytest.approx(0.5, abs=1e-9)
    f = lambda a: -(a @ t) / np.linalg.norm(t)  # noqa: E731
    assert float(f(x).mean() - f(x + t).mean()) == pytest.approx(0.5, abs=1e-12)
