"""Soft batch = one big batch (to float tolerance), the hand-written SGD, Heun's method."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from kexue.train import SGD, Heun, SoftBatch, heun_amplification


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).double()


def _data(n=96, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g, dtype=torch.float64), torch.randint(
        0, 3, (n,), generator=g
    )


def _max_diff(a, b):
    return max(
        float((p - q).detach().abs().max())
        for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: torch.optim.SGD(ps, lr=0.1),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
        lambda ps: torch.optim.Adam(ps, lr=1e-2),
    ],
    ids=["sgd", "nesterov", "adam"],
)
def test_soft_batch_equals_big_batch(make):
    big, small = _model(), _model()
    opt_big = make(big.parameters())
    acc = SoftBatch(make(small.parameters()), k=4)
    x, y = _data()
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(30):
        for j in range(0, 96, 32):  # three big batches of 32 = 4 micro-batches of 8 each
            xb, yb = x[j : j + 32], y[j : j + 32]
            opt_big.zero_grad()
            loss_fn(big(xb), yb).backward()
            opt_big.step()
            for m in range(4):
                loss_fn(small(xb[8 * m : 8 * m + 8]), yb[8 * m : 8 * m + 8]).backward()
                updated = acc.step()
                assert updated == (m == 3)
    assert acc.updates == 90
    assert _max_diff(big, small) < 1e-12


def test_unequal_micro_batches_need_item_normalisation():
    big, naive, exact = _model(), _model(), _model()
    x, y = _data(30)
    sizes = [4, 10, 16]
    opt = torch.optim.SGD(big.parameters(), lr=0.5)
    nn.CrossEntropyLoss()(big(x), y).backward()
    opt.step()
    acc_naive = SoftBatch(torch.optim.SGD(naive.parameters(), lr=0.5), k=3)
    acc_exact = SoftBatch(torch.optim.SGD(exact.parameters(), lr=0.5), k=3)
    start = 0
    for n in sizes:
        xb, yb = x[start : start + n], y[start : start + n]
        start += n
        nn.CrossEntropyLoss()(naive(xb), yb).backward()  # mean per micro-batch, then / k
        acc_naive.step()
        nn.CrossEntropyLoss(reduction="sum")(exact(xb), yb).backward()
        acc_exact.step(n_items=n)
    assert _max_diff(big, exact) < 1e-12
    assert _max_diff(big, naive) > 1e-4


def test_flush_applies_incomplete_window():
    a, b = _model(), _model()
    x, y = _data(16)
    opt = torch.optim.SGD(a.parameters(), lr=0.3)
    nn.CrossEntropyLoss()(a(x), y).backward()
    opt.step()
    acc = SoftBatch(torch.optim.SGD(b.parameters(), lr=0.3), k=4)
    for m in range(2):
        nn.CrossEntropyLoss()(b(x[8 * m : 8 * m + 8]), y[8 * m : 8 * m + 8]).backward()
        assert not acc.step()
    assert acc.flush()
    assert _max_diff(a, b) < 1e-12


def test_handwritten_soft_batch_sgd_equals_torch_sgd_on_big_batch():
    a, b = _model(), _model()
    ref = torch.optim.SGD(a.parameters(), lr=0.05)
    mine = SGD(b.parameters(), lr=0.05, steps_per_update=2)
    x, y = _data(64)
    for _ in range(10):
        ref.zero_grad()
        nn.CrossEntropyLoss()(a(x), y).backward()
        ref.step()
        for m in range(2):
            mine.zero_grad()
            nn.CrossEntropyLoss()(b(x[32 * m : 32 * m + 32]), y[32 * m : 32 * m + 32]).backward()
            mine.step()
    assert _max_diff(a, b) < 1e-12


def test_heun_step_by_hand_and_second_order():
    a = torch.tensor([2.0, 0.5], dtype=torch.float64)
    p = nn.Parameter(torch.tensor([1.0, -1.0], dtype=torch.float64))
    opt = Heun([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (a * p * p).sum()
        loss.backward()
        return loss

    p0 = p.detach().clone()
    opt.step(closure)
    g0 = a * p0
    p_tilde = p0 - 0.1 * g0
    assert torch.allclose(p.detach(), p0 - 0.05 * (g0 + a * p_tilde), atol=1e-15)
    # on a quadratic each coordinate is multiplied by 1 − s + s²/2
    s = 0.1 * a
    assert torch.allclose(
        p.detach(), p0 * torch.tensor([heun_amplification(float(v)) for v in s]).double()
    )
    with pytest.raises(ValueError):
        opt.step()


def test_heun_has_eulers_stability_interval():
    assert abs(heun_amplification(1.999)) < 1 < abs(heun_amplification(2.001))
    assert abs(1 - 1.999) < 1 < abs(1 - 2.001)


def test_soft_batch_leaves_inner_state_untouched_between_updates():
    m = _model()
    inner = torch.optim.Adam(m.parameters(), lr=1e-2)
    acc = SoftBatch(inner, k=3)
    before = copy.deepcopy(m.state_dict())
    x, y = _data(8)
    nn.CrossEntropyLoss()(m(x), y).backward()
    acc.step()
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert len(inner.state) == 0
