"""i-ResNet unit verifications 1–6 of spec §3.3 (Lipschitz, inverse, exact log-det sign,
series truncation, Hutchinson, gradient bias)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from kexue.flows import (
    ResidualBlock,
    SpectralNormConv2d,
    SpectralNormLinear,
    exact_logdet,
    fixed_point_inverse,
    mlp_with_jacobian,
    power_series_logdet,
    series_error_bound,
    series_logdet_from_jacobian,
)

C = 0.9


def _g(d: int = 2, hidden: int = 32, coeff: float = C) -> nn.Sequential:
    torch.manual_seed(1)
    g = nn.Sequential(
        SpectralNormLinear(d, hidden, coeff=coeff),
        nn.ELU(),
        SpectralNormLinear(hidden, hidden, coeff=coeff),
        nn.ELU(),
        SpectralNormLinear(hidden, d, coeff=coeff),
    )
    with torch.no_grad():  # make the weights large so the normalisation is active
        for m in g:
            if isinstance(m, SpectralNormLinear):
                m.weight.mul_(5.0)
                m._power(200)
    return g.eval()


def _jacobians(g: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return torch.stack(
        [torch.autograd.functional.jacobian(lambda v: g(v[None])[0], xi) for xi in x]
    )


def test_1_lipschitz_of_weights_and_of_g(f64):
    g = _g()
    for m in g:
        if isinstance(m, SpectralNormLinear):
            assert torch.linalg.matrix_norm(m.normalized_weight(), 2) <= C * (1 + 1e-3)
    jac = _jacobians(g, 2 * torch.randn(256, 2))
    assert torch.linalg.matrix_norm(jac, 2).max() <= C**3 * (1 + 1e-6)


def test_1_conv_operator_norm_is_bounded(f64):
    torch.manual_seed(0)
    conv = SpectralNormConv2d(2, 3, 3, (4, 4), coeff=C)
    with torch.no_grad():
        conv.weight.mul_(10.0)
        conv._power(300)
    conv.eval()

    # the exact operator norm: the dense matrix of the convolution on 2×4×4 inputs, by SVD
    def f(v: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(
            v.view(1, 2, 4, 4), conv.normalized_weight(), padding=1
        ).flatten()

    dense = torch.autograd.functional.jacobian(f, torch.zeros(32))
    assert torch.linalg.matrix_norm(dense, 2) <= C * (1 + 1e-3)
    # the reshaped-kernel norm is a different number (not a valid bound for 3x3 convolutions)
    reshaped = torch.linalg.matrix_norm(conv.normalized_weight().reshape(3, -1), 2)
    assert not torch.isclose(reshaped, torch.linalg.matrix_norm(dense, 2), rtol=1e-3)


def test_2_fixed_point_inverse_converges_geometrically_within_the_a_priori_bound(f64):
    g = _g()
    lip = C**3
    y = 2 * torch.randn(64, 2)
    x_star, _ = fixed_point_inverse(g, y, 500, atol=0.0)
    assert (x_star + g(x_star) - y).abs().max() < 1e-12
    x = y.clone()
    g_y = g(y).norm(dim=1)
    errors = []
    with torch.no_grad():
        for n in range(1, 31):
            x = y - g(x)
            err = (x - x_star).norm(dim=1)
            assert (err <= lip**n / (1 - lip) * g_y + 1e-12).all()
            errors.append(err.max().item())
    logs = torch.log(torch.tensor(errors[5:25]))
    slope = (logs[-1] - logs[0]) / (len(logs) - 1)
    assert slope <= math.log(lip) + 1e-6
    # iterations guaranteeing a 1e-6 relative error in the worst case L = c
    assert math.ceil(math.log(1e-6) / math.log(0.9)) == 132
    assert math.ceil(math.log(1e-6) / math.log(0.5)) == 20


def test_3_exact_logdet_has_positive_determinant(f64):
    g = _g()
    jac = _jacobians(g, 3 * torch.randn(1000, 2))
    sign, _ = torch.linalg.slogdet(torch.eye(2) + jac)
    assert (sign == 1).all()


def test_4_series_with_exact_traces_obeys_the_truncation_bound(f64):
    g = _g(d=3)
    jac = _jacobians(g, torch.randn(50, 3))
    exact = torch.linalg.slogdet(torch.eye(3) + jac)[1]
    lip = torch.linalg.matrix_norm(jac, 2).max().item()
    errs = []
    for n in range(1, 21):
        err = (exact - series_logdet_from_jacobian(jac, n)).abs().max().item()
        assert err <= series_error_bound(lip, n, 3) + 1e-12
        errs.append(err)
    # decays like L^n: ten more terms shrink the error by at least L^10 (within slack)
    assert errs[14] <= errs[4] * lip**10 * 10 + 1e-14


def _series_terms(g: nn.Module, x: torch.Tensor, n: int, v: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    return power_series_logdet(g(x), x, n, v, create_graph=False)


def test_5_hutchinson_is_unbiased_for_the_truncated_series_and_variance_scales(f64):
    g = _g(d=3)
    x = torch.randn(1, 3)
    target = series_logdet_from_jacobian(_jacobians(g, x), 5)[0]
    xs = x.expand(10_000, 3)
    gauss = _series_terms(g, xs, 5, torch.randn(10_000, 3))
    se = gauss.std() / math.sqrt(len(gauss))
    assert abs(gauss.mean() - target) <= 3 * se
    rade = _series_terms(g, xs, 5, torch.randint(0, 2, (10_000, 3)).double() * 2 - 1)
    assert abs(rade.mean() - target) <= 3 * rade.std() / math.sqrt(len(rade))
    assert rade.var() <= gauss.var()
    # averaging S probes divides the variance by S
    means = gauss.view(1000, 10).mean(1)
    assert 0.7 < means.var().item() * 10 / gauss.var().item() < 1.3


def test_6_gradient_of_the_estimator_aligns_with_the_exact_gradient(f64):
    g = _g(d=2)
    g.train()
    block = ResidualBlock(g, logdet="series", n_series=5)
    x = 2 * torch.randn(512, 2)
    params = [p for p in g.parameters()]
    exact = exact_logdet(
        *(lambda xx: (g(xx), xx))(x.clone().requires_grad_(True)), create_graph=True
    )
    grad_exact = torch.autograd.grad(exact.mean(), params, allow_unused=True)
    torch.manual_seed(0)
    _, est = block(x)
    grad_est = torch.autograd.grad(est.mean(), params, allow_unused=True)
    # (the last bias does not enter the Jacobian: its gradient is None for both)
    a = torch.cat([t.flatten() for t in grad_exact if t is not None])
    b = torch.cat([t.flatten() for t in grad_est if t is not None])
    assert nn.functional.cosine_similarity(a, b, dim=0) > 0.95


@pytest.mark.parametrize("probe", ["gaussian", "rademacher"])
def test_block_inverse_and_series_logdet_close_to_exact(probe, f64):
    g = _g(d=2)
    block = ResidualBlock(g, logdet="series", n_series=20, probe=probe)
    x = torch.randn(2000, 2)
    y, ld = block(x)
    exact = exact_logdet(
        *(lambda xx: (g(xx), xx))(x.clone().requires_grad_(True)), create_graph=False
    )
    assert abs(ld.mean() - exact.mean()) < 0.05
    x_back, _ = block.inverse(y)
    assert (x_back - x).abs().max() < 1e-10


@pytest.mark.parametrize("act", [nn.ELU(), nn.ELU(alpha=0.5), nn.Tanh()])
def test_mlp_with_jacobian_matches_autograd(act, f64):
    torch.manual_seed(2)
    g = nn.Sequential(
        SpectralNormLinear(3, 16, coeff=C),
        act,
        nn.Linear(16, 8),
        act,
        SpectralNormLinear(8, 3, coeff=C),
    ).eval()
    x = 2 * torch.randn(40, 3)
    gx, jac = mlp_with_jacobian(g, x)
    assert torch.allclose(gx, g(x), atol=1e-12)
    assert torch.allclose(jac, _jacobians(g, x), atol=1e-12)
    with pytest.raises(TypeError):
        mlp_with_jacobian(nn.Sequential(nn.Linear(3, 3), nn.ReLU()), x)


@pytest.mark.parametrize("logdet", ["exact", "series"])
def test_explicit_and_autograd_jacobian_routes_agree_in_value_and_gradient(logdet, f64):
    g = _g(d=2)
    g.train()
    x = 2 * torch.randn(64, 2)
    results = []
    for route in ("autograd", "explicit"):
        block = ResidualBlock(g, logdet=logdet, n_series=7, jacobian=route)
        for m in g:  # the same power-iteration state for both routes
            if isinstance(m, SpectralNormLinear):
                m.n_power = 0
        torch.manual_seed(5)  # the same Hutchinson probe
        y, ld = block(x)
        grads = torch.autograd.grad(ld.sum() + y.pow(2).sum(), list(g.parameters()))
        results.append((y, ld, grads))
    (y_a, ld_a, gr_a), (y_e, ld_e, gr_e) = results
    assert torch.allclose(y_a, y_e, atol=1e-12)
    assert torch.allclose(ld_a, ld_e, atol=1e-12)
    for a, b in zip(gr_a, gr_e, strict=True):
        assert torch.allclose(a, b, atol=1e-10)
    x_back, ld_inv = ResidualBlock(g, logdet=logdet, jacobian="explicit").inverse(y_e)
    assert (x_back - x).abs().max() < 1e-10
