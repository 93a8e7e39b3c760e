r"""The one training loop of the flows and the f-VAE on the user's image folder (`--data`).

Articles: 细水长flow之RealNVP与Glow：流模型的传承与升华 — 苏剑林, 2018-08-26
          https://kexue.fm/archives/5807
          细水长flow之f-VAEs：Glow与VAEs的联姻 — 苏剑林, 2018-09-21
          https://kexue.fm/archives/5977
Original: bojone/flow (glow.py, f-VAEs.py); openai/glow (train.py: learning-rate warm-up,
          data-dependent init on `n_batch_init` images, loss in bits/dim)

Key equations::

    y = (x + u)/256,  u ~ U[0, 1)^D,   w = y − ½                 (uniform dequantisation)
    bits/dim = (−log p(w) + D ln 256) / (D ln 2)                   (the loss and the metric)
    f-VAE:   −log p(w) ≤ neg_elbo(w)                               (its bits/dim are a bound)
    baseline: −Σ_d log₂ P_d(x_d) / D,  P_d the add-one-smoothed histogram of pixel d on train

Used by the glow, realnvp, nice and f-vae recipes when they get `--data FOLDER`:

    FlowImageOptions   the Config fields of the image loop (a recipe's Config inherits them)
    image_shape, check_halvings, config_of, is_image_run
    run_images         build a model (a `Flow`, or an `FVAE`), train it on the folder, evaluate
    sampler, interpolator, reconstructor   read a finished run back (`kexue sample`,
                       `kexue sample --interpolate`, `kexue reconstruct`)

The loop: a fixed, seeded 10 % of the folder is held out (the same images whatever the run's
seed); data-dependent ActNorm init on `img_ddi` training images; Adam with Glow's linear
warm-up, then a cosine decay (or a constant rate, the author's); gradient-norm clipping;
autocast (`--set amp=bf16`: the networks in bf16, log-dets and 1×1 mixing in float32); a
checkpoint every 500 steps or minute (resumed by re-running the command); the held-out bits/dim
every `img_eval_every` steps. At the end: the held-out bits/dim with `img_draws` noise draws per
image against the per-pixel categorical model of the training images, paired image by image
(bootstrap interval), samples at T = 0.7, 0.8, 0.9, 1.0, and the weights `kexue sample` reads.

Deviations:
    - Neither the author's Keras code nor openai/glow clips gradients; `img_clip` (a large
      bound by default, 0 turns it off) is a guard against the rare exploding step.
    - The author's glow.py trains on w = x/256 − ½ + U(0, 1/256): the same bins as here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kexue.data import DataFormatError, dequantize_uint8
from kexue.errors import InputError
from kexue.flows import (
    FVAE,
    Flow,
    bits_per_dim,
    categorical_bpd_per_image,
    dequantized_bpd_per_image,
)
from kexue.recipes import _flows, _images, _plot
from kexue.runs import Claim, RunDir, param, seed_everything

LEVELS = 256  # 8-bit images
TEMPERATURES = (0.7, 0.8, 0.9, 1.0)  # Glow samples at 0.7, the author at 0.8 (f-VAE) and 0.9
HELD_OUT_SEED = 0  # the held-out images do not depend on the run's seed


@dataclass(frozen=True)
class FlowImageOptions(_images.ImageOptions):
    """The image loop's Config fields (used only with `--data`)."""

    img_lr: float = 1e-3
    img_warmup: int = 200  # steps of linear learning-rate warm-up (Glow's)
    img_schedule: str = param("cosine", choices=("cosine", "constant"))  # after the warm-up
    img_clip: float = 100.0  # gradient-norm bound on the bits/dim loss; 0: no clipping
    img_test: float = 0.1  # held-out fraction of the folder (fixed, seeded)
    img_draws: int = 4  # dequantisation noise draws per held-out image in the final bits/dim
    img_ddi: int = 256  # training images for the data-dependent init (Glow's n_batch_init)
    img_eval_every: int = 500  # held-out bits/dim (256 images, 1 draw) in the history
    # (img_eval, of ImageOptions: how many held-out images the final bits/dim scores, at most)


