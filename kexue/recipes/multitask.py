r"""Recipe: the min-norm (MGDA) direction against a brute-force QP, the invariances of the loss
weightings, and three digit tasks with a deliberate scale mismatch trained under each scheme.

Article: 多任务学习漫谈（二）：行梯度之事 (see kexue.train.multitask), with （一）：以损失之名
Data:    random gradient sets (seeded); kexue.data.digits with three tasks on a shared trunk:
         A 10-class CE, B "digit ≥ 5" binary CE, C regression of the 4×4 average-pooled image
         (MSE) with targets × `c_scale` to create a scale mismatch
Run:     kexue run multitask                 (full, a few minutes)
         kexue run multitask --budget quick
Writes:  config.json metrics.json claims.json history.csv min_norm.png tasks.png

1. min_{α∈Δ} ‖Σα_i g_i‖² on `n_instances` random sets (n = 2..8 tasks, dimension 50): Frank–Wolfe
   with away steps and the exact active-set oracle against scipy's SLSQP; the article's plain
   Frank–Wolfe gap after 1000 iterations is reported; u* satisfies ⟨g_i, u*⟩ ≥ ‖u*‖².
2. Invariances on the digit network's real gradients: multiplying L_C by 1000 leaves the
   real-time (Σ L_i/sg(L_i)), gradient-normalised and normalised-MGDA directions unchanged and
   changes the plain sum; adding 10 to L_C leaves the gradient-based ones unchanged.
3. Training (Adam) under: equal sum, initial (1/L_init), prior (1/L_prior), real-time,
   gradient-normalised, MGDA, MGDA-UB (the article's shared-encoder upper bound: α from ∇_H L_i,
   one backward pass through the trunk), MGDA on normalised gradients; `n_seeds` seeds, each
   scheme from the same initialisation and batch order. Test metrics per task; process CPU
   time of each scheme's shared update; the fraction of probe batches on which each update
   decreases all three losses to first order.
Claims: MGDA-UB costs less per update than MGDA, its accuracy on A and B is within 0.02 of
MGDA's (confidence bound over test items, seeds averaged), and its update is not always a
common descent direction (the article: the paper's proof is wrong).
Checks (in the tests): items 1 and 2 to round-off (their metrics are reported).
Recorded: `kexue show multitask` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize
from torch import nn

from kexue.recipes import _plot
from kexue.recipes._train import batches, digits_tensors
from kexue.runs import Claim, RunDir, Statement, seed_everything, statements_doc
from kexue.stats import paired_interval, record_interval
from kexue.train import (
    grad_normalized_loss,
    initial_loss,
    mgda_shared_grads,
    min_norm_direction,
    min_norm_weights,
    prior_loss,
    realtime_normalized_loss,
    task_gradients,
)

SCHEMES = ("equal", "initial", "prior", "realtime", "gradnorm", "mgda", "mgda_ub", "mgda_l2")


@dataclass(frozen=True)
class Config:
    seed: int = 0
    n_instances: int = 1000
    c_scale: float = 100.0
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    n_seeds: int = 3
    n_probe: int = 100
    n_train: int = 0  # 0: the whole training split


QUICK = {"n_instances": 100, "epochs": 5, "n_probe": 30}
SMOKE = {"n_instances": 10, "epochs": 1, "n_seeds": 1, "n_probe": 2, "n_train": 256}

CLAIMS = (
    Claim("MGDA-UB (α from ∇_H L_i, one backward pass through the encoder) costs less CPU time "
          "per update than MGDA (one pass per task): ratio < 1", "ub_cost_ratio", "<", 1.0,
          ("quick", "full")),
    Claim("… and reaches a comparable solution: its mean test accuracy over tasks A and B is "
          "within 0.02 of MGDA's (lower bound of UB − MGDA ≥ −0.02, items paired, seeds "
          "averaged)", "ub_acc_gap", ">=", -0.02, ("quick", "full"), interval=True),
    Claim("the MGDA-UB update is not always a common descent direction: on some probe batches "
          "it increases a task's loss to first order (fraction decreasing all three < 1)",
          "probe_all_decrease_mgda_ub", "<", 1.0, ("quick", "full")),
)  # fmt: skip

_T = "tests/train/test_multitask.py::"
STATEMENTS = (
    Statement("(一) initial-loss weights: K-class CE starts at log K, L2 regression at E‖y‖²",
              "test", _T + "test_generalized_mean_limits_and_initial_prior_losses"),
    Statement("(一) prior-loss weights: the entropy of the class frequencies, E‖y − Ey‖²",
              "test", _T + "test_generalized_mean_limits_and_initial_prior_losses"),
    Statement("(一) real-time Σ L_i/sg(L_i) has gradient Σ ∇L_i/L_i = ∇ Σ log L_i and is "
              "scale-invariant but not shift-invariant", "test",
              _T + "test_scale_and_shift_invariance"),
    Statement("(一) the generalised mean L(γ) runs from min (γ → −∞) through the geometric "
              "(γ = 0) and arithmetic (γ = 1) means to max (γ → ∞)", "test",
              _T + "test_generalized_mean_limits_and_initial_prior_losses"),
    Statement("(一) gradient normalisation Σ L_i/sg(‖∇L_i‖) is scale- and shift-invariant",
              "test", _T + "test_scale_and_shift_invariance"),
    Statement("(一) real-time weighting is a good baseline in most cases ('民间实验')",
              "untestable", "no protocol or number to reproduce; the recipe reports its test "
              "metrics (acc_a_realtime, …) beside the other schemes"),
    Statement("(二) for two tasks g_1/‖g_1‖ + g_2/‖g_2‖ decreases both losses", "test",
              _T + "test_two_normalised_gradients_decrease_both_tasks"),
    Statement("(二) the solution u* of max_u min_i ⟨g_i,u⟩ − ½‖u‖² decreases every task "
              "(min_i ⟨g_i,u*⟩ ≥ ½‖u*‖² ≥ 0), and u* = Σ α_i* g_i is the min-norm point",
              "test", _T + "test_min_norm_direction_decreases_every_task"),
    Statement("(二) n = 2: α_1 = clip(⟨g_2 − g_1, g_2⟩/‖g_1 − g_2‖², 0, 1), the triangle's "
              "altitude", "test", _T + "test_two_task_closed_form_and_pareto_stationary"),
    Statement("(二) Frank–Wolfe solves min_{α∈Δ} ‖Σ α_i g_i‖²", "test",
              _T + "test_frank_wolfe_and_oracle_match_brute_force_qp"),
    Statement("(二) the smoothed-max iteration u ← (k u + g_τ)/(k + 1) converges to u*",
              "test", _T + "test_averaged_iteration_converges_to_the_min_norm_point"),
    Statement("(二) the softmax reparametrisation α = softmax(β) solves it by plain gradient "
              "descent", "test", _T + "test_softmax_reparametrisation_reaches_the_min_norm"),
    Statement("(二) the Gram matrix ⟨g_i, g_j⟩ is computed once per step and suffices",
              "test", _T + "test_gram_matrix_gives_the_same_weights"),
    Statement("(二) shared encoder: ‖Σ α_i g_i‖² ≤ ‖Σ α_i ∇_H L_i‖² ‖∇_θ H‖²", "test",
              _T + "test_upper_bound_inequality"),
    Statement("(二) minimising the bound needs only ∇_H L_i: one backward pass through the "
              "encoder instead of one per task", "test",
              _T + "test_upper_bound_traverses_the_encoder_once"),
    Statement("(二) … so it costs noticeably less", "claim", "ub_cost_ratio"),
    Statement("(二) the bound works well in practice (the paper's experiments)", "claim",
              "ub_acc_gap"),
    Statement("(二) the bound is meaningless when tasks label disjoint samples: ∇_H L_i are "
              "orthogonal and α ignores the tasks' interaction", "test",
              _T + "test_upper_bound_on_disjoint_samples_ignores_interaction"),
    Statement("(二) the paper's lemma 'M SPD ⇒ (xᵀy ≥ 0 ⇔ xᵀMy ≥ 0)' is false", "test",
              _T + "test_the_papers_lemma_is_false"),
    Statement("(二) so the bound's update need not decrease every task", "claim",
              "probe_all_decrease_mgda_ub"),
)  # fmt: skip


def _qp(g: np.ndarray) -> float:
    n = len(g)
    gram = g @ g.T
    res = minimize(lambda a: a @ gram @ a, np.full(n, 1 / n), jac=lambda a: 2 * gram @ a,
                   bounds=[(0, 1)] * n, constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1}],
                   method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})  # fmt: skip
    return float(res.fun)


class Net(nn.Module):
    """Shared trunk 64 → 128 → 64 with three heads (A: 10 logits, B: 2 logits, C: 16 values)."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(64, 10), nn.Linear(64, 2), nn.Linear(64, 16)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # noqa: D102
        h = self.trunk(x)
        return [head(h) for head in self.heads]


