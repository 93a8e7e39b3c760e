"""Shared plumbing of the flow recipes on sklearn's digits (data splits, evaluation, figures)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kexue.data import DIGIT_LEVELS, digits
from kexue.flows import (
    dequantize_uniform,
    dequantized_bpd,
    dequantized_bpd_per_image,
    nats_to_bpd,
)
from kexue.runs import RunDir
from kexue.stats import bootstrap_interval, paired_interval, record_interval
from kexue.train import BestCheckpoint

N_VALID = 237  # carved from the 1,437 training images (spec §1.4: 1,200 / 237 / 360)


def digit_splits(seed: int) -> dict[str, torch.Tensor]:
    """Integer images (N, 1, 8, 8): train/valid carved from digits("train"), and the test set."""
    train = torch.from_numpy(digits("train").images.astype(np.int64)).unsqueeze(1)
    test = torch.from_numpy(digits("test").images.astype(np.int64)).unsqueeze(1)
    perm = torch.from_numpy(np.random.RandomState(seed).permutation(len(train)))
    return {"train": train[perm[N_VALID:]], "valid": train[perm[:N_VALID]], "test": test}


def batch(images: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """A random minibatch, dequantised to w = (x + u)/17 − ½, drawn from the run's generator."""
    idx = torch.randint(len(images), (size,), generator=g)
    return dequantize_uniform(images[idx], DIGIT_LEVELS, g)


def bpd(
    log_prob: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, draws: int, seed: int
) -> float:
    """Bits/dim with fresh, seeded noise draws (evaluation never touches the training stream)."""
    return dequantized_bpd(
        log_prob, images, DIGIT_LEVELS, draws, torch.Generator().manual_seed(seed)
    )


def bpd_items(
    log_prob: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, draws: int, seed: int
) -> np.ndarray:
    """Per-image bits/dim (N,) with the same seeded noise as `bpd`: arms evaluated with the same
    `seed` see the same dequantised test points, so their differences pair image by image."""
    gen = torch.Generator().manual_seed(seed)
    return dequantized_bpd_per_image(log_prob, images, DIGIT_LEVELS, draws, gen).numpy()


def record_mean(metrics: dict[str, float], key: str, items: np.ndarray) -> None:
    """`key` = mean of per-item values, with its bootstrap interval (`key_lo`, `key_hi`)."""
    record_interval(metrics, key, float(np.mean(items)), bootstrap_interval(items))


def record_paired(metrics: dict[str, float], key: str, a: np.ndarray, b: np.ndarray) -> None:
    """`key` = mean(a − b) over paired items, with its paired bootstrap interval."""
    record_interval(metrics, key, float(np.mean(a - b)), paired_interval(a, b))


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matched_width(
    build: Callable[[int], torch.nn.Module], target: int, lo: int = 1, hi: int = 1024
) -> int:
    """The width w in [lo, hi] whose `build(w)` has the parameter count nearest to `target`:
    comparison arms are sized to the same number of parameters, not the same width. The count
    grows with the width, so a bisection finds it with a few builds."""
    a, b = lo, hi
    while a < b:  # the smallest width with at least `target` parameters
        mid = (a + b) // 2
        if n_params(build(mid)) >= target:
            b = mid
        else:
            a = mid + 1
    below = max(lo, a - 1)
    return min((below, a), key=lambda w: abs(n_params(build(w)) - target))


def to_pixels(w: torch.Tensor) -> np.ndarray:
    """Model space → [0, 1] images (N, 8, 8) for plotting."""
    return (w + 0.5).clamp(0, 1).reshape(len(w), 8, 8).numpy()


def nats_bpd(nll: float) -> float:
    """Per-image NLL in nats of w = y − ½ on the 8×8 digits → bits/dim."""
    return float(nats_to_bpd(nll, 64, DIGIT_LEVELS))


def dequantize_test(images: torch.Tensor) -> torch.Tensor:
    """A fixed dequantisation of evaluation images (seeded, off the training stream)."""
    return dequantize_uniform(images, DIGIT_LEVELS, torch.Generator().manual_seed(12345))


