r"""Layers with train/test behaviour, a layer that owns its loss (center loss), and the article's
callbacks as plain objects: keep-best evaluation, step and warm-up schedules, dynamic loss
weights, and weight EMA.

Article:  “让Keras更酷一些！”：精巧的层与花式的回调 — 苏剑林, 2018-08-06
URL:      https://kexue.fm/archives/5765
EMA from: “让Keras更酷一些！”：中间变量、权重滑动和安全生成器 (https://kexue.fm/archives/6575)

Key equations::

    Gaussian noise layer   x + N(0, σ²) in training, x at test
    center loss            CE(y, fW + b) + λ‖C_y − f‖²    (λ = 0.5, feature size 2, C trainable)
    keep best              save when val ≥ best (this article; bert4keras examples use >)
    step schedule          lr = 1e-2 (epoch < 50), 1e-3 (< 80), 1e-4 after
    dynamic loss weight    (1 − e)·CE(y, p) + e·CE(uniform, p),  e: 0.1 → 0.01 at epoch 100
    warm-up                batch n (from 0) < S·W:  lr = base·(n + 1)/(S·W); then untouched
                           (S steps/epoch, W = 10 epochs, base = 1e-3)
    EMA                    Θ ← αΘ + (1 − α)θ after each optimiser step (α = 0.9999), used for
                           evaluation; bert4keras variant: Θ₀ = 0 and Θ/(1 − α^t) at apply

Symbols: f (B, d) features, C (K, d) centres, λ centre weight, S steps/epoch, W warm-up epochs,
α EMA decay, Θ averaged weights, θ live weights.

Delegation: schedules are torch.optim.lr_scheduler (`LambdaLR` with `keras_warmup`,
`MultiStepLR([50, 80], 0.1)` for the step schedule); weight EMA is
`torch.optim.swa_utils.AveragedModel` with `get_ema_multi_avg_fn` (use_buffers=True, so BN
statistics are averaged too, as Keras' `model.weights`). Written by hand: the warm-up lambda
(note the +1, unlike HF's linear warm-up that starts at 0), bert4keras' `piecewise_linear`, the
zero-initialised bias-corrected EMA variant, the apply/restore context, `BestCheckpoint`.

Deviations from the article:
    - No callback framework: the loop calls these objects (the article's six hook points map to
      places in a visible loop); there is no Trainer.
    - The EMA is seeded with the weights at construction (Θ₀ = θ₀, as in 6575) by one
      `AveragedModel.update_parameters` call, which copies.
    - The dynamic loss weight e is a 0-dim tensor argument, not a backend variable.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

__all__ = [
    "EMA",
    "BestCheckpoint",
    "CenterLossHead",
    "GaussianNoise",
    "keras_warmup",
    "piecewise_linear",
    "uniform_mixed_ce",
]


class GaussianNoise(nn.Module):
    """x + σ·N(0, 1) in training mode, identity in eval mode (Keras' in_train_phase)."""

    def __init__(self, std: float = 1.0) -> None:
        super().__init__()
        if std < 0:
            raise ValueError(f"std must be >= 0, got {std}")
        self.std = std

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:  # noqa: D102
        if not self.training or self.std == 0:
            return x
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return x + self.std * noise


class CenterLossHead(nn.Module):
    """Dense logits z = fW + b plus trainable centres C (K, d) (glorot-normal init).

    Args:
        in_features: feature size d (the article uses 2 to plot the features).
        num_classes: K.
        lam: the centre-loss weight λ (0.5).
    """

    def __init__(self, in_features: int, num_classes: int, *, lam: float = 0.5) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, num_classes)
        self.centers = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.xavier_normal_(self.centers)
        self.lam = lam

    def forward(self, f: Tensor) -> Tensor:
        """(B, d) → logits (B, K)."""
        return self.linear(f)

    def center_loss(self, f: Tensor, y: Tensor) -> Tensor:
        """mean_b ‖C_{y_b} − f_b‖² (summed over feature dimensions)."""
        return (self.centers[y] - f).pow(2).sum(-1).mean()

    def loss(self, f: Tensor, y: Tensor) -> Tensor:
        """CE(y, fW + b) + λ‖C_y − f‖², the article's total loss."""
        return F.cross_entropy(self(f), y) + self.lam * self.center_loss(f, y)


def uniform_mixed_ce(logits: Tensor, y: Tensor, e: Tensor | float) -> Tensor:
    """(1 − e)·CE(y, p) + e·CE(uniform, p): the article's dynamically weighted loss."""
    logp = F.log_softmax(logits, -1)
    ce = F.nll_loss(logp, y)
    ce_uniform = -logp.mean(-1).mean()
    return (1 - e) * ce + e * ce_uniform


def keras_warmup(steps_per_epoch: int, warmup_epochs: int = 10) -> Callable[[int], float]:
    """Multiplier for `LambdaLR` (stepped per batch): (n + 1)/(S·W) for n < S·W, then 1."""
    total = steps_per_epoch * warmup_epochs
    if total <= 0:
        raise ValueError("steps_per_epoch * warmup_epochs must be > 0")

    def fn(n: int) -> float:
        return (n + 1) / total if n < total else 1.0

    return fn


def piecewise_linear(t: float, schedule: Mapping[int, float]) -> float:
    """bert4keras' piecewise-linear schedule: (0, 0) prepended if the first knot ≠ 0, linear
    between knots, constant after the last. {1000: 1, 2000: 0.1}: 0 → 1 → 0.1 → 0.1."""
    knots = sorted(schedule.items())
    if knots[0][0] != 0:
        knots = [(0, 0.0), *knots]
    if t >= knots[-1][0]:
        return float(knots[-1][1])
    for (t0, v0), (t1, v1) in zip(knots[:-1], knots[1:], strict=True):
        if t0 <= t < t1:
            return float(v0 + (v1 - v0) * (t - t0) / (t1 - t0))
    return float(knots[0][1])


