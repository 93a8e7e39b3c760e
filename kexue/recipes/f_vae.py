r"""Recipe: f-VAE (a VAE with a Glow prior in a data-sized latent space, the article's model)
against a plain VAE with the same encoder/decoder and against Glow-mini, on digits.

Article: 细水长flow之f-VAEs：Glow与VAEs的联姻 (see kexue.flows.f_vae)
Data:    kexue.data.digits split 1,200 / 237 / 360 as in the Glow recipe; dequantised
         w = (x + u)/17 − ½
Run:     kexue run f-vae                 (full)
         kexue run f-vae --budget quick  (about 30 s)
         kexue run f-vae --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         samples.png (f-VAE, VAE and Glow-mini samples at T = 0.8 and 1.0) curves.png

f-VAE: E = squeeze (1×8×8 → 4×4×4) → 4 residual steps (Conv3×3(4→64) → BN → ReLU → zero-init
Conv1×1(64→4)); G = the mirror (no tanh); F = Glow-mini without its first squeeze (acting on
h ∈ R^{4×4×4}) with K = 4 steps per level; σ₁, σ₂ learned scalars (init 1 and 0.1). The plain
VAE is the same with F = identity (standard normal prior on h). Glow-mini is the glow recipe's
(K = 8). All three: Adam 1e-3, batch 128, the same step budget, best validation checkpoint
(negative ELBO for the VAEs, NLL for Glow), early stop after `patience` = 300 steps without
improvement. Reported: test negative ELBO and IWAE-K NLL in bits/dim, and the steps / seconds
each model needed to first reach each validation threshold {3.2, 3.0, 2.8, 2.6}.
Claims: the f-VAE's IWAE NLL is at most the plain VAE's; the article's "converges faster than
Glow" is measured by the thresholds, not judged.

Deviations:
    - dequantised data, unlike the author's code, so σ₂ cannot collapse onto grid points.
Recorded: `kexue show f-vae` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from kexue.flows import FVAE, Flatten, Flow, Glow, Sequential, StandardNormal, decoder, encoder
from kexue.recipes import _flows, _plot
from kexue.runs import Claim, RunDir, make_accelerator, seed_everything

THRESHOLDS = (3.2, 3.0, 2.8, 2.6)


@dataclass(frozen=True)
class Config:
    seed: int = 0
    steps: int = 1500
    batch_size: int = 128
    lr: float = 1e-3
    res_steps: int = 4
    res_width: int = 64
    prior_depth: int = 4
    glow_depth: int = 8
    width: int = 64
    eval_every: int = 100
    patience: int = 300  # stop a model once its validation bound has not improved for this long
    valid_draws: int = 2
    test_draws: int = 4
    iwae_k: int = 256
    models: tuple[str, ...] = ("fvae", "vae", "glow")


QUICK = {
    "steps": 250,
    "eval_every": 50,
    "iwae_k": 64,
    "prior_depth": 2,
    "glow_depth": 2,
    "width": 32,
}
SMOKE = {
    "steps": 8,
    "eval_every": 4,
    "iwae_k": 4,
    "prior_depth": 1,
    "glow_depth": 1,
    "width": 8,
    "res_steps": 1,
    "res_width": 8,
    "valid_draws": 1,
    "test_draws": 1,
}

CLAIMS = (
    Claim(
        "the f-VAE's IWAE NLL is at most the plain VAE's (same E, G, budget)",
        "fvae_minus_vae_iwae_bpd",
        "<=",
        0.0,
        ("quick", "full"),
    ),
)


def _build(kind: str, cfg: Config) -> torch.nn.Module:
    if kind == "glow":
        return Glow((1, 8, 8), levels=2, depth=cfg.glow_depth, width=cfg.width, seed=cfg.seed)
    if kind == "fvae":
        prior: torch.nn.Module = Glow(
            (4, 4, 4),
            levels=2,
            depth=cfg.prior_depth,
            width=cfg.width,
            seed=cfg.seed,
            squeeze_first=False,
        )
    else:
        prior = Flow(Sequential(Flatten((4, 4, 4))), StandardNormal((64,)))
    return FVAE(
        encoder(1, cfg.res_steps, cfg.res_width), decoder(1, cfg.res_steps, cfg.res_width), prior
    )


def _loss(model: torch.nn.Module, w: torch.Tensor) -> torch.Tensor:
    """Mean per-image bound in nats: negative ELBO (VAEs) or NLL (Glow)."""
    return model.neg_elbo(w).mean() if isinstance(model, FVAE) else model.nll(w)


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    data = _flows.digit_splits(cfg.seed)
    models = {k: _build(k, cfg) for k in cfg.models}
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in models.items()}
    reach = {
        k: {f"{t}": torch.tensor([-1.0, -1.0]) for t in THRESHOLDS} for k in models
    }  # (step, seconds)
    # keep-best on validation bits/dim (strictly lower) and steps trained, per model
    best, trained, state = _flows.prepare_keep_best(acc, models, opts, g, reach=reach)
    start = out.restore(state)
    seconds: dict[str, float] = {}

    def valid_bpd(model: torch.nn.Module) -> float:
        model.eval()  # BatchNorm in E and G uses running statistics
        with torch.no_grad():
            value = _flows.bpd(
                lambda w: -_loss_per_image(model, w), data["valid"], cfg.valid_draws, 1
            )
        model.train()
        return value

    for j, k in enumerate(cfg.models):
        model, opt = acc.unwrap_model(models[k]), opts[k]
        lo, hi = j * cfg.steps, (j + 1) * cfg.steps
        if start <= lo:  # ActNorm DDI of the flow (for the f-VAE: of its prior, on E(x) codes)
            with torch.no_grad():
                _loss(model, _flows.batch(data["train"], 512, g))
        t0, first, last = time.perf_counter(), max(start, lo), max(start, lo)
        if _flows.patience_exhausted(best[k], first - lo, cfg.patience):
            continue  # it had stopped early before the checkpoint this run resumed from
        for step in out.progress(range(first, hi), f"arm {k}"):
            loss = _loss(model, _flows.batch(data["train"], cfg.batch_size, g))
            opt.zero_grad()
            acc.backward(loss)
            opt.step()
            row = {f"{k}/train_bpd": _flows.nats_bpd(loss.item())}
            if (step - lo + 1) % cfg.eval_every == 0 or step == hi - 1:
                val = valid_bpd(model)
                row[f"{k}/valid_bpd"] = val
                for t in THRESHOLDS:
                    if val <= t and reach[k][f"{t}"][0] < 0:
                        reach[k][f"{t}"] = torch.tensor(
                            [step - lo + 1.0, time.perf_counter() - t0]
                        )
            last = step + 1
            if _flows.log_step(out, state, step, row, k, best, trained, last - lo, cfg.patience):
                break
        if first < last:
            seconds[k] = (time.perf_counter() - t0) / (last - first)
    out.save_checkpoint(len(cfg.models) * cfg.steps, state)

    metrics: dict[str, float] = {}
    rows = []
    for k in cfg.models:
        model = acc.unwrap_model(models[k])
        best[k].restore()
        model.eval()
        with torch.no_grad():
            metrics[f"{k}_test_bound_bpd"] = _flows.bpd(
                lambda w, m=model: -_loss_per_image(m, w), data["test"], cfg.test_draws, 2
            )
            if isinstance(model, FVAE):
                lp = lambda w, m=model: -m.iwae_nll(w, cfg.iwae_k)  # noqa: E731
                metrics[f"{k}_iwae_bpd"] = _flows.bpd(lp, data["test"], 1, 2)
                metrics[f"{k}_sigma1"] = float(model.log_sigma1.exp())
                metrics[f"{k}_sigma2"] = float(model.log_sigma2.exp())
            else:
                metrics[f"{k}_iwae_bpd"] = metrics[
                    f"{k}_test_bound_bpd"
                ]  # exact likelihood: no bound gap
        metrics[f"{k}_valid_bpd"] = best[k].best
        metrics[f"{k}_best_step"] = float(best[k].best_step)
        metrics[f"{k}_steps_trained"] = float(trained[k])
        metrics[f"{k}_params"] = float(sum(p.numel() for p in model.parameters()))
        if k in seconds:
            metrics[f"{k}_steps_per_s"] = 1.0 / seconds[k]
        for t in THRESHOLDS:
            step_t, sec_t = (float(v) for v in reach[k][f"{t}"])
            metrics[f"{k}_steps_to_{t}"] = step_t
            metrics[f"{k}_seconds_to_{t}"] = sec_t
        gen = torch.Generator().manual_seed(cfg.seed)
        for t in (0.8, 1.0):
            rows.append((_flows.to_pixels(model.sample(10, t, gen)), f"{k} T={t}"))
    if "fvae" in cfg.models and "vae" in cfg.models:
        metrics["fvae_minus_vae_iwae_bpd"] = metrics["fvae_iwae_bpd"] - metrics["vae_iwae_bpd"]
    if "fvae" in cfg.models and "glow" in cfg.models:
        metrics["fvae_minus_glow_bpd"] = metrics["fvae_iwae_bpd"] - metrics["glow_iwae_bpd"]
    if out.is_main:
        out.save_figure(
            _plot.image_rows(rows, "samples (decoder means for the VAEs)"), "samples.png"
        )
        keys = [f"{k}/valid_bpd" for k in cfg.models]
        out.save_figure(
            _plot.curves(
                out.history, keys, "validation bound (bits/dim)", {f"{t}": t for t in THRESHOLDS}
            ),
            "curves.png",
        )
    return metrics


def _loss_per_image(model: torch.nn.Module, w: torch.Tensor) -> torch.Tensor:
    return model.neg_elbo(w) if isinstance(model, FVAE) else -model.log_prob(w)
