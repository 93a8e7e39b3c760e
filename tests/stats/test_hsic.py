"""HSIC against explicit sums, its invariances, the permutation test's calibration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from kexue.data import dependence_sim
from kexue.stats import (
    gram,
    hsic,
    hsic_from_grams,
    hsic_test,
    normalized_hsic,
    torch_gram,
    torch_normalized_hsic,
)


def _population_on_empirical(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    # The article's three expectations, each a plain average over the empirical measure.
    n = len(k)
    joint = sum(k[i, j] * l[i, j] for i in range(n) for j in range(n)) / n**2
    marg = (k.sum() / n**2) * (l.sum() / n**2)
    cross = sum(k[i, j] * l[i, q] for i in range(n) for j in range(n) for q in range(n)) / n**3
    return joint + marg - 2 * cross


def test_biased_estimator_is_the_population_formula_on_the_sample():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 2)), rng.normal(size=(12, 1))
    k, l = gram(x), gram(y)  # noqa: E741
    # The article's Tr(KJLJ)/(n−1)² is the plug-in value rescaled by n²/(n−1)².
    assert hsic_from_grams(k, l, "biased") * (11 / 12) ** 2 == pytest.approx(
        _population_on_empirical(k, l), abs=1e-12
    )


def test_unbiased_estimator_is_the_u_statistic():
    rng = np.random.default_rng(1)
    n = 7
    k, l = gram(rng.normal(size=(n, 1))), gram(rng.normal(size=(n, 1)))  # noqa: E741
    total = 0.0
    for i, j, q, r in itertools.permutations(range(n), 4):
        total += k[i, j] * l[i, j] + k[i, j] * l[q, r] - 2 * k[i, j] * l[i, q]
    expected = total / (n * (n - 1) * (n - 2) * (n - 3))
    assert hsic_from_grams(k, l, "unbiased") == pytest.approx(expected, abs=1e-12)


def test_linear_kernel_gives_the_cross_covariance_norm():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    xc, yc = x - x.mean(0), y - y.mean(0)
    cross = xc.T @ yc / 40
    value = hsic(x, y, kernel="linear", estimator="biased") * (39 / 40) ** 2
    assert value == pytest.approx((cross**2).sum(), abs=1e-12)


@given(st.integers(6, 30), st.integers(0, 1000), st.floats(0.01, 100))
def test_symmetry_permutation_and_scale_invariance(n, seed, scale):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = x[:, :1] ** 2 + rng.normal(size=(n, 1))
    for est in ("biased", "unbiased"):
        h = hsic(x, y, estimator=est)
        assert hsic(y, x, estimator=est) == pytest.approx(h, abs=1e-12)
        p = rng.permutation(n)
        assert hsic(x[p], y[p], estimator=est) == pytest.approx(h, abs=1e-12)
        # Per-variable median bandwidths: rescaling either variable changes nothing.
        assert hsic(x, scale * y, estimator=est) == pytest.approx(h, rel=1e-9, abs=1e-12)
    assert hsic(x, y, estimator="biased") >= 0


def test_unbiased_is_centred_under_independence_and_biased_is_not():
    rng = np.random.default_rng(3)
    u, b = [], []
    for _ in range(400):
        x, y = rng.normal(size=(30, 1)), rng.normal(size=(30, 1))
        k, l = gram(x), gram(y)  # noqa: E741
        u.append(hsic_from_grams(k, l, "unbiased"))
        b.append(hsic_from_grams(k, l, "biased"))
    se = np.std(u) / np.sqrt(len(u))
    assert abs(np.mean(u)) < 3 * se
    assert np.mean(b) > 10 * se


def test_permutation_pvalues_are_uniform_under_the_null_and_never_zero():
    pvalues = []
    for seed in range(150):
        x, y = dependence_sim("independent", 40, seed=seed)
        pvalues.append(hsic_test(x, y, n_permutations=99, seed=seed).pvalue)
    assert sps.kstest(pvalues, "uniform").pvalue > 0.01
    x, y = dependence_sim("linear", 200, seed=0)
    res = hsic_test(x, 5 * x, n_permutations=99, seed=0)
    assert res.pvalue == pytest.approx(1 / 100) and res.reject
    assert res.null is not None and len(res.null) == 99


def test_gamma_approximation_agrees_with_permutations():
    x, y = dependence_sim("quadratic", 150, seed=4)
    perm = hsic_test(x, y, n_permutations=999, seed=0).pvalue
    gamma = hsic_test(x, y, method="gamma").pvalue
    assert abs(perm - gamma) < 0.05


def _gamma_moments_naive(k: np.ndarray, l: np.ndarray) -> tuple[float, float]:  # noqa: E741
    # Gretton et al. 2008, written out with J = I − 11ᵀ/n and explicit sums over i ≠ j.
    n = len(k)
    j = np.eye(n) - np.ones((n, n)) / n
    kc, lc = j @ k @ j, j @ l @ j
    pairs = [(a, b) for a in range(n) for b in range(n) if a != b]
    mu_x = sum(k[a, b] for a, b in pairs) / len(pairs)
    mu_y = sum(l[a, b] for a, b in pairs) / len(pairs)
    mean = (1 + mu_x * mu_y - mu_x - mu_y) / n
    spread = sum((kc[a, b] * lc[a, b]) ** 2 for a, b in pairs) / len(pairs)
    var = 2 * (n - 4) * (n - 5) / (n * (n - 1) * (n - 2) * (n - 3)) * spread
    return mean, var


def test_gamma_pvalue_is_grettons_two_moment_fit():
    x, y = dependence_sim("sin_four_pi", 40, seed=6)
    n = 40
    k, l = gram(x), gram(y)  # noqa: E741
    mean, var = _gamma_moments_naive(k, l)
    j = np.eye(n) - np.ones((n, n)) / n
    stat = np.trace(k @ j @ l @ j) / n  # n · HSIC_b, HSIC_b = Tr(KJLJ)/n²
    expected = sps.gamma.sf(stat, mean**2 / var, scale=n * var / mean)
    assert hsic_test(x, y, method="gamma").pvalue == pytest.approx(expected, rel=1e-9)


def test_gamma_moments_are_those_of_the_permutation_null():
    # Under independence the Gamma's mean and variance estimate the permutation null's.
    rng = np.random.default_rng(0)
    n = 80
    x, y = rng.normal(size=(n, 1)), rng.normal(size=(n, 1))
    mean, var = _gamma_moments_naive(gram(x), gram(y))
    null = hsic_test(x, y, n_permutations=4000, seed=0).null * (n - 1) ** 2 / n**2
    assert null.mean() == pytest.approx(mean, rel=0.03)
    assert null.var() == pytest.approx(var, rel=0.2)


def test_cka_is_one_for_identical_and_matches_torch():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(25, 3)), rng.normal(size=(25, 2))
    k = gram(x)
    assert normalized_hsic(k, k) == pytest.approx(1.0)
    dists = np.linalg.norm(x[:, None] - x[None], axis=-1)[~np.eye(25, dtype=bool)]
    sx, sy = np.sqrt(2) * np.median(dists), 1.3  # the median heuristic, by hand
    ours = normalized_hsic(gram(x, bandwidth=sx), gram(y, bandwidth=sy))
    tx, ty = torch.tensor(x), torch.tensor(y)
    theirs = torch_normalized_hsic(torch_gram(tx), torch_gram(ty, sy))
    assert float(theirs) == pytest.approx(ours, abs=1e-10)
    tx.requires_grad_(True)
    torch_normalized_hsic(torch_gram(tx), torch_gram(ty)).backward()
    assert torch.isfinite(tx.grad).all() and tx.grad.abs().sum() > 0


def test_gaussian_kernel_is_the_articles_with_the_median_heuristic():
    x = np.array([[0.0], [1.0], [3.0]])  # distances 1, 2, 3: median 2, so σ = 2√2
    k = gram(x)
    assert k[0, 1] == pytest.approx(np.exp(-1 / 8)) and k[0, 2] == pytest.approx(np.exp(-9 / 8))
    assert gram(x, bandwidth=2.0)[0, 2] == pytest.approx(np.exp(-9 / 4))  # exp(−d²/σ²)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="must pair up: 5 vs 6"):
        hsic(np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError, match="valid: gaussian, laplace, linear, delta"):
        hsic(np.zeros(5), np.zeros(5), kernel="cosine")
    with pytest.raises(ValueError, match="valid: biased, unbiased"):
        hsic(np.arange(5.0), np.arange(5.0), estimator="plugin")
    with pytest.raises(ValueError, match="at least 6 pairs"):
        hsic_test(np.zeros(3), np.zeros(3))
