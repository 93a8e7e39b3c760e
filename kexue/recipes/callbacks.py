r"""Recipe: the article's callbacks as plain objects in a visible loop — warm-up and step
schedules, weight EMA (6575), evaluate-and-keep-best — and the centre-loss layer.

Article: “让Keras更酷一些！”：精巧的层与花式的回调 (see kexue.train.callbacks)
Data:    kexue.data.digits (fixed split), pixels / 16
Run:     kexue run callbacks                 (full, a minute or two)
         kexue run callbacks --budget quick
Writes:  config.json metrics.json claims.json history.csv ema.png center_loss.png

1. Schedules: LambdaLR(keras_warmup(S=7, W=10)) gives base·(n+1)/(S·W) batch by batch;
   MultiStepLR([50, 80], 0.1) is the article's step schedule; piecewise_linear matches a NumPy
   interpolation.
2. EMA parity: kexue's EMA (AveragedModel underneath, Θ₀ = θ₀) against the recurrence
   Θ ← αΘ + (1 − α)θ after `ema_parity_steps` optimiser steps, computed in float32 as a lerp
   (torch's rounding order), in float32 as written, and in float64 (the last two reported:
   float32 rounding in a different order accumulates to a few 1e-7).
3. EMA on a deliberately noisy run (SGD lr 0.5, batch 32): test accuracy of the averaged
   weights against the raw ones, and their spread over the last epochs. The keep-best callback
   records which epoch it keeps under ≥ (the article) and > (bert4keras).
4. Centre loss (feature size 2, λ = 0.5) vs plain cross-entropy: the ratio of mean intra-class
   variance to mean squared distance between class centres of the test features.
Claims: the EMA weights are at least as accurate as the raw ones and vary less; centre loss
shrinks the intra-class spread.
Checks (in the tests): the schedules and the EMA match their formulas to round-off (reported).
Recorded: `kexue show callbacks` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kexue.nn import MLP
from kexue.recipes import _plot
from kexue.recipes._train import accuracy, batches, digits_tensors
from kexue.runs import Claim, RunDir, seed_everything
from kexue.train import EMA, BestCheckpoint, CenterLossHead, keras_warmup, piecewise_linear


@dataclass(frozen=True)
class Config:
    seed: int = 0
    ema_parity_steps: int = 1000
    noisy_lr: float = 0.5
    batch_size: int = 32
    epochs: int = 30
    last_epochs: int = 10  # spread measured over these
    decays: tuple[float, ...] = (0.99, 0.999)
    hidden: tuple[int, ...] = (256, 256)
    center_lam: float = 0.5
    center_epochs: int = 40
    n_seeds: int = 3


QUICK = {
    "epochs": 10,
    "last_epochs": 5,
    "center_epochs": 15,
    "n_seeds": 1,
    "ema_parity_steps": 300,
}
SMOKE = {"epochs": 2, "last_epochs": 1, "center_epochs": 1, "n_seeds": 1, "ema_parity_steps": 10,
         "hidden": (32,)}  # fmt: skip

CLAIMS = (
    Claim("EMA weights (α = 0.99) test accuracy ≥ raw weights (mean over seeds, final epoch)",
          "ema_gain_0.99", ">=", 0.0, ("quick", "full")),
    Claim("EMA weights vary less over the last epochs than raw ones (std ratio EMA/raw < 1)",
          "ema_std_ratio_0.99", "<", 1.0, ("quick", "full")),
    Claim("centre loss shrinks intra-class spread relative to centre distances (ratio λ=.5 / λ=0)",
          "center_ratio_relative", "<", 1.0, ("quick", "full")),
)  # fmt: skip


def _schedules() -> dict[str, float]:
    out: dict[str, float] = {}
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, keras_warmup(7, 10))
    worst = 0.0
    for n in range(150):
        want = 1e-3 * (n + 1) / 70 if n < 70 else 1e-3
        worst = max(worst, abs(opt.param_groups[0]["lr"] - want) / want)
        opt.step()
        sched.step()
    out["warmup_max_rel_diff"] = worst
    opt = torch.optim.SGD([p], lr=1e-2)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [50, 80], 0.1)
    worst = 0.0
    for epoch in range(100):
        want = 1e-2 if epoch < 50 else (1e-3 if epoch < 80 else 1e-4)
        worst = max(worst, abs(opt.param_groups[0]["lr"] - want) / want)
        opt.step()
        sched.step()
    out["step_schedule_max_abs_diff"] = worst if worst > 1e-12 else 0.0  # 1e-2·0.1 is not 1e-3
    ts = np.arange(0, 3000, 37)
    got = [piecewise_linear(int(t), {1000: 1.0, 2000: 0.1}) for t in ts]
    out["piecewise_linear_max_diff"] = float(
        np.abs(np.array(got) - np.interp(ts, [0, 1000, 2000], [0, 1, 0.1])).max()
    )
    return out


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    x_tr, y_tr = digits_tensors("train")
    x_te, y_te = digits_tensors("test")
    metrics = _schedules()

    # 2. EMA parity with a float64 recurrence
    torch.manual_seed(cfg.seed)
    model = MLP(64, 10, hidden=cfg.hidden)
    ema = EMA(model, decay=0.99)
    shadow = [p.detach().double().clone() for p in model.parameters()]
    shadow32 = [p.detach().clone() for p in model.parameters()]
    shadow_lerp = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in out.progress(range(cfg.ema_parity_steps), "ema parity"):
        idx = torch.randint(len(y_tr), (cfg.batch_size,), generator=g)
        opt.zero_grad()
        F.cross_entropy(model(x_tr[idx]), y_tr[idx]).backward()
        opt.step()
        ema.update()
        live = list(model.parameters())
        shadow = [0.99 * s + 0.01 * p.detach().double() for s, p in zip(shadow, live, strict=True)]
        shadow32 = [0.99 * s + 0.01 * p.detach() for s, p in zip(shadow32, live, strict=True)]
        # the same recurrence written Θ + (1 − α)(θ − Θ), the rounding order of torch.lerp
        shadow_lerp = [
            torch.lerp(s, p.detach(), 0.01) for s, p in zip(shadow_lerp, live, strict=True)
        ]
    averaged = ema.averaged_tensors()
    metrics["ema_parity_max_diff"] = max(
        float((a - b).abs().max()) for a, b in zip(averaged, shadow_lerp, strict=False)
    )
    metrics["ema_vs_float32_alpha_form_max_diff"] = max(
        float((a - b).abs().max()) for a, b in zip(averaged, shadow32, strict=False)
    )
    metrics["ema_vs_float64_recurrence_max_diff"] = max(
        float((a.double() - b).abs().max()) for a, b in zip(averaged, shadow, strict=False)
    )

    # 3. EMA on a noisy run + keep-best
    finals: dict[str, list[float]] = {"raw": [], **{f"ema_{d:g}": [] for d in cfg.decays}}
    spreads: dict[str, list[float]] = {k: [] for k in finals}
    step = 0
    for s in range(cfg.n_seeds):
        torch.manual_seed(cfg.seed * 100 + s)
        model = MLP(64, 10, hidden=cfg.hidden)
        emas = {f"ema_{d:g}": EMA(model, decay=d) for d in cfg.decays}
        opt = torch.optim.SGD(model.parameters(), lr=cfg.noisy_lr)
        keep_ge, keep_gt = BestCheckpoint(model, tie="ge"), BestCheckpoint(tie="gt")
        curve: dict[str, list[float]] = {k: [] for k in finals}
        for epoch in out.progress(range(cfg.epochs), f"noisy run seed {s}"):
            for idx in batches(len(y_tr), cfg.batch_size, g):
                opt.zero_grad()
                F.cross_entropy(model(x_tr[idx]), y_tr[idx]).backward()
                opt.step()
                for e in emas.values():
                    e.update()  # once per optimiser step, after it
            curve["raw"].append(accuracy(model, x_te, y_te))
            for name, e in emas.items():
                with e.apply():
                    curve[name].append(accuracy(model, x_te, y_te))
            keep_ge.update(curve["raw"][-1], epoch)
            keep_gt.update(curve["raw"][-1], epoch)
            out.log(step, **{f"test_acc_{k}": v[-1] for k, v in curve.items()})
            step += 1
        for k, v in curve.items():
            finals[k].append(v[-1])
            spreads[k].append(float(np.std(v[-cfg.last_epochs :])))
        metrics[f"keep_best_epoch_ge_seed{s}"] = float(keep_ge.best_step)
        metrics[f"keep_best_epoch_gt_seed{s}"] = float(keep_gt.best_step)
    for k in finals:
        metrics[f"test_acc_final_{k}"] = float(np.mean(finals[k]))
        metrics[f"test_acc_std_last_{k}"] = float(np.mean(spreads[k]))
    for d in cfg.decays:
        metrics[f"ema_gain_{d:g}"] = (
            metrics[f"test_acc_final_ema_{d:g}"] - metrics["test_acc_final_raw"]
        )
        metrics[f"ema_std_ratio_{d:g}"] = metrics[f"test_acc_std_last_ema_{d:g}"] / max(
            metrics["test_acc_std_last_raw"], 1e-12
        )

    # 4. centre loss, feature size 2
    feats_by_lam = {}
    for lam in (0.0, cfg.center_lam):
        torch.manual_seed(cfg.seed)
        trunk = MLP(64, 2, hidden=(128,))
        head = CenterLossHead(2, 10, lam=lam)
        opt = torch.optim.Adam([*trunk.parameters(), *head.parameters()], lr=1e-3)
        for _ in out.progress(range(cfg.center_epochs), f"center loss lam {lam:g}"):
            for idx in batches(len(y_tr), cfg.batch_size, g):
                f = trunk(x_tr[idx])
                loss = head.loss(f, y_tr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            f = trunk(x_te)
            acc = float((head(f).argmax(-1) == y_te).double().mean())
        centres = torch.stack([f[y_te == c].mean(0) for c in range(10)])
        intra = float(
            torch.stack([f[y_te == c].var(0, unbiased=False).sum() for c in range(10)]).mean()
        )
        inter = float(torch.pdist(centres).pow(2).mean())
        tag = f"lam{lam:g}"
        metrics[f"center_test_acc_{tag}"] = acc
        metrics[f"center_ratio_{tag}"] = intra / inter
        feats_by_lam[lam] = f.numpy()
    metrics["center_ratio_relative"] = (
        metrics[f"center_ratio_lam{cfg.center_lam:g}"] / metrics["center_ratio_lam0"]
    )

    if out.is_main:
        keys = [f"test_acc_{k}" for k in finals]
        fig = _plot.curves(out.history, keys, f"SGD lr {cfg.noisy_lr}: raw vs EMA weights",
                           xlabel="epoch (seeds in sequence)")  # fmt: skip
        out.save_figure(fig, "ema.png")
        sets = [
            (feats_by_lam[cfg.center_lam], f"test features, λ = {cfg.center_lam:g}"),
            (feats_by_lam[0.0], "test features, λ = 0"),
        ]
        out.save_figure(
            _plot.scatter(sets, "2-D features with and without centre loss"), "center_loss.png"
        )
    return metrics
