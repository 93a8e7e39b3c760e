r"""Optimisers as discretised dynamics: GD = Euler on the gradient flow, SGD = Langevin, momentum
and Nesterov = leapfrog/implicit schemes for a damped second-order ODE.

Article:  从动力学角度看优化算法（一）：从SGD到动量加速 — 苏剑林, 2018-06-27
URL:      https://kexue.fm/archives/5655

Key equations (article numbering)::

    (2)  θ_{n+1} = θ_n − γ ∇L(θ_n)              Euler step of (4)  dθ/dt = −∇L(θ)
    (8)  dθ/dt = −∇L(θ) + σ ξ                    SGD as a Langevin equation
    (9)  P(θ) ∝ exp(−L(θ)/σ²)                    its stationary density
    (10) θ'' + λ θ' = −∇L(θ)                     the damped ("frictional") second-order system
    (15) β = (1 − λγ/2)/(1 + λγ/2),  α = γ²/(1 + λγ/2)
    (16) v_{n+1} = β v_n − α ∇L(θ_n),  θ_{n+1} = θ_n + v_{n+1}      momentum = leapfrog, O(γ²)
    (18) β = 1 − λγ,  α = γ²                      (the article's Nesterov parametrisation)
    (20) v_{n+1} = β v_n − α ∇L(θ_n + β v_n/2)   the article's Nesterov (gradient at the midpoint);
         standard Nesterov uses θ_n + β v_n, implemented as Θ_n = θ_n + β v_n:
         v_{n+1} = β v_n − α ∇L(Θ_n),  Θ_{n+1} = Θ_n + β v_{n+1} − α ∇L(Θ_n)
    lr decay rule: when α → rα, raise β to 1 − (1 − β)√r   (from β ≈ 1 − λ√α)

Derived (stated as mathematics, used by the tests and the recipe): on L = ½ a θ², GD is stable iff
0 < γa < 2, heavy ball iff 0 < αa < 2(1 + β), standard Nesterov iff 0 < αa < 2(1 + β)/(1 + 2β);
SGD with Gaussian gradient noise of variance σ²/B on L = ½ a θ² is an AR(1) with stationary
variance γσ²/(B a (2 − γa)) → γσ²/(2aB), i.e. temperature T = γσ²/(2B).

Symbols: γ step (GD learning rate, ODE step), α learning rate of momentum methods, β momentum,
λ friction, a curvature, σ² gradient-noise variance, B batch size.

Deviations from the article:
    - The article's (9) writes P ∝ exp(−L/σ²) up to constants; for dθ = −∇L dt + σ dW the exact
      stationary density is exp(−2L/σ²) (`langevin_stationary_log_density` uses the exact form).
    - For SGD the noise scale depends on the step: the discrete AR(1) variance above is exact, the
      Langevin form is its γ → 0 limit (both provided).
    - torch.optim.SGD is used for the actual optimiser; this module gives the article's recurrences
      as float64 references and the exact ODE solutions on quadratics (matrix exponential).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "beta_after_lr_decay",
    "damped_ode_solution",
    "gd_trajectory",
    "gradient_flow_solution",
    "heavy_ball_trajectory",
    "langevin_stationary_log_density",
    "momentum_coefficients",
    "nesterov_coefficients",
    "nesterov_trajectory",
    "sgd_stationary_variance",
    "stability_threshold",
]

GradFn = Callable[[Tensor], Tensor]


def momentum_coefficients(gamma: float, lam: float) -> tuple[float, float]:
    """(α, β) of eq. (15): the leapfrog discretisation of θ'' + λθ' = −∇L with step γ."""
    if gamma <= 0 or lam < 0:
        raise ValueError(f"need gamma > 0 and lam >= 0, got {gamma}, {lam}")
    d = 1 + lam * gamma / 2
    return gamma**2 / d, (1 - lam * gamma / 2) / d


def nesterov_coefficients(gamma: float, lam: float) -> tuple[float, float]:
    """(α, β) of eq. (18): α = γ², β = 1 − λγ."""
    if gamma <= 0 or lam < 0:
        raise ValueError(f"need gamma > 0 and lam >= 0, got {gamma}, {lam}")
    return gamma**2, 1 - lam * gamma


def beta_after_lr_decay(beta: float, r: float) -> float:
    """The article's tuning rule: when the learning rate goes α → rα, use β' = 1 − (1 − β)√r."""
    return 1 - (1 - beta) * math.sqrt(r)


def gd_trajectory(grad: GradFn, theta0: Tensor, gamma: float, n_steps: int) -> Tensor:
    """Eq. (2), the Euler scheme: returns (n_steps + 1, *θ.shape), θ_0 first."""
    out = [theta0.clone()]
    theta = theta0.clone()
    for _ in range(n_steps):
        theta = theta - gamma * grad(theta)
        out.append(theta)
    return torch.stack(out)


