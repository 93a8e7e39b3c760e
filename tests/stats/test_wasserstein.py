"""Exact W1 against brute force over all transport permutations, the LP, and closed forms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
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
    with pytest.raises(ValueError, match="b must be"):
        w1_lp(np.zeros((2, 1)), np.zeros((2, 1)), b=np.array([0.2, 0.2]))
