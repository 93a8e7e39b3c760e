"""Smooth max / argmax / top-k / accuracy / F1 against their exact (hard) counterparts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from kexue.nn import (
    smooth_abs,
    smooth_max,
    smooth_min,
    smooth_relu,
    soft_accuracy,
    soft_argmax,
    soft_f1,
    soft_f1_binary,
    soft_kmax,
    soft_onehot,
)

vectors = st.lists(st.floats(-5, 5), min_size=2, max_size=8)


@given(vectors, st.sampled_from([1.0, 0.1, 0.01, 0.001]))
def test_smooth_max_bounds(xs, tau):
    x = torch.tensor(xs, dtype=torch.float64)
    s = float(smooth_max(x, tau=tau))
    m = max(xs)
    assert m - 1e-12 <= s <= m + tau * math.log(len(xs)) + 1e-12
    s_min = float(smooth_min(x, tau=tau))
    assert min(xs) - tau * math.log(len(xs)) - 1e-12 <= s_min <= min(xs) + 1e-12


def test_smooth_max_bounds_on_the_recipes_vectors():
    # the recipe's item 1, seeded: every random 10-vector, every τ
    x = torch.randn(2000, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    m = x.max(-1).values
    for tau in (1.0, 0.1, 0.01, 0.001):
        s = smooth_max(x, tau=tau)
        assert bool((s >= m - 1e-12).all()) and bool((s <= m + tau * math.log(10) + 1e-12).all())


def test_article_example_and_limits():
    # [2, 1, 4, 5, 3] → onehot [0, 0, 0, 1, 0], argmax 4 (1-based) / 3 (0-based)
    x = torch.tensor([2.0, 1.0, 4.0, 5.0, 3.0], dtype=torch.float64)
    assert torch.allclose(soft_onehot(x, tau=1e-3), torch.tensor([0, 0, 0, 1, 0.0]).double())
    assert float(soft_argmax(x, tau=1e-3, base=1)) == pytest.approx(4.0, abs=1e-9)
    assert float(soft_argmax(x, tau=1e-3)) == pytest.approx(3.0, abs=1e-9)
    assert float(smooth_max(x, tau=1e-3)) == pytest.approx(5.0, abs=1e-6)
    # K = 1 is plain logsumexp, written out by hand
    assert float(smooth_max(x)) == pytest.approx(math.log(sum(math.exp(v) for v in x.tolist())))


def test_gradient_of_smooth_max_is_softmax():
    x = torch.randn(6, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(smooth_max(x, tau=0.3), x)
    e = torch.exp(x.detach() / 0.3)
    assert torch.allclose(g, e / e.sum())


def test_soft_kmax_recursion_by_hand_and_limit():
    x = torch.tensor([0.3, 2.0, -1.0, 1.1, 0.5], dtype=torch.float64)
    # the article's recursion written out with numpy at τ = 1
    xn = x.numpy() - x.numpy().min()
    p = np.zeros(5)
    for _ in range(2):
        y = (1 - p) * xn
        p = p + np.exp(y) / np.exp(y).sum()
    assert np.allclose(soft_kmax(x, 2).numpy(), p)
    assert float(soft_kmax(x, 2).sum()) == pytest.approx(2.0)
    for k in range(1, 5):
        hard = torch.zeros(5, dtype=torch.float64)
        hard[torch.topk(x, k).indices] = 1
        assert torch.allclose(soft_kmax(x, k, tau=1e-3), hard, atol=1e-6)
    with pytest.raises(ValueError):
        soft_kmax(x, 5)  # k = n: the recursion's shifted minimum ties with the chosen ones


@given(st.integers(0, 10_000))
def test_soft_kmax_tends_to_topk(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(7, generator=g, dtype=torch.float64)
    k = int(torch.randint(1, 7, (1,), generator=g))
    gap = (x.sort().values.diff()).min()
    hard = torch.zeros(7, dtype=torch.float64)
    hard[torch.topk(x, k).indices] = 1
    # the recursion at temperature τ ≪ the smallest gap picks the top k exactly
    assert torch.allclose(soft_kmax(x, k, tau=float(gap) / 60), hard, atol=1e-3)


def test_relu_abs_corollaries():
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    for tau in (1.0, 0.1, 0.01):
        r, a = smooth_relu(x, tau=tau), smooth_abs(x, tau=tau)
        assert torch.all(r >= x.clamp(min=0) - 1e-12)
        assert torch.all(r - x.clamp(min=0) <= tau * math.log(2) + 1e-12)
        assert torch.all(a >= x.abs() - 1e-12)
        assert torch.all(a - x.abs() <= tau * math.log(2) + 1e-12)
    assert float(smooth_relu(torch.zeros(1), tau=0.5)) == pytest.approx(0.5 * math.log(2))


def test_soft_accuracy_limit_and_hand_value():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    # p_y by hand: e²/(e²+1), 1/(1+e), e/(e³+e)
    e = math.e
    want = (e**2 / (e**2 + 1) + 1 / (1 + e) + e / (e**3 + e)) / 3
    assert float(soft_accuracy(logits, y)) == pytest.approx(want)
    assert float(soft_accuracy(logits, y, tau=1e-4)) == pytest.approx(1 / 3)


@pytest.mark.parametrize("seed", range(5))
def test_soft_f1_of_hard_predictions_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 50)
    logits = torch.from_numpy(rng.normal(size=(50, 3)))
    pred = logits.argmax(1).numpy()
    macro = float(soft_f1(logits, torch.from_numpy(y), tau=1e-6))
    assert macro == pytest.approx(f1_score(y, pred, average="macro"), abs=1e-6)
    t = rng.integers(0, 2, 40)
    p = rng.integers(0, 2, 40)
    hard = float(soft_f1_binary(torch.from_numpy(p).double(), torch.from_numpy(t)))
    assert hard == pytest.approx(f1_score(t, p), abs=1e-6)
    lb = torch.from_numpy(rng.normal(size=(40, 2)))
    b = float(soft_f1(lb, torch.from_numpy(t), tau=1e-6, average="binary"))
    assert b == pytest.approx(f1_score(t, lb.argmax(1).numpy()), abs=1e-6)


def test_gradients_finite_at_the_edges():
    p = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0, 1, 0, 0])
    (g,) = torch.autograd.grad(soft_f1_binary(p, t), p)
    assert torch.isfinite(g).all()
    zero = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    (g0,) = torch.autograd.grad(soft_f1_binary(zero, torch.zeros(3)), zero)
    assert torch.isfinite(g0).all()
    with pytest.raises(ValueError):
        smooth_max(torch.zeros(2), tau=0.0)
