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
3. EMA on a deliberately noisy run (SGD lr 0.5, batch 32, Gaussian input noise σ =
   `input_noise` so the gradient stays noisy to the end: without it the MLP interpolates the
   training set, the weights stop and the EMA ties the raw weights; `epochs` × 40 steps, long
   against the horizon 1/(1 − α) of every α, so that Θ₀ = θ₀ has decayed): test accuracy of
   the averaged weights (α = 0.99 and the article's regime α = 0.999) against the raw ones,
   paired per test digit, and their spread over the last epochs. The keep-best callback records
   which epoch it keeps under ≥ (the article) and > (bert4keras).
4. Centre loss (feature size 2, λ = 0.5) vs plain cross-entropy: the ratio of mean intra-class
   variance to mean squared distance between class centres of the test features.
Claims: the EMA weights are more accurate than the raw ones (lower bound of the paired gain
over test digits, accuracy averaged over seeds: a tie fails) and vary less, for each α; centre
loss shrinks the intra-class spread.
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
from kexue.recipes._train import batches, digits_tensors
from kexue.runs import Claim, RunDir, Statement, seed_everything, statements_doc
from kexue.stats import paired_interval, record_interval
from kexue.train import EMA, BestCheckpoint, CenterLossHead, keras_warmup, piecewise_linear


@dataclass(frozen=True)
class Config:
    seed: int = 0
    ema_parity_steps: int = 1000
    noisy_lr: float = 0.5
    input_noise: float = 0.5  # σ of Gaussian noise on the pixels of the noisy run
    batch_size: int = 32
    epochs: int = 150  # 6000 steps: ≫ the horizon 1000 of α = 0.999
    last_epochs: int = 10  # spread measured over these
    decays: tuple[float, ...] = (0.99, 0.999)
    hidden: tuple[int, ...] = (256, 256)
    center_lam: float = 0.5
    center_epochs: int = 40
    n_seeds: int = 3


QUICK = {
    "epochs": 60,
    "last_epochs": 10,
    "center_epochs": 15,
    "n_seeds": 1,
    "ema_parity_steps": 300,
}
SMOKE = {"epochs": 2, "last_epochs": 1, "center_epochs": 1, "n_seeds": 1, "ema_parity_steps": 10,
         "hidden": (32,)}  # fmt: skip

CLAIMS = (
    Claim("EMA weights (α = 0.99) are more accurate on test than the raw ones at the end of "
          "training (lower bound, paired over test digits)",
          "ema_gain_0.99", ">", 0.0, ("quick", "full"), kind="goal", interval=True),
    Claim("EMA weights in the article's regime (α = 0.999) are more accurate on test than the "
          "raw ones (lower bound, paired over test digits)",
          "ema_gain_0.999", ">", 0.0, ("quick", "full"), interval=True),
    Claim("EMA weights (α = 0.99) vary less over the last epochs than raw ones (std ratio < 1)",
          "ema_std_ratio_0.99", "<", 1.0, ("quick", "full"), kind="goal"),
    Claim("EMA weights (α = 0.999) vary less over the last epochs than raw ones (std ratio < 1)",
          "ema_std_ratio_0.999", "<", 1.0, ("quick", "full")),
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
    @torch.no_grad()
    def correct(model: nn.Module) -> np.ndarray:
        model.eval()
        hit = (model(x_te).argmax(-1) == y_te).double().numpy()
        model.train()
        return hit

    names = ["raw", *(f"ema_{d:g}" for d in cfg.decays)]
    finals: dict[str, list[np.ndarray]] = {k: [] for k in names}  # per-digit hits, final epoch
    spreads: dict[str, list[float]] = {k: [] for k in names}
    step = 0
    for s in range(cfg.n_seeds):
        torch.manual_seed(cfg.seed * 100 + s)
        model = MLP(64, 10, hidden=cfg.hidden)
        emas = {f"ema_{d:g}": EMA(model, decay=d) for d in cfg.decays}
        opt = torch.optim.SGD(model.parameters(), lr=cfg.noisy_lr)
        keep_ge, keep_gt = BestCheckpoint(model, tie="ge"), BestCheckpoint(tie="gt")
        curve: dict[str, list[float]] = {k: [] for k in names}
        hits: dict[str, np.ndarray] = {}
        for epoch in out.progress(range(cfg.epochs), f"noisy run seed {s}"):
            for idx in batches(len(y_tr), cfg.batch_size, g):
                noise = cfg.input_noise * torch.randn(len(idx), 64, generator=g)
                opt.zero_grad()
                F.cross_entropy(model(x_tr[idx] + noise), y_tr[idx]).backward()
                opt.step()
                for e in emas.values():
                    e.update()  # once per optimiser step, after it
            hits["raw"] = correct(model)
            for name, e in emas.items():
                with e.apply():
                    hits[name] = correct(model)
            for k in names:
                curve[k].append(float(hits[k].mean()))
            keep_ge.update(curve["raw"][-1], epoch)
            keep_gt.update(curve["raw"][-1], epoch)
            out.log(step, **{f"test_acc_{k}": v[-1] for k, v in curve.items()})
            step += 1
        for k in names:
            finals[k].append(hits[k])
            spreads[k].append(float(np.std(curve[k][-cfg.last_epochs :])))
        metrics[f"keep_best_epoch_ge_seed{s}"] = float(keep_ge.best_step)
        metrics[f"keep_best_epoch_gt_seed{s}"] = float(keep_gt.best_step)
    item = {k: np.mean(v, axis=0) for k, v in finals.items()}  # per test digit, over seeds
    for k in names:
        metrics[f"test_acc_final_{k}"] = float(item[k].mean())
        metrics[f"test_acc_std_last_{k}"] = float(np.mean(spreads[k]))
    for d in cfg.decays:
        name = f"ema_{d:g}"
        ci = paired_interval(item[name], item["raw"], seed=cfg.seed)
        record_interval(metrics, f"ema_gain_{d:g}", (item[name] - item["raw"]).mean(), ci)
        metrics[f"ema_std_ratio_{d:g}"] = metrics[f"test_acc_std_last_{name}"] / max(
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
        keys = [f"test_acc_{k}" for k in names]
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


STATEMENTS = (
    Statement("weight EMA (from 6575) gives better weights for evaluation than the raw ones",
              "claim", "ema_gain_0.999"),
    Statement("weight EMA smooths the evaluated model across epochs", "claim",
              "ema_std_ratio_0.999"),
    Statement("centre loss (CE + λ‖f − c_y‖², λ = 0.5) pulls features to their class centre",
              "claim", "center_ratio_relative"),
    Statement("warm-up: lr = 0.001·(n + 1)/(S·W) over the first W = 10 epochs, then constant",
              "test", "tests/train/test_callbacks.py::test_warmup_sequence_s7_w10"),
    Statement("the step schedule 1e-2 / 1e-3 / 1e-4 at epochs 50 and 80", "test",
              "tests/train/test_callbacks.py::test_multistep_is_the_articles_step_schedule"),
    Statement("EMA is the recurrence Θ ← αΘ + (1 − α)θ after each step", "test",
              "tests/train/test_callbacks.py::test_ema_equals_averaged_model_and_a_recurrence"),
    Statement("the evaluate callback keeps the best weights (acc ≥ best)", "test",
              "tests/train/test_callbacks.py::test_best_checkpoint_tie_rule"),
    Statement("a layer can carry its own loss (Dense_with_Center_loss: CE + λ‖f − c_y‖²)", "test",
              "tests/train/test_callbacks.py::test_layers"),
    Statement("Keras is flexible because every layer and optimiser is written on its backend",
              "untestable", "a remark about Keras' design, not a measurable statement"),
)  # fmt: skip

__doc__ = statements_doc(__doc__, STATEMENTS)
