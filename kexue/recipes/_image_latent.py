r"""The one training loop of the latent-variable recipes on the user's image folder (`--data`):
vae-geometry (a Gaussian VAE and the AE of the same network), gumbel (a categorical VAE through
soft and straight-through Gumbel-Softmax) and infomax (the author's Deep InfoMax encoder).

Articles: 变分自编码器（六）：从几何视角来理解VAE的尝试 — 苏剑林, 2020-09-10,
          https://kexue.fm/archives/7725; 漫谈重参数：从正态分布到Gumbel Softmax — 苏剑林,
          2019-06-10, https://kexue.fm/archives/6705; 深度学习的互信息：无监督提取特征 — 苏剑林,
          2018-10-02, https://kexue.fm/archives/6024 (models in kexue.latent.image_vae and
          kexue.latent.infomax)

Key equations (the VAEs; InfoMax's loss is kexue.latent.infomax.DeepInfoMax)::

    y = (x + u)/256, u ~ U[0, 1)^D                       (dequantised pixels, the VAEs' input)
    bits/dim = (−ELBO(y) + D ln 256)/(D ln 2)              (a bound: −ELBO ≥ −log p(y))
    baseline: −Σ_d log₂ P_d(x_d) / D,  P_d the add-one-smoothed histogram of pixel d on train

    LatentImageOptions  the Config fields of the loop (a recipe's Config inherits them)
    run_arms            build the arms after seeding, train them on the same batches
    Trained             what the loop hands back: arms (eval mode), the split, the device
    dequantized, centred   model inputs: (x + u)/256 for the VAEs, x/255 − ½ for InfoMax
                           (infomax_cifar10.py's scaling)
    encode_all, elbo_bpd, categorical_bpd, unit, save_grid   evaluation helpers
    sampler, interpolator, reconstructor   read a finished VAE run back (`kexue sample`,
                           `kexue sample --interpolate`, `kexue reconstruct`)

The loop: a fixed, seeded `img_test` fraction of the folder is held out (the same images
whatever the run's seed: `_image_flow.held_out_split`); each arm is built after seeding, from the
same initial weights (the seed is reset before each), gets its own Adam(img_lr) and sees the same
minibatches and the same dequantisation noise (paired arms); autocast with `--set amp=bf16`; a
checkpoint every 500 steps or minute (resumed by re-running the command); one process (no
multi-GPU launch: the arms' loss methods are not DDP forwards). Evaluations run in
eval mode (BatchNorm's running statistics) on at most `img_eval` held-out images and
`EVAL_TRAIN` training images.

Deviations: the author's scripts train for epochs; here a run counts optimiser steps
(`img_steps`), as the other image loops do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from kexue.data import DataFormatError, dequantize_uint8
from kexue.errors import InputError
from kexue.flows import categorical_bpd_per_image, dequantized_bpd_per_image
from kexue.recipes import _image_flow, _images
from kexue.runs import RunDir, param, seed_everything

LEVELS = 256  # 8-bit images
EVAL_TRAIN = 10_000  # training images encoded for the evaluation, at most (a seeded subset)


@dataclass(frozen=True)
class LatentImageOptions(_images.ImageOptions):
    """The latent loop's Config fields (used only with `--data`)."""

    img_lr: float = 1e-3
    img_width: int = param(64, min=0)  # the widest convolution's channels; 0: the author's
    img_test: float = 0.1  # held-out fraction of the folder (fixed, seeded)
    img_draws: int = 4  # noise draws per held-out image in the test ELBO (the VAEs)


@dataclass
class Trained:
    """The arms after training (unwrapped, eval mode) and what their evaluation needs."""

    arms: dict[str, nn.Module]
    ds: Any  # the ImageFolder (uint8)
    train_idx: np.ndarray  # sorted
    test_idx: np.ndarray  # the held-out images, in random order
    shape: tuple[int, int, int]  # (C, H, W)
    device: torch.device
    metrics: dict[str, float]  # sizes and timings of the training

    def test_images(self, cap: int) -> tuple[Tensor, np.ndarray]:
        """Up to `cap` held-out images (n, C, H, W) uint8 (a random subset, in folder order)
        and their labels (−1: no class subfolder)."""
        idx = np.sort(self.test_idx[:cap])
        return _images.folder_images(self.ds, idx), self.ds.labels[idx]

    def train_images(self, seed: int, cap: int = EVAL_TRAIN) -> tuple[Tensor, np.ndarray]:
        """Up to `cap` training images (a seeded subset, in folder order) and their labels."""
        idx = self.train_idx
        if len(idx) > cap:
            idx = np.sort(np.random.default_rng(seed).choice(idx, cap, replace=False))
        return _images.folder_images(self.ds, idx), self.ds.labels[idx]

    def train_chunks(self, size: int = 2048) -> Iterator[Tensor]:
        """Every training image, `size` at a time (uint8; for the categorical baseline)."""
        for start in range(0, len(self.train_idx), size):
            yield _images.folder_images(self.ds, self.train_idx[start : start + size])


