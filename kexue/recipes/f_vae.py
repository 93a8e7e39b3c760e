r"""Recipe: f-VAE (a VAE with a Glow prior in a data-sized latent space, the article's model)
against Glow-mini and a plain VAE, each sized to the f-VAE's parameter count, on digits.

Article: 细水长flow之f-VAEs：Glow与VAEs的联姻 (see kexue.flows.f_vae)
Data:    kexue.data.digits split 1,200 / 237 / 360 as in the Glow recipe; dequantised
         w = (x + u)/17 − ½
Run:     kexue run f-vae                 (full)
         kexue run f-vae --budget quick  (a few minutes)
         kexue run f-vae --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         samples.png (f-VAE, VAE and Glow samples at T = 0.8 and 1.0) curves.png

f-VAE: E = squeeze (1×8×8 → 4×4×4) → 4 residual steps (Conv3×3(4→64) → BN → ReLU → zero-init
Conv1×1(64→4)); G = the mirror (no tanh); F = Glow-mini without its first squeeze (acting on
h ∈ R^{4×4×4}) with K = 4 steps per level; σ₁, σ₂ learned scalars (init 1 and 0.1).
The comparison arms have the f-VAE's parameter count (the article's "same complexity"): Glow
(K = `glow_depth` steps per level) and the plain VAE (F = identity, standard normal prior on h)
get the coupling / residual width whose count is nearest to the f-VAE's (`_flows.matched_width`).
All arms: Adam 1e-3, batch 128, the same steps and the same minibatches (one generator per arm,
seeded alike), best validation checkpoint (negative ELBO for the VAEs, NLL for Glow), early stop
after `patience` steps without improvement; CPU seconds per step (process time) are reported.
Reported: test negative ELBO and IWAE-K NLL in bits/dim (Glow: exact NLL), and the steps / CPU
seconds each model needed to first reach each validation threshold {3.2, 3.0, 2.8, 2.6}.
Claims (paired bootstrap over the 360 test images, judged on the interval's upper bound): the
f-VAE's test NLL is below Glow's and below the plain VAE's, all at equal parameters and steps.

On your images (`kexue run f-vae --data FOLDER`): E = img_squeezes × [squeeze → residual steps]
(the author's encoder; (C, S, S) → (C·4^s, S/2^s, S/2^s) codes), G its mirror, F a Glow on the
codes (no first squeeze: the author's "squeeze after each split"), through the shared image loop
(kexue/recipes/_image_flow.py): the held-out negative-ELBO bound in bits/dim against the
per-pixel categorical model (DATA_CLAIMS), samples.png (decoder means, rows T = 0.7 … 1.0),
reconstructions.png (each held-out image beside G(E(x))), real.png, curves.png, and the weights
`kexue sample` / `kexue reconstruct` read. `--budget article` is the author's 128×128 CelebA-HQ
run (f-VAEs.py: 3 × 12 residual steps, F with 4 levels of 12 steps of width 256, additive
coupling, random shuffle, Adam 1e-4, batch 32).

Deviations:
    - dequantised data, unlike the author's code, so σ₂ cannot collapse onto grid points.
    - on images G ends without the author's tanh (the data are dequantised in [−½, ½)).
Recorded: `kexue show f-vae` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kexue.flows import FVAE, Flatten, Flow, Glow, Sequential, StandardNormal, decoder, encoder
from kexue.recipes import _flows, _image_flow, _images, _plot
from kexue.runs import (
    Claim,
    RunDir,
    Statement,
    make_accelerator,
    param,
    seed_everything,
    statements_doc,
)

THRESHOLDS = (3.2, 3.0, 2.8, 2.6)
DATA = _images.IMAGE_DATA


@dataclass(frozen=True)
class Config(_image_flow.FlowImageOptions):
    seed: int = 0
    steps: int = 1500
    batch_size: int = 128
    lr: float = 1e-3
    res_steps: int = 4
    res_width: int = 64  # the f-VAE's E and G; the plain VAE's width is matched to parameters
    prior_depth: int = 4
    glow_depth: int = 8  # Glow's steps per level; its width is matched to the f-VAE's parameters
    width: int = 64  # coupling width of the f-VAE's prior F
    eval_every: int = 100
    patience: int = 300  # stop a model once its validation bound has not improved for this long
    valid_draws: int = 2
    test_draws: int = 4
    iwae_k: int = 256
    models: tuple[str, ...] = ("fvae", "vae", "glow")
    # --data FOLDER: the f-VAE on images (the img_* fields of _image_flow set the loop)
    img_squeezes: int = 2  # E's squeezes: codes of (C·4^s, S/2^s, S/2^s)
    img_res_steps: int = 2  # residual steps after each squeeze (E) / before each unsqueeze (G)
    img_res_width: int = 32  # their hidden channels; 0: the channel count (the author's)
    img_levels: int = 2  # F: Glow levels on the codes
    img_depth: int = 4  # F: steps per level
    img_width: int = 32  # F: coupling width
    img_coupling: str = param("affine", choices=("affine", "additive"))
    img_permutation: str = param("lu", choices=("lu", "conv", "shuffle", "reverse"))
    img_actnorm_ddi: bool = True
    # σ₁, σ₂ at init: small on images, where log σ moves ~lr per Adam step (σ₁ = 1 would take
    # thousands of steps to shrink); the author's Keras actnorms start at 1
    img_sigma1: float = 0.02
    img_sigma2: float = 0.02
    img_steps: int = 3000
    img_batch: int = 32


QUICK = {
    "steps": 250,
    "eval_every": 50,
    "iwae_k": 64,
    "prior_depth": 2,
    "glow_depth": 2,
    "width": 32,
    "img_steps": 300,
    "img_res_steps": 1,
    "img_res_width": 16,
    "img_depth": 2,
    "img_width": 16,
    "img_warmup": 50,
    "img_eval_every": 100,
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
    "img_size": 16,
    "img_steps": 3,
    "img_batch": 16,
    "img_eval": 16,
    "img_draws": 1,
    "img_squeezes": 1,
    "img_res_steps": 1,
    "img_res_width": 8,
    "img_depth": 1,
    "img_width": 8,
    "img_warmup": 2,
    "img_eval_every": 2,
}
# The author's 128×128 CelebA-HQ f-VAE (bojone/flow f-VAEs.py; article §实验结果): E = 3 ×
# [squeeze → 12 residual steps as wide as their channels] (16×16×192 codes), G its mirror, F a
# Glow of 4 levels × 12 steps, coupling width 256, additive coupling, random shuffle, zero-init
# actnorm; σ₁ = σ₂ = 1 (zero-initialised actnorms); Adam 1e-4 at a constant rate, batch 32;
# about 150 epochs of 1,000 steps.
ARTICLE = {
    "img_size": 128,
    "img_squeezes": 3,
    "img_res_steps": 12,
    "img_res_width": 0,
    "img_levels": 4,
    "img_depth": 12,
    "img_width": 256,
    "img_coupling": "additive",
    "img_permutation": "shuffle",
    "img_actnorm_ddi": False,
    "img_sigma1": 1.0,
    "img_sigma2": 1.0,
    "img_lr": 1e-4,
    "img_schedule": "constant",
    "img_warmup": 0,
    "img_clip": 0.0,
    "img_batch": 32,
    "img_steps": 150_000,
    "img_eval_every": 5000,
}

CLAIMS = (
    Claim(
        "at the same parameter count, steps and minibatches, the f-VAE's test NLL (IWAE) is "
        "below Glow's (exact NLL): difference < 0 bits/dim",
        "fvae_minus_glow_bpd",
        "<",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "the f-VAE's test NLL (IWAE) is below the plain VAE's at the same parameter count "
        "(F = identity, wider E and G), steps and minibatches",
        "fvae_minus_vae_iwae_bpd",
        "<",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
)


DATA_CLAIMS = (
    _image_flow.categorical_claim("the f-VAE", "held-out negative-ELBO bound (bits/dim)"),
)


def _image_model(cfg: Config) -> FVAE:
    """The f-VAE on the run's images: E, G with img_squeezes squeezes, F a Glow on the codes."""
    c, size, _ = _image_flow.image_shape(cfg)
    setting = f"img_squeezes={cfg.img_squeezes}, img_levels={cfg.img_levels}"
    _image_flow.check_halvings(cfg, cfg.img_squeezes + cfg.img_levels - 1, setting)
    s = cfg.img_squeezes
    prior = Glow(
        (c * 4**s, size // 2**s, size // 2**s),
        levels=cfg.img_levels,
        depth=cfg.img_depth,
        width=cfg.img_width,
        coupling=cfg.img_coupling,  # type: ignore[arg-type]
        permutation=cfg.img_permutation,  # type: ignore[arg-type]
        actnorm_ddi=cfg.img_actnorm_ddi,
        seed=cfg.seed,
        squeeze_first=False,
    )
    return FVAE(
        encoder(c, cfg.img_res_steps, cfg.img_res_width, squeezes=s),
        decoder(c, cfg.img_res_steps, cfg.img_res_width, squeezes=s),
        prior,
        sigma1=cfg.img_sigma1,
        sigma2=cfg.img_sigma2,
    )


def _image_build(config: dict[str, Any]) -> torch.nn.Module:
    return _image_model(_image_flow.config_of(Config, config))


def _fvae(cfg: Config, res_width: int, prior_width: int | None) -> FVAE:
    """The f-VAE with a Glow prior of coupling width `prior_width`, or (None) the plain VAE."""
    if prior_width is not None:
        prior: torch.nn.Module = Glow(
            (4, 4, 4),
            levels=2,
            depth=cfg.prior_depth,
            width=prior_width,
            seed=cfg.seed,
            squeeze_first=False,
        )
    else:
        prior = Flow(Sequential(Flatten((4, 4, 4))), StandardNormal((64,)))
    return FVAE(encoder(1, cfg.res_steps, res_width), decoder(1, cfg.res_steps, res_width), prior)


def _glow(cfg: Config, width: int) -> Glow:
    return Glow((1, 8, 8), levels=2, depth=cfg.glow_depth, width=width, seed=cfg.seed)


def _build(kind: str, cfg: Config) -> torch.nn.Module:
    """The f-VAE as configured; Glow and the plain VAE at the width nearest its parameters."""
    target = _flows.n_params(_fvae(cfg, cfg.res_width, cfg.width))
    if kind == "fvae":
        return _fvae(cfg, cfg.res_width, cfg.width)
    if kind == "glow":
        width = _flows.matched_width(lambda w: _glow(cfg, w), target, hi=4 * cfg.width)
        return _glow(cfg, width)
    width = _flows.matched_width(lambda w: _fvae(cfg, w, None), target, hi=8 * cfg.res_width)
    return _fvae(cfg, width, None)


def _loss(model: torch.nn.Module, w: torch.Tensor) -> torch.Tensor:
    """Mean per-image bound in nats: negative ELBO (VAEs) or NLL (Glow)."""
    return model.neg_elbo(w).mean() if isinstance(model, FVAE) else model.nll(w)


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    if cfg.data is not None:
        return _image_flow.run_images(cfg, out, lambda: _image_model(cfg), kind="f-vae")
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    data = _flows.digit_splits(cfg.seed)
    models = {k: _build(k, cfg) for k in cfg.models}
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in models.items()}
    # every arm draws its DDI batch and minibatches from its own generator, seeded alike, so
    # all arms see the same images in the same order
    gens = {k: torch.Generator().manual_seed(cfg.seed) for k in cfg.models}
    reach = {
        k: {f"{t}": torch.tensor([-1.0, -1.0]) for t in THRESHOLDS} for k in models
    }  # (step, CPU seconds)
    # keep-best on validation bits/dim (strictly lower) and steps trained, per model
    best, trained, state = _flows.prepare_keep_best(
        acc, models, opts, g, reach=reach, **{f"rng:{k}": gk for k, gk in gens.items()}
    )
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
        model, opt, gk = acc.unwrap_model(models[k]), opts[k], gens[k]
        lo, hi = j * cfg.steps, (j + 1) * cfg.steps
        if start <= lo:  # ActNorm DDI of the flow (for the f-VAE: of its prior, on E(x) codes)
            with torch.no_grad():
                _loss(model, _flows.batch(data["train"], 512, gk))
        # CPU time of this process (not wall time): arms run one after the other on a shared
        # machine, and the process time does not count what other processes take
        t0, first, last = time.process_time(), max(start, lo), max(start, lo)
        if _flows.patience_exhausted(best[k], first - lo, cfg.patience):
            continue  # it had stopped early before the checkpoint this run resumed from
        for step in out.progress(range(first, hi), f"arm {k}"):
            loss = _loss(model, _flows.batch(data["train"], cfg.batch_size, gk))
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
                            [step - lo + 1.0, time.process_time() - t0]
                        )
            last = step + 1
            if _flows.log_step(out, state, step, row, k, best, trained, last - lo, cfg.patience):
                break
        if first < last:
            seconds[k] = (time.process_time() - t0) / (last - first)
    out.save_checkpoint(len(cfg.models) * cfg.steps, state)

    metrics: dict[str, float] = {}
    items: dict[str, np.ndarray] = {}  # per-test-image NLL estimate, paired across arms
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
                items[k] = _flows.bpd_items(lp, data["test"], 1, 2)
                metrics[f"{k}_sigma1"] = float(model.log_sigma1.exp())
                metrics[f"{k}_sigma2"] = float(model.log_sigma2.exp())
            else:  # exact likelihood: the NLL itself, on the same noise draws as the bound
                lp = lambda w, m=model: m.log_prob(w)  # noqa: E731
                items[k] = _flows.bpd_items(lp, data["test"], cfg.test_draws, 2)
        metrics[f"{k}_iwae_bpd"] = float(items[k].mean())
        metrics[f"{k}_valid_bpd"] = best[k].best
        metrics[f"{k}_best_step"] = float(best[k].best_step)
        metrics[f"{k}_steps_trained"] = float(trained[k])
        metrics[f"{k}_params"] = float(_flows.n_params(model))
        if k in seconds:
            metrics[f"{k}_cpu_s_per_step"] = seconds[k]
        for t in THRESHOLDS:
            step_t, sec_t = (float(v) for v in reach[k][f"{t}"])
            metrics[f"{k}_steps_to_{t}"] = step_t
            metrics[f"{k}_cpu_seconds_to_{t}"] = sec_t
        gen = torch.Generator().manual_seed(cfg.seed)
        for t in (0.8, 1.0):
            rows.append((_flows.to_pixels(model.sample(10, t, gen)), f"{k} T={t}"))
    if "fvae" in cfg.models and "vae" in cfg.models:
        _flows.record_paired(metrics, "fvae_minus_vae_iwae_bpd", items["fvae"], items["vae"])
    if "fvae" in cfg.models and "glow" in cfg.models:
        _flows.record_paired(metrics, "fvae_minus_glow_bpd", items["fvae"], items["glow"])
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


