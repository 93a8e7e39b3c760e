r"""The loss-rate view of optimisers: dL/dt = ⟨∇L, θ'⟩, and the flows that follow from it.

Article:  从动力学角度看优化算法（三）：一个更整体的视角 — 苏剑林, 2019-01-08
URL:      https://kexue.fm/archives/6261

Key equations::

    dL/dt = ⟨∇_θ L, θ'⟩                                  (the loss rate along any trajectory)
    θ' = −λ ∇L          ⇒ dL/dt = −λ ‖∇L‖²                (gradient descent: steepest)
    θ' = −sign(∇L) = −∇L/√(∇L ⊗ ∇L)  ⇒ dL/dt = −‖∇L‖₁     (RMSprop's core: no fixed point)
    θ' = −∇L L / ‖∇L‖²  ⇒ dL/dt = −L,  L(t) = L(0) e^{−t}  (using min L = 0; Polyak's step size)
    θ' = −∇L/‖∇L‖ · L · min(1/‖∇L‖, M)                     (truncated, to avoid the singularity)

Article's demo: f(x) = x(x − 1)(x − 3)² + 1.62276 with f' = −9 + 30x − 21x² + 4x³, start x₀ = 4,
Euler step h = 0.01 for H = 2500 steps, M = 1000: gradient descent stops at the local minimum
x ≈ 3, the truncated flow wanders near 3, escapes and ends near the global minimum x ≈ 0.41.

Symbols: θ parameters, L ≥ 0 loss with min L = 0, λ > 0 rate, M truncation, h Euler step.

Deviations from the article:
    - `polyak_velocity` adds no ε; the truncation M is the article's only guard. With
      M = None it is the untruncated flow and raises on a zero gradient.
    - The 1-D demo uses the article's sign/abs form −sign(g)·min(|g|/g², M)·f, which equals the
      vector formula in one dimension.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "article_demo_grad",
    "article_demo_loss",
    "euler_flow",
    "gradient_velocity",
    "loss_rate",
    "polyak_velocity",
    "sign_velocity",
]

Velocity = Callable[[Tensor], Tensor]


def loss_rate(grad: Tensor, velocity: Tensor) -> Tensor:
    """dL/dt = ⟨∇L, θ'⟩ for flattened (…, D) gradients and velocities; returns (…)."""
    return (grad * velocity).sum(-1)


def gradient_velocity(grad: Tensor, lam: float = 1.0) -> Tensor:
    """θ' = −λ∇L (eq. gd)."""
    return -lam * grad


def sign_velocity(grad: Tensor) -> Tensor:
    """θ' = −sign(∇L) (eq. rmsprop-1); its loss rate is −‖∇L‖₁."""
    return -torch.sign(grad)


def polyak_velocity(grad: Tensor, loss: Tensor, m: float | None = None) -> Tensor:
    """θ' = −∇L/‖∇L‖ · L · min(1/‖∇L‖, M); with m=None the untruncated −∇L L/‖∇L‖².

    Args:
        grad: (D,) or (…, D) gradients.
        loss: (…) losses, L ≥ 0 with min L = 0 assumed.
        m: the truncation M (the article's demo uses 1000).
    """
    norm = grad.norm(dim=-1, keepdim=True)
    if m is None:
        if bool((norm == 0).any()):
            raise ZeroDivisionError("untruncated flow at a stationary point (∇L = 0, L > 0)")
        scale = 1 / norm
    else:
        # min(1/‖g‖, M) written as 1/max(‖g‖, 1/M): finite at ‖g‖ = 0
        scale = 1 / norm.clamp(min=1 / m)
        norm = norm.clamp(min=1e-300)
    return -grad / norm * loss.unsqueeze(-1) * scale


def euler_flow(velocity: Velocity, theta0: Tensor, h: float, n_steps: int) -> Tensor:
    """Euler integration θ ← θ + h·θ'(θ); returns (n_steps + 1, *θ.shape)."""
    theta = theta0.clone()
    out = [theta.clone()]
    for _ in range(n_steps):
        theta = theta + h * velocity(theta)
        out.append(theta)
    return torch.stack(out)


def article_demo_loss(x: Tensor) -> Tensor:
    """f(x) = x(x − 1)(x − 3)² + 1.62276 (global min ≈ 0 near x = 0.41, local min at x = 3)."""
    return x * (x - 1) * (x - 3) ** 2 + 1.62276


def article_demo_grad(x: Tensor) -> Tensor:
    """f'(x) = −9 + 30x − 21x² + 4x³."""
    return -9 + 30 * x - 21 * x**2 + 4 * x**3
