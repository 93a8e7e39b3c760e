r"""Recipe: an autoencoder trained with no targets (the loss lives in the model), a metric read
from a hidden layer, the article's fixed-init spectral normalisation, and progress-bar averaging.

Article: “让Keras更酷一些！”：随意的输出和灵活的归一化 (see kexue.train.losses_metrics)
Data:    kexue.data.digits (fixed split), pixels / 16; random 64×64 matrices (seeded)
Run:     kexue run losses-metrics                 (full, under a minute)
         kexue run losses-metrics --budget quick
Writes:  config.json metrics.json claims.json history.csv autoencoder.png spectral.png

1. `OutputFreeAutoencoder` (64 → 100 → 64, as the article's 784 → 100 → 784) trained on its own
   returned loss: test reconstruction MSE after `epochs` against the initial one; a forward hook
   records mean_b Σ_j h_bj² of the hidden layer, checked against a direct computation.
2. σ(W) by 5 power iterations from u = 1 against the exact largest singular value, on matrices
   with a clear spectral gap (σ₂/σ₁ = 1/3) and on plain Gaussian matrices (small gaps: the
   estimate falls short; the fraction within 1e-3 is reported).
3. `RunningMean` reproduces Keras' Progbar averaging on a scripted sequence (a transcription of
   its update rule: value·(current − seen) accumulated, divided by the steps seen).
Claims: the autoencoder trains (test MSE below half the initial); the spectral norm with a
clear gap matches the exact σ₁.
Checks (in the tests): the hook metric and the running mean match their exact values.
Recorded: `kexue show losses-metrics` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kexue.recipes import _plot
from kexue.recipes._train import batches, digits_tensors
from kexue.runs import Claim, RunDir, seed_everything
from kexue.train import (
    OutputFreeAutoencoder,
    RunningMean,
    hidden_sq_norm,
    spectral_norm_fixed_init,
    track_activation,
)


@dataclass(frozen=True)
class Config:
    seed: int = 0
    hidden: int = 100
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    n_matrices: int = 200


QUICK = {"epochs": 20, "n_matrices": 100}
SMOKE = {"epochs": 1, "n_matrices": 5}

CLAIMS = (
    Claim("the output-free autoencoder trains: test MSE after 20 epochs < 50% of the initial",
          "recon_mse_ratio", "<", 0.5, ("quick", "full")),
    Claim("fixed-init spectral norm (r = 5) within 1e-3 (relative) of the exact σ₁ when "
          "σ₂/σ₁ = 1/3 (fraction of matrices)", "sn_gap_within_1e-3_fraction", ">=", 1.0,
          ("quick", "full")),
)  # fmt: skip


def _keras_progbar(
    updates: list[tuple[int, dict[str, float]]], stateful: set[str]
) -> dict[str, float]:
    """Keras' Progbar.update rule, transcribed: sums of v·(current − seen) and counts."""
    sums: dict[str, list[float]] = {}
    seen = 0
    for current, values in updates:
        for k, v in values.items():
            if k in stateful:
                sums[k] = [v, 1]
            elif k not in sums:
                sums[k] = [v * (current - seen), current - seen]
            else:
                sums[k][0] += v * (current - seen)
                sums[k][1] += current - seen
        seen = current
    return {k: s / c for k, (s, c) in sums.items()}


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    metrics: dict[str, float] = {}
    x_tr, _ = digits_tensors("train")
    x_te, _ = digits_tensors("test")

    # 1. output-free autoencoder + hook metric
    torch.manual_seed(cfg.seed)
    ae = OutputFreeAutoencoder(64, cfg.hidden)
    opt = torch.optim.Adam(ae.parameters(), lr=cfg.lr)
    with torch.no_grad():
        initial = float(ae(x_te)["loss"])
    store: list[float] = []
    handle = track_activation(ae.encoder, hidden_sq_norm, store)
    bar = RunningMean()
    worst = 0.0
    step = 0
    for epoch in out.progress(range(cfg.epochs), "autoencoder epochs"):
        bar.reset()
        for idx in batches(len(x_tr), cfg.batch_size, g):
            result = ae(x_tr[idx])  # fit(x, None): no targets
            opt.zero_grad()
            result["loss"].backward()
            opt.step()
            direct = float(result["h"].detach().pow(2).sum(1).mean())
            worst = max(worst, abs(store[-1] - direct))
            bar.update(len(idx), loss=result["loss"].item(), h_sq_norm=store[-1])
            step += 1
        with torch.no_grad():
            test_mse = float(ae(x_te)["loss"])
        out.log(epoch, test_mse=test_mse, **{f"train_{k}": v for k, v in bar.values().items()})
    handle.remove()
    metrics.update(recon_mse_initial=initial, recon_mse_final=test_mse,
                   recon_mse_ratio=test_mse / initial, hook_metric_max_diff=worst)  # fmt: skip

    # 2. fixed-init spectral norm against the exact σ₁
    gen = torch.Generator().manual_seed(cfg.seed)
    errs_gap, errs_gauss = [], []
    for _ in range(cfg.n_matrices):
        q1, _ = torch.linalg.qr(torch.randn(64, 64, generator=gen, dtype=torch.float64))
        q2, _ = torch.linalg.qr(torch.randn(64, 64, generator=gen, dtype=torch.float64))
        s = torch.rand(64, generator=gen, dtype=torch.float64).sort(descending=True).values
        s[0] = 3 * s[1]  # σ₂/σ₁ = 1/3
        w = q1 @ torch.diag(s) @ q2.T
        errs_gap.append(abs(float(spectral_norm_fixed_init(w)) / float(s[0]) - 1))
        w = torch.randn(64, 64, generator=gen, dtype=torch.float64)
        exact = float(torch.linalg.matrix_norm(w, ord=2))
        errs_gauss.append(abs(float(spectral_norm_fixed_init(w)) / exact - 1))
    metrics["sn_gap_within_1e-3_fraction"] = float(np.mean(np.array(errs_gap) <= 1e-3))
    metrics["sn_gap_worst_rel_err"] = float(max(errs_gap))
    metrics["sn_gaussian_within_1e-3_fraction"] = float(np.mean(np.array(errs_gauss) <= 1e-3))
    metrics["sn_gaussian_median_rel_err"] = float(np.median(errs_gauss))

    # 3. progress-bar averaging against Keras' rule
    rng = np.random.default_rng(cfg.seed)
    ups, current, ours = [], 0, RunningMean(stateful=["lr"])
    for _ in range(50):
        n = int(rng.integers(1, 5))
        current += n
        vals = {"loss": float(rng.normal()), "lr": float(rng.random())}
        ups.append((current, vals))
        shown = ours.update(n, **vals)
    keras = _keras_progbar(ups, {"lr"})
    metrics["progbar_max_diff"] = max(abs(shown[k] - keras[k]) for k in keras)

    if out.is_main:
        fig = _plot.curves(out.history, ["test_mse", "train_loss"], "output-free autoencoder",
                           {"initial test MSE": initial}, xlabel="epoch")  # fmt: skip
        out.save_figure(fig, "autoencoder.png")
        groups = {
            "σ₂/σ₁ = 1/3": [metrics["sn_gap_within_1e-3_fraction"]],
            "Gaussian": [metrics["sn_gaussian_within_1e-3_fraction"]],
        }
        fig = _plot.bars(groups, ["fraction within 1e-3"], "5 power iterations from u = 1")
        out.save_figure(fig, "spectral.png")
    return metrics