STATEMENTS = (
    Statement(
        "the article's loss contains the VAE: with F_x(u) = σ(x) ⊙ u + μ(x) it is the Gaussian-KL "
        "VAE loss (special case 1)",
        "test",
        "tests/flows/test_f_vae.py::test_special_case_1_affine_posterior_is_the_gaussian_kl_vae",
    ),
    Statement(
        "… and the flow: with E = identity and G = F⁻¹ it trains the flow's NLL on noisy inputs "
        "(special case 2)",
        "test",
        "tests/flows/test_f_vae.py::"
        "test_special_case_2_noisy_flow_trains_the_flow_nll_on_noisy_inputs",
    ),
    Statement(
        "the model F_x(u) = F(σ₁u + E(x)) has the equivalent loss of a VAE with the flow prior "
        "p_F(h) (the article's final loss)",
        "test",
        "tests/flows/test_f_vae.py::test_article_loss_equals_flow_prior_vae_elbo",
    ),
    Statement(
        "compared with VAEs, f-VAEs essentially remove the blur (a better model of the data; "
        "here: test NLL against a plain VAE of the same size)",
        "claim",
        "fvae_minus_vae_iwae_bpd",
    ),
    Statement(
        "at the same complexity and the same training time f-VAEs do better than Glow (here: "
        "equal parameters, steps and minibatches; CPU seconds per step reported)",
        "claim",
        "fvae_minus_glow_bpd",
    ),
    Statement(
        "… f-VAEs do better than Glow after the same number of epochs, i.e. converge faster",
        "fails",
        "steps to a 3.2 bits/dim validation bound (fvae_steps_to_3.2, glow_steps_to_3.2), full "
        "run seed 0 at equal parameters: f-VAE 1,200 vs Glow 100, and the f-VAE never reaches "
        "3.0 in 1,500 steps (Glow: 2.6 after 300); docs/notes/f-vae.md",
    ),
    Statement(
        "64×64 CelebA-HQ needs 120–150 epochs (7–8 h on a GTX 1060), 128×128 about 1.5 days",
        "untestable",
        "CelebA-HQ is not available offline and the timings are of the author's GPU",
    ),
    Statement(
        "samples at temperature T = 0.8 look best; samples still have an oil-painting texture",
        "untestable",
        "a visual judgement on face images; samples.png shows T = 0.8 and 1.0 on digits",
    ),
    Statement(
        "the latent size is free, so a dimension-reducing f-VAE can be trained",
        "untestable",
        "the article states it as possible future use and reports no run; none is made here",
    ),
)

__doc__ = statements_doc(__doc__, STATEMENTS)


def sampler(run: Path) -> Callable[[int, float, torch.Generator], np.ndarray]:
    """Samples (decoder means, (n, H, W, C) in [0, 1]) from an f-VAE run on --data images
    (`kexue sample`); the digits runs keep no weights for sampling and are refused."""
    return _image_flow.sampler(run, _image_build)


def interpolator(run: Path) -> Callable[[int, int, float, torch.Generator], np.ndarray]:
    """Rows of decoded images between two draws of F's prior (`kexue sample --interpolate`)."""
    return _image_flow.interpolator(run, _image_build)


def reconstructor(run: Path) -> Callable[[np.ndarray], np.ndarray]:
    """G(E(x)) of a run on --data images (`kexue reconstruct`)."""
    return _image_flow.reconstructor(run, _image_build)
