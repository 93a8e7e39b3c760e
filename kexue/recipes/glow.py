r"""Recipe: Glow-mini (actnorm, LU 1×1 convolution, affine coupling, multi-scale with a
conditional split prior) on sklearn's 8×8 digits, against NICE.

Article: 细水长flow之RealNVP与Glow：流模型的传承与升华 (see kexue.flows.glow)
Data:    kexue.data.digits: 1,200 train / 237 validation (carved from the training images,
         seeded) / 360 test; dequantised w = (x + u)/17 − ½
Run:     kexue run glow                 (full)
         kexue run glow --budget quick  (a few minutes)
         kexue run glow --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         samples.png (T ∈ {0.7, 0.8, 0.9, 1.0}) curves.png (train / valid bits/dim)

Glow-mini: 1×8×8 → squeeze → 4×4×4 → K = 8 steps [ActNorm(DDI on 512 training images) →
Invertible1x1(LU) → affine coupling (s = sigmoid(ŝ + 2), shift first), f = Conv3×3(64) → ReLU →
Conv1×1(64) → ReLU → zero-init Conv3×3] → factor out 2 channels with N(μ(h), σ(h)²) from a
zero-init conv of the kept half → squeeze → 8×2×2 → K = 8 steps → learned diagonal prior.
Adam 1e-3, batch 128, validation every 250 steps, the best checkpoint is reported; every model
stops once its validation bits/dim has not improved for 500 steps (`patience`). The "nice"
variant is the nice recipe's NICE, trained here under the same data stream for the comparison.
The "shuffle" and "reverse" variants are Glow-mini with the 1×1 convolution replaced by a
fixed random channel shuffle / a channel reversal (the article's permutation ablation); every
variant draws its DDI batch and minibatches from its own generator, seeded alike (same images
in the same order, same steps and early-stopping rule).
Claims: Glow-mini's test bits/dim beats the full-covariance Gaussian fitted to the same split,
and is at least as good as NICE's; the 1×1 convolution beats the shuffle and the shuffle beats
the reversal (paired bootstrap over the 360 test images, judged on the interval's bound); goal:
below the per-pixel categorical model.

On your images (`kexue run glow --data FOLDER`): the multi-scale Glow on (C, img_size,
img_size) images through the shared image loop (kexue/recipes/_image_flow.py): 10 % of the folder
held out (fixed), bits/dim on 256 levels against the independent per-pixel categorical model of
the training images (DATA_CLAIMS), samples.png (rows T = 0.7, 0.8, 0.9, 1.0), real.png,
curves.png, and the weights `kexue sample` / `kexue sample --interpolate` / `kexue reconstruct`
read. Full budget: L = 3 levels, K = img_depth steps of width img_width (affine coupling, LU 1×1,
DDI actnorm); `--budget article` is the author's CelebA 64×64 run (glow.py: L = 3, K = 10,
width 512, additive coupling, random shuffle, zero-init actnorm, Adam 1e-4, batch 64).

Deviations:
    - affine coupling, LU 1×1 convolutions and data-dependent actnorm; the author's Keras Glow
      (additive coupling, random shuffle, zero-init actnorm) runs as the "compat" variant (and
      as `--budget article` on images).
Recorded: `kexue show glow` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kexue.data import DIGIT_LEVELS
from kexue.flows import NICE, Glow, categorical_bpd, gaussian_bpd_per_image
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

DATA = _images.IMAGE_DATA


@dataclass(frozen=True)
class Config(_image_flow.FlowImageOptions):
    seed: int = 0
    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    levels: int = 2
    depth: int = 8
    width: int = 64
    ddi_images: int = 512
    eval_every: int = 250
    patience: int = 500  # stop a model once its validation bpd has not improved for this long
    valid_draws: int = 4
    test_draws: int = 10
    # the first is judged; "shuffle"/"reverse" replace its 1×1 convolution (the ablation)
    variants: tuple[str, ...] = ("glow", "shuffle", "reverse", "compat", "nice")
    nice_steps: int = 4000
    nice_hidden: tuple[int, ...] = (256, 256, 256)
    # --data FOLDER: the image model (the img_* fields of _images / _image_flow set the loop)
    img_levels: int = 3
    img_depth: int = 4  # steps per level
    img_width: int = 32  # hidden channels of the coupling networks
    img_coupling: str = param("affine", choices=("affine", "additive"))
    img_permutation: str = param("lu", choices=("lu", "conv", "shuffle", "reverse"))
    img_actnorm_ddi: bool = True
    img_steps: int = 4000
    img_batch: int = 32


QUICK = {
    "steps": 400,
    "nice_steps": 1000,
    "variants": ("glow", "shuffle", "reverse", "nice"),
    "depth": 4,
    "width": 32,
    "img_steps": 300,
    "img_depth": 2,
    "img_width": 16,
    "img_warmup": 50,
    "img_eval_every": 100,
}
SMOKE = {
    "steps": 10,
    "nice_steps": 10,
    "eval_every": 5,
    "variants": ("glow",),
    "depth": 1,
    "width": 8,
    "test_draws": 1,
    "ddi_images": 128,
    "nice_hidden": (16,),
    "valid_draws": 1,
    "img_size": 16,
    "img_steps": 3,
    "img_batch": 16,
    "img_eval": 16,
    "img_draws": 1,
    "img_levels": 2,
    "img_depth": 1,
    "img_width": 8,
    "img_warmup": 2,
    "img_eval_every": 2,
}
# The author's 64×64 CelebA Glow (bojone/flow glow.py, article §效果测试: L = 3, K = 10 at 64×64,
# "depth=32, level=6" in the paper for 256×256): coupling width 512, additive coupling, a fixed
# random shuffle, zero-initialised actnorm, Adam 1e-4 at a constant rate, batch 64 (specs/flows.md
# §2.2); 200 "epochs" of 1,000 steps. CelebA's 178×218 faces: the centred 178×178 square (the
# author's crop, img_crop 0), resized to 64.
ARTICLE = {
    "img_size": 64,
    "img_levels": 3,
    "img_depth": 10,
    "img_width": 512,
    "img_coupling": "additive",
    "img_permutation": "shuffle",
    "img_actnorm_ddi": False,
    "img_lr": 1e-4,
    "img_schedule": "constant",
    "img_warmup": 0,
    "img_clip": 0.0,
    "img_batch": 64,
    "img_steps": 200_000,
    "img_eval_every": 5000,
}

CLAIMS = (
    Claim(
        "Glow-mini's best-checkpoint test bits/dim beats the full-covariance Gaussian fitted to "
        "the same training split (difference < 0)",
        "gap_to_gaussian_bpd",
        "<",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "Glow-mini beats the per-pixel categorical model of the same split (difference < 0)",
        "gap_to_categorical_bpd",
        "<",
        0.0,
        ("quick", "full"),
        kind="goal",
    ),
    Claim(
        "Glow-mini is at least as good as NICE on the same split (test bpd difference ≤ 0)",
        "glow_minus_nice_bpd",
        "<=",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "the invertible 1×1 convolution reaches a lower test bits/dim than a fixed random "
        "shuffle (same model otherwise, same steps and minibatches; difference < 0)",
        "glow_minus_shuffle_bpd",
        "<",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "a fixed random shuffle reaches a lower test bits/dim than reversing the channels "
        "(difference < 0)",
        "shuffle_minus_reverse_bpd",
        "<",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
)


DATA_CLAIMS = (_image_flow.categorical_claim("Glow"),)


def _image_model(cfg: Config) -> Glow:
    """The multi-scale Glow on the run's (C, img_size, img_size) images."""
    _image_flow.check_halvings(cfg, cfg.img_levels, f"img_levels={cfg.img_levels}")
    return Glow(
        _image_flow.image_shape(cfg),
        levels=cfg.img_levels,
        depth=cfg.img_depth,
        width=cfg.img_width,
        coupling=cfg.img_coupling,  # type: ignore[arg-type]
        permutation=cfg.img_permutation,  # type: ignore[arg-type]
        actnorm_ddi=cfg.img_actnorm_ddi,
        seed=cfg.seed,
    )


