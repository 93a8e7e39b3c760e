r"""Recipe: RealNVP (affine coupling) against NICE (additive coupling + scaling) on 2-D toys
whose true density is known.

Article: 细水长flow之RealNVP与Glow：流模型的传承与升华 (see kexue.flows.realnvp)
Data:    kexue.data.toy2d: checkerboard (true NLL ln 32 = 3.466 nats), wide_eight_gaussians
         (FFJORD's 8 Gaussians, true NLL computed exactly on the test set, ≈ 2.83); 50k train /
         20k test points per toy, fixed by the seed
Run:     kexue run realnvp                 (full, 5000 steps per model)
         kexue run realnvp --budget quick  (about 30 s)
         kexue run realnvp --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         density_<toy>.png (data histogram, RealNVP and NICE densities on [−6, 6]²)
         curves.png (test NLL during training against the truth)

RealNVP-8: ActNorm(DDI) → affine coupling with alternating coordinate (for D = 2: x ↔ y),
s,t = MLP(1→64→64→2) ReLU with zero-init output, log s = λ·tanh(ŝ). NICE-8: reverse → additive
coupling, final scaling layer (DDI), normal prior. Adam 1e-3, batch 256. Test NLL in nats;
the density's integral is a Riemann sum on a 400² grid over [−6, 6]².
Both models of a toy draw their minibatches from their own generator, seeded alike (the same
points in the same order).
Claims: RealNVP-8's test NLL is within 0.3 nats of the truth on both toys and its density
integrates to 1; NICE-8 stays within 0.8 nats; RealNVP (affine) fits each toy better than NICE
(additive + scaling) with the same steps (paired bootstrap over the test points).
On your images (`kexue run realnvp --data FOLDER`): RealNVP's multi-scale image model
(kexue.flows.MultiScaleRealNVP: per scale 3 checkerboard couplings → squeeze → 3 channel
couplings → factor out half, the last scale 4 checkerboard couplings; s,t = small ResNets;
λ·tanh log-scales; ActNorm before each coupling) through the shared image loop
(kexue/recipes/_image_flow.py): held-out bits/dim against the per-pixel categorical model
(DATA_CLAIMS), samples.png, real.png, curves.png, and the weights `kexue sample` reads.
`--budget article` is the paper's CIFAR-10 model (8 residual blocks of 64 feature maps, one
downscale) at 32×32.

Deviations:
    - ActNorm before each coupling in place of RealNVP's batch normalisation (also on images).
Recorded: `kexue show realnvp` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kexue.data import mode_centres, mode_std, toy2d
from kexue.flows import NICE, MultiScaleRealNVP, RealNVP, density_on_grid
from kexue.recipes import _image_flow, _images, _plot
from kexue.runs import (
    Claim,
    RunDir,
    Statement,
    make_accelerator,
    seed_everything,
    statements_doc,
)
from kexue.stats import paired_interval

DATA = _images.IMAGE_DATA


@dataclass(frozen=True)
class Config(_image_flow.FlowImageOptions):
    seed: int = 0
    toys: tuple[str, ...] = ("checkerboard", "wide_eight_gaussians")
    steps: int = 5000  # per model and toy
    batch_size: int = 256
    lr: float = 1e-3
    n_train: int = 50_000
    n_test: int = 20_000
    n_couplings: int = 8
    hidden: tuple[int, ...] = (64, 64)
    scale_fn: str = "tanh"
    eval_every: int = 500
    grid_n: int = 400
    grid_lim: float = 6.0
    # --data FOLDER: the multi-scale image model (the img_* fields of _image_flow set the loop)
    img_scales: int = 3
    img_width: int = 16  # feature maps of the s,t ResNets
    img_blocks: int = 1  # residual blocks per s,t ResNet
    img_steps: int = 2000
    img_batch: int = 32


QUICK = {
    "steps": 1000,
    "grid_n": 200,
    "n_train": 20_000,
    "n_test": 5000,
    "img_steps": 150,
    "img_scales": 2,
    "img_warmup": 50,
    "img_eval_every": 50,
}
SMOKE = {
    "steps": 30,
    "grid_n": 60,
    "n_train": 2000,
    "n_test": 1000,
    "eval_every": 10,
    "img_size": 16,
    "img_steps": 3,
    "img_batch": 16,
    "img_eval": 16,
    "img_draws": 1,
    "img_scales": 2,
    "img_width": 8,
    "img_warmup": 2,
    "img_eval_every": 2,
}
# The paper's CIFAR-10 model (Dinh et al. 2017 §4.1: 8 residual blocks, 64 feature maps, one
# downscale, Adam at its default rate, batch 64); 80k steps as in the PyTorch reproduction that
# matches the paper's 3.49 bits/dim (fmu2/realNVP, specs/flows.md §2.1).
ARTICLE = {
    "img_size": 32,
    "img_scales": 2,
    "img_width": 64,
    "img_blocks": 8,
    "img_lr": 1e-3,
    "img_batch": 64,
    "img_steps": 80_000,
    "img_eval_every": 5000,
}

CLAIMS = (
    Claim(
        "RealNVP-8's test NLL is within 0.30 nats of the true entropy on every toy",
        "realnvp_gap_max",
        "<=",
        0.30,
        ("quick", "full"),
    ),
    Claim(
        "RealNVP's density integrates to 1 ± 0.02 on [−6, 6]²",
        "realnvp_integral_error_max",
        "<=",
        0.02,
        ("quick", "full"),
    ),
    Claim(
        "NICE-8 (additive + scaling) stays within 0.8 nats of the truth on every toy",
        "nice_gap_max",
        "<=",
        0.8,
        ("quick", "full"),
    ),
    Claim(
        "the affine coupling fits better than the additive one: RealNVP-8's test NLL is below "
        "NICE-8's on every toy (same points, steps and minibatches; difference < 0)",
        "realnvp_minus_nice_max",
        "<",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
)


DATA_CLAIMS = (_image_flow.categorical_claim("RealNVP"),)


def _image_model(cfg: Config) -> MultiScaleRealNVP:
    """RealNVP's multi-scale model on the run's (C, img_size, img_size) images."""
    _image_flow.check_halvings(cfg, cfg.img_scales - 1, f"img_scales={cfg.img_scales}")
    return MultiScaleRealNVP(
        _image_flow.image_shape(cfg),
        scales=cfg.img_scales,
        width=cfg.img_width,
        blocks=cfg.img_blocks,
        scale_fn=cfg.scale_fn,  # type: ignore[arg-type]
    )


def _image_build(config: dict[str, Any]) -> torch.nn.Module:
    return _image_model(_image_flow.config_of(Config, config))


def true_nll(name: str, x: np.ndarray) -> float:
    """The exact test NLL of the generating density (ln 32 for the checkerboard)."""
    if name == "checkerboard":
        return math.log(32.0)
    centres, std = mode_centres(name), mode_std(name)
    d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    logp = -d2 / (2 * std**2) - math.log(2 * math.pi * std**2) - math.log(len(centres))
    return float(-np.mean(np.logaddexp.reduce(logp, axis=1)))


def _build(kind: str, cfg: Config) -> torch.nn.Module:
    if kind == "realnvp":
        return RealNVP(2, n_couplings=cfg.n_couplings, hidden=cfg.hidden, scale_fn=cfg.scale_fn)
    return NICE(
        2, n_couplings=cfg.n_couplings, hidden=cfg.hidden, prior="normal", scale_init="ddi"
    )


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    if cfg.data is not None:
        return _image_flow.run_images(cfg, out, lambda: _image_model(cfg), kind="realnvp")
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    jobs = [(toy, kind) for toy in cfg.toys for kind in ("realnvp", "nice")]
    data = {
        toy: (
            torch.from_numpy(toy2d(toy, cfg.n_train, seed=cfg.seed)),
            torch.from_numpy(toy2d(toy, cfg.n_test, seed=10_000 + cfg.seed)),
        )
        for toy in cfg.toys
    }
    models = {f"{toy}/{kind}": _build(kind, cfg) for toy, kind in jobs}
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in models.items()}
    for k in models:
        models[k], opts[k] = acc.prepare(models[k], opts[k])
    gens = {k: torch.Generator().manual_seed(cfg.seed) for k in models}
    state = {
        "rng": g,
        **{f"rng:{k}": gk for k, gk in gens.items()},
        **{f"model:{k}": m for k, m in models.items()},
        **{f"opt:{k}": o for k, o in opts.items()},
    }
    start = out.restore(state)
    seconds: dict[str, float] = {}

    def test_nlls(key: str) -> np.ndarray:  # per test point
        flow = acc.unwrap_model(models[key])
        flow.eval()
        with torch.no_grad():
            value = -flow.log_prob(data[key.split("/")[0]][1]).double().numpy()
        flow.train()
        return value

    def test_nll(key: str) -> float:
        return float(test_nlls(key).mean())

    for j, (toy, kind) in enumerate(jobs):
        key, x_train = f"{toy}/{kind}", data[toy][0]
        flow, opt = models[key], opts[key]
        t0 = time.perf_counter()
        first = max(start, j * cfg.steps)
        for step in out.progress(range(first, (j + 1) * cfg.steps), f"arm {key}"):
            idx = torch.randint(len(x_train), (cfg.batch_size,), generator=gens[key])
            loss = acc.unwrap_model(flow).nll(
                x_train[idx]
            )  # ActNorm DDI happens on the first call
            opt.zero_grad()
            acc.backward(loss)
            opt.step()
            row = {f"{key}/train_nll": loss.item()}
            local = step - j * cfg.steps
            if local % cfg.eval_every == 0 or local == cfg.steps - 1:
                row[f"{key}/test_nll"] = test_nll(key)
            out.log(step, **row)
            out.maybe_checkpoint(step + 1, state)
        if first < (j + 1) * cfg.steps:
            seconds[key] = (time.perf_counter() - t0) / ((j + 1) * cfg.steps - first)
    out.save_checkpoint(len(jobs) * cfg.steps, state)

    metrics: dict[str, float] = {}
    for toy in cfg.toys:
        x_test = data[toy][1]
        truth = true_nll(toy, x_test.numpy())
        metrics[f"{toy}_true_nll"] = truth
        panels = [
            (
                np.histogram2d(
                    x_test[:, 1].numpy(),
                    x_test[:, 0].numpy(),
                    bins=120,
                    range=[[-cfg.grid_lim, cfg.grid_lim]] * 2,
                )[0],
                "test data",
            )
        ]
        nlls = {}
        for kind in ("realnvp", "nice"):
            key = f"{toy}/{kind}"
            flow = acc.unwrap_model(models[key]).eval()
            nlls[kind] = test_nlls(key)
            nll = float(nlls[kind].mean())
            flow.eval()
            dens, integral = density_on_grid(flow.log_prob, cfg.grid_lim, cfg.grid_n)
            with torch.no_grad():
                z, _ = flow(x_test)
                x_back, _ = flow.inverse(z)
            metrics[f"{toy}_{kind}_test_nll"] = nll
            metrics[f"{toy}_{kind}_gap"] = nll - truth
            metrics[f"{toy}_{kind}_integral"] = integral
            metrics[f"{toy}_{kind}_inverse_error"] = float((x_back - x_test).abs().max())
            if key in seconds:
                metrics[f"{toy}_{kind}_steps_per_s"] = 1.0 / seconds[key]
            panels.append((dens.numpy(), f"{kind}: NLL {nll:.3f} (truth {truth:.3f})"))
        metrics[f"{toy}_realnvp_minus_nice"] = float(np.mean(nlls["realnvp"] - nlls["nice"]))
        lo, hi = paired_interval(nlls["realnvp"], nlls["nice"])
        metrics[f"{toy}_realnvp_minus_nice_lo"], metrics[f"{toy}_realnvp_minus_nice_hi"] = lo, hi
        if out.is_main:
            out.save_figure(
                _plot.heatmaps(panels, cfg.grid_lim, f"{toy}: data vs learned densities"),
                f"density_{toy}.png",
            )
    # the worst toy for RealNVP; the bound judged is the largest upper bound over the toys
    for end in ("", "_lo", "_hi"):
        metrics[f"realnvp_minus_nice_max{end}"] = max(
            metrics[f"{t}_realnvp_minus_nice{end}"] for t in cfg.toys
        )
    for kind in ("realnvp", "nice"):
        metrics[f"{kind}_gap_max"] = max(metrics[f"{t}_{kind}_gap"] for t in cfg.toys)
        metrics[f"{kind}_integral_error_max"] = max(
            abs(metrics[f"{t}_{kind}_integral"] - 1) for t in cfg.toys
        )
    if out.is_main:
        keys = [f"{t}/{k}/test_nll" for t in cfg.toys for k in ("realnvp", "nice")]
        hl = {f"truth {t}": metrics[f"{t}_true_nll"] for t in cfg.toys}
        out.save_figure(_plot.curves(out.history, keys, "test NLL (nats)", hl), "curves.png")
    return metrics


STATEMENTS = (
    Statement(
        "the affine coupling h₂ = s(x₁) ⊗ x₂ + t(x₁) has a triangular Jacobian with "
        "determinant ∏ s",
        "test",
        "tests/flows/test_flow_contracts.py::test_logabsdet_matches_autograd_jacobian",
    ),
    Statement(
        "RealNVP generalises NICE's additive coupling to the affine one and fits better "
        "(non-volume-preserving)",
        "claim",
        "realnvp_minus_nice_max",
    ),
    Statement(
        "a stack of affine couplings models a density closely (here: the toys' true entropies)",
        "claim",
        "realnvp_gap_max",
    ),
    Statement(
        "… NICE's volume-preserving stack with a final scaling is a weaker fit",
        "claim",
        "nice_gap_max",
    ),
    Statement(
        "the change-of-variables density is normalised",
        "claim",
        "realnvp_integral_error_max",
    ),
    Statement(
        "a checkerboard mask keeps spatial locality, so the coupling nets can be convolutions",
        "test",
        "tests/flows/test_realnvp.py::test_checkerboard_keeps_the_conditioning_squares",
    ),
    Statement(
        "random shuffling mixes better than reversal and reaches a lower loss",
        "untestable",
        "not on 2-D toys (a shuffle of 2 coordinates is a swap); the glow recipe, same "
        "article, judges it on digits (shuffle_minus_reverse_bpd)",
    ),
    Statement(
        "the multi-scale architecture cuts computation and improves results; RealNVP reaches "
        "3.49 bits/dim on CIFAR-10",
        "untestable",
        "image-scale architectures and CIFAR-10 are out of reach offline on 2 CPUs; the "
        "multi-scale Glow-mini runs in the glow recipe",
    ),
)

__doc__ = statements_doc(__doc__, STATEMENTS)


def sampler(run: Path) -> Callable[[int, float, torch.Generator], np.ndarray]:
    """Samples (n, H, W, C) in [0, 1] from a RealNVP run on --data images (`kexue sample`);
    the toy runs have densities, not images, and are refused."""
    return _image_flow.sampler(run, _image_build)


def interpolator(run: Path) -> Callable[[int, int, float, torch.Generator], np.ndarray]:
    """Rows of images between two prior draws (`kexue sample --interpolate K`)."""
    return _image_flow.interpolator(run, _image_build)


def reconstructor(run: Path) -> Callable[[np.ndarray], np.ndarray]:
    """x → z → x of a run on --data images (`kexue reconstruct`)."""
    return _image_flow.reconstructor(run, _image_build)
