"""Geometric measurements of the VAE picture: aggregated moments, coverage, line roughness."""

from __future__ import annotations

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from kexue.latent import (
    active_units,
    aggregate_moments,
    lerp_path,
    line_roughness,
    prior_coverage,
    prior_covered,
    quantile_grid,
    standardize_codes,
)


def test_aggregate_moments_equal_the_mixture_moments(f64):
    # Sampling the mixture E_x N(μ_x, σ_x²) directly must give the same mean and variance.
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(50, 3, generator=g) * torch.tensor([0.5, 1.0, 2.0])
    logvar = torch.randn(50, 3, generator=g) * 0.5 - 1
    mean, var = aggregate_moments(mu, logvar)
    idx = torch.randint(50, (400_000,), generator=g)
    z = mu[idx] + (0.5 * logvar[idx]).exp() * torch.randn(400_000, 3, generator=g)
    assert torch.allclose(mean, z.mean(0), atol=0.01)
    assert torch.allclose(var, z.var(0), rtol=0.01)


def test_prior_moments_for_the_ideal_posterior(f64):
    # μ = ρ·u, σ² = 1 − ρ² with u ~ N(0, 1): the mixture is exactly N(0, 1)
    g = torch.Generator().manual_seed(1)
    u = torch.randn(100_000, 2, generator=g)
    rho = 0.8
    mean, var = aggregate_moments(rho * u, torch.full_like(u, math.log(1 - rho**2)))
    assert float(mean.abs().max()) < 0.01
    assert float((var - 1).abs().max()) < 0.01


def test_active_units_counts_varying_means():
    mu = torch.cat([torch.randn(200, 2), torch.full((200, 3), 0.7)], 1)
    assert active_units(mu) == 2


def test_standardize_codes():
    z = torch.randn(500, 3) * torch.tensor([5.0, 0.1, 2.0]) + 3
    s = standardize_codes(z)
    assert torch.allclose(s.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(s.std(0, unbiased=False), torch.ones(3), atol=1e-5)


def test_prior_coverage_brute_force():
    g = torch.Generator().manual_seed(0)
    z, mu = torch.randn(300, 2, generator=g), torch.randn(40, 2, generator=g)
    sigma = torch.rand(40, 2, generator=g) * 0.5 + 0.1
    by_hand = sum(
        any(float((((zi - mu[n]) / sigma[n]) ** 2).sum().sqrt()) <= 2.0 for n in range(40))
        for zi in z
    ) / len(z)
    assert prior_coverage(z, mu, sigma, radius=2.0, chunk=7) == by_hand
    flags = prior_covered(z, mu, sigma, radius=2.0, chunk=7)
    assert flags.shape == (300,) and float(flags.double().mean()) == by_hand


def test_prior_coverage_of_one_unit_ellipse_is_the_chi2_mass():
    # one ellipse N(0, I) of radius r covers P(χ²_2 ≤ r²) = 1 − exp(−r²/2) of the prior
    z = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(2))
    cov = prior_coverage(z, torch.zeros(1, 2), torch.ones(2), radius=1.5)
    assert abs(cov - (1 - math.exp(-(1.5**2) / 2))) < 0.005


def test_lerp_path_endpoints_and_steps():
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    path = lerp_path(a, b, 11)
    assert torch.allclose(path[:, 0], a) and torch.allclose(path[:, -1], b)
    steps = path[:, 1:] - path[:, :-1]
    assert torch.allclose(steps, ((b - a) / 10)[:, None].expand_as(steps), atol=1e-6)


@given(n=st.integers(2, 30))
def test_line_roughness_linear_decoder_is_one_over_steps(n):
    w = torch.randn(3, 5, generator=torch.Generator().manual_seed(n))
    a = torch.randn(6, 3, generator=torch.Generator().manual_seed(n + 1))
    b = torch.randn(6, 3, generator=torch.Generator().manual_seed(n + 2))
    r = line_roughness(lambda z: z @ w + 1.0, a, b, n)
    assert torch.allclose(r, torch.full((6,), 1 / (n - 1)), atol=1e-5)


def test_line_roughness_step_decoder_is_one():
    a, b = torch.full((1, 1), -1.0), torch.full((1, 1), 1.0)
    r = line_roughness(lambda z: (z > 0.05).float(), a, b, 21)  # one jump along the way
    assert float(r[0]) == 1.0


def test_quantile_grid_layout():
    grid = quantile_grid(15)
    assert grid.shape == (225, 2)
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor([0.05, 0.95]))
    assert torch.allclose(grid[0], torch.tensor([q[0], q[1]]))  # top-left: smallest z1, largest z2
    assert torch.allclose(grid[-1], torch.tensor([q[1], q[0]]))