def categorical_claim(model: str, measure: str = "held-out bits/dim") -> Claim:
    """The image flows' DATA_CLAIM: `model`'s `measure` on the user's images beats the
    independent per-pixel categorical model of the same training images."""
    return Claim(
        f"on the user's images, {model}'s {measure} is below the independent per-pixel "
        "categorical model fitted to the training images (paired difference < 0)",
        "bpd_minus_categorical",
        "<",
        0.0,
        ("quick", "full", "article"),
        kind="goal",
        interval=True,
    )


def image_shape(cfg: _images.ImageOptions) -> tuple[int, int, int]:
    """(C, H, W) of the run's images."""
    return (1 if cfg.img_mode == "L" else 3, cfg.img_size, cfg.img_size)


def check_halvings(cfg: _images.ImageOptions, halvings: int, setting: str) -> None:
    """A clear error when img_size cannot be squeezed `halvings` times."""
    if cfg.img_size % 2**halvings:
        raise InputError(
            f"img_size {cfg.img_size} does not halve {halvings} times ({setting}); "
            f"choose a larger img_size or fewer levels"
        )


def config_of(cls: type, config: dict[str, Any]) -> Any:
    """The recipe's Config from a run folder's config.json `config` (JSON lists → tuples)."""
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    return cls(**{k: v for k, v in values.items() if k in fields})


def is_image_run(run: Path) -> bool:
    """Whether a run folder holds a model trained on --data images (image_model.json)."""
    return (run / "image_model.json").is_file()