def heavy_ball_trajectory(
    grad: GradFn, theta0: Tensor, alpha: float, beta: float, n_steps: int, v0: Tensor | None = None
) -> Tensor:
    """Eq. (16): v_{n+1} = β v_n − α ∇L(θ_n), θ_{n+1} = θ_n + v_{n+1}. Returns (n_steps + 1, …)."""
    theta = theta0.clone()
    v = torch.zeros_like(theta0) if v0 is None else v0.clone()
    out = [theta.clone()]
    for _ in range(n_steps):
        v = beta * v - alpha * grad(theta)
        theta = theta + v
        out.append(theta)
    return torch.stack(out)


def nesterov_trajectory(
    grad: GradFn,
    theta0: Tensor,
    alpha: float,
    beta: float,
    n_steps: int,
    *,
    lookahead: Literal["standard", "article"] = "standard",
    v0: Tensor | None = None,
) -> Tensor:
    """Nesterov iterates θ_n (not the Θ of the framework form).

    lookahead="standard": gradient at θ_n + β v_n; "article": at θ_n + β v_n / 2 (eq. 20, the
    midpoint (θ_n + θ_{n+1})/2 with the unknown v_{n+1} replaced by β v_n).
    """
    shift = {"standard": 1.0, "article": 0.5}[lookahead]
    theta = theta0.clone()
    v = torch.zeros_like(theta0) if v0 is None else v0.clone()
    out = [theta.clone()]
    for _ in range(n_steps):
        v = beta * v - alpha * grad(theta + shift * beta * v)
        theta = theta + v
        out.append(theta)
    return torch.stack(out)


def gradient_flow_solution(a: Tensor, theta0: Tensor, t: float) -> Tensor:
    """Exact solution of (4) on L = ½ Σ a_i θ_i²: θ(t) = e^{−a t} θ_0. Shapes (D,)."""
    return torch.exp(-a * t) * theta0


def damped_ode_solution(
    a: Tensor, lam: float, theta0: Tensor, eta0: Tensor, t: float
) -> tuple[Tensor, Tensor]:
    """Exact solution of (10)/(11) on L = ½ Σ a_i θ_i² via the 2×2 matrix exponential per axis.

    Returns:
        θ(t), η(t) = θ'(t), each (D,).
    """
    theta, eta = [], []
    for ai, x0, y0 in zip(a.tolist(), theta0.tolist(), eta0.tolist(), strict=True):
        m = torch.tensor([[0.0, 1.0], [-ai, -lam]], dtype=torch.float64)
        s = torch.linalg.matrix_exp(m * t) @ torch.tensor([x0, y0], dtype=torch.float64)
        theta.append(s[0])
        eta.append(s[1])
    return torch.stack(theta).to(theta0.dtype), torch.stack(eta).to(theta0.dtype)


def stability_threshold(
    a_max: float, method: Literal["gd", "heavy_ball", "nesterov", "heun"], momentum: float = 0.0
) -> float:
    """Largest stable learning rate on a quadratic whose largest curvature is `a_max`.

    gd, heun: 2/a; heavy_ball: 2(1+β)/a; nesterov (standard): 2(1+β)/((1+2β) a).
    """
    if a_max <= 0:
        raise ValueError(f"a_max must be > 0, got {a_max}")
    b = momentum
    factor = {
        "gd": 2.0,
        "heun": 2.0,
        "heavy_ball": 2 * (1 + b),
        "nesterov": 2 * (1 + b) / (1 + 2 * b),
    }[method]
    return factor / a_max


def sgd_stationary_variance(
    a: float, gamma: float, sigma2: float, batch_size: int = 1, *, exact: bool = True
) -> float:
    """Stationary variance of SGD on ½ a θ² with gradient noise of variance σ²/B.

    exact=True: the AR(1) value γσ²/(B a (2 − γa)) (needs 0 < γa < 2); False: the Langevin
    limit γσ²/(2aB) (temperature T = γσ²/(2B) over curvature a).
    """
    if exact:
        if not 0 < gamma * a < 2:
            raise ValueError("the AR(1) is stationary only for 0 < γa < 2")
        return gamma * sigma2 / (batch_size * a * (2 - gamma * a))
    return gamma * sigma2 / (2 * a * batch_size)


def langevin_stationary_log_density(loss: Tensor, sigma: float) -> Tensor:
    """Unnormalised log density of dθ = −∇L dt + σ dW at equilibrium: −2L/σ² (eq. 9 up to 2)."""
    return -2 * loss / sigma**2
