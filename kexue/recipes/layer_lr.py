r"""Recipe: layer-wise learning rates by param groups and by the article's θ = λφ trick (exactly
the same trajectories in float64), and a fine-tuning demo with a slower trunk.

Article: “让Keras更酷一些！”：分层的学习率和自由的梯度 (see kexue.train.layer_lr)
Data:    kexue.data.digits (fixed split), pixels / 16
Run:     kexue run layer-lr                 (full, a minute or two)
         kexue run layer-lr --budget quick
Writes:  config.json metrics.json claims.json history.csv exactness.png finetune.png

1. Param groups: every parameter in exactly one group; each group's lr = base × its multiplier
   (patterns multiply, bias/norm excluded from decay).
2. The trick: the first layer stored as φ = θ/s (s = √λ for SGD, λ for Adam-type), λ = 0.1,
   against param groups with the θ-space hyper-parameters of `equivalent_hparams`, for SGD,
   SGD + Nesterov, SGD + coupled decay, Adam (eps/s), AdamW (decoupled decay/s), RMSprop:
   max |θ_trick − θ_groups| after `steps` updates. Adam with its eps left unchanged is only
   approximately λα (the deviation is reported).
3. Fine-tuning: an MLP pre-trained on digits 0–4 is fine-tuned on 5–9 with `labels_per_class`
   labels per class and a fresh head: same lr everywhere, trunk at 0.1× (the article's use
   case), frozen trunk, and training from scratch for reference.
4. Free gradients: SGD at a learning rate too large for plain training (`clip_lr`), with each
   parameter's gradient clipped by its own L1 norm through gradient hooks (the article's
   example, no optimiser rewritten), against no clipping and the built-in global L2 clipping.
Claims (paired over test digits, correctness averaged over seeds, lower bound): a trunk at 0.1×
beats a frozen trunk (the article's reason for layer-wise rates); per-parameter L1 clipping
trains where unclipped SGD fails (goal).
Checks (in the tests): items 1 and 2, exact to float64 round-off (their metrics are reported).
Recorded: `kexue show layer-lr` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from kexue.nn import MLP
from kexue.recipes import _plot
from kexue.recipes._train import batches, digits_tensors
from kexue.runs import Claim, RunDir, Statement, seed_everything, statements_doc
from kexue.stats import paired_interval, record_interval
from kexue.train import (
    LrMultiplier,
    equivalent_hparams,
    param_groups,
    plain_state_dict,
    register_grad_transform,
    set_lr_multiplier,
)


@dataclass(frozen=True)
class Config:
    seed: int = 0
    lam: float = 0.1
    steps: int = 200
    batch_size: int = 32
    hidden: tuple[int, ...] = (128, 128)
    pretrain_epochs: int = 30
    finetune_epochs: int = 60
    labels_per_class: int = 20
    lr: float = 1e-3
    n_seeds: int = 5
    clip_lr: float = 2.0  # SGD lr of item 4 (plain SGD diverges to chance at this rate)
    clip_l1: float = 1.0  # per-parameter L1 bound of the gradient
    clip_epochs: int = 10


QUICK = {
    "steps": 100,
    "pretrain_epochs": 10,
    "finetune_epochs": 20,
    "n_seeds": 2,
    "clip_epochs": 5,
}
SMOKE = {
    "steps": 5,
    "pretrain_epochs": 1,
    "finetune_epochs": 1,
    "n_seeds": 1,
    "hidden": (32,),
    "clip_epochs": 1,
}

# items 1 and 2 are identities (unit tests in tests/train/test_layer_lr.py)
CLAIMS = (
    Claim("fine-tuning with the pre-trained trunk at a lower learning rate (0.1×) beats freezing "
          "it (test accuracy on digits 5–9, lower bound)",
          "finetune_gain_trunk_0.1x_vs_frozen", ">", 0.0, ("quick", "full"), interval=True),
    Claim("clipping each gradient by its own L1 norm (a free gradient transform) trains SGD at a "
          "learning rate where unclipped SGD fails (test accuracy gain, lower bound)",
          "clip_l1_gain", ">", 0.0, ("quick", "full"), kind="goal", interval=True),
)  # fmt: skip

OPTIMISERS = {
    "sgd": ("sgd", torch.optim.SGD, {"lr": 0.1}),
    "sgd_nesterov": ("sgd", torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    "sgd_coupled_wd": ("sgd", torch.optim.SGD, {"lr": 0.1, "weight_decay": 1e-2}),
    "adam": ("adam", torch.optim.Adam, {"lr": 1e-2, "eps": 1e-6}),
    "adamw": ("adamw", torch.optim.AdamW, {"lr": 1e-2, "eps": 1e-6, "weight_decay": 0.1}),
    "rmsprop": ("rmsprop", torch.optim.RMSprop, {"lr": 1e-3, "eps": 1e-6}),
}


def _hits(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Per-item 0/1 correctness on a test set (eval mode)."""
    with torch.no_grad():
        model.eval()
        hit = (model(x).argmax(-1) == y).double().numpy()
        model.train()
    return hit


