r"""Wasserstein GAN: the critic's dual estimate of W1, weight clipping and the gradient penalty.

Article:  从Wasserstein距离、对偶理论到WGAN — 苏剑林, 2019-01-20
URL:      https://kexue.fm/archives/6280
Original: none (the article is theory; the losses follow WGAN and WGAN-GP)

Key equations (the transport LP, its dual, and Kantorovich–Rubinstein duality)::

    C[p, q] = min_γ {Σ_ij γ_ij c(x_i, y_j) : Σ_j γ_ij = a_i, Σ_i γ_ij = b_j, γ ≥ 0}   (primal)
            = max_{f, g} {Σ_i a_i f_i + Σ_j b_j g_j : f_i + g_j ≤ c(x_i, y_j)}  (strong duality)
    c a metric ⇒ g = −f:  C[p, q] = max_f {Σ (p − q) f : f(u) − f(v) ≤ c(u, v)}
    W1(p, q) = max_{‖f‖_L ≤ 1}  E_{x~p}[f(x)] − E_{x~q}[f(x)]

so a critic f trained to maximise the right side under a Lipschitz constraint estimates W1, and
a generator q = G(z) trained to minimise it is a WGAN.

Implemented:
    wgan_d_loss(d_real, d_fake)   = E[D(x_fake)] − E[D(x_real)]     (the critic minimises −dual)
    wgan_g_loss(d_fake)           = −E[D(x_fake)]
    dual_estimate(d_real, d_fake) = E[D(x_real)] − E[D(x_fake)]
    clip_weights(module, c)       : every parameter clamped to [−c, c] (WGAN's constraint)
    gradient_penalty(D, x_real, x_fake) = E[(‖∇_x̂ D(x̂)‖₂ − 1)²],  x̂ = ε x_real + (1 − ε) x_fake
    transport_lp(x, y, a, b, power)  primal cost and dual potentials (f, g) of the transport LP
    kr_dual(x, y, a, b, power)       the g = −f dual, an LP over f on the union of the supports

Symbols: x_real, x_fake (B, ...) samples; d_real, d_fake (B,) or (B, 1) critic outputs.

Deviations from the article: none. Clipping only bounds the Lipschitz constant by an unknown K,
so its dual estimate is K·W1; the recipe divides by the critic's largest pairwise slope on the
samples (kexue.gan.certified_lower_bound), which makes it 1-Lipschitz there and its estimate a
certified lower bound on the empirical W1.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy import sparse
from scipy.optimize import linprog
from scipy.spatial.distance import cdist
from torch import Tensor, nn

from kexue.stats.wasserstein import _as_point_pair, _as_weights

__all__ = [
    "wgan_d_loss",
    "wgan_g_loss",
    "dual_estimate",
    "clip_weights",
    "gradient_penalty",
    "transport_lp",
    "kr_dual",
]


def dual_estimate(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E[D(x_real)] − E[D(x_fake)], the critic's estimate of W1 (a lower bound if ‖D‖_L ≤ 1)."""
    return d_real.mean() - d_fake.mean()