def categorical(data: dict[str, torch.Tensor]) -> float:
    """The per-pixel categorical baseline (train → test bits/dim)."""
    from kexue.flows import categorical_bpd

    return categorical_bpd(data["train"], data["test"], DIGIT_LEVELS)


def patience_exhausted(best: BestCheckpoint, local_step: int, patience: int) -> bool:
    """Early stopping: the validation score has not improved for `patience` steps.

    `best.best_step` is the (1-based, per-model) step of the best validation score so far; the
    rule depends only on the run state, so a resumed run stops at the same step.
    """
    step = best.best_step
    return patience > 0 and step is not None and step > 0 and local_step - step >= patience


def cosine_lr(step: int, total: int, base: float, warmup: int = 0) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay from `base` to 0 at `total`."""
    ramp = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    return base * ramp * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


def prepare_keep_best(
    acc: Any,
    models: dict[str, torch.nn.Module],
    opts: dict[str, torch.optim.Optimizer],
    g: torch.Generator,
    **extra: Any,
) -> tuple[dict[str, BestCheckpoint], dict[str, int], dict[str, Any]]:
    """Prepare each model with its optimiser (in place in `models` and `opts`) and build the
    per-model keep-best on validation bits/dim (strictly lower) and the run's checkpointed state.

    Returns:
        (best, trained, state): a `BestCheckpoint` per model, the steps trained per model (0),
        and the state `{"rng": g, "trained": trained, **extra, "best:k", "model:k", "opt:k"…}`
        to restore and checkpoint.
    """
    for k in models:
        models[k], opts[k] = acc.prepare(models[k], opts[k])
    best = {
        k: BestCheckpoint(acc.unwrap_model(m), mode="min", tie="gt") for k, m in models.items()
    }
    trained = dict.fromkeys(models, 0)
    state = {
        "rng": g,
        "trained": trained,
        **extra,
        **{f"best:{k}": b for k, b in best.items()},
        **{f"model:{k}": m for k, m in models.items()},
        **{f"opt:{k}": o for k, o in opts.items()},
    }
    return best, trained, state


def log_step(
    out: Any,
    state: dict[str, Any],
    step: int,
    row: dict[str, float],
    key: str,
    best: dict[str, BestCheckpoint],
    trained: dict[str, int],
    local_step: int,
    patience: int,
) -> bool:
    """After model `key`'s step `step` (its `local_step`-th, 1-based): keep-best on the step's
    validation bits/dim when it validated (`f"{key}/valid_bpd"` in `row`), count it as trained,
    log `row`, maybe checkpoint `state`; whether the model should stop early (only on a step
    that validated, see `patience_exhausted`)."""
    valid = row.get(f"{key}/valid_bpd")
    if valid is not None:
        best[key].update(valid, local_step)
    trained[key] = local_step
    out.log(step, **row)
    out.maybe_checkpoint(step + 1, state)
    return valid is not None and patience_exhausted(best[key], local_step, patience)


def save_sampler(out: RunDir, model: torch.nn.Module, variant: str) -> None:
    """Keep a model's weights and variant in the run folder for `kexue sample RUN_DIR`."""
    out.write_weights("sampler.safetensors", model.state_dict())
    out.write_json("sampler.json", {"variant": variant})


def load_sampler(
    run: Path, build: Callable[[str, dict[str, Any]], torch.nn.Module]
) -> Callable[[int, float, torch.Generator], np.ndarray]:
    """(n, temperature, generator) → n images (n, 8, 8) in [0, 1] from a run folder alone;
    `build(variant, config)` makes the untrained model the weights load into."""
    import json

    from safetensors.torch import load_file

    config = json.loads((run / "config.json").read_text(encoding="utf-8"))["config"]
    variant = json.loads((run / "sampler.json").read_text(encoding="utf-8"))["variant"]
    model = build(variant, config)
    model.load_state_dict(load_file(str(run / "sampler.safetensors")))
    model.eval()

    def draw(n: int, temperature: float, generator: torch.Generator) -> np.ndarray:
        with torch.no_grad():
            return to_pixels(model.sample(n, temperature, generator))

    return draw
