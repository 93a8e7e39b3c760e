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
2. σ(W) by the article's 5 power iterations from u = 1 against the exact largest singular
   value, on `n_matrices` Gaussian 64×64 matrices (no structure imposed: the gap σ₂/σ₁ is what
   it is) and on the two trained weights of item 1 (reported). A forced gap σ₂/σ₁ = 1/3 would
   make the accuracy a theorem of the power method (a unit test).
3. `RunningMean` reproduces Keras' Progbar averaging on a scripted sequence (a transcription of
   its update rule: value·(current − seen) accumulated, divided by the steps seen).
Claims: the autoencoder trains (test MSE below half the initial); the fixed-init spectral
norm is within 1e-3 of the exact σ₁ for 95% of Gaussian matrices (lower bound over matrices).
Checks (in the tests): the hook metric and the running mean match their exact values.
Recorded: `kexue show losses-metrics` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kexue.recipes import _plot
from kexue.recipes._train import batches, digits_tensors
from kexue.runs import Claim, RunDir, Statement, seed_everything, statements_doc
from kexue.stats import bootstrap_interval, record_interval
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
    Claim("the article's spectral norm (r = 5 iterations from u = 1) is within 1e-3 (relative) "
          "of the exact σ₁ for ≥ 95% of Gaussian 64×64 matrices (lower bound over matrices)",
          "sn_gaussian_within_1e-3_fraction", ">=", 0.95, ("quick", "full"), interval=True),
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
    def rel_err(w: torch.Tensor) -> float:
        exact = float(torch.linalg.matrix_norm(w, ord=2))
        return abs(float(spectral_norm_fixed_init(w)) / exact - 1)

    gen = torch.Generator().manual_seed(cfg.seed)
    errs = np.array([
        rel_err(torch.randn(64, 64, generator=gen, dtype=torch.float64))
        for _ in range(cfg.n_matrices)
    ])  # fmt: skip
    within = (errs <= 1e-3).astype(float)
    record_interval(metrics, "sn_gaussian_within_1e-3_fraction", within.mean(),
                    bootstrap_interval(within, seed=cfg.seed))  # fmt: skip
    metrics["sn_gaussian_median_rel_err"] = float(np.median(errs))
    metrics["sn_gaussian_max_rel_err"] = float(errs.max())
    for name, layer in (("encoder", ae.encoder[0]), ("decoder", ae.decoder[0])):
        metrics[f"sn_trained_{name}_rel_err"] = rel_err(layer.weight.detach().double())

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
            "Gaussian (median)": [metrics["sn_gaussian_median_rel_err"]],
            "trained encoder": [metrics["sn_trained_encoder_rel_err"]],
            "trained decoder": [metrics["sn_trained_decoder_rel_err"]],
        }
        fig = _plot.bars(groups, ["relative error of σ₁"], "5 power iterations from u = 1")
        out.save_figure(fig, "spectral.png")
    return metrics


STATEMENTS = (
    Statement("a model can be trained with no targets, the loss added inside the model "
              "(fit(x, None)): the autoencoder learns", "claim", "recon_mse_ratio"),
    Statement("the wrapper's spectral norm (5 power iterations from u = 1) normalises the "
              "kernel by its largest singular value", "claim",
              "sn_gaussian_within_1e-3_fraction"),
    Statement("the spectral norm code (u = 1, r = 5, Keras kernel layout)", "test",
              "tests/train/test_losses_metrics.py::"
              "test_spectral_norm_matches_the_keras_transcription"),
    Statement("weight normalisation applied before the layer's call (a parametrisation), not "
              "after the step (a Keras constraint)", "test",
              "tests/train/test_losses_metrics.py::"
              "test_parametrized_layer_has_unit_spectral_norm_estimate"),
    Statement("a metric can read a hidden layer: mean_b Σ_j h_bj²", "test",
              "tests/train/test_losses_metrics.py::test_output_free_loss_and_hook_metric"),
    Statement("Progbar values are averaged over the steps seen unless stateful", "test",
              "tests/train/test_losses_metrics.py::test_running_mean_is_keras_progbar_averaging"),
    Statement("post-hoc constraints (θ ← constraint(θ) after each step), e.g. max-norm", "test",
              "tests/train/test_losses_metrics.py::test_max_norm_constraint"),
)  # fmt: skip

__doc__ = statements_doc(__doc__, STATEMENTS)
