"""GAN-QP pins: 3-sample value, shape regression, tabular optimum = closed form, delta test,
no quadratic term in the generator loss, sign."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kexue.gan import (
    TwoArgCritic,
    gan_qp_d_loss,
    gan_qp_g_loss,
    pair_distance,
    qp_critic_loss,
    qp_divergence_exact,
)


def test_three_sample_value_by_hand(f64: torch.dtype) -> None:
    xr = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    xf = torch.tensor([[1.0, 0.0], [1.0, 3.0], [0.0, 0.0]])
    dr, df = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([0.0, 1.0, 1.5])
    # per-pixel mean |Δx|: 0.5, 1.0, 1.0; Δ = 1, 1, −1; λ = 10
    want = np.mean([-1 + 1 / (20 * 0.5), -1 + 1 / (20 * 1.0), 1 + 1 / (20 * 1.0)])
    assert float(gan_qp_d_loss(dr, df, xr, xf)) == pytest.approx(want, abs=1e-12)
    # RMS: sqrt(0.5), sqrt(2), sqrt(2)
    d2 = np.sqrt([0.5, 2.0, 2.0])
    want2 = np.mean([-1, -1, 1] + np.array([1, 1, 1]) / (20 * d2))
    assert float(gan_qp_d_loss(dr, df, xr, xf, norm="l2")) == pytest.approx(want2, abs=1e-12)
    assert float(gan_qp_g_loss(dr, df)) == pytest.approx(1 / 3, abs=1e-12)


def test_sign_real_high_is_rewarded() -> None:
    x = torch.zeros(4, 2)
    y = torch.ones(4, 2)
    good = gan_qp_d_loss(torch.ones(4), torch.zeros(4), x, y)
    bad = gan_qp_d_loss(torch.zeros(4), torch.ones(4), x, y)
    assert float(good) < float(bad)


def test_b1_outputs_give_per_pair_formula_not_broadcast() -> None:
    torch.manual_seed(0)
    xr, xf = torch.randn(5, 3), torch.randn(5, 3)
    dr, df = torch.randn(5, 1), torch.randn(5, 1)
    loss = gan_qp_d_loss(dr, df, xr, xf)
    delta, d = (dr - df)[:, 0], (xr - xf).abs().mean(1)
    assert float(loss) == pytest.approx(float((-delta + delta**2 / (20 * d)).mean()), rel=1e-6)
    with pytest.raises(ValueError):
        qp_critic_loss(delta[:, None], d)


def test_distance_has_no_gradient() -> None:
    xr = torch.randn(3, 2, requires_grad=True)
    assert not pair_distance(xr, torch.zeros(3, 2)).requires_grad


def test_generator_loss_has_no_quadratic_term() -> None:
    x_fake = torch.randn(6, 2, requires_grad=True)
    w = torch.tensor([1.0, -2.0])
    d_fake = x_fake @ w
    loss = gan_qp_g_loss(torch.zeros(6), d_fake)
    (g,) = torch.autograd.grad(loss, x_fake)
    # only −∇T/B: a quadratic term in d(x_r, x_f) would add a data-dependent part
    assert torch.allclose(g, (-w / 6).expand(6, 2))


def test_delta_test_closed_form() -> None:
    # p = δ_α, q = δ_β with one-argument T: optimum Δ* = λd, critic loss −λd/2
    lam, d = 10.0, 0.7
    delta = torch.tensor([0.0], requires_grad=True)
    opt = torch.optim.LBFGS([delta], lr=1, max_iter=100)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = qp_critic_loss(delta, torch.tensor([d]), lam=lam)
        loss.backward()
        return loss

    opt.step(closure)
    assert float(delta) == pytest.approx(lam * d, rel=1e-6)
    assert float(qp_critic_loss(delta, torch.tensor([d]), lam=lam)) == pytest.approx(-lam * d / 2)


def test_tabular_two_argument_critic_reaches_closed_form(f64: torch.dtype) -> None:
    rng = np.random.default_rng(0)
    n, lam = 5, 10.0
    pts = rng.standard_normal((n, 2))
    dist = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    p, q = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n))
    exact = qp_divergence_exact(p, q, dist, lam)
    table = torch.zeros(n, n, requires_grad=True)  # T(x_i, x_j)
    A = torch.tensor(p[:, None] * q[None, :])
    D = torch.tensor(dist).clamp_min(1e-12)
    opt = torch.optim.LBFGS([table], lr=1, max_iter=500, tolerance_grad=1e-12)

    def objective() -> torch.Tensor:
        delta = table - table.T  # ΔT(x_i, x_j)
        return (A * (delta - delta**2 / (2 * lam * D))).sum()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = -objective()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    assert float(objective()) == pytest.approx(exact, rel=1e-6)
    delta = (table - table.T).detach()
    off = ~torch.eye(n, dtype=torch.bool)
    assert float((delta.abs() / (lam * D))[off].max()) <= 1 + 1e-3  # adaptive L-constraint


def test_two_arg_critic_is_antisymmetric() -> None:
    torch.manual_seed(0)
    crit = TwoArgCritic(torch.nn.Linear(4, 1))
    a, b = torch.randn(3, 2), torch.randn(3, 2)
    assert torch.allclose(crit.delta(a, b), -crit.delta(b, a))


def test_lambda_scale_invariance_of_argmax() -> None:
    # the optimum scales as λ: Δ*(λ) = λ Δ*(1) in the discrete closed form
    rng = np.random.default_rng(1)
    p, q = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(4))
    dist = rng.uniform(0.5, 2, (4, 4))
    dist = (dist + dist.T) / 2
    assert qp_divergence_exact(p, q, dist, 7.0) == pytest.approx(
        7 * qp_divergence_exact(p, q, dist, 1.0)
    )