def wgan_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Critic loss E[D(x_fake)] − E[D(x_real)]: minimising it maximises the dual estimate."""
    return -dual_estimate(d_real, d_fake)


def wgan_g_loss(d_fake: Tensor) -> Tensor:
    """Generator loss −E[D(G(z))] (the E[D(x_real)] term has no generator gradient)."""
    return -d_fake.mean()


@torch.no_grad()
def clip_weights(module: nn.Module, c: float = 0.01) -> None:
    """Clamp every parameter of `module` to [−c, c] in place (WGAN's Lipschitz constraint)."""
    if c <= 0:
        raise ValueError(f"clip value c must be > 0, got {c}")
    for p in module.parameters():
        p.clamp_(-c, c)


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    x_real: Tensor,
    x_fake: Tensor,
    *,
    center: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP's penalty E[(‖∇D(x̂)‖₂ − center)²] on random interpolates x̂.

    Args:
        critic: maps (B, ...) to (B,) or (B, 1).
        x_real, x_fake: (B, ...) samples; the penalty does not backpropagate into them.
        center: 1 for WGAN-GP's two-sided penalty, 0 for the zero-centred one.
        generator: RNG for the interpolation weights ε ~ U[0, 1].

    Returns:
        A scalar, differentiable with respect to the critic's parameters.
    """
    if x_real.shape != x_fake.shape:
        raise ValueError(f"x_real {tuple(x_real.shape)} and x_fake {tuple(x_fake.shape)} differ")
    shape = (x_real.shape[0],) + (1,) * (x_real.dim() - 1)
    eps = torch.rand(shape, generator=generator, dtype=x_real.dtype).to(x_real.device)
    # Interpolates are leaves of their own: the penalty shapes the critic, not the samples.
    x_hat = (eps * x_real.detach() + (1 - eps) * x_fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(dim=1)
    return ((norms - center) ** 2).mean()


def _cost(x: np.ndarray, y: np.ndarray, power: float) -> np.ndarray:
    """c(x, y) = ‖x − y‖^power (Euclidean), float64."""
    return cdist(x, y) ** power


def transport_lp(
    x: object,
    y: object,
    a: object | None = None,
    b: object | None = None,
    *,
    power: float = 1.0,
) -> dict[str, object]:
    """The article's transport LP and its dual, solved by HiGHS (float64).

    Args:
        x: (n, d) support of p; y: (m, d) support of q; a (n,), b (m,): weights (uniform if
            None), as in `kexue.stats.w1_lp`. power: c = ‖x − y‖^power (1 gives W1).

    Returns:
        {"primal": min ⟨γ, c⟩, "dual": Σ a f + Σ b g, "f": (n,), "g": (m,)}: f and g are the
        LP's equality-constraint marginals (the dual variables F of the article). Keep n·m up
        to about 10⁵.
    """
    x, y = _as_point_pair(x, y)
    n, m = len(x), len(y)
    a, b = _as_weights(a, n, "a"), _as_weights(b, m, "b")
    # A Γ = b with Γ = vec(γ) row-major: n row-sum constraints, then m column-sum constraints.
    a_eq = sparse.vstack(
        [sparse.kron(sparse.eye(n), np.ones((1, m))), sparse.kron(np.ones((1, n)), sparse.eye(m))]
    ).tocsr()
    res = linprog(
        _cost(x, y, power).ravel(), A_eq=a_eq, b_eq=np.concatenate([a, b]), bounds=(0, None),
        method="highs",
    )  # fmt: skip
    if not res.success:
        raise RuntimeError(f"transport LP failed: {res.message}")
    duals = np.asarray(res.eqlin.marginals)  # ∂(optimum)/∂b: the maximiser F of ⟨b, F⟩
    f, g = duals[:n], duals[n:]
    return {"primal": float(res.fun), "dual": float(a @ f + b @ g), "f": f, "g": g}


def kr_dual(
    x: object,
    y: object,
    a: object | None = None,
    b: object | None = None,
    *,
    power: float = 1.0,
) -> float:
    """max_f Σ_i a_i f(x_i) − Σ_j b_j f(y_j) s.t. f(u) − f(v) ≤ c(u, v) on the union of supports.

    The article's g = −f form of the dual. It equals the transport cost when c is a metric
    (power 1) and can fall below it otherwise (power 2: the article's caveat). (n + m)² pair
    constraints: keep n + m up to a few hundred.
    """
    x, y = _as_point_pair(x, y)
    n, m = len(x), len(y)
    a, b = _as_weights(a, n, "a"), _as_weights(b, m, "b")
    u = np.concatenate([x, y])
    k = n + m
    i, j = np.nonzero(~np.eye(k, dtype=bool))  # ordered pairs u ≠ v: f_i − f_j ≤ c_ij
    rows = np.repeat(np.arange(len(i)), 2)
    cols = np.stack([i, j], 1).ravel()
    vals = np.tile([1.0, -1.0], len(i))
    a_ub = sparse.csr_matrix((vals, (rows, cols)), shape=(len(i), k))
    weight = np.concatenate([a, -b])  # Σ (p − q) f, maximised: linprog minimises −weight·f
    res = linprog(
        -weight, A_ub=a_ub, b_ub=_cost(u, u, power)[i, j], bounds=(None, None), method="highs"
    )
    if not res.success:
        raise RuntimeError(f"Kantorovich–Rubinstein LP failed: {res.message}")
    return float(-res.fun)
