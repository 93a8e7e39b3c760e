"""CRF: log-partition, gold score and Viterbi against brute-force enumeration; padding; the
learning-rate multiplier."""

from __future__ import annotations

import itertools

import torch
from hypothesis import given
from hypothesis import strategies as st

from kexue.bert import CRF


def _brute(e, T, n):
    scores = {}
    for y in itertools.product(range(e.shape[1]), repeat=n):
        s = sum(e[t, y[t]] for t in range(n)) + sum(T[y[t - 1], y[t]] for t in range(1, n))
        scores[y] = s
    return scores


@given(st.integers(1, 5), st.integers(2, 4), st.integers(0, 1000))
def test_log_partition_and_viterbi_brute_force(length, k, seed):
    torch.manual_seed(seed)
    crf = CRF(k, lr_multiplier=3.0).double()
    with torch.no_grad():
        crf.theta.normal_()
    e = torch.randn(2, 5, k, dtype=torch.float64)
    mask = torch.zeros(2, 5, dtype=torch.long)
    mask[0, :length] = 1
    mask[1, :] = 1
    logz = crf.log_partition(e, mask)
    paths = crf.viterbi(e, mask)
    T = crf.transitions.detach()
    for b, n in ((0, length), (1, 5)):
        scores = _brute(e[b], T, n)
        want = torch.logsumexp(torch.stack(list(scores.values())), 0)
        assert torch.allclose(logz[b], want, atol=1e-9)
        best = max(scores, key=lambda y: float(scores[y]))
        assert tuple(paths[b]) == best
        labels = torch.zeros(1, 5, dtype=torch.long)
        labels[0, :n] = torch.tensor(best)
        got = crf.score(e[b : b + 1], labels, mask[b : b + 1])[0]
        assert torch.allclose(got, scores[best], atol=1e-9)


def test_nll_is_a_normalised_negative_log_probability():
    crf = CRF(3).double()
    e = torch.randn(1, 3, 3, dtype=torch.float64)
    mask = torch.ones(1, 3, dtype=torch.long)
    total = sum(
        torch.exp(-crf.nll(e, torch.tensor([y]), mask))
        for y in itertools.product(range(3), repeat=3)
    )
    assert torch.allclose(total, torch.tensor(1.0, dtype=torch.float64), atol=1e-9)


def test_force_first_label():
    crf = CRF(3)
    e = torch.randn(1, 4, 3)
    e[0, 0, 2] = 50.0
    assert crf.viterbi(e, torch.ones(1, 4), force_first=0)[0][0] == 0


def test_lr_multiplier_reparameterisation():
    torch.manual_seed(0)
    a = CRF(4, lr_multiplier=1.0)
    torch.manual_seed(0)
    b = CRF(4, lr_multiplier=100.0)
    assert torch.allclose(a.transitions, b.transitions)  # same function at init
    e, y, m = torch.randn(2, 5, 4), torch.randint(0, 4, (2, 5)), torch.ones(2, 5)
    for crf in (a, b):
        crf.nll(e, y, m).backward()
    # dT/dθ = 100: an SGD step of lr on θ moves T by 100² · lr · ∂L/∂T
    assert torch.allclose(b.theta.grad, 100 * a.theta.grad, atol=1e-5)
