r"""Adversarial training on embeddings (FGM, PGD) and its first-order equivalent, the gradient
penalty on the input.

Article:  对抗训练浅谈：意义、方法和思考（附Keras实现） — 苏剑林, 2020-03-01
URL:      https://kexue.fm/archives/7234
Original: the article's Keras code (`adversarial_training(model, embedding_name, epsilon=1)`),
          bert4keras examples task_iflytek_adversarial_training.py,
          task_iflytek_gradient_penalty.py

Key equations::

    min_θ E_{(x,y)} [ max_{‖Δx‖≤ε} L(x + Δx, y; θ) ]                  (Madry et al.)
    FGM:  Δx = ε ∇_x L / ‖∇_x L‖        FGSM: Δx = ε sign(∇_x L)
    PGD:  Δ ← Π_{‖Δ‖≤ε}(Δ + α g/‖g‖), a few steps
    ∇_θ L(x + Δx) ≈ ∇_θ L(x) + ⟨∇_θ ∇_x L, Δx⟩, hence
      Δx = ε ∇_x L          ⇒  ∇_θ [ L + ½ ε ‖∇_x L‖² ]
      Δx = ε ∇_x L/‖∇_x L‖  ⇒  ∇_θ [ L + ε ‖∇_x L‖ ]

Reference semantics (the article's Keras code): G = ∂L_batch/∂E as a dense V×d tensor (one
global Frobenius norm), δ = ε G/(‖G‖ + 1e-8), E ← E + δ, one ordinary training step on the
same batch (the update uses the adversarial loss only), E ← E − δ. The gradient penalty of the
GP script is ½ε Σ_{b,t} ‖∂L/∂e_{b,t}‖², on the looked-up embeddings (per position).

Symbols: E (V, d) embedding matrix, e (B, T, d) looked-up embeddings, ε radius, δ perturbation,
L mean cross-entropy of the batch.

Delegation: gradients are torch.autograd.grad (create_graph=True for the penalty); the
perturbation is a context manager around the weight (or a forward hook on the embedding output).

Deviations from the article:
    - E is restored *before* optimizer.step() (from a saved copy, so bit-for-bit); Keras applied
      the update at E + δ and subtracted δ afterwards. For SGD/Adam (updates that do not read
      the weight) the two orders give the same step; they differ for decoupled weight decay.
    - Restoring from a copy rather than subtracting δ avoids the rounding of (E + δ) − δ.
    - `target="output"` (δ on the looked-up embeddings, optionally normalised per sample) is
      offered beside the article's weight perturbation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = [
    "fgm_delta",
    "fgsm_delta",
    "gradient_penalty",
    "perturbed_output",
    "perturbed_weight",
    "pgd_delta",
]


def fgm_delta(
    grad: Tensor, epsilon: float = 1.0, *, norm: Literal["global", "per_sample"] = "global"
) -> Tensor:
    """δ = ε g/(‖g‖ + 1e-8); "global": one Frobenius norm over the tensor (the article),
    "per_sample": a norm per leading index (for (B, T, d) embedding outputs)."""
    if epsilon < 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    if norm == "global":
        return epsilon * grad / (grad.norm() + 1e-8)
    if norm == "per_sample":
        n = grad.reshape(grad.shape[0], -1).norm(dim=1).view(-1, *[1] * (grad.dim() - 1))
        return epsilon * grad / (n + 1e-8)
    raise ValueError(f"norm must be 'global' or 'per_sample', got {norm!r}")


def fgsm_delta(grad: Tensor, epsilon: float = 1.0) -> Tensor:
    """δ = ε sign(g)."""
    return epsilon * torch.sign(grad)


@contextlib.contextmanager
def perturbed_weight(weight: Tensor, delta: Tensor) -> Iterator[Tensor]:
    """Add δ to `weight` in place for the block; restore the saved original on exit (even on
    error), bit for bit. Gradients computed inside are those at the perturbed point."""
    saved = weight.detach().clone()
    with torch.no_grad():
        weight.add_(delta)
    try:
        yield weight
    finally:
        with torch.no_grad():
            weight.copy_(saved)


@contextlib.contextmanager
def perturbed_output(module: nn.Module, delta: Tensor) -> Iterator[nn.Module]:
    """Add δ (same shape as the module's output) to the module's output for the block."""

    def hook(_m: nn.Module, _inp: tuple[Tensor, ...], out: Tensor) -> Tensor:
        return out + delta

    handle = module.register_forward_hook(hook)
    try:
        yield module
    finally:
        handle.remove()


def gradient_penalty(
    loss: Tensor,
    wrt: Tensor,
    epsilon: float = 1.0,
    *,
    form: Literal["squared", "norm"] = "squared",
) -> Tensor:
    """½ε‖∂L/∂x‖² ("squared", the FGM-without-normalisation equivalent and the GP script) or
    ε‖∂L/∂x‖ ("norm", the FGM equivalent); differentiable (create_graph=True).

    Args:
        loss: 0-dim loss whose graph reaches `wrt`.
        wrt: the input: the embedding outputs (B, T, d) for the per-position penalty, or the
            embedding weight (V, d) for the dense one.
    """
    (g,) = torch.autograd.grad(loss, wrt, create_graph=True)
    sq = g.pow(2).sum()
    if form == "squared":
        return 0.5 * epsilon * sq
    if form == "norm":
        return epsilon * (sq + 1e-16).sqrt()
    raise ValueError(f"form must be 'squared' or 'norm', got {form!r}")


def pgd_delta(
    loss_fn: Callable[[], Tensor],
    weight: Tensor,
    epsilon: float = 1.0,
    *,
    alpha: float = 0.3,
    steps: int = 3,
) -> Tensor:
    """PGD on a weight: δ ← Π_{‖δ‖≤ε}(δ + α g/‖g‖) for `steps` ascent steps (g at W + δ).

    Args:
        loss_fn: recomputes the loss at the current weight.
        weight: the tensor to attack (e.g. the embedding matrix); restored on return.

    Returns:
        the final δ (same shape as weight), ‖δ‖ ≤ ε.
    """
    delta = torch.zeros_like(weight)
    for _ in range(steps):
        with perturbed_weight(weight, delta):
            (g,) = torch.autograd.grad(loss_fn(), weight)
        delta = delta + alpha * g / (g.norm() + 1e-8)
        n = delta.norm()
        if n > epsilon:
            delta = delta * (epsilon / n)
    return delta
