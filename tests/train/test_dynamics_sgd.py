"""GD/momentum/Nesterov as ODE discretisations: exact recurrences, orders, stability, SGD noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kexue.train import (
    beta_after_lr_decay,
    damped_ode_solution,
    gd_trajectory,
    gradient_flow_solution,
    heavy_ball_trajectory,
    momentum_coefficients,
    nesterov_trajectory,
    sgd_stationary_variance,
    stability_threshold,
)

A = torch.tensor([1.0, 4.0], dtype=torch.float64)
THETA0 = torch.tensor([1.0, -0.5], dtype=torch.float64)


def grad(th):
    return A * th


def _slope(errs):
    return float(np.polyfit(np.log(errs[1]), np.log(errs[0]), 1)[0])


def test_torch_sgd_momentum_and_nesterov_are_the_articles_recurrences():
    # v = −α·b maps torch's buffer b ← μb + g; θ ← θ − α b onto eq. (16); same for the Θ form.
    for nesterov in (False, True):
        p = torch.nn.Parameter(THETA0.clone())
        opt = torch.optim.SGD([p], lr=0.05, momentum=0.8, nesterov=nesterov)
        traj = [p.detach().clone()]
        for _ in range(50):
            opt.zero_grad()
            (0.5 * (A * p * p).sum()).backward()
            opt.step()
            traj.append(p.detach().clone())
        if nesterov:
            # torch's iterates are the framework Θ_n = θ_n + β v_n of the article
            ref = torch.zeros(51, 2, dtype=torch.float64)
            big_theta, v = THETA0.clone(), torch.zeros(2, dtype=torch.float64)
            ref[0] = big_theta
            for n in range(50):
                g = grad(big_theta)
                v = 0.8 * v - 0.05 * g
                big_theta = big_theta + 0.8 * v - 0.05 * g
                ref[n + 1] = big_theta
        else:
            ref = heavy_ball_trajectory(grad, THETA0, 0.05, 0.8, 50)
        assert torch.allclose(torch.stack(traj), ref, atol=1e-12, rtol=0)


def test_standard_nesterov_theta_equals_framework_form_shifted():
    alpha, beta = 0.05, 0.8
    th = nesterov_trajectory(grad, THETA0, alpha, beta, 30)
    # Θ_n = θ_n + β v_n with v_n = θ_n − θ_{n−1}
    big = th[1:] + beta * (th[1:] - th[:-1])
    p = torch.nn.Parameter(THETA0.clone())
    opt = torch.optim.SGD([p], lr=alpha, momentum=beta, nesterov=True)
    out = []
    for _ in range(30):
        opt.zero_grad()
        (0.5 * (A * p * p).sum()).backward()
        opt.step()
        out.append(p.detach().clone())
    assert torch.allclose(big, torch.stack(out), atol=1e-12)


def test_gd_is_first_order_and_momentum_second_order():
    lam, t_end = 1.0, 2.0
    gammas = [2.0**-k for k in range(5, 10)]
    e_gd, e_hb = [], []
    exact_flow = gradient_flow_solution(A, THETA0, t_end)
    exact_ode, _ = damped_ode_solution(A, lam, THETA0, torch.zeros(2, dtype=torch.float64), t_end)
    for g in gammas:
        n = round(t_end / g)
        e_gd.append(float((gd_trajectory(grad, THETA0, g, n)[-1] - exact_flow).norm()))
        alpha, beta = momentum_coefficients(g, lam)
        v0 = (g * g / 2) * grad(THETA0)  # v_0 = γ η(−γ/2) for η(0) = 0
        tr = heavy_ball_trajectory(grad, THETA0, alpha, beta, n, v0=v0)
        e_hb.append(float((tr[-1] - exact_ode).norm()))
    assert _slope((e_gd, gammas)) == pytest.approx(1.0, abs=0.1)
    assert _slope((e_hb, gammas)) == pytest.approx(2.0, abs=0.1)


def test_damped_ode_solution_satisfies_the_ode():
    lam, t, h = 0.7, 1.3, 1e-4
    eta0 = torch.tensor([0.2, 0.1], dtype=torch.float64)
    th_p, eta_p = damped_ode_solution(A, lam, THETA0, eta0, t + h)
    th_m, eta_m = damped_ode_solution(A, lam, THETA0, eta0, t - h)
    th, eta = damped_ode_solution(A, lam, THETA0, eta0, t)
    assert torch.allclose((th_p - th_m) / (2 * h), eta, atol=1e-7)
    assert torch.allclose((eta_p - eta_m) / (2 * h), -lam * eta - A * th, atol=1e-6)


def _diverges(step, lr, a=10.0, n=1000):
    th = torch.tensor([1.0], dtype=torch.float64)
    return not float(step(lambda x: a * x, th, lr, n)[-1].abs()) <= 1.0  # inf/nan diverge too


@pytest.mark.parametrize(
    ("method", "mu"), [("gd", 0.0), ("heavy_ball", 0.5), ("heavy_ball", 0.9), ("nesterov", 0.9)]
)
def test_stability_thresholds_by_bisection(method, mu):
    def step(g, th, lr, n):
        if method == "gd":
            return gd_trajectory(g, th, lr, n)
        if method == "heavy_ball":
            return heavy_ball_trajectory(g, th, lr, mu, n)
        return nesterov_trajectory(g, th, lr, mu, n)

    lo, hi = 1e-4, 1.0
    for _ in range(20):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _diverges(step, mid) else (mid, hi)
    assert lo == pytest.approx(stability_threshold(10.0, method, mu), rel=0.01)


def test_sgd_stationary_variance_ar1():
    g = torch.Generator().manual_seed(0)
    a, sigma2, batch = 1.0, 1.0, 4
    for gamma in (0.1, 1.0):
        n_chains, n_steps = 4000, 400
        th = torch.zeros(n_chains, dtype=torch.float64)
        for _ in range(n_steps):
            noise = torch.randn(n_chains, generator=g, dtype=torch.float64)
            th = th - gamma * (a * th + math.sqrt(sigma2 / batch) * noise)
        want = sgd_stationary_variance(a, gamma, sigma2, batch)
        assert float(th.var()) == pytest.approx(want, rel=0.06)
    assert sgd_stationary_variance(a, 1e-3, 1, 2, exact=False) == pytest.approx(
        sgd_stationary_variance(a, 1e-3, 1, 2), rel=1e-3
    )


@given(st.floats(0.01, 0.99), st.floats(0.01, 0.9))
def test_beta_rule_keeps_the_friction(beta, r):
    # β ≈ 1 − λ√α ⇒ λ = (1 − β)/√α is unchanged by α → rα with β' = 1 − (1 − β)√r
    alpha = 0.01
    lam = (1 - beta) / math.sqrt(alpha)
    assert (1 - beta_after_lr_decay(beta, r)) / math.sqrt(r * alpha) == pytest.approx(lam)


def test_momentum_coefficients_match_eq15():
    alpha, beta = momentum_coefficients(0.1, 2.0)
    assert alpha == pytest.approx(0.01 / 1.1)
    assert beta == pytest.approx(0.9 / 1.1)
    with pytest.raises(ValueError):
        momentum_coefficients(0.0, 1.0)