class EMA:
    """Weight EMA Θ ← αΘ + (1 − α)θ with apply/restore for evaluation.

    Args:
        model: the live model.
        decay: α (6575 uses 0.9999; bert4keras 0.999).
        init: "weights" (Θ₀ = θ₀, delegated to AveragedModel) or "zeros" (bert4keras:
            Θ₀ = 0 and Θ/(1 − α^t) when applied).

    Call `update()` once per optimiser step (after `step()`), and `with ema.apply(): ...` to
    evaluate or save the averaged weights; the live weights come back on exit.
    """

    def __init__(
        self,
        model: nn.Module,
        decay: float = 0.9999,
        *,
        init: Literal["weights", "zeros"] = "weights",
    ) -> None:
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.model, self.decay, self.init = model, decay, init
        self.t = 0
        if init == "weights":
            self.averaged = AveragedModel(
                model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True
            )
            self.averaged.update_parameters(model)  # first call copies: Θ₀ = θ₀
        elif init == "zeros":
            self.shadow = [torch.zeros_like(t) for t in self._tensors(model)]
        else:
            raise ValueError(f"init must be 'weights' or 'zeros', got {init!r}")

    @staticmethod
    def _tensors(model: nn.Module) -> list[Tensor]:
        return [*model.parameters(), *(b for b in model.buffers() if b.is_floating_point())]

    @torch.no_grad()
    def update(self) -> None:
        """One EMA step from the current live weights."""
        self.t += 1
        if self.init == "weights":
            self.averaged.update_parameters(self.model)
            return
        for s, w in zip(self.shadow, self._tensors(self.model), strict=True):
            s.mul_(self.decay).add_(w.detach(), alpha=1 - self.decay)

    def averaged_tensors(self) -> list[Tensor]:
        """Θ for each parameter then each floating buffer (bias-corrected for init="zeros")."""
        if self.init == "weights":
            return [t.detach().clone() for t in self._tensors(self.averaged.module)]
        corr = 1 - self.decay**self.t if self.t > 0 else 1.0
        return [s / corr for s in self.shadow]

    @contextlib.contextmanager
    def apply(self) -> Iterator[nn.Module]:
        """Swap Θ into the live model; restore θ on exit (even on error)."""
        live = self._tensors(self.model)
        backup = [t.detach().clone() for t in live]
        try:
            with torch.no_grad():
                for t, a in zip(live, self.averaged_tensors(), strict=True):
                    t.copy_(a)
            yield self.model
        finally:
            with torch.no_grad():
                for t, b in zip(live, backup, strict=True):
                    t.copy_(b)


class BestCheckpoint:
    """Evaluate-and-keep-best: remember the best value of a monitored quantity, the step it was
    reached at, and (given a module) a copy of the module's weights at that step.

    Checkpointable: `state_dict()`/`load_state_dict()` carry the best value, its step and the
    kept weights, so the tracker can ride in a run's checkpoint (`RunDir.save_checkpoint`) and a
    resumed run keeps its best.

    Args:
        module: the module whose `state_dict()` is copied at each new best (None: track the
            value and step only).
        mode: "max" or "min".
        tie: "ge" (the article: save when acc ≥ best) or "gt" (bert4keras examples: >).

    A NaN value is never a new best.
    """

    def __init__(
        self,
        module: nn.Module | None = None,
        *,
        mode: Literal["max", "min"] = "max",
        tie: Literal["ge", "gt"] = "ge",
    ) -> None:
        if mode not in ("max", "min") or tie not in ("ge", "gt"):
            raise ValueError(f"mode must be max/min and tie ge/gt, got {mode!r}, {tie!r}")
        self.module, self.mode, self.tie = module, mode, tie
        self.best: float | None = None
        self.best_step: int | None = None
        self.state: dict[str, Tensor] | None = None

    def is_better(self, value: float) -> bool:
        """Whether `value` would replace the best so far (under `mode` and `tie`)."""
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        v, b = (value, self.best) if self.mode == "max" else (-value, -self.best)
        return v >= b if self.tie == "ge" else v > b

    def update(self, value: float, step: int) -> bool:
        """Record `value` at `step`; when it is the new best, keep a detached copy of the
        module's `state_dict()`. Returns whether it was."""
        value = float(value)
        if not self.is_better(value):
            return False
        self.best, self.best_step = value, int(step)
        if self.module is not None:
            self.state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        return True

    def restore(self) -> bool:
        """Load the kept weights into the module; False (module untouched) if none were kept."""
        if self.module is None or self.state is None:
            return False
        self.module.load_state_dict(self.state)
        return True

    def state_dict(self) -> dict[str, Any]:
        """The best value, its step and the kept weights (for a run's checkpoint)."""
        return {"best": self.best, "best_step": self.best_step, "state": self.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Take back what `state_dict` returned (the module's live weights are not touched)."""
        missing = {"best", "best_step", "state"} - set(state)
        if missing:
            raise ValueError(f"not a BestCheckpoint state: no {sorted(missing)}")
        best, step, kept = state["best"], state["best_step"], state["state"]
        self.best = None if best is None else float(best)
        self.best_step = None if step is None else int(step)
        self.state = None if kept is None else dict(kept)