def _image_build(config: dict[str, Any]) -> torch.nn.Module:
    return _image_model(_image_flow.config_of(Config, config))


def _build(variant: str, cfg: Config) -> torch.nn.Module:
    if variant == "nice":
        return NICE(64, n_couplings=4, hidden=cfg.nice_hidden)
    if variant in ("shuffle", "reverse"):
        return Glow(
            (1, 8, 8),
            levels=cfg.levels,
            depth=cfg.depth,
            width=cfg.width,
            permutation=variant,
            seed=cfg.seed,
        )
    if variant == "compat":
        return Glow(
            (1, 8, 8),
            levels=cfg.levels,
            depth=cfg.depth,
            width=cfg.width,
            coupling="additive",
            permutation="shuffle",
            actnorm_ddi=False,
            seed=cfg.seed,
        )
    return Glow((1, 8, 8), levels=cfg.levels, depth=cfg.depth, width=cfg.width, seed=cfg.seed)


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    if cfg.data is not None:
        return _image_flow.run_images(cfg, out, lambda: _image_model(cfg), kind="glow")
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    data = _flows.digit_splits(cfg.seed)
    models = {v: _build(v, cfg) for v in cfg.variants}
    opts = {
        v: torch.optim.AdamW(m.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        for v, m in models.items()
    }
    # each variant draws its DDI batch and minibatches from its own generator, seeded alike
    gens = {v: torch.Generator().manual_seed(cfg.seed) for v in cfg.variants}
    # keep-best on validation bits/dim (strictly lower) and steps trained, per model
    best, trained, state = _flows.prepare_keep_best(
        acc, models, opts, g, **{f"rng:{v}": gv for v, gv in gens.items()}
    )
    start = out.restore(state)
    steps = {v: cfg.nice_steps if v == "nice" else cfg.steps for v in cfg.variants}
    offsets = np.cumsum([0] + [steps[v] for v in cfg.variants])
    seconds: dict[str, float] = {}

    for j, v in enumerate(cfg.variants):
        flow, opt = models[v], opts[v]
        model = acc.unwrap_model(flow)
        shape = (lambda w: w.flatten(1)) if v == "nice" else (lambda w: w)
        lo, hi = int(offsets[j]), int(offsets[j + 1])
        if start <= lo:  # data-dependent init of every ActNorm, layer by layer, on 512 images
            with torch.no_grad():
                model(shape(_flows.batch(data["train"], cfg.ddi_images, gens[v])))
        t0, first, last = time.perf_counter(), max(start, lo), max(start, lo)
        if _flows.patience_exhausted(best[v], first - lo, cfg.patience):
            continue  # it had stopped early before the checkpoint this run resumed from
        for step in out.progress(range(first, hi), f"arm {v}"):
            loss = model.nll(shape(_flows.batch(data["train"], cfg.batch_size, gens[v])))
            opt.zero_grad()
            acc.backward(loss)
            opt.step()
            row = {f"{v}/train_bpd": _flows.nats_bpd(loss.item())}
            if (step - lo + 1) % cfg.eval_every == 0 or step == hi - 1:
                model.eval()
                val = _flows.bpd(
                    lambda w, m=model, s=shape: m.log_prob(s(w)), data["valid"], cfg.valid_draws, 1
                )
                model.train()
                row[f"{v}/valid_bpd"] = val
            last = step + 1
            if _flows.log_step(out, state, step, row, v, best, trained, last - lo, cfg.patience):
                break
        if first < last:
            seconds[v] = (time.perf_counter() - t0) / (last - first)
    out.save_checkpoint(int(offsets[-1]), state)

    gen = torch.Generator().manual_seed(cfg.seed)
    gauss = gaussian_bpd_per_image(data["train"], data["test"], DIGIT_LEVELS, generator=gen)
    metrics = {
        "baseline_gaussian_bpd": float(gauss.mean()),
        "baseline_categorical_bpd": categorical_bpd(data["train"], data["test"], DIGIT_LEVELS),
    }
    rows = []
    items: dict[str, np.ndarray] = {}
    for j, v in enumerate(cfg.variants):
        model = acc.unwrap_model(models[v])
        best[v].restore()
        model.eval()
        shape = (lambda w: w.flatten(1)) if v == "nice" else (lambda w: w)
        prefix = "" if j == 0 else f"{v}_"
        lp = lambda w, m=model, s=shape: m.log_prob(s(w))  # noqa: E731
        # per test image, on the same noise draws for every variant (paired comparisons)
        items[v] = _flows.bpd_items(lp, data["test"], cfg.test_draws, 2)
        metrics[f"{prefix}test_bpd"] = float(items[v].mean())
        metrics[f"{prefix}valid_bpd"] = best[v].best
        metrics[f"{prefix}train_bpd"] = _flows.bpd(lp, data["train"], 1, 3)
        metrics[f"{prefix}best_step"] = float(best[v].best_step)
        metrics[f"{prefix}steps_trained"] = float(trained[v])
        metrics[f"{prefix}params"] = float(sum(p.numel() for p in model.parameters()))
        if v in seconds:
            metrics[f"{prefix}steps_per_s"] = 1.0 / seconds[v]
        if j == 0:
            metrics["gap_to_categorical_bpd"] = (
                metrics["test_bpd"] - metrics["baseline_categorical_bpd"]
            )
            # paired over the test images (the Gaussian on its own noise draws)
            _flows.record_paired(metrics, "gap_to_gaussian_bpd", items[v], gauss.numpy())
            w = _flows.dequantize_test(data["test"])
            with torch.no_grad():
                z, _ = model(w)
                metrics["inverse_error"] = float((model.inverse(z)[0] - w).abs().max())
            for t in (0.7, 0.8, 0.9, 1.0):
                s = model.sample(10, t, torch.Generator().manual_seed(cfg.seed))
                rows.append((_flows.to_pixels(s), f"T={t}"))
    judged = cfg.variants[0]
    for name, a, b in (
        ("glow_minus_nice_bpd", judged, "nice"),
        ("glow_minus_shuffle_bpd", judged, "shuffle"),
        ("shuffle_minus_reverse_bpd", "shuffle", "reverse"),
    ):
        if a in items and b in items and a != b:
            _flows.record_paired(metrics, name, items[a], items[b])
    if out.is_main:
        _flows.save_sampler(out, acc.unwrap_model(models[judged]), judged)  # `kexue sample`
        real = _flows.to_pixels(_flows.dequantize_test(data["test"][:10]))
        out.save_figure(
            _plot.image_rows([(real, "test"), *rows], "Glow-mini samples"), "samples.png"
        )
        keys = [f"{v}/{k}_bpd" for v in cfg.variants for k in ("train", "valid")]
        refs = {"categorical": metrics["baseline_categorical_bpd"]}
        out.save_figure(_plot.curves(out.history, keys, "bits/dim", refs), "curves.png")
    return metrics


STATEMENTS = (
    Statement(
        "Glow replaces RealNVP's fixed shuffles with an invertible 1×1 convolution and reaches "
        "a lower loss than the shuffle (Glow paper, confirmed by the author's own runs)",
        "claim",
        "glow_minus_shuffle_bpd",
    ),
    Statement(
        "… and a random shuffle reaches a lower loss than reversing the channels",
        "claim",
        "shuffle_minus_reverse_bpd",
    ),
    Statement(
        "the 1×1 convolution needs many more epochs to saturate than the shuffle",
        "untestable",
        "the author's impression from his runs; with early stopping on 1,200 images the best "
        "step is resolved to 250 steps only (best_step, shuffle_best_step are reported)",
    ),
    Statement(
        "with W = PL(U + diag(s)), log|det W| = Σ log|s| costs O(C) (LU parametrisation)",
        "test",
        "tests/flows/test_glow.py::test_lu_weight_logdet_and_orthogonal_init",
    ),
    Statement(
        "actnorm initialised on data standardises each channel (zero mean, unit variance)",
        "test",
        "tests/flows/test_glow.py::test_actnorm_ddi_standardises_channels_and_persists",
    ),
    Statement(
        "squeeze reshapes 2×2×c blocks into 1×1×4c, keeping spatial locality",
        "test",
        "tests/flows/test_glow.py::test_squeeze_matches_an_explicit_index_loop",
    ),
    Statement(
        "the multi-scale prior p(z₁|z₂) is the change of variables ẑ = (z₁ − μ(z₂))/σ(z₂) with "
        "log-det −Σ log σ (eqs. 4–5)",
        "test",
        "tests/flows/test_glow.py::test_factor_out_density_is_the_conditional_gaussian",
    ),
    Statement(
        "RealNVP/Glow improve on NICE (here: Glow-mini against NICE on the same digits split)",
        "claim",
        "glow_minus_nice_bpd",
    ),
    Statement(
        "flows fit the data density itself (here: Glow-mini beats the full-covariance Gaussian)",
        "claim",
        "gap_to_gaussian_bpd",
    ),
    Statement(
        "the author's Keras Glow (additive coupling, shuffle, zero-init actnorm) generates "
        "CelebA-HQ faces after long training; T < 1 gives cleaner samples",
        "untestable",
        "CelebA-HQ and GPU-days are not available offline; the compat variant runs on digits",
    ),
    Statement(
        "published results: Glow 3.35 bits/dim on CIFAR-10, 1.05 on MNIST",
        "untestable",
        "CIFAR-10/MNIST at the paper's scale are out of reach offline on 2 CPUs",
    ),
)

__doc__ = statements_doc(__doc__, STATEMENTS)


def sampler(run: Path) -> Callable[[int, float, torch.Generator], np.ndarray]:
    """Samples from a finished Glow run folder: (n, temperature, generator) → images in [0, 1],
    (n, H, W, C) for a run on --data images, (n, 8, 8) digits otherwise (`kexue sample`)."""
    if _image_flow.is_image_run(run):
        return _image_flow.sampler(run, _image_build)

    def build(variant: str, config: dict[str, Any]) -> torch.nn.Module:
        return _build(variant, _image_flow.config_of(Config, config))

    return _flows.load_sampler(run, build)


def interpolator(run: Path) -> Callable[[int, int, float, torch.Generator], np.ndarray]:
    """Rows of images between two prior draws of a run on --data images
    (`kexue sample --interpolate K`)."""
    return _image_flow.interpolator(run, _image_build)


def reconstructor(run: Path) -> Callable[[np.ndarray], np.ndarray]:
    """x → z → x of a run on --data images (`kexue reconstruct`)."""
    return _image_flow.reconstructor(run, _image_build)
