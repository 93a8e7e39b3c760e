"""Warm-up, step and piecewise-linear schedules; EMA vs AveragedModel vs recurrence; keep-best."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from kexue.train import (
    EMA,
    BestCheckpoint,
    CenterLossHead,
    GaussianNoise,
    keras_warmup,
    piecewise_linear,
    uniform_mixed_ce,
)


def test_warmup_sequence_s7_w10():
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, keras_warmup(7, 10))
    seen = []
    for _ in range(100):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    want = [1e-3 * (n + 1) / 70 if n < 70 else 1e-3 for n in range(100)]
    assert np.allclose(seen, want, rtol=1e-12)


def test_multistep_is_the_articles_step_schedule():
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1e-2)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [50, 80], 0.1)
    for epoch in range(100):
        want = 1e-2 if epoch < 50 else (1e-3 if epoch < 80 else 1e-4)
        assert opt.param_groups[0]["lr"] == pytest.approx(want, rel=1e-12, abs=0)
        opt.step()
        sched.step()


def test_piecewise_linear_against_numpy():
    sched = {1000: 1.0, 2000: 0.1}
    ts = [0, 1, 250, 999, 1000, 1001, 1500, 1999, 2000, 2500, 10_000]
    want = np.interp(ts, [0, 1000, 2000], [0.0, 1.0, 0.1])
    assert np.allclose([piecewise_linear(t, sched) for t in ts], want)
    assert piecewise_linear(5, {0: 2.0}) == 2.0


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def test_ema_equals_averaged_model_and_a_recurrence():
    model = _net()
    ema = EMA(model, decay=0.9)
    ref = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    ref.update_parameters(model)
    manual = [t.detach().clone() for t in [*model.parameters()]]
    lerped = [t.detach().clone() for t in [*model.parameters()]]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        x = torch.randn(16, 4, generator=g)
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
        ema.update()
        ref.update_parameters(model)
        manual = [
            0.9 * m + 0.1 * p.detach() for m, p in zip(manual, model.parameters(), strict=True)
        ]
        # the same recurrence as Θ + (1 − α)(θ − Θ), torch's rounding order: round-off only
        live = list(model.parameters())
        lerped = [torch.lerp(m, p.detach(), 0.1) for m, p in zip(lerped, live, strict=True)]
    ours = ema.averaged_tensors()
    for a, b in zip(ours, [*ref.module.parameters(), *ref.module.buffers()], strict=False):
        if b.is_floating_point():
            assert torch.allclose(a, b, atol=1e-7)
    for a, b in zip(ours, manual, strict=False):
        assert torch.allclose(a, b, atol=1e-6)
    for a, b in zip(ours, lerped, strict=False):
        assert torch.allclose(a, b, atol=1e-7, rtol=0)


def test_ema_apply_restores_even_on_error_and_zeros_init_bias_correction():
    model = nn.Linear(3, 1)
    live = model.weight.detach().clone()
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update()
    with pytest.raises(RuntimeError), ema.apply():
        assert torch.allclose(model.weight, live + 0.5)  # 0.5·θ₀ + 0.5·θ₁
        raise RuntimeError
    assert torch.allclose(model.weight, live + 1.0)
    # a constant parameter c: weights-init gives c, zeros-init gives c(1−α^t) raw and c corrected
    const = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        const.weight.fill_(3.0)
    zeros = EMA(const, decay=0.9, init="zeros")
    for t in range(1, 6):
        zeros.update()
        assert torch.allclose(zeros.shadow[0], torch.full((1, 2), 3.0 * (1 - 0.9**t)))
        assert torch.allclose(zeros.averaged_tensors()[0], torch.full((1, 2), 3.0))


def test_best_checkpoint_tie_rule():
    vals = [0.5, 0.7, 0.7, 0.6]
    ge, gt = BestCheckpoint(tie="ge"), BestCheckpoint(tie="gt")
    for e, v in enumerate(vals):
        ge.update(v, e)
        gt.update(v, e)
    assert (ge.best_step, gt.best_step) == (2, 1)
    assert ge.best == gt.best == 0.7 and ge.state is None  # no module: value and step only


def test_best_checkpoint_min_max_and_nan():
    vals = [3.0, 1.0, float("nan"), 2.0, 1.0]
    mn_ge, mn_gt = BestCheckpoint(mode="min"), BestCheckpoint(mode="min", tie="gt")
    mx = BestCheckpoint(mode="max")
    got = [(mn_ge.update(v, e), mn_gt.update(v, e), mx.update(v, e)) for e, v in enumerate(vals)]
    assert [a for a, _, _ in got] == [True, True, False, False, True]
    assert [b for _, b, _ in got] == [True, True, False, False, False]
    assert [c for _, _, c in got] == [True, False, False, False, False]
    assert (mn_ge.best, mn_ge.best_step, mn_gt.best_step) == (1.0, 4, 1)
    assert (mx.best, mx.best_step) == (3.0, 0)
    with pytest.raises(ValueError, match="mode"):
        BestCheckpoint(mode="lowest")


def test_best_checkpoint_restore_gives_back_the_weights_at_the_best():
    model = nn.Linear(2, 1)
    best = BestCheckpoint(model, mode="min")
    assert not best.restore()  # nothing kept yet: the module is untouched
    weights = {}
    for step, val in enumerate([2.0, 0.5, 1.0]):
        with torch.no_grad():
            model.weight.fill_(float(step))
        weights[step] = model.weight.detach().clone()
        best.update(val, step)
    assert best.best_step == 1
    with torch.no_grad():
        model.weight.fill_(-7.0)  # the kept copy does not alias the live weights
    assert torch.equal(best.state["weight"], weights[1])
    assert best.restore()
    assert torch.equal(model.weight, weights[1])


def test_best_checkpoint_rides_in_a_run_checkpoint(tmp_path):
    from kexue.runs import RunDir

    model = nn.Linear(3, 2)
    best = BestCheckpoint(model, mode="min", tie="gt")
    best.update(0.9, 10)
    best.update(0.4, 20)
    kept = {k: v.clone() for k, v in best.state.items()}
    RunDir(tmp_path).save_checkpoint(20, {"model": model, "best": best})
    # a fresh run: other weights, an empty tracker
    torch.manual_seed(1)
    model2 = nn.Linear(3, 2)
    best2 = BestCheckpoint(model2, mode="min", tie="gt")
    with torch.no_grad():
        model2.weight.add_(1.0)  # live weights after training on; the tracker must not touch them
    live = model2.weight.detach().clone()
    assert RunDir(tmp_path).restore({"best": best2}) == 20
    assert (best2.best, best2.best_step) == (0.4, 20)
    assert torch.equal(model2.weight, live)
    assert not best2.update(0.4, 30) and best2.best_step == 20  # a tie does not replace it
    assert best2.restore()
    assert all(torch.equal(model2.state_dict()[k], v) for k, v in kept.items())
    # and an empty tracker (no best yet, no module) round-trips too
    empty = BestCheckpoint()
    RunDir(tmp_path / "e").save_checkpoint(0, {"best": empty})
    again = BestCheckpoint()
    again.update(1.0, 1)
    RunDir(tmp_path / "e").restore({"best": again})
    assert (again.best, again.best_step, again.state) == (None, None, None)
    with pytest.raises(ValueError, match="best_step"):  # e.g. an older run's plain dict
        again.load_state_dict({"bpd": 1.0, "step": 3, "state": {}})


def test_layers():
    noise = GaussianNoise(1.0)
    x = torch.zeros(1000, 4)
    assert float(noise(x).std()) == pytest.approx(1.0, abs=0.05)
    noise.eval()
    assert torch.equal(noise(x), x)
    head = CenterLossHead(2, 3, lam=0.5)
    f = torch.randn(5, 2)
    y = torch.tensor([0, 1, 2, 0, 1])
    by_hand = sum(float(((head.centers[y[i]] - f[i]) ** 2).sum().detach()) for i in range(5)) / 5
    assert float(head.center_loss(f, y)) == pytest.approx(by_hand, rel=1e-6)
    total = nn.functional.cross_entropy(head(f), y) + 0.5 * by_hand
    assert float(head.loss(f, y)) == pytest.approx(float(total), rel=1e-6)
    logits = torch.randn(4, 5)
    y4 = torch.tensor([0, 1, 2, 3])
    lp = torch.log_softmax(logits, -1)
    want = 0.9 * -lp[range(4), y4].mean() + 0.1 * -lp.mean()
    assert float(uniform_mixed_ce(logits, y4, torch.tensor(0.1))) == pytest.approx(float(want))
