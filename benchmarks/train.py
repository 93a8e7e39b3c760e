"""Benchmarks for the train theme: min-norm (MGDA) solvers, and the cost of adversarial steps.

Run:    .venv/bin/python benchmarks/train.py            (a minute or two, one thread)
Writes: docs/benchmarks_train.md (markdown tables; numbers depend on the machine's load)

1. min_{α∈Δ} ‖Σα_i g_i‖²: kexue's Frank–Wolfe (the article's), Frank–Wolfe with away steps,
   the exact active-set oracle (n ≤ 10) against scipy SLSQP as the peer/reference: median time
   and worst objective excess over SLSQP, for n tasks of dimension 1000.
2. Seconds per training step of the char-level TextCNN of the adversarial recipe: plain, FGM
   (reference mode: one extra forward/backward), gradient penalty (double backward).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize

from kexue.recipes.adversarial import TextCNN
from kexue.train import fgm_delta, gradient_penalty, min_norm_weights, perturbed_weight

torch.set_num_threads(1)


def slsqp(gram: np.ndarray) -> np.ndarray:
    n = len(gram)
    res = minimize(lambda a: a @ gram @ a, np.full(n, 1 / n), jac=lambda a: 2 * gram @ a,
                   bounds=[(0, 1)] * n, constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1}],
                   method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})  # fmt: skip
    return res.x


def bench_min_norm() -> str:
    rows = ["| n tasks | solver | median ms | worst excess over SLSQP |", "|---|---|---|---|"]
    rng = np.random.default_rng(0)
    for n in (2, 4, 8, 16, 32):
        sets = [rng.normal(size=(n, 1000)) + rng.normal(size=1000) for _ in range(20)]
        grams = [g @ g.T for g in sets]
        ref = [float(slsqp(gm) @ gm @ slsqp(gm)) for gm in grams]
        solvers = {
            "scipy SLSQP": lambda gm: slsqp(gm),
            "kexue frank_wolfe": lambda gm: min_norm_weights(
                gram=torch.from_numpy(gm), method="frank_wolfe"
            ).numpy(),
            "kexue away_frank_wolfe": lambda gm: min_norm_weights(
                gram=torch.from_numpy(gm), method="away_frank_wolfe"
            ).numpy(),
        }
        if n <= 8:
            solvers["kexue exact"] = lambda gm: min_norm_weights(
                gram=torch.from_numpy(gm), method="exact"
            ).numpy()
        for name, fn in solvers.items():
            times, excess = [], 0.0
            for gm, r in zip(grams, ref, strict=True):
                t0 = time.perf_counter()
                a = fn(gm)
                times.append(time.perf_counter() - t0)
                excess = max(excess, float(a @ gm @ a) - r)
            rows.append(f"| {n} | {name} | {1e3 * statistics.median(times):.2f} | {excess:.1e} |")
    return "\n".join(rows)


def bench_adversarial() -> str:
    torch.manual_seed(0)
    vocab, b, t = 3000, 64, 64
    ids = torch.randint(1, vocab, (b, t))
    y = torch.randint(0, 2, (b,))
    rows = ["| step | median s/step | ratio |", "|---|---|---|"]
    base = None
    for arm in ("plain", "FGM (reference mode)", "gradient penalty"):
        model = TextCNN(vocab, 64, 128)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        times = []
        for i in range(25):
            t0 = time.perf_counter()
            opt.zero_grad()
            if arm == "plain":
                F.cross_entropy(model(ids), y).backward()
            elif arm.startswith("FGM"):
                (g,) = torch.autograd.grad(F.cross_entropy(model(ids), y), model.embed.weight)
                with perturbed_weight(model.embed.weight, fgm_delta(g, 0.5)):
                    F.cross_entropy(model(ids), y).backward()
            else:
                e = model.embed(ids)
                loss = F.cross_entropy(model.head(e), y)
                (loss + gradient_penalty(loss, e, 1.0)).backward()
            opt.step()
            if i >= 5:  # warm-up excluded
                times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        base = base or med
        rows.append(f"| {arm} | {med:.4f} | {med / base:.2f} |")
    return "\n".join(rows)


def main() -> None:
    text = (
        "# Benchmarks: train theme\n\n"
        "Command: `.venv/bin/python benchmarks/train.py` (one torch thread; shared 2-core "
        "machine, so absolute times are noisy).\n\n"
        "## Min-norm direction (MGDA): kexue solvers vs scipy SLSQP\n\n"
        "Dimension 1000, 20 random correlated instances per n; excess = objective − SLSQP's.\n\n"
        + bench_min_norm()
        + "\n\n## Adversarial training step cost (TextCNN, batch 64 × 64 chars)\n\n"
        + bench_adversarial()
        + "\n"
    )
    out = Path(__file__).resolve().parents[1] / "docs" / "benchmarks_train.md"
    out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
