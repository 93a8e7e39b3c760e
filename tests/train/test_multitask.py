"""Loss weightings (invariances), the min-norm direction against a brute-force QP, and the
shared-encoder upper bound (MGDA-UB)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize

from kexue.train import (
    generalized_mean_loss,
    grad_normalized_loss,
    initial_loss,
    mgda_shared_grads,
    min_norm_direction,
    min_norm_weights,
    prior_loss,
    realtime_normalized_loss,
    task_gradients,
)


def _qp(grads: np.ndarray) -> float:
    n = len(grads)
    gram = grads @ grads.T
    res = minimize(
        lambda a: a @ gram @ a,
        np.full(n, 1 / n),
        jac=lambda a: 2 * gram @ a,
        bounds=[(0, 1)] * n,
        constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    return float(res.fun)


@given(st.integers(0, 10_000), st.integers(2, 6))
def test_frank_wolfe_and_oracle_match_brute_force_qp(seed, n):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(n, 5)) + rng.normal(size=5)  # correlated tasks
    gt = torch.from_numpy(g)
    for method in ("away_frank_wolfe", "exact"):
        a = min_norm_weights(gt, method=method)
        assert float(a.sum()) == pytest.approx(1.0) and bool((a >= -1e-12).all())
        val = float(a @ (gt @ gt.T) @ a)
        assert val <= _qp(g) + 1e-6


@given(st.integers(0, 10_000), st.integers(2, 8))
def test_min_norm_direction_decreases_every_task(seed, n):
    g = torch.from_numpy(np.random.default_rng(seed).normal(size=(n, 50)))
    u, _ = min_norm_direction(g, method="exact" if n <= 6 else "frank_wolfe")
    tol = 1e-8 if n <= 6 else 1e-3 * float(u.norm() ** 2 + 1e-3)
    assert bool(((g @ u) >= u.norm() ** 2 - tol).all())


def test_min_norm_solvers_on_the_recipes_instances():
    # the recipe's item 1, seeded: n = 2..8 correlated tasks in dimension 50; Frank–Wolfe with
    # away steps (all n) and the exact oracle (n ≤ 6) reach the brute-force QP's objective, and
    # u* = Σ α_i g_i decreases every task to first order: ⟨g_i, u*⟩ ≥ ‖u*‖²
    rng = np.random.default_rng(0)
    for i in range(28):
        n = 2 + i % 7
        g = rng.normal(size=(n, 50)) + rng.normal(size=50)
        gt = torch.from_numpy(g)
        gram, best = gt @ gt.T, _qp(g)
        for method in ("away_frank_wolfe", "exact") if n <= 6 else ("away_frank_wolfe",):
            a = min_norm_weights(gt, method=method)
            assert float(a @ gram @ a) - best <= 1e-6, (i, method)
        if n <= 6:
            u = a @ gt
            assert float((gt @ u).min() - u @ u) >= -1e-8, i


def test_plain_frank_wolfe_converges_but_slowly_on_a_face():
    rng = np.random.default_rng(1)
    g = torch.from_numpy(rng.normal(size=(3, 5)) + rng.normal(size=5))
    gram = g @ g.T
    exact = min_norm_weights(g, method="exact")
    best = float(exact @ gram @ exact)
    gaps = [
        float(a @ gram @ a) - best
        for a in (min_norm_weights(g, method="frank_wolfe", max_iter=k) for k in (100, 1000))
    ]
    assert 0 < gaps[1] < gaps[0]
    assert float(exact[0]) == 0.0  # the optimum lies on a face


def test_two_task_closed_form_and_pareto_stationary():
    g = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    a = min_norm_weights(g, method="two_task")
    # α_1 = ⟨g2 − g1, g2⟩/‖g1 − g2‖² = 4/5
    assert torch.allclose(a, torch.tensor([0.8, 0.2], dtype=torch.float64))
    assert torch.allclose(min_norm_weights(g), a, atol=1e-6)
    opp = torch.tensor([[1.0, 2.0], [-1.0, -2.0]], dtype=torch.float64)
    u, _ = min_norm_direction(opp)
    assert float(u.norm()) < 1e-9


def test_scale_and_shift_invariance():
    torch.manual_seed(0)
    w = torch.randn(4, dtype=torch.float64, requires_grad=True)
    x = torch.randn(10, 4, dtype=torch.float64)

    def losses(c2, s2):
        l1 = (x @ w).pow(2).mean()
        l2 = c2 * ((x @ w - 1).abs().mean() + s2)
        return torch.stack([l1, l2])

    def grad_of(total):
        (g,) = torch.autograd.grad(total, w, retain_graph=True)
        return g

    def gnorm_total(ls):
        norms = task_gradients(list(ls), [w]).norm(dim=1)
        return grad_normalized_loss(ls, norms)

    base = losses(1.0, 0.0)
    scaled = losses(1e3, 0.0)
    shifted = losses(1.0, 10.0)
    for fn in (realtime_normalized_loss, gnorm_total):
        assert torch.allclose(grad_of(fn(base)), grad_of(fn(scaled)), atol=1e-10)
    assert torch.allclose(grad_of(gnorm_total(base)), grad_of(gnorm_total(shifted)), atol=1e-10)
    assert not torch.allclose(
        grad_of(realtime_normalized_loss(base)), grad_of(realtime_normalized_loss(shifted))
    )
    assert not torch.allclose(grad_of(base.sum()), grad_of(scaled.sum()))
    gb = task_gradients(list(base), [w])
    gs = task_gradients(list(scaled), [w])
    ub, _ = min_norm_direction(gb, normalize="l2")
    us, _ = min_norm_direction(gs, normalize="l2")
    assert torch.allclose(ub, us, atol=1e-8)
    uh, _ = min_norm_direction(task_gradients(list(shifted), [w]), normalize="l2")
    assert torch.allclose(ub, uh, atol=1e-8)
    # real-time weighting = ∇ Σ log L_i
    assert torch.allclose(grad_of(realtime_normalized_loss(base)), grad_of(base.log().sum()))


def test_generalized_mean_limits_and_initial_prior_losses():
    ls = torch.tensor([0.5, 2.0, 8.0], dtype=torch.float64)
    assert float(generalized_mean_loss(ls, 1.0)) == pytest.approx(3.5)
    assert float(generalized_mean_loss(ls, 0.0)) == pytest.approx(2.0)  # (0.5·2·8)^(1/3)
    assert float(generalized_mean_loss(ls, 1e-6)) == pytest.approx(2.0, rel=1e-5)
    assert float(generalized_mean_loss(ls, 200.0)) == pytest.approx(8.0, rel=0.01)
    assert float(generalized_mean_loss(ls, -200.0)) == pytest.approx(0.5, rel=0.01)
    assert initial_loss("ce", n_classes=10) == pytest.approx(math.log(10))
    # CE of a zero-logit model is log K (checked with torch's CE)
    y = torch.tensor([0, 1, 1, 3])
    ce0 = torch.nn.functional.cross_entropy(torch.zeros(4, 4), y)
    assert float(ce0) == pytest.approx(initial_loss("ce", n_classes=4))
    assert prior_loss("ce", y) == pytest.approx(-(0.25 * math.log(0.25) * 2 + 0.5 * math.log(0.5)))
    yr = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert initial_loss("mse", y=yr) == pytest.approx((5 + 25) / 2)
    assert prior_loss("mse", yr) == pytest.approx(2.0)


def test_the_papers_lemma_is_false():
    # "M SPD ⇒ (xᵀy ≥ 0 ⇔ xᵀMy ≥ 0)": a counterexample, as in the article
    m = torch.tensor([[1.0, 0.0], [0.0, 100.0]])
    x = torch.tensor([1.0, 1.0])
    y = torch.tensor([1.0, -0.1])
    assert bool(torch.linalg.eigvalsh(m).min() > 0)
    assert float(x @ y) > 0 and float(x @ m @ y) < 0


@given(st.integers(0, 10_000))
def test_two_normalised_gradients_decrease_both_tasks(seed):
    # (二): for two tasks u = g_1/‖g_1‖ + g_2/‖g_2‖ has ⟨g_i, u⟩ ≥ 0 for both
    g = torch.from_numpy(np.random.default_rng(seed).normal(size=(2, 7)))
    u = (g / g.norm(dim=1, keepdim=True)).sum(0)
    assert bool(((g @ u) >= -1e-12).all())


def test_averaged_iteration_converges_to_the_min_norm_point():
    # (二): the smoothed-max iteration u ← (k u + g_τ)/(k + 1), τ = argmin_i ⟨g_i, u⟩
    # (Frank–Wolfe with step 1/(k + 1)) approaches u* = the min-norm point of conv{g_i}
    rng = np.random.default_rng(3)
    g = torch.from_numpy(rng.normal(size=(4, 6)) + rng.normal(size=6))
    u_star, _ = min_norm_direction(g, method="exact")
    u = g.mean(0)
    errs = []
    for k in range(1, 20001):
        u = ((k - 1) * u + g[int(torch.argmin(g @ u))]) / k
        if k in (200, 20000):
            errs.append(float((u - u_star).norm() / u_star.norm()))
    assert errs[1] < 0.05 and errs[1] < errs[0]


def test_softmax_reparametrisation_reaches_the_min_norm():
    # (二) 去约束化: α = softmax(β), minimise f = ½‖Σ α_i g_i‖² over β by plain gradient
    # descent; ∂f/∂β = α ⊙ (Gα − αᵀGα)
    rng = np.random.default_rng(4)
    g = rng.normal(size=(3, 5))
    gram = g @ g.T
    a_ex = min_norm_weights(torch.from_numpy(g), method="exact").numpy()
    assert (a_ex > 0.05).all()  # an interior optimum: finite β reaches it
    beta = np.zeros(3)
    for _ in range(5000):
        a = np.exp(beta - beta.max())
        a /= a.sum()
        ga = gram @ a
        beta -= 1.0 / np.linalg.norm(gram, 2) * 10 * a * (ga - a @ ga)
    assert a @ gram @ a == pytest.approx(a_ex @ gram @ a_ex, rel=1e-6)
    assert np.allclose(a, a_ex, atol=1e-3)


def test_gram_matrix_gives_the_same_weights():
    # (二): ⟨g_i, g̃(α)⟩ = Σ_j α_j ⟨g_i, g_j⟩, so the solvers need only G = g gᵀ
    g = torch.from_numpy(np.random.default_rng(5).normal(size=(4, 300)))
    for method in ("frank_wolfe", "away_frank_wolfe", "exact"):
        assert torch.allclose(
            min_norm_weights(g, method=method), min_norm_weights(gram=g @ g.T, method=method)
        )


class _CountBackward(torch.autograd.Function):
    """Identity whose backward counts how often gradients flow through the encoder."""

    calls = 0

    @staticmethod
    def forward(ctx, x):  # noqa: D102
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):  # noqa: D102
        _CountBackward.calls += 1
        return g


class _Counter(torch.nn.Module):
    def forward(self, x):  # noqa: D102
        return _CountBackward.apply(x)


def _shared_encoder_problem(seed=0, disjoint=False):
    torch.manual_seed(seed)
    enc = torch.nn.Sequential(
        torch.nn.Linear(5, 8), _Counter(), torch.nn.Tanh(), torch.nn.Linear(8, 4)
    ).double()
    heads = [torch.nn.Linear(4, 1).double() for _ in range(3)]
    x = torch.randn(6, 5, dtype=torch.float64)
    y = torch.randn(3, 6, dtype=torch.float64)
    h = enc(x)
    rows = [slice(0, 2), slice(2, 4), slice(4, 6)] if disjoint else [slice(0, 6)] * 3
    losses = [
        (head(h)[r, 0] - y[i, r]).pow(2).mean()
        for i, (head, r) in enumerate(zip(heads, rows, strict=True))
    ]
    return enc, h, losses


def test_upper_bound_inequality():
    # (二): g_i = (∇_H L_i)(∇_θ H) ⇒ ‖Σ α_i g_i‖ ≤ ‖Σ α_i ∇_H L_i‖·‖∇_θ H‖ (spectral norm)
    enc, h, losses = _shared_encoder_problem()
    shared = list(enc.parameters())
    g = task_gradients(losses, shared)
    g_h = task_gradients(losses, [h])
    jac = torch.stack(
        [
            torch.cat([p.reshape(-1) for p in torch.autograd.grad(v, shared, retain_graph=True)])
            for v in h.reshape(-1)
        ]
    )  # (B·d, P)
    assert torch.allclose(g, g_h @ jac)
    spec = float(torch.linalg.matrix_norm(jac, 2))
    for a in torch.distributions.Dirichlet(torch.ones(3, dtype=torch.float64)).sample((20,)):
        assert float((a @ g).norm()) <= float((a @ g_h).norm()) * spec * (1 + 1e-12)


def test_upper_bound_traverses_the_encoder_once():
    # MGDA: one backward pass through the encoder per task; MGDA-UB: one in all, and its update
    # is Jᵀ(Σ α_i ∇_H L_i) with α the min-norm weights of ∇_H L_i
    enc, h, losses = _shared_encoder_problem()
    shared = list(enc.parameters())
    _CountBackward.calls = 0
    exact, a_ex = mgda_shared_grads(losses, shared, method="exact")
    assert _CountBackward.calls == 3
    _CountBackward.calls = 0
    ub, a_ub = mgda_shared_grads(losses, shared, h, method="exact")
    assert _CountBackward.calls == 1
    g_h = task_gradients(losses, [h])
    assert torch.allclose(a_ub, min_norm_weights(g_h, method="exact"))
    ref = torch.autograd.grad(h, shared, (a_ub @ g_h).view_as(h), retain_graph=True)
    assert all(torch.allclose(u, r) for u, r in zip(ub, ref, strict=True))
    g = task_gradients(losses, shared)
    flat = torch.cat([u.reshape(-1) for u in exact])
    assert torch.allclose(flat, a_ex @ g) and torch.allclose(
        a_ex, min_norm_weights(g, method="exact")
    )
    assert not torch.allclose(a_ub, a_ex, atol=1e-3)  # the bound is not the exact problem


def test_upper_bound_on_disjoint_samples_ignores_interaction():
    # (二): tasks labelling disjoint samples have orthogonal ∇_H L_i; the bound's weights are
    # then α_i ∝ 1/‖∇_H L_i‖², whatever the encoder, while MGDA's depend on the encoder
    enc, h, losses = _shared_encoder_problem(disjoint=True)
    g_h = task_gradients(losses, [h])
    gram = g_h @ g_h.T
    assert torch.allclose(gram, torch.diag(torch.diagonal(gram)))
    _, a_ub = mgda_shared_grads(losses, list(enc.parameters()), h, method="exact")
    inv = 1 / torch.diagonal(gram)
    assert torch.allclose(a_ub, inv / inv.sum())
    _, a_ex = mgda_shared_grads(losses, list(enc.parameters()), method="exact")
    assert not torch.allclose(a_ex, a_ub, atol=1e-3)
