"""Exact W1 against brute force over all transport permutations, the LP, and closed forms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kexue.stats import w1_exact, w1_lp


def _brute_force(x: np.ndarray, y: np.ndarray) -> float:
    n = len(x)
    return min(
        np.mean([np.linalg.norm(x[i] - y[p[i]]) for i in range(n)])
        for p in itertools.permutations(range(n))
    )


@given(st.integers(1, 6), st.integers(1, 3), st.integers(0, 10_000))
def test_assignment_equals_brute_force(n, d, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    assert w1_exact(x, y) == pytest.approx(_brute_force(x, y), abs=1e-12)


@given(st.integers(2, 7), st.integers(2, 7), st.integers(0, 10_000))
def test_lp_equals_assignment_on_equal_sizes_and_is_a_metric(n, m, seed):
    rng = np.random.default_rng(seed)
    x, y, z = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    assert w1_lp(x, y) == pytest.approx(w1_exact(x, y), abs=1e-7)
    assert w1_exact(x, y) == pytest.approx(w1_exact(y, x), abs=1e-12)
    assert w1_exact(x, z) <= w1_exact(x, y) + w1_exact(y, z) + 1e-9
    assert w1_exact(x, x) == 0.0
    u = rng.normal(size=(m, 2))  # unequal sizes go through the LP
    assert w1_exact(x, u) >= 0


def test_one_dimension_closed_form():
    # In 1-D the optimal plan matches sorted samples: W1 = mean |x_(i) − y_(i)|.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=200), rng.exponential(size=200)
    assert w1_exact(x, y) == pytest.approx(np.abs(np.sort(x) - np.sort(y)).mean(), abs=1e-12)


def test_weighted_lp_moves_mass_once():
    # All of p's mass at 0; q has 1/4 at 4 and 3/4 at 0: only a quarter moves, distance 4.
    assert w1_lp([[0.0]], [[4.0], [0.0]], b=np.array([0.25, 0.75])) == pytest.approx(1.0)


def test_translation_costs_its_length():
    x = np.random.default_rng(1).normal(size=(50, 3))
    shift = np.array([3.0, 4.0, 0.0])
    assert w1_exact(x, x + shift) == pytest.approx(5.0, abs=1e-9)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="differ in dimension"):
        w1_exact(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="b must sum to 1"):
        w1_lp(np.zeros((2, 1)), np.zeros((2, 1)), b=np.array([0.2, 0.2]))


def test_float32_softmax_weights_are_accepted():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(30, 2))
    logits = torch.from_numpy(rng.normal(size=40) * 3).float()
    a = torch.softmax(logits, 0)  # float32: sums to 1 only within a few 1e-7
    a_np = a.numpy()
    a_np = a_np + np.float32(1e-6) / 40  # and a little more drift, still float32
    assert abs(a_np.astype(np.float64).sum() - 1) > 1e-9  # would fail a float64 tolerance
    want = w1_lp(x, y, a.double().numpy() / a.double().sum().item())
    assert w1_lp(x, y, a) == pytest.approx(want, rel=1e-6)
    assert w1_lp(x, y, a_np) == pytest.approx(want, rel=1e-5)


def test_float64_weights_keep_a_tight_tolerance():
    x, y = np.zeros((4, 1)), np.ones((2, 1))
    w = np.full(4, 0.25)
    assert w1_lp(x, y, w + 1e-11) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="a must sum to 1"):
        w1_lp(x, y, w + 1e-7)  # float32 would pass 4e-7; float64 must not
    with pytest.raises(ValueError, match="a must sum to 1"):
        w1_lp(x, y, w.astype(np.float32) * np.float32(1.001))  # float32, far off


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_points_and_weights_are_rejected(bad):
    x, y = np.zeros((3, 2)), np.ones((2, 2))
    x_bad = x.copy()
    x_bad[1, 0] = bad
    with pytest.raises(ValueError, match=r"x contains NaN or inf \(at row 1\)"):
        w1_lp(x_bad, y)
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        w1_exact(y, x_bad[:2])  # w1_exact shares the point checks
    with pytest.raises(ValueError, match=r"b contains NaN or inf \(at index 0\)"):
        w1_lp(x, y, b=np.array([bad, 0.5]))


def test_negative_weights_are_rejected():
    x, y = np.zeros((2, 1)), np.ones((3, 1))
    with pytest.raises(ValueError, match=r"a has negative weights \(a\[0\] = -0.5\)"):
        w1_lp(x, y, a=np.array([-0.5, 1.5]))  # sums to 1, still invalid


def test_dimension_mismatch_names_both_dimensions():
    for f in (w1_exact, w1_lp):
        with pytest.raises(ValueError, match="x has dimension 3 but y has dimension 2"):
            f(np.zeros((3, 3)), np.zeros((4, 2)))


def test_weight_shape_is_checked():
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        w1_lp(np.zeros((2, 1)), np.zeros((2, 1)), b=np.full(3, 1 / 3))


@pytest.mark.parametrize("n, m", [(40, 40), (30, 45)])
def test_pot_and_scipy_solvers_agree(n, m):
    rng = np.random.default_rng(n + m)
    x, y = rng.normal(size=(n, 3)), rng.normal(1.0, 2.0, size=(m, 3))
    pot = w1_exact(x, y, solver="pot")
    assert pot == pytest.approx(w1_exact(x, y, solver="scipy"), rel=1e-9)
    a = rng.dirichlet(np.ones(n))
    b = rng.dirichlet(np.ones(m))
    assert w1_lp(x, y, a, b, solver="pot") == pytest.approx(
        w1_lp(x, y, a, b, solver="scipy"), rel=1e-7
    )
    with pytest.raises(ValueError, match="solver must be one of"):
        w1_exact(x, y, solver="simplex")