def held_out_split(n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: a fixed, seeded `fraction` of n images is held out. The test
    indices stay in random order, so the first img_eval of them are a random subset (a folder
    is sorted by class)."""
    if not 0.0 < fraction < 1.0:
        raise InputError(f"img_test must lie in (0, 1), got {fraction}")
    perm = np.random.RandomState(HELD_OUT_SEED).permutation(n)
    n_test = max(1, int(round(fraction * n)))
    return np.sort(perm[n_test:]), perm[:n_test]


def _chunks(ds: Any, idx: np.ndarray, size: int = 2048) -> Iterator[torch.Tensor]:
    for start in range(0, len(idx), size):
        yield _images.folder_images(ds, idx[start : start + size])


def _to_model_space(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 pixels → w = (x + u)/256 − ½ (dequantised on the CPU, the generator's device)."""
    return dequantize_uint8(x, generator) - 0.5


class _LogDensity(nn.Module):
    """log p(w) per image (B,): the flow's exact log-density, or the f-VAE's ELBO (a bound);
    a module, so that DDP and torch.compile see the whole objective in `forward`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if isinstance(self.model, FVAE):
            return -self.model.neg_elbo(w)
        return self.model.log_prob(w)


def _lr(cfg: FlowImageOptions, step: int) -> float:
    if cfg.img_schedule == "cosine":
        return _flows.cosine_lr(step, cfg.img_steps, cfg.img_lr, cfg.img_warmup)
    return cfg.img_lr * min(1.0, (step + 1) / cfg.img_warmup) if cfg.img_warmup > 0 else cfg.img_lr


def _unit(w: torch.Tensor) -> np.ndarray:
    """Model space (N, C, H, W) → 8-bit pixels x = ⌊256·(w + ½)⌋ (the bin w falls in) as
    (N, H, W, C) x/255 in [0, 1]: a flow's x → z → x then returns the very pixel values."""
    x = torch.floor((w.float() + 0.5) * LEVELS).clamp(0, LEVELS - 1) / (LEVELS - 1)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def _grid(w: torch.Tensor) -> torch.Tensor:
    """Model space → [−1, 1] for `_images.save_grid` (clamped: flows can overshoot)."""
    return (2.0 * w.float()).clamp(-1.0, 1.0).cpu()


def run_images(
    cfg: FlowImageOptions, out: RunDir, build: Callable[[], nn.Module], *, kind: str
) -> dict[str, float]:
    """Train the model `build()` makes (a Flow on (C, H, W) images, or an FVAE) on cfg.data
    and evaluate it (built after seeding, so its random initialisation is the seed's).

    Returns the metrics: bpd_test (held-out; for the f-VAE the negative-ELBO bound),
    bpd_categorical, bpd_minus_categorical (paired, with _lo/_hi), bpd_train, and the
    run's sizes and CPU seconds.
    """
    g = seed_everything(cfg.seed)
    model = build()
    acc = _images.image_accelerator(cfg)
    ds = _images.load_images(cfg, out, as_uint8=True)
    shape = image_shape(cfg)
    if tuple(ds.pixels.shape[1:]) != (shape[1], shape[2], shape[0]):
        raise DataFormatError(f"{cfg.data}: images of {ds.pixels.shape[1:]}, expected {shape}")
    train_idx, test_idx = held_out_split(len(ds), cfg.img_test)
    if len(train_idx) < cfg.img_batch:
        raise DataFormatError(
            f"{cfg.data}: {len(ds)} images leave {len(train_idx)} for training after holding "
            f"out {len(test_idx)}, fewer than one batch ({cfg.img_batch}); add images or lower "
            f"--set img_batch"
        )
    dims = math.prod(shape)
    test = _images.folder_images(ds, test_idx[: cfg.img_eval])
    watch = test[:256]  # the held-out images of the history's curve
    cat_items = categorical_bpd_per_image(_chunks(ds, train_idx), test, LEVELS)
    bpd_cat = float(cat_items.mean())
    if out.say is not None:
        out.say(f"per-pixel categorical baseline: {bpd_cat:.3f} bits/dim on {len(test)} images")

    device = acc.device
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.img_lr)
    state = {"rng": g, "model": model, "opt": opt}
    start = out.restore(state)
    if start == 0:  # ActNorm's data-dependent init, before DDP copies rank 0's weights
        pick = torch.randperm(len(train_idx), generator=g)[: min(cfg.img_ddi, len(train_idx))]
        w = _to_model_space(_images.folder_images(ds, train_idx[pick.numpy()]), g).to(device)
        model.train()
        with torch.no_grad():
            _LogDensity(model)(w)
    if acc.num_processes > 1:
        # each rank draws its own batches and noise; a checkpoint keeps rank 0's stream only,
        # so the streams are re-derived from (seed, step, rank) on every start
        g.manual_seed(cfg.seed * 1000 + 7919 * start + acc.process_index)
    objective, opt = acc.prepare(_LogDensity(model), opt)
    step_fn = _images.prepare_model(objective, cfg, device)
    state["opt"] = opt
    stream = _images.batches(
        torch.utils.data.Subset(ds, train_idx.tolist()), cfg.img_batch, g, cfg.img_workers
    )

    def held_out_bpd(images: torch.Tensor, draws: int) -> np.ndarray:
        model.eval()
        items = dequantized_bpd_per_image(
            lambda w: _LogDensity(model)(w.to(device)).float().cpu(),
            images,
            LEVELS,
            draws,
            torch.Generator().manual_seed(1),  # the same noise at every evaluation
            batch=cfg.img_batch,
        )
        model.train()
        return items.numpy()

    clip = cfg.img_clip if cfg.img_clip > 0 else math.inf
    t0, first = time.process_time(), start
    wall0 = time.perf_counter()
    model.train()
    for step in out.progress(range(start, cfg.img_steps), f"{kind} on {len(train_idx):,} images"):
        x, _ = next(stream)
        w = _to_model_space(x, g).to(device, non_blocking=True)
        lr = _lr(cfg, step)
        for group in opt.param_groups:
            group["lr"] = lr
        with acc.autocast():
            log_p = step_fn(w)
        loss = bits_per_dim(log_p.float(), dims, LEVELS).mean()
        opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        norm = acc.clip_grad_norm_(model.parameters(), clip)
        row = {"train_bpd": loss.item(), "grad_norm": float(norm), "lr": lr}
        if (step + 1) % cfg.img_eval_every == 0 or step == cfg.img_steps - 1:
            row["test_bpd"] = float(held_out_bpd(watch, 1).mean())
        out.log(step, **row)  # a NaN/inf loss or gradient stops here, before the update
        opt.step()
        out.maybe_checkpoint(step + 1, state)
    cpu_s, wall_s = time.process_time() - t0, time.perf_counter() - wall0
    out.save_checkpoint(cfg.img_steps, state)

    model.eval()
    items = held_out_bpd(test, cfg.img_draws)
    trained = [r["train_bpd"] for r in out.history if "train_bpd" in r]
    metrics: dict[str, float] = {
        "bpd_test": float(items.mean()),
        "bpd_categorical": bpd_cat,
        "bpd_train": float(np.mean(trained[-50:])) if trained else math.nan,
        "n_train": float(len(train_idx)),
        "n_test": float(len(test)),
        "params": float(_flows.n_params(model)),
        "train_cpu_s": cpu_s,
    }
    if cfg.img_steps > first:
        metrics["train_steps_per_s"] = (cfg.img_steps - first) / max(wall_s, 1e-9)
    _flows.record_paired(metrics, "bpd_minus_categorical", items, cat_items.numpy())
    gen = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        w = _to_model_space(test[:16], gen).to(device)
        if isinstance(model, FVAE):
            recon = model.reconstruct(w)
            metrics["recon_mse"] = float(((_unit(recon) - _unit(w)) ** 2).mean())
            metrics["sigma1"] = float(model.log_sigma1.exp())
            metrics["sigma2"] = float(model.log_sigma2.exp())
        else:
            back = model.inverse(model(w)[0])[0]
            metrics["inverse_error"] = float((back - w).abs().max())
        samples = torch.cat([model.sample(8, t, gen) for t in TEMPERATURES])
    if out.is_main:
        _images.save_image_model(out, model, kind, shape=list(shape), levels=LEVELS)
        # rows: T = 0.7, 0.8, 0.9, 1.0 (top to bottom)
        _images.save_grid(out, "samples.png", _grid(samples), nrow=8)
        _images.save_grid(out, "real.png", test[:32], nrow=8)
        if isinstance(model, FVAE):
            pairs = torch.stack([w, recon], 1).flatten(0, 1)
            _images.save_grid(out, "reconstructions.png", _grid(pairs), nrow=8)
        fig = _plot.curves(
            out.history, ["train_bpd", "test_bpd"], f"{kind}: bits/dim", {"categorical": bpd_cat}
        )
        out.save_figure(fig, "curves.png")
    return metrics