def _l1_clip(bound: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """g ↦ g · min(1, bound/‖g‖₁): one parameter's gradient clipped by its own L1 norm."""
    return lambda g: g * torch.clamp(bound / (g.abs().sum() + 1e-12), max=1.0)


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    x_tr, y_tr = digits_tensors("train")
    x_te, y_te = digits_tensors("test")
    metrics: dict[str, float] = {}

    # 1. param groups
    torch.manual_seed(cfg.seed)
    net = MLP(64, 10, hidden=cfg.hidden)
    mult = {"0.": 0.1, "bias": 2.0}
    groups = param_groups(net, 1e-3, mult, weight_decay=0.01)
    ids = [id(p) for grp in groups for p in grp["params"]]
    metrics["groups_partition"] = float(
        len(ids) == len(set(ids)) and set(ids) == {id(p) for p in net.parameters()}
    )
    worst = 0.0
    for grp in groups:
        for name in grp["names"]:
            want = 1e-3 * np.prod([m for k, m in mult.items() if k in name])
            worst = max(worst, abs(grp["lr"] - want) / want)
    metrics["groups_lr_rel_err"] = worst
    metrics["n_groups"] = float(len(groups))

    # 2. the θ = λφ trick against param groups
    x64, worst = x_tr.double(), 0.0
    idx_stream = [
        torch.randint(len(y_tr), (cfg.batch_size,), generator=g) for _ in range(cfg.steps)
    ]
    for name, (kind, cls, hp) in [*OPTIMISERS.items(), ("adam_eps_unchanged", OPTIMISERS["adam"])]:
        torch.manual_seed(cfg.seed)
        a = MLP(64, 10, hidden=cfg.hidden).double()
        b = copy.deepcopy(a)
        lr_kind = "sgd" if kind == "sgd" else "adaptive"
        set_lr_multiplier(a[0], cfg.lam, lr_kind)
        opt_a = cls(a.parameters(), **hp)
        extra = {k: hp[k] for k in ("eps", "weight_decay") if k in hp}
        eq = equivalent_hparams(kind, LrMultiplier(cfg.lam, kind=lr_kind).scale, hp["lr"], **extra)
        if name == "adam_eps_unchanged":
            eq = {"lr": cfg.lam * hp["lr"]}  # the article's statement without the eps caveat
        first = [b[0].weight, b[0].bias]
        rest = [p for n, p in b.named_parameters() if not n.startswith("0.")]
        opt_b = cls([{"params": rest}, {"params": first, **eq}], **hp)
        for step, idx in enumerate(out.progress(idx_stream, f"reparam {name}", len(idx_stream))):
            for model, opt in ((a, opt_a), (b, opt_b)):
                opt.zero_grad()
                F.cross_entropy(model(x64[idx]), y_tr[idx]).backward()
                opt.step()
            if step % 20 == 0:
                d = max(
                    float((plain_state_dict(a)[k] - v).abs().max())
                    for k, v in b.state_dict().items()
                )
                out.log(step, **{f"diff_{name}": d})
        sa = plain_state_dict(a)
        diff = max(float((sa[k] - v).abs().max()) for k, v in b.state_dict().items())
        metrics[f"reparam_diff_{name}"] = diff
        if name != "adam_eps_unchanged":
            worst = max(worst, diff)
    metrics["reparam_vs_groups_max_diff"] = worst

    # 3. fine-tuning with a slower trunk
    old = y_tr < 5
    new_tr = torch.nonzero(~old).squeeze(1)
    new_te = y_te >= 5
    arms: dict[str, list[float]] = {
        "same_lr": [],
        "trunk_0.1x": [],
        "frozen_trunk": [],
        "scratch": [],
    }
    for s in range(cfg.n_seeds):
        torch.manual_seed(cfg.seed * 100 + s)
        base = MLP(64, 10, hidden=cfg.hidden)
        opt = torch.optim.Adam(base.parameters(), lr=cfg.lr)
        xo, yo = x_tr[old], y_tr[old]
        for _ in out.progress(range(cfg.pretrain_epochs), f"pretrain seed {s}"):
            for idx in batches(len(yo), cfg.batch_size, g):
                opt.zero_grad()
                F.cross_entropy(base(xo[idx]), yo[idx]).backward()
                opt.step()
        rng = np.random.default_rng(cfg.seed * 100 + s)
        pick = torch.from_numpy(np.concatenate([
            rng.choice(new_tr[y_tr[new_tr] == c].numpy(), cfg.labels_per_class, replace=False)
            for c in range(5, 10)
        ]))  # fmt: skip
        xf, yf = x_tr[pick], y_tr[pick]
        for arm in arms:
            torch.manual_seed(cfg.seed * 100 + s + 1)
            model = MLP(64, 10, hidden=cfg.hidden) if arm == "scratch" else copy.deepcopy(base)
            model[-1].reset_parameters()  # a fresh head: the old one learnt to reject 5–9
            trunk_mult = {"same_lr": 1.0, "trunk_0.1x": 0.1, "frozen_trunk": 0.0, "scratch": 1.0}[
                arm
            ]
            head = str(len(model) - 1) + "."
            if trunk_mult == 0.0:
                for n, p in model.named_parameters():
                    p.requires_grad_(n.startswith(head))
                opt = torch.optim.Adam(param_groups(model, cfg.lr))
            else:
                # trunk = everything but the last layer: multiplier on the trunk, 1 on the head
                trunk = {f"{i}.": trunk_mult for i in range(len(model) - 1)}
                opt = torch.optim.Adam(param_groups(model, cfg.lr, trunk))
            for _ in out.progress(range(cfg.finetune_epochs), f"finetune {arm} seed {s}"):
                for idx in batches(len(yf), cfg.batch_size, g):
                    opt.zero_grad()
                    F.cross_entropy(model(xf[idx]), yf[idx]).backward()
                    opt.step()
            arms[arm].append(_hits(model, x_te[new_te], y_te[new_te]))
    item = {arm: np.mean(v, axis=0) for arm, v in arms.items()}  # per test digit, over seeds
    for arm, vals in arms.items():
        metrics[f"finetune_acc_{arm}"] = float(item[arm].mean())
        metrics[f"finetune_acc_{arm}_std"] = float(np.std([v.mean() for v in vals]))
    ci = paired_interval(item["trunk_0.1x"], item["frozen_trunk"], seed=cfg.seed)
    gain = (item["trunk_0.1x"] - item["frozen_trunk"]).mean()
    record_interval(metrics, "finetune_gain_trunk_0.1x_vs_frozen", gain, ci)

    # 4. free gradients: per-parameter L1 clipping by hooks, at a too-large SGD lr
    clip_hits: dict[str, list[np.ndarray]] = {"none": [], "l1_per_param": [], "l2_global": []}
    for s in range(cfg.n_seeds):
        for arm in clip_hits:
            torch.manual_seed(cfg.seed * 100 + s)
            model = MLP(64, 10, hidden=cfg.hidden)
            order = torch.Generator().manual_seed(cfg.seed * 100 + s)  # paired data order
            handles = []
            if arm == "l1_per_param":
                handles = register_grad_transform(model, "", _l1_clip(cfg.clip_l1))
            opt = torch.optim.SGD(model.parameters(), lr=cfg.clip_lr)
            for _ in out.progress(range(cfg.clip_epochs), f"clip {arm} seed {s}"):
                for idx in batches(len(y_tr), cfg.batch_size, order):
                    opt.zero_grad()
                    F.cross_entropy(model(x_tr[idx]), y_tr[idx]).backward()
                    if arm == "l2_global":  # Keras' clipnorm
                        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_l1)
                    opt.step()
            for h in handles:
                h.remove()
            clip_hits[arm].append(_hits(model, x_te, y_te))
    citem = {arm: np.mean(v, axis=0) for arm, v in clip_hits.items()}
    for arm in clip_hits:
        metrics[f"clip_acc_{arm}"] = float(citem[arm].mean())
    ci = paired_interval(citem["l1_per_param"], citem["none"], seed=cfg.seed)
    record_interval(metrics, "clip_l1_gain", (citem["l1_per_param"] - citem["none"]).mean(), ci)

    if out.is_main:
        names = [n for n in metrics if n.startswith("reparam_diff_")]
        groups_plot = {
            n.removeprefix("reparam_diff_"): [np.log10(max(metrics[n], 1e-300))] for n in names
        }
        fig = _plot.bars(groups_plot, ["log10 max |Δθ|"], "θ = λφ trick vs param groups", "log10")
        out.save_figure(fig, "exactness.png")
        groups_plot = {a: [metrics[f"finetune_acc_{a}"]] for a in arms}
        fig = _plot.bars(groups_plot, ["test accuracy (5–9)"],
                         f"fine-tuning with {cfg.labels_per_class} labels per class")  # fmt: skip
        out.save_figure(fig, "finetune.png")
    return metrics