def dequantized(x: Tensor, g: torch.Generator) -> Tensor:
    """uint8 pixels → y = (x + u)/256 ∈ [0, 1) (the noise drawn on the CPU, from `g`)."""
    return dequantize_uint8(x, g)


def centred(x: Tensor, g: torch.Generator | None = None) -> Tensor:
    """uint8 pixels → x/255 − ½ (infomax_cifar10.py's inputs; no noise)."""
    return x.float() / 255.0 - 0.5


def image_shape(cfg: _images.ImageOptions) -> tuple[int, int, int]:
    """(C, H, W) of the run's images."""
    return _image_flow.image_shape(cfg)


def width_of(cfg: LatentImageOptions, default: int) -> int:
    """img_width, or (0) the author's `default`."""
    return cfg.img_width or default


Step = Callable[[str, nn.Module, Tensor, int, torch.Generator], tuple[Tensor, dict[str, float]]]


def run_arms(
    cfg: LatentImageOptions,
    out: RunDir,
    builds: dict[str, Callable[[], nn.Module]],
    step_fn: Step,
    inputs: Callable[[Tensor, torch.Generator], Tensor],
    *,
    kind: str,
) -> Trained:
    """Train one arm per entry of `builds` on cfg.data (each built after resetting the seed:
    the same initial weights for arms of the same shape).

    Each step draws one batch of training images, turns it into model inputs once
    (`inputs(x, g)`, shared by the arms), and for each arm calls `step_fn(name, arm, inputs,
    step, g)` → (loss, logged values) and takes one Adam step on the loss.
    """
    g = seed_everything(cfg.seed)
    arms = {}
    for name, build in builds.items():
        torch.manual_seed(cfg.seed)
        arms[name] = build()
    acc = _images.image_accelerator(cfg)
    if acc.num_processes > 1:
        raise InputError(
            f"{kind} on images runs in one process (its arms' losses are called outside DDP's "
            "forward); launch it without accelerate's multi-GPU launcher"
        )
    ds = _images.load_images(cfg, out, as_uint8=True)
    shape = image_shape(cfg)
    if tuple(ds.pixels.shape[1:]) != (shape[1], shape[2], shape[0]):
        raise DataFormatError(f"{cfg.data}: images of {ds.pixels.shape[1:]}, expected {shape}")
    train_idx, test_idx = _image_flow.held_out_split(len(ds), cfg.img_test)
    if len(train_idx) < cfg.img_batch:
        raise DataFormatError(
            f"{cfg.data}: {len(ds)} images leave {len(train_idx)} for training after holding "
            f"out {len(test_idx)}, fewer than one batch ({cfg.img_batch}); add images or lower "
            f"--set img_batch"
        )
    device = acc.device
    prepared: dict[str, tuple[nn.Module, torch.optim.Optimizer]] = {}
    state: dict[str, Any] = {"rng": g}
    for name, model in arms.items():
        opt = torch.optim.Adam(model.parameters(), lr=cfg.img_lr)
        model, opt = acc.prepare(model, opt)
        prepared[name] = (model, opt)
        state[name], state[f"{name}_opt"] = model, opt
    start = out.restore(state)
    stream = _images.batches(
        torch.utils.data.Subset(ds, train_idx.tolist()), cfg.img_batch, g, cfg.img_workers
    )
    cpu0, wall0, first = time.process_time(), time.perf_counter(), start
    for model, _ in prepared.values():
        model.train()
    for step in out.progress(range(start, cfg.img_steps), f"{kind} on {len(train_idx):,} images"):
        x = inputs(next(stream)[0], g).to(device, non_blocking=True)
        row: dict[str, float] = {}
        for name, (model, opt) in prepared.items():
            with acc.autocast():
                loss, values = step_fn(name, acc.unwrap_model(model), x, step, g)
            opt.zero_grad(set_to_none=True)
            acc.backward(loss)
            opt.step()
            row.update(values)
        out.log(step, **row)  # a NaN/inf loss stops here; the last checkpoint stays
        out.maybe_checkpoint(step + 1, state)
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    out.save_checkpoint(cfg.img_steps, state)
    metrics = {
        "steps": float(cfg.img_steps),
        "images": float(len(ds)),
        "n_train": float(len(train_idx)),
        "n_test": float(len(test_idx)),
        "train_cpu_s": cpu_s,
    }
    if cfg.img_steps > first:
        metrics["train_steps_per_s"] = (cfg.img_steps - first) / max(wall_s, 1e-9)
    done = {name: acc.unwrap_model(model).eval() for name, (model, _) in prepared.items()}
    for name, model in done.items():
        metrics[f"{name}_params"] = float(sum(p.numel() for p in model.parameters()))
    return Trained(done, ds, train_idx, test_idx, shape, device, metrics)


