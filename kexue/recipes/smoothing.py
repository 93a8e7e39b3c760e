r"""Recipe: smooth max / argmax / top-k / accuracy / F1 against their exact counterparts, and the
article's advice "train with cross-entropy, then fine-tune with −soft-F1" on an imbalanced task.

Article: 函数光滑化杂谈：不可导函数的可导逼近 (see kexue.nn.smoothing)
Data:    random vectors (float64, seeded); kexue.data.digits as "digit 9 vs the rest" with the
         training positives subsampled to `pos_keep` (about 3% positives), the test split as is
Run:     kexue run smoothing                 (full)
         kexue run smoothing --budget quick  (about 10 s)
Writes:  config.json metrics.json claims.json history.csv limits.png f1.png

1. Limits τ → 0 on 2000 random 10-vectors: the bounds max ≤ τ·logsumexp(x/τ) ≤ max + τ log n
   hold at every τ; among vectors without near-ties (decisive gaps ≥ 0.05) every soft argmax /
   soft-3-max is within 0.01 of the hard one at τ = 0.001 (the plain fractions are reported);
   soft accuracy and soft F1 of hard predictions equal the exact ones.
2. Imbalanced binary classification (a logistic regression on the 64 pixels): CE only; CE then
   soft-F1 fine-tuning (the article's advice); soft-F1 from scratch; test F1 of the argmax.
Claims: the τ → 0 limits of item 1; CE then soft-F1 fine-tuning raises test F1 over CE alone
(mean over seeds).
Checks (in the tests): the smooth-max bounds and soft F1 = sklearn's F1 (reported).
Recorded: `kexue show smoothing` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from torch import nn

from kexue.nn import smooth_max, soft_accuracy, soft_argmax, soft_f1, soft_f1_loss, soft_kmax
from kexue.recipes import _plot
from kexue.recipes._train import batches, digits_tensors
from kexue.runs import Claim, RunDir, seed_everything


@dataclass(frozen=True)
class Config:
    seed: int = 0
    n_vectors: int = 2000
    n_dim: int = 10
    k: int = 3
    positive: int = 9  # the positive digit
    pos_keep: float = 0.25  # fraction of training positives kept (imbalance)
    n_seeds: int = 5
    ce_epochs: int = 60
    ft_epochs: int = 30
    batch_size: int = 128  # soft F1 is a batch statistic: large batches estimate it better
    lr: float = 1e-2


QUICK = {"n_seeds": 2, "ce_epochs": 30, "ft_epochs": 15, "n_vectors": 1000}
SMOKE = {"n_seeds": 1, "ce_epochs": 2, "ft_epochs": 1, "n_vectors": 100}

CLAIMS = (
    Claim(
        "soft argmax → argmax as τ → 0, ties excluded (all vectors with gap ≥ 0.05 within 0.01 "
        "at τ = 0.001)",
        "soft_argmax_close_fraction_no_ties_tau_0.001", ">=", 1.0, ("quick", "full"),
    ),
    Claim(
        "soft-k-max → the top-k indicator as τ → 0, ties excluded (all vectors with gaps ≥ 0.05 "
        "within 0.01 at τ = 0.001)",
        "soft_kmax_close_fraction_no_ties_tau_0.001", ">=", 1.0, ("quick", "full"),
    ),
    Claim(
        "CE then soft-F1 fine-tuning raises test F1 over CE alone (mean over seeds)",
        "f1_gain_ce_then_soft", ">", 0.0, ("quick", "full"),
    ),
)  # fmt: skip


def _limits(cfg: Config) -> dict[str, float]:
    g = torch.Generator().manual_seed(cfg.seed)
    x = torch.randn(cfg.n_vectors, cfg.n_dim, generator=g, dtype=torch.float64)
    out: dict[str, float] = {}
    hard_max = x.max(-1).values
    hard_arg = x.argmax(-1).double()
    hard_top = torch.zeros_like(x).scatter_(1, torch.topk(x, cfg.k).indices, 1.0)
    # "ties excluded": the decisive gaps (1st−2nd for argmax; k-th−(k+1)-th and the gaps among
    # the top k+1 for the recursion) must be large against the smallest τ
    top = torch.topk(x, cfg.k + 1).values
    arg_gap = top[:, 0] - top[:, 1]
    kmax_gap = (top[:, :-1] - top[:, 1:]).min(-1).values
    arg_clear, kmax_clear = arg_gap >= 0.05, kmax_gap >= 0.05
    ok = torch.ones(cfg.n_vectors, dtype=torch.bool)
    for tau in (1.0, 0.1, 0.01, 0.001):
        s = smooth_max(x, tau=tau)
        ok &= (s >= hard_max - 1e-12) & (s <= hard_max + tau * math.log(cfg.n_dim) + 1e-12)
        arg_err = (soft_argmax(x, tau=tau) - hard_arg).abs()
        top_err = (soft_kmax(x, cfg.k, tau=tau) - hard_top).abs().max(-1).values
        out[f"smooth_max_mean_excess_tau_{tau:g}"] = float((s - hard_max).mean())
        out[f"soft_argmax_close_fraction_tau_{tau:g}"] = float((arg_err < 0.01).double().mean())
        out[f"soft_kmax_close_fraction_tau_{tau:g}"] = float((top_err < 0.01).double().mean())
        out[f"soft_argmax_close_fraction_no_ties_tau_{tau:g}"] = float(
            (arg_err[arg_clear] < 0.01).double().mean()
        )
        out[f"soft_kmax_close_fraction_no_ties_tau_{tau:g}"] = float(
            (top_err[kmax_clear] < 0.01).double().mean()
        )
    out["smooth_max_bound_fraction"] = float(ok.double().mean())
    # soft accuracy / soft F1 of hard predictions (τ → 0) against the exact metrics
    logits = torch.randn(500, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (500,), generator=g)
    pred = logits.argmax(-1)
    out["soft_accuracy_vs_exact_abs_diff"] = abs(
        float(soft_accuracy(logits, y, tau=1e-6)) - float((pred == y).double().mean())
    )
    out["soft_f1_vs_sklearn_abs_diff"] = abs(
        float(soft_f1(logits, y, tau=1e-6)) - f1_score(y.numpy(), pred.numpy(), average="macro")
    )
    return out


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    metrics = _limits(cfg)

    x_all, labels = digits_tensors("train")
    x_te, labels_te = digits_tensors("test")
    y_all = (labels == cfg.positive).long()
    y_te = (labels_te == cfg.positive).long()
    rng = np.random.default_rng(cfg.seed)
    pos = np.flatnonzero(y_all.numpy() == 1)
    drop = rng.choice(pos, size=int(len(pos) * (1 - cfg.pos_keep)), replace=False)
    keep = torch.from_numpy(np.setdiff1d(np.arange(len(y_all)), drop))
    x_tr, y_tr = x_all[keep], y_all[keep]
    metrics["train_positive_fraction"] = float(y_tr.double().mean())

    def train(model: nn.Module, loss_name: str, epochs: int, step0: int, tag: str) -> int:
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        step = step0
        for _ in out.progress(range(epochs), f"arm {tag}"):
            for idx in batches(len(y_tr), cfg.batch_size, g):
                logits = model(x_tr[idx])
                if loss_name == "ce":
                    loss = F.cross_entropy(logits, y_tr[idx])
                else:
                    loss = soft_f1_loss(logits, y_tr[idx], average="binary")
                opt.zero_grad()
                loss.backward()
                opt.step()
                out.log(step, **{f"loss_{tag}": loss.item()})
                step += 1
        return step

    def test_f1(model: nn.Module) -> float:
        with torch.no_grad():
            return float(f1_score(y_te.numpy(), model(x_te).argmax(-1).numpy()))

    arms: dict[str, list[float]] = {"ce": [], "ce_then_soft_f1": [], "soft_f1_only": []}
    step = 0
    for s in range(cfg.n_seeds):
        torch.manual_seed(cfg.seed * 100 + s)
        base = nn.Linear(64, 2)
        scratch = copy.deepcopy(base)
        step = train(base, "ce", cfg.ce_epochs, step, "ce")
        arms["ce"].append(test_f1(base))
        tuned = copy.deepcopy(base)
        step = train(tuned, "soft_f1", cfg.ft_epochs, step, "ft")
        arms["ce_then_soft_f1"].append(test_f1(tuned))
        step = train(scratch, "soft_f1", cfg.ce_epochs, step, "scratch")
        arms["soft_f1_only"].append(test_f1(scratch))
    for name, vals in arms.items():
        metrics[f"f1_{name}_mean"] = float(np.mean(vals))
        metrics[f"f1_{name}_std"] = float(np.std(vals))
    gains = np.array(arms["ce_then_soft_f1"]) - np.array(arms["ce"])
    metrics["f1_gain_ce_then_soft"] = float(gains.mean())
    metrics["f1_gain_ce_then_soft_min"] = float(gains.min())

    if out.is_main:
        taus = [1.0, 0.1, 0.01, 0.001]
        groups = {
            f"τ={t:g}": [
                metrics[f"soft_argmax_close_fraction_tau_{t:g}"],
                metrics[f"soft_kmax_close_fraction_tau_{t:g}"],
            ]
            for t in taus
        }
        fig = _plot.bars(groups, ["soft argmax", f"soft-{cfg.k}-max"],
                         "fraction within 0.01 of the exact value", "fraction")  # fmt: skip
        out.save_figure(fig, "limits.png")
        groups = {k: [metrics[f"f1_{k}_mean"]] for k in arms}
        out.save_figure(_plot.bars(groups, ["test F1"], "digit 9 vs rest", "F1"), "f1.png")
    return metrics
