r"""Custom optimisers: hand-written SGD, the "soft batch" (gradient accumulation), Heun's method.

Article:  “让Keras更酷一些！”：小众的自定义优化器 — 苏剑林, 2018-09-08
URL:      https://kexue.fm/archives/5879
Follow-up: 用时间换取效果：Keras梯度累积优化器 (https://kexue.fm/archives/6794), which notes
           that the 2018 soft-batch code was wrong (K.switch evaluates both branches).

Key equations::

    SGD                θ ← θ − α g
    soft batch (k)     G ← G + g every mini-batch; every k-th: θ ← θ − α G/k, G ← 0
    Heun               p̃ = p − α g(p);  p ← p − ½α [g(p) + g(p̃)]  = p̃ − ½α [g(p̃) − g(p)]
                       (both gradients on the same mini-batch; the author: "效果并不好")

Derived: Heun's amplification on ½aθ² is 1 − s + s²/2 (s = αa): stable iff 0 < s < 2, the same
interval as Euler's, so it buys no larger learning rate at twice the gradient cost.

Symbols: θ/p parameters, g gradient, α learning rate, k micro-batches per update.

Delegation: frameworks should use accelerate (`Accelerator(gradient_accumulation_steps=k)`) or
a plain loop; `SoftBatch` is the article's wrapper for any torch optimiser, written for loops and
parity tests. `SGD` is didactic (torch.optim.SGD is the real one); `Heun` uses the standard
`step(closure)` API (closure re-evaluates the loss on the same batch).

Deviations from the article:
    - SoftBatch really skips the inner step on non-boundary micro-batches (no K.switch artefact,
      no frozen-momentum approximation of accum_optimizer_for_keras, no dropped micro-batch).
    - SoftBatch optionally normalises by the total number of items (`step(n_items=...)` with
      summed losses) instead of by k, which is exact for unequal micro-batch sizes.
    - An incomplete final window is applied with its own count (`flush()`), never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

__all__ = ["SGD", "Heun", "SoftBatch", "heun_amplification"]


class SGD(torch.optim.Optimizer):
    """The article's plain SGD with its soft-batch option (`MySGD(lr=0.01, steps_per_update=1)`).

    θ ← θ − α·(Σ_{j<k} g_j)/k every k-th call of `step`; other calls only accumulate.
    """

    def __init__(
        self, params: Iterable[Tensor], lr: float = 0.01, *, steps_per_update: int = 1
    ) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if steps_per_update < 1:
            raise ValueError(f"steps_per_update must be >= 1, got {steps_per_update}")
        super().__init__(params, {"lr": lr, "steps_per_update": steps_per_update})

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # noqa: D102
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            k = group["steps_per_update"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if "sum" not in st:
                    st["sum"], st["count"] = torch.zeros_like(p), 0
                st["sum"].add_(p.grad)
                st["count"] += 1
                if st["count"] == k:
                    p.sub_(st["sum"], alpha=group["lr"] / k)
                    st["sum"].zero_()
                    st["count"] = 0
        return loss


class SoftBatch:
    """Gradient accumulation around any optimiser: call `step()` after every micro-batch.

    Gradients accumulate in `.grad` (PyTorch's `backward` adds); on every k-th call they are
    divided by k (or by the total item count when `n_items` is given and the losses were summed),
    the inner optimiser steps once and the gradients are zeroed. Schedulers, EMA and logging
    should count `updates`, not micro-batches.

    Args:
        optimizer: the inner torch optimiser.
        k: micro-batches per update.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, k: int) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.optimizer, self.k = optimizer, k
        self.count = 0
        self.items = 0
        self.updates = 0

    def _params(self) -> list[Tensor]:
        return [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]

    def _apply(self, divisor: float) -> None:
        with torch.no_grad():
            for p in self._params():
                p.grad.div_(divisor)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.count, self.items = 0, 0
        self.updates += 1

    def step(self, n_items: int | None = None) -> bool:
        """Register one micro-batch; returns True when this call updated the parameters."""
        self.count += 1
        if n_items is not None:
            self.items += n_items
        if self.count < self.k:
            return False
        self._apply(self.items if n_items is not None else self.k)
        return True

    def flush(self) -> bool:
        """Apply an incomplete final window (divided by its own count or items)."""
        if self.count == 0:
            return False
        self._apply(self.items if self.items else self.count)
        return True

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.count, self.items = 0, 0


class Heun(torch.optim.Optimizer):
    """Heun's method as an optimiser: p ← p − ½α[g(p) + g(p − αg(p))] (two gradient evaluations).

    `step(closure)` requires a closure that zeroes the gradients, recomputes the loss on the same
    mini-batch, calls `backward()` and returns the loss.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 0.1) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        super().__init__(params, {"lr": lr})

    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor:  # noqa: D102
        if closure is None:
            raise ValueError("Heun needs a closure that recomputes the loss")
        with torch.enable_grad():
            loss = closure()
        params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
        with torch.no_grad():
            saved = [(p.detach().clone(), p.grad.detach().clone()) for p in params]
            for group in self.param_groups:  # the Euler "scouting" step p̃ = p − αg(p)
                for p in group["params"]:
                    if p.grad is not None:
                        p.sub_(p.grad, alpha=group["lr"])
        with torch.enable_grad():
            closure()
        with torch.no_grad():
            i = 0
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    p0, g0 = saved[i]
                    i += 1
                    p.copy_(p0 - 0.5 * group["lr"] * (g0 + p.grad))
        return loss


def heun_amplification(s: float) -> float:
    """Heun's factor on ½aθ² with s = αa: θ ← (1 − s + s²/2) θ (Euler's is 1 − s)."""
    return 1 - s + s * s / 2