def _losses(
    net: Net, x: torch.Tensor, ya: torch.Tensor, yb: torch.Tensor, yc: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The three task losses (3,) and the shared encoder's output H they all read."""
    h = net.trunk(x)
    a, b, c = (head(h) for head in net.heads)
    losses = torch.stack(
        [F.cross_entropy(a, ya), F.cross_entropy(b, yb), (c - yc).pow(2).sum(1).mean()]
    )
    return losses, h


def _shared_update(
    scheme: str, losses: torch.Tensor, h: torch.Tensor, shared: list, weights: torch.Tensor
) -> torch.Tensor:
    """The flattened update of the shared trunk under `scheme`. MGDA and MGDA-UB go through
    `mgda_shared_grads` (exact solver: u* is unique, 3 tasks = 7 active sets, no tolerance),
    so the UB never forms the per-task parameter gradients."""
    if scheme in ("mgda", "mgda_ub"):
        hh = h if scheme == "mgda_ub" else None
        grads, _ = mgda_shared_grads(list(losses), shared, hh, method="exact")
        return torch.cat([gr.reshape(-1) for gr in grads])
    return _direction(scheme, losses, task_gradients(list(losses), shared), weights)


def _direction(
    scheme: str, losses: torch.Tensor, grads: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """The combined shared-parameter direction each scheme's loss produces, from g (n, P)."""
    if scheme == "equal":
        return grads.sum(0)
    if scheme in ("initial", "prior"):
        return (weights[:, None] * grads).sum(0)
    if scheme == "realtime":
        return (grads / losses.detach()[:, None]).sum(0)
    if scheme == "gradnorm":
        return (grads / (grads.norm(dim=1, keepdim=True) + 1e-12)).sum(0)
    # u* is unique; the exact active-set solver (3 tasks: 7 subsets) has no stopping tolerance
    u, _ = min_norm_direction(
        grads, normalize="l2" if scheme == "mgda_l2" else "none", method="exact"
    )
    return u


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    metrics: dict[str, float] = {}

    # 1. min-norm weights against a brute-force QP
    rng = np.random.default_rng(cfg.seed)
    worst_away = worst_oracle = worst_plain = 0.0
    worst_margin = math.inf
    for i in range(cfg.n_instances):
        n = 2 + i % 7
        grads = rng.normal(size=(n, 50)) + rng.normal(size=50)  # correlated tasks
        gt = torch.from_numpy(grads)
        gram = gt @ gt.T
        best = _qp(grads)
        a_away = min_norm_weights(gt, method="away_frank_wolfe")
        worst_away = max(worst_away, float(a_away @ gram @ a_away) - best)
        a_plain = min_norm_weights(gt, method="frank_wolfe", max_iter=1000, tol=0.0)
        worst_plain = max(worst_plain, float(a_plain @ gram @ a_plain) - best)
        if n <= 6:
            a_ex = min_norm_weights(gt, method="exact")
            worst_oracle = max(worst_oracle, float(a_ex @ gram @ a_ex) - best)
            u = a_ex @ gt
            worst_margin = min(worst_margin, float((gt @ u).min() - u @ u))
        if i % 50 == 0:
            out.log(i, fw_away_excess=worst_away, fw_plain_excess=worst_plain)
    metrics.update(fw_away_worst_excess=worst_away, fw_plain_worst_excess=worst_plain,
                   oracle_worst_excess=worst_oracle, descent_worst_margin=worst_margin,
                   )  # fmt: skip

    # data: three tasks
    x_tr, y_tr = digits_tensors("train")
    if cfg.n_train:
        x_tr, y_tr = x_tr[: cfg.n_train], y_tr[: cfg.n_train]
    x_te, y_te = digits_tensors("test")

    def targets(
        x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pooled = F.avg_pool2d(x.view(-1, 1, 8, 8), 2).view(-1, 16)
        return y, (y >= 5).long(), cfg.c_scale * pooled

    ya, yb, yc = targets(x_tr, y_tr)
    ta, tb, tc = targets(x_te, y_te)
    init_w = torch.tensor([1 / initial_loss("ce", n_classes=10),
                           1 / initial_loss("ce", n_classes=2),
                           1 / initial_loss("mse", y=yc)])  # fmt: skip
    prior_w = torch.tensor(
        [1 / prior_loss("ce", ya), 1 / prior_loss("ce", yb), 1 / prior_loss("mse", yc)]
    )

    # 2. invariances on real gradients
    torch.manual_seed(cfg.seed)
    net = Net().double()
    shared = list(net.trunk.parameters())
    x64 = x_tr[:256].double()
    base, _ = _losses(net, x64, ya[:256], yb[:256], yc[:256].double())
    variants = {
        "scaled": base * torch.tensor([1.0, 1.0, 1000.0], dtype=torch.float64),
        "shifted": base + torch.tensor([0.0, 0.0, 10.0], dtype=torch.float64),
    }
    g_base = task_gradients(list(base), shared)
    d_base = {
        s: _direction(s, base, g_base, init_w.double())
        for s in ("equal", "realtime", "gradnorm", "mgda_l2")
    }
    for name, ls in variants.items():
        g_var = task_gradients(list(ls), shared)
        for s in d_base:
            d = _direction(s, ls, g_var, init_w.double())
            metrics[f"{name}_rel_change_{s}"] = float((d - d_base[s]).norm() / d_base[s].norm())
    # the loss form of gradient normalisation gives the same direction as its formula
    gn = grad_normalized_loss(base, g_base.norm(dim=1))
    d_gn = torch.cat([p.reshape(-1) for p in torch.autograd.grad(gn, shared, retain_graph=True)])
    metrics["gradnorm_loss_vs_formula_rel"] = float(
        (d_gn - d_base["gradnorm"]).norm() / d_gn.norm()
    )
    rt = realtime_normalized_loss(base)
    d_rt = torch.cat([p.reshape(-1) for p in torch.autograd.grad(rt, shared, retain_graph=True)])
    metrics["realtime_loss_vs_formula_rel"] = float(
        (d_rt - d_base["realtime"]).norm() / d_rt.norm()
    )
    metrics["scale_invariant_max_rel_change"] = max(
        metrics[f"scaled_rel_change_{s}"] for s in ("realtime", "gradnorm", "mgda_l2")
    )
    metrics["shift_invariant_max_rel_change"] = max(
        metrics[f"shifted_rel_change_{s}"] for s in ("gradnorm", "mgda_l2")
    )

    # 3. training under each scheme (same initialisation and batch order per seed)
    results: dict[str, dict[str, list[float]]] = {
        s: {"acc_a": [], "acc_b": [], "mse_c": []} for s in SCHEMES
    }
    items: dict[str, list[np.ndarray]] = {s: [] for s in SCHEMES}  # per test item, per seed
    probe_ok: dict[str, list[float]] = {s: [] for s in SCHEMES}
    cpu = dict.fromkeys(SCHEMES, 0.0)  # process CPU time of the shared update
    n_steps = dict.fromkeys(SCHEMES, 0)
    step = 0
    for seed in range(cfg.n_seeds):
        for scheme in SCHEMES:
            weights = init_w if scheme == "initial" else prior_w
            torch.manual_seed(cfg.seed * 100 + seed)
            net = Net()
            shared = list(net.trunk.parameters())
            heads = list(net.heads.parameters())
            opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
            order = torch.Generator().manual_seed(cfg.seed * 100 + seed)
            for _ in out.progress(range(cfg.epochs), f"{scheme} seed {seed}"):
                for idx in batches(len(ya), cfg.batch_size, order):
                    losses, h = _losses(net, x_tr[idx], ya[idx], yb[idx], yc[idx])
                    opt.zero_grad()
                    # heads: each task's own gradient (a pass that stops at the heads);
                    # shared trunk: the scheme's update
                    for p, gr in zip(
                        heads,
                        torch.autograd.grad(losses.sum(), heads, retain_graph=True),
                        strict=True,
                    ):
                        p.grad = gr
                    t0 = time.process_time()
                    d = _shared_update(scheme, losses, h, shared, weights)
                    cpu[scheme] += time.process_time() - t0
                    n_steps[scheme] += 1
                    offset = 0
                    for p in shared:
                        p.grad = d[offset : offset + p.numel()].view_as(p).clone()
                        offset += p.numel()
                    opt.step()
                step += 1
                out.log(step, **{f"loss_c_{scheme}": losses[2].item()})
            with torch.no_grad():
                a, b, c = net(x_te)
                ok_a, ok_b = (a.argmax(1) == ta).double(), (b.argmax(1) == tb).double()
                results[scheme]["acc_a"].append(float(ok_a.mean()))
                results[scheme]["acc_b"].append(float(ok_b.mean()))
                results[scheme]["mse_c"].append(
                    float((c - tc).pow(2).sum(1).mean()) / cfg.c_scale**2
                )
                items[scheme].append(((ok_a + ok_b) / 2).numpy())
            # first-order probe: does the update decrease all three losses?
            ok = 0
            for _ in range(cfg.n_probe):
                idx = torch.randint(len(ya), (cfg.batch_size,), generator=g)
                losses, h = _losses(net, x_tr[idx], ya[idx], yb[idx], yc[idx])
                grads = task_gradients(list(losses), shared)
                d = _shared_update(scheme, losses, h, shared, weights)
                ok += int(bool(((grads @ d) > 0).all()))
            probe_ok[scheme].append(ok / cfg.n_probe)
    for scheme in SCHEMES:
        for k, v in results[scheme].items():
            metrics[f"{k}_{scheme}"] = float(np.mean(v))
        metrics[f"probe_all_decrease_{scheme}"] = float(np.mean(probe_ok[scheme]))
        metrics[f"update_cpu_ms_{scheme}"] = 1e3 * cpu[scheme] / max(n_steps[scheme], 1)
    metrics["ub_cost_ratio"] = cpu["mgda_ub"] / cpu["mgda"]
    # MGDA-UB − MGDA on the mean of tasks A and B: per test item, averaged over the seeds
    ub, ex = np.mean(items["mgda_ub"], 0), np.mean(items["mgda"], 0)
    record_interval(metrics, "ub_acc_gap", float(np.mean(ub - ex)), paired_interval(ub, ex))
    metrics["n_test"] = float(len(ta))

    if out.is_main:
        rows = [{"step": i, "fw_away": math.log10(max(r["fw_away_excess"], 1e-17)),
                 "fw_plain": math.log10(max(r["fw_plain_excess"], 1e-17))}
                for i, r in enumerate(h for h in out.history if "fw_away_excess" in h)
                ]  # fmt: skip
        fig = _plot.curves(rows, ["fw_away", "fw_plain"],
                           "log10 worst objective excess over SLSQP (running)",
                           xlabel="instances / 50")  # fmt: skip
        out.save_figure(fig, "min_norm.png")
        groups = {
            s: [metrics[f"acc_a_{s}"], metrics[f"acc_b_{s}"], 1 - min(metrics[f"mse_c_{s}"], 1.0)]
            for s in SCHEMES
        }
        fig = _plot.bars(groups, ["acc A", "acc B", "1 − MSE C"], "digits, three tasks")
        out.save_figure(fig, "tasks.png")
    return metrics


__doc__ = statements_doc(__doc__, STATEMENTS)