STATEMENTS = (
    Statement("layer-wise rates let a pre-trained layer update slowly instead of being frozen",
              "claim", "finetune_gain_trunk_0.1x_vs_frozen"),
    Statement("with SGD, θ = λφ turns the learning rate α into λ²α", "test",
              "tests/train/test_layer_lr.py::test_reparametrisation_equals_param_groups_exactly"),
    Statement("with RMSprop/Adam, θ = λφ turns α into λα (exact only with ε scaled too)", "test",
              "tests/train/test_layer_lr.py::test_adam_with_unchanged_eps_is_only_approximate"),
    Statement("pre-trained weights are loaded as weight/λ (the stored φ) so θ is unchanged",
              "test", "tests/train/test_layer_lr.py::"
              "test_initial_values_are_preserved_and_plain_state_dict_loads"),
    Statement("gradients can be transformed freely without rewriting the optimiser: zero them "
              "all (the prank), clip some layers by the L1 instead of the L2 norm", "test",
              "tests/train/test_layer_lr.py::test_free_gradient_transforms"),
    Statement("per-layer rates by parameter groups: each parameter in exactly one group", "test",
              "tests/train/test_layer_lr.py::"
              "test_every_parameter_in_exactly_one_group_and_lr_is_base_times_mult"),
    Statement("the trick cannot be undone or changed to another ratio once set", "untestable",
              "a remark on the Keras implementation's usability, not a measurable outcome"),
)  # fmt: skip

__doc__ = statements_doc(__doc__, STATEMENTS)