@torch.no_grad()
def encode_all(fn: Callable[[Tensor], Any], x: Tensor, device: torch.device,
               batch: int = 256) -> Any:  # fmt: skip
    """`fn` on `x` (on the CPU) `batch` images at a time on `device`; the outputs (a tensor or a
    tuple of tensors) concatenated on the CPU, in float32."""
    parts = [fn(x[i : i + batch].to(device)) for i in range(0, len(x), batch)]
    if isinstance(parts[0], tuple):
        return tuple(torch.cat([p[k].float().cpu() for p in parts]) for k in range(len(parts[0])))
    return torch.cat([p.float().cpu() for p in parts])


def elbo_bpd(
    neg_elbo: Callable[[Tensor], Tensor], test: Tensor, trained: Trained, cfg: LatentImageOptions
) -> np.ndarray:
    """Held-out bits/dim of a negative-ELBO bound per image (n,), averaged over `img_draws`
    dequantisations of each 8-bit image (the same noise for every model evaluated)."""
    device = trained.device

    def log_p(w: Tensor) -> Tensor:  # w = (x + u)/256 − ½, the flows' model space
        return -neg_elbo((w + 0.5).to(device)).float().cpu()

    items = dequantized_bpd_per_image(
        log_p, test, LEVELS, cfg.img_draws, torch.Generator().manual_seed(1), batch=cfg.img_batch
    )
    return items.numpy()


def categorical_bpd(trained: Trained, test: Tensor) -> np.ndarray:
    """Per held-out image bits/dim of the per-pixel categorical model of the training images."""
    return categorical_bpd_per_image(trained.train_chunks(), test, LEVELS).numpy()


def unit(means: Tensor) -> np.ndarray:
    """Decoder means (N, C, H, W) in [0, 1] → (N, H, W, C) in [0, 1] (what `kexue sample` and
    `kexue reconstruct` write)."""
    return means.float().clamp(0.0, 1.0).permute(0, 2, 3, 1).cpu().numpy()


def save_grid(out: RunDir, name: str, means: Tensor, nrow: int = 8) -> None:
    """A PNG grid of decoder means (N, C, H, W) in [0, 1]."""
    if out.is_main:
        _images.save_grid(out, name, 2.0 * means.float().clamp(0.0, 1.0) - 1.0, nrow=nrow)


# ----------------------------------------------------------------------------- a finished run
Build = Callable[[dict[str, Any]], nn.Module]


def load(run: Path, build: Build) -> nn.Module:
    """The model an image run kept (`build(config)` makes it untrained), in eval mode."""
    if not _image_flow.is_image_run(run):
        raise InputError(
            f"{run}: not trained on --data images (no image_model.json); only runs trained on "
            f"an image folder can be sampled or reconstructed"
        )
    model, _ = _images.load_image_model(run, lambda config, meta: build(config))
    return model


def sampler(run: Path, build: Build) -> Callable[[int, float, torch.Generator], np.ndarray]:
    """(n, temperature, generator) → n decoded prior draws (n, H, W, C) in [0, 1]; a Gaussian
    VAE decodes z ~ N(0, T²I), a categorical one uniform one-hot codes (T has no role)."""
    model = load(run, build)

    def draw(n: int, temperature: float, generator: torch.Generator) -> np.ndarray:
        with torch.no_grad():
            if hasattr(model, "z_dim"):
                return unit(model.sample(n, temperature, generator=generator))
            return unit(model.sample(n, generator=generator))

    return draw


def interpolator(
    run: Path, build: Build
) -> Callable[[int, int, float, torch.Generator], np.ndarray]:
    """(rows, k, temperature, generator) → rows·k decoded codes (H, W, C): each row walks
    between two prior draws along `_images.gaussian_path` (a Gaussian VAE)."""
    model = load(run, build)

    def walk(rows: int, k: int, temperature: float, generator: torch.Generator) -> np.ndarray:
        z1, z2 = (temperature * torch.randn(rows, model.z_dim, generator=generator)
                  for _ in range(2))  # fmt: skip
        with torch.no_grad():
            return unit(model.decode(_images.gaussian_path(z1, z2, k)))

    return walk


def reconstructor(run: Path, build: Build) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 images (n, H, W, C) → reconstructions (n, H, W, C) in [0, 1]: the decoder at the
    mean code (Gaussian VAE) or at the most probable code (categorical), of the bin centres."""
    model = load(run, build)
    meta = json.loads((run / "image_model.json").read_text(encoding="utf-8"))

    def reconstruct(pixels: np.ndarray) -> np.ndarray:
        y = (_images.user_pixels(pixels, meta["shape"]) + 0.5) / LEVELS
        with torch.no_grad():
            if hasattr(model, "z_dim"):
                return unit(model.decode(model.encode(y)[0]))
            return unit(model.reconstruct(y))

    return reconstruct
