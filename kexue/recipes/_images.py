r"""What every image recipe shares on the user's image folder (`kexue run SLUG --data FOLDER`).

    IMAGE_DATA         the DataSpec of an image folder (shown by `kexue show`)
    ImageOptions       Config fields of the image mode (a recipe's Config inherits them):
                       img_size, img_crop, img_mode, img_steps, img_batch, img_workers,
                       img_on_error, amp (no | bf16 | fp16), compile, fid_weights
    load_images        the folder through `kexue.data.image_folder`, decoded once into a cache
    image_accelerator  accelerate's Accelerator with the run's mixed precision
    prepare_model      channels-last on a GPU, `torch.compile` when asked
    batches            an endless, seeded stream of batches through a DataLoader
    save_grid          a PNG grid of images (pixels, not a matplotlib figure)
    save_image_model / load_image_model   the weights `kexue sample` / `reconstruct` read back

Without `--data` a recipe runs its built-in experiments (digits, toy sets) and ignores these
fields; with it, the recipe trains its image model on the folder and judges `DATA_CLAIMS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from kexue.data.streaming import writable_folder
from kexue.data.user_images import grid_png, to_unit
from kexue.errors import InputError
from kexue.runs import DataSpec, RunDir, param

if TYPE_CHECKING:
    from kexue.data import ImageFolder

__all__ = [
    "IMAGE_DATA",
    "ImageOptions",
    "batches",
    "folder_images",
    "user_pixels",
    "gaussian_path",
    "grid_png",
    "image_accelerator",
    "load_image_model",
    "load_images",
    "prepare_model",
    "save_grid",
    "save_image_model",
    "to_unit",
]

IMAGE_DATA = DataSpec(
    "data",
    "an image folder: PNG/JPEG/WebP/BMP/GIF files below it (recursive; first-level "
    "subfolders are classes, optional: they give class coverage), centre-cropped and resized "
    "to img_size (--set img_size=64 img_crop=108 for CelebA's 178×218 faces); decoded once "
    "into FOLDER/.kexue-cache (or the run folder when FOLDER is read-only)",
    "none: without --data the recipe runs its built-in experiments (digits and toy sets)",
)


@dataclass(frozen=True)
class ImageOptions:
    """The image mode's Config fields (used only with `--data`)."""

    data: str | None = None
    img_size: int = param(32, choices=(8, 16, 32, 64, 128, 256, 512))
    img_crop: int = 0  # centre crop side before resizing; 0: the largest centred square
    img_mode: str = param("RGB", choices=("RGB", "L"))
    img_steps: int = 3000  # generator (GAN) or optimiser (flow, VAE) steps
    img_batch: int = 64
    img_workers: int = 0  # DataLoader worker processes (0: in the training process)
    img_on_error: str = param("stop", choices=("stop", "skip"))  # a bad image file
    img_eval: int = 1000  # samples drawn for the evaluation
    amp: str = param("no", choices=("no", "bf16", "fp16"))  # autocast (fp16 needs a GPU)
    compile: bool = False  # torch.compile the networks
    fid_weights: str | None = None  # Inception weights on disk for FID/KID (torch-fidelity)


def load_images(cfg: ImageOptions, out: RunDir, *, as_uint8: bool = False) -> ImageFolder:
    """The run's image folder at cfg.img_size (decoded once, then memory-mapped); a note on
    stderr counts the files skipped, ignored or converted (never silently)."""
    from kexue.data import image_folder

    if cfg.data is None:
        raise ValueError("the image mode needs --data FOLDER")
    root = Path(cfg.data)
    cache = root / ".kexue-cache"
    if not writable_folder(cache):
        cache = out.path / "image-cache"
    # Under torchrun / accelerate launch, rank 0 decodes the folder into the cache while the
    # other ranks wait, then they read the cache it wrote instead of decoding it again.
    import torch.distributed as dist

    group = dist.is_available() and dist.is_initialized()
    if group and dist.get_rank() != 0:
        dist.barrier()
    try:  # a bad file stops rank 0 here; the others then meet the same error themselves
        ds = image_folder(
            root,
            cfg.img_size,
            crop=cfg.img_crop or None,
            mode=cfg.img_mode,
            cache_dir=cache,
            on_error=cfg.img_on_error,
            as_uint8=as_uint8,
            progress=out.show_progress,
        )
    finally:
        if group and dist.get_rank() == 0:
            dist.barrier()
    if out.say is not None and out.is_main:
        out.say(ds.summary())
    return ds