# ----------------------------------------------------------------------------- a finished run
Build = Callable[[dict[str, Any]], nn.Module]


def _load(run: Path, build: Build) -> nn.Module:
    if not is_image_run(run):
        raise InputError(
            f"{run}: not trained on --data images (no image_model.json); only runs trained on "
            f"an image folder can be sampled, interpolated or reconstructed"
        )
    model, _ = _images.load_image_model(run, lambda config, meta: build(config))
    return model


def _decode(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Latent z (the flow's, or the f-VAE prior's) → model-space images."""
    if isinstance(model, FVAE):
        return model.decoder(model.prior.inverse(z)[0])
    return model.inverse(z)[0]


def _latent_flow(model: nn.Module) -> Flow:
    return model.prior if isinstance(model, FVAE) else model


def sampler(run: Path, build: Build) -> Callable[[int, float, torch.Generator], np.ndarray]:
    """(n, temperature, generator) → n samples (n, H, W, C) in [0, 1] from an image run;
    `build(config)` makes the untrained model the weights load into."""
    model = _load(run, build)

    def draw(n: int, temperature: float, generator: torch.Generator) -> np.ndarray:
        with torch.no_grad():
            return _unit(model.sample(n, temperature, generator))

    return draw


def interpolator(
    run: Path, build: Build
) -> Callable[[int, int, float, torch.Generator], np.ndarray]:
    """(rows, k, temperature, generator) → rows·k images (H, W, C) in [0, 1]: each row walks
    from one prior draw to another along `_images.gaussian_path`."""
    model = _load(run, build)
    prior = _latent_flow(model).prior

    def walk(rows: int, k: int, temperature: float, generator: torch.Generator) -> np.ndarray:
        z1, z2 = (prior.sample(rows, temperature, generator) for _ in range(2))
        with torch.no_grad():
            return _unit(_decode(model, _images.gaussian_path(z1, z2, k)))

    return walk


def reconstructor(run: Path, build: Build) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 images (n, H, W, C) → reconstructions (n, H, W, C) in [0, 1]. A flow maps the
    bin centres w = (x + ½)/256 − ½ to z and back (exact up to float error); the f-VAE
    decodes the mean code, G(E(w))."""
    model = _load(run, build)
    meta = json.loads((run / "image_model.json").read_text(encoding="utf-8"))

    def reconstruct(pixels: np.ndarray) -> np.ndarray:
        w = (_images.user_pixels(pixels, meta["shape"]) + 0.5) / LEVELS - 0.5
        with torch.no_grad():
            if isinstance(model, FVAE):
                return _unit(model.reconstruct(w))
            return _unit(model.inverse(model(w)[0])[0])

    return reconstruct