def image_accelerator(cfg: ImageOptions) -> Any:
    """An Accelerator on the GPU when there is one, with the run's autocast (`amp`)."""
    from kexue.runs import make_accelerator

    if cfg.amp == "fp16" and not torch.cuda.is_available():
        raise ValueError("--set amp=fp16 needs a GPU; on a CPU use amp=bf16 or no")
    # amp=no leaves the choice to `kexue run --mixed-precision` / `accelerate launch`
    return make_accelerator(mixed_precision=None if cfg.amp == "no" else cfg.amp)


def prepare_model(model: torch.nn.Module, cfg: ImageOptions, device: torch.device) -> Any:
    """Channels-last memory (faster convolutions on tensor cores) on a GPU, and
    `torch.compile` when cfg.compile; returns the module to call (the compiled one, if any).
    Checkpoints and weights are taken from the original module, whose state it shares."""
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return torch.compile(model) if cfg.compile else model


def batches(
    ds: torch.utils.data.Dataset, batch_size: int, g: torch.Generator, workers: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless (images, labels) batches, reshuffled every epoch from `g` (checkpointed with the
    run, so a resumed run draws a fresh, seeded order). Workers share the memory map."""
    from torch.utils.data import DataLoader, RandomSampler

    if len(ds) < batch_size:  # type: ignore[arg-type]
        raise ValueError(f"the folder has {len(ds)} images, fewer than one batch ({batch_size}); "  # type: ignore[arg-type]
                         "lower --set img_batch")  # fmt: skip
    while True:
        seed = int(torch.randint(0, 2**62, (1,), generator=g))
        sampler = RandomSampler(ds, generator=torch.Generator().manual_seed(seed))
        loader = DataLoader(ds, batch_size=batch_size, sampler=sampler, drop_last=True,
                            num_workers=workers, persistent_workers=False)  # fmt: skip
        yield from loader


def user_pixels(pixels: np.ndarray, shape: Sequence[int] | None = None) -> torch.Tensor:
    """uint8 images (n, H, W, C) given to `kexue reconstruct` as float (n, C, H, W) pixel
    values 0–255; with the run's `shape` (C, H, W), other sizes are refused with one line."""
    x = torch.from_numpy(np.asarray(pixels)).permute(0, 3, 1, 2).float()
    if shape is not None and list(x.shape[1:]) != list(shape):
        raise InputError(f"images of {tuple(x.shape[1:])}; the run's are {list(shape)}")
    return x


def folder_images(ds: ImageFolder, idx: np.ndarray) -> torch.Tensor:
    """uint8 (N, C, H, W) images of the folder at `idx`, read in sorted order (the memory map
    is read front to back)."""
    return torch.from_numpy(np.array(ds.pixels[np.sort(idx)])).permute(0, 3, 1, 2)


def gaussian_path(z1: torch.Tensor, z2: torch.Tensor, k: int) -> torch.Tensor:
    """k codes per row from z1 to z2, (rows, ...) → (rows·k, ...): z(θ) = cos θ·z1 + sin θ·z2,
    θ ∈ [0, π/2]. For independent Gaussian draws every z(θ) has the prior's distribution, so
    the middle of a row is as typical as its ends (a straight line shrinks the norm there)."""
    if k < 2:
        raise InputError(f"--interpolate needs at least 2 steps, got {k}")
    theta = torch.linspace(0.0, np.pi / 2, k).view(1, k, *([1] * (z1.dim() - 1)))
    z = torch.cos(theta) * z1.unsqueeze(1) + torch.sin(theta) * z2.unsqueeze(1)
    return z.flatten(0, 1)


def save_grid(out: RunDir, name: str, images: torch.Tensor | np.ndarray,
              nrow: int | None = None) -> None:  # fmt: skip
    """Write a PNG grid of (N, C, H, W) images (see `to_unit`) into the run folder."""
    out.write_bytes(name, grid_png(to_unit(images), nrow))


def save_image_model(out: RunDir, model: torch.nn.Module, kind: str, **meta: Any) -> None:
    """Keep the trained image model for `kexue sample` / `kexue reconstruct`: its weights
    (safetensors) and what rebuilds it (`image_model.json`: kind and `meta`)."""
    state = {k: v for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
    out.write_weights("image_model.safetensors", state)
    out.write_json("image_model.json", {"kind": kind, **meta})


def load_image_model(
    run: Path, build: Callable[[dict[str, Any], dict[str, Any]], torch.nn.Module]
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model a finished image run kept: `build(config, meta)` makes it untrained, the
    weights load into it (eval mode); returns (model, meta)."""
    from safetensors.torch import load_file

    config = json.loads((run / "config.json").read_text(encoding="utf-8"))["config"]
    meta = json.loads((run / "image_model.json").read_text(encoding="utf-8"))
    model = build(config, meta)
    model.load_state_dict(load_file(str(run / "image_model.safetensors")))
    return model.eval(), meta
