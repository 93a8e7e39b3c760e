r"""f-GAN: every f-divergence of the table as a variational (critic) objective.

Article:  f-GAN简介：GAN模型的生产车间 — 苏剑林, 2018-09-29
URL:      https://kexue.fm/archives/6016
Paper:    Nowozin, Cseke, Tomioka, f-GAN (arXiv 1606.00709)

Key equations::

    D_f(P‖Q) = ∫ q(x) f(p(x)/q(x)) dx,            f convex, f(1) = 0
    f(u) = max_{t ∈ f′(R₊)} { t·u − f*(t) },        f*(t) = sup_u { t·u − f(u) }
    D_f(P‖Q) = max_T  E_p[T(x)] − E_q[f*(T(x))]     (T = g(v), v = s(x) the critic's output)
    f-GAN:   min_G max_T  E_p[T(x)] − E_z[f*(T(G(z)))]

The table (keyed by f; P = data, Q = model; `fused(v)` = f*(g(v)) written stably):

    name               f(u)                          g(v)                 fused f*(g(v))
    total_variation    ½|u − 1|                      ½ tanh v             ½ tanh v
    kl                 u log u                       v                    e^{v−1}
    reverse_kl         −log u                        −e^{−v}              v − 1
    pearson            (u − 1)²                      v                    v²/4 + v
    neyman             (1 − u)²/u                    1 − e^{−v}           2 − 2e^{−v/2}
    squared_hellinger  (√u − 1)²                     1 − e^{−v}           e^{v} − 1
    jeffrey            (u − 1) log u                 v                    W + 1/W + v − 2
    js  (Su, ½·)       ½[u log u − (u+1) log((u+1)/2)]
                                          g = ½(log 2 − softplus(−v)), fused ½(softplus(v) − log 2)
    js2 (Nowozin)      u log u − (u+1) log((u+1)/2)  log 2 − softplus(−v) softplus(v) − log 2
    gan                u log u − (u+1) log(u+1)      −softplus(−v)        softplus(v)

In the jeffrey row W = W(e^{1−v}), Lambert's W (principal branch), computed by Newton's
method with an analytic backward.

Symbols: u = p/q the density ratio; t the dual variable (range f′(R₊)); v the critic's raw output.

Deviations from the article:
- Names follow the standard convention: the article's "Pearson χ²" ∫(q−p)²/p with
  f = (1−u)²/u is `neyman` here, and its "Neyman χ²" is `pearson` (each record keeps the
  article's label in `su_name`). Formulas and f's match the article exactly.
- Activations are Nowozin's standard ones; where the article picks another (reverse KL −e^{v},
  χ² e^{v} − 2, Hellinger 1 − e^{v}), it is recorded in `su_activation`. Both parametrise the
  same range, so the divergence estimated is the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from kexue.gan.losses import _flat

__all__ = [
    "FDivergence",
    "DIVERGENCES",
    "divergence",
    "f_estimate",
    "f_d_loss",
    "f_g_loss",
    "f_divergence_exact",
]

_LOG2 = math.log(2.0)


class _LambertWExp(torch.autograd.Function):
    """w = W(e^L), the solution of w + log w = L (w > 0), by Newton's method."""

    @staticmethod
    def forward(ctx: object, log_x: Tensor) -> Tensor:  # type: ignore[override]
        L = log_x.detach()
        # Start: W(x) ≈ log x − log log x for large x, ≈ x for small x.
        w = torch.where(L > 1, L - torch.log(L.clamp_min(1.0)), torch.exp(L.clamp_max(1.0)))
        for _ in range(60):
            w = (w - (w + torch.log(w) - L) / (1 + 1 / w)).clamp_min(1e-300)
        ctx.save_for_backward(w)  # type: ignore[attr-defined]
        return w

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> Tensor:  # type: ignore[override]
        (w,) = ctx.saved_tensors  # type: ignore[attr-defined]
        return grad * w / (1 + w)  # dW(e^L)/dL = W/(1 + W)


def _lambertw_exp(log_x: Tensor) -> Tensor:
    """W(e^L) for any real L (no overflow for large L); differentiable."""
    return _LambertWExp.apply(log_x)


@dataclass(frozen=True)
class FDivergence:
    """One row of the f-divergence table.

    Attributes:
        name: standard name (the key).
        su_name: the article's label for the same f.
        f: the generator function of u = p/q.
        f_star: its convex conjugate f*(t).
        f_prime: f′(u) (the optimal T* = f′(p/q)).
        activation: g(v), maps R into the domain of f*.
        fused: f*(g(v)), numerically stable.
        t_range: the open/closed range of f′ as (low, high).
        su_activation: the article's activation where it differs, else "".
    """

    name: str
    su_name: str
    f: Callable[[Tensor], Tensor]
    f_star: Callable[[Tensor], Tensor]
    f_prime: Callable[[Tensor], Tensor]
    activation: Callable[[Tensor], Tensor]
    fused: Callable[[Tensor], Tensor]
    t_range: tuple[float, float]
    su_activation: str = ""


def _xlogx(u: Tensor) -> Tensor:
    return torch.where(u > 0, u * torch.log(u.clamp_min(1e-300)), torch.zeros_like(u))


DIVERGENCES: tuple[FDivergence, ...] = (
    FDivergence(
        "total_variation", "total variation",
        f=lambda u: 0.5 * (u - 1).abs(),
        f_star=lambda t: t,
        f_prime=lambda u: 0.5 * torch.sign(u - 1),
        activation=lambda v: 0.5 * torch.tanh(v),
        fused=lambda v: 0.5 * torch.tanh(v),
        t_range=(-0.5, 0.5),
    ),
    FDivergence(
        "kl", "KL",
        f=_xlogx,
        f_star=lambda t: torch.exp(t - 1),
        f_prime=lambda u: 1 + torch.log(u),
        activation=lambda v: v,
        fused=lambda v: torch.exp(v - 1),
        t_range=(-math.inf, math.inf),
    ),
    FDivergence(
        "reverse_kl", "reverse KL",
        f=lambda u: -torch.log(u),
        f_star=lambda t: -1 - torch.log(-t),
        f_prime=lambda u: -1 / u,
        activation=lambda v: -torch.exp(-v),
        fused=lambda v: v - 1,
        t_range=(-math.inf, 0.0),
        su_activation="-exp(v)",
    ),
    FDivergence(
        "pearson", "Neyman χ²",
        f=lambda u: (u - 1) ** 2,
        f_star=lambda t: t**2 / 4 + t,
        f_prime=lambda u: 2 * (u - 1),
        activation=lambda v: v,
        fused=lambda v: v**2 / 4 + v,
        t_range=(-math.inf, math.inf),  # f extended to all of R (see the spec's pitfall)
        su_activation="exp(v) - 2",
    ),
    FDivergence(
        "neyman", "Pearson χ²",
        f=lambda u: (1 - u) ** 2 / u,
        f_star=lambda t: 2 - 2 * torch.sqrt(1 - t),
        f_prime=lambda u: 1 - 1 / u**2,
        activation=lambda v: 1 - torch.exp(-v),
        fused=lambda v: 2 - 2 * torch.exp(-v / 2),
        t_range=(-math.inf, 1.0),
        su_activation="1 - exp(v)",
    ),
    FDivergence(
        "squared_hellinger", "Hellinger",
        f=lambda u: (torch.sqrt(u) - 1) ** 2,
        f_star=lambda t: t / (1 - t),
        f_prime=lambda u: 1 - 1 / torch.sqrt(u),
        activation=lambda v: 1 - torch.exp(-v),
        fused=lambda v: torch.expm1(v),
        t_range=(-math.inf, 1.0),
        su_activation="1 - exp(v)",
    ),
    FDivergence(
        "jeffrey", "Jeffrey",
        f=lambda u: (u - 1) * torch.log(u),
        f_star=lambda t: (lambda w: w + 1 / w + t - 2)(_lambertw_exp(1 - t)),
        f_prime=lambda u: torch.log(u) + 1 - 1 / u,
        activation=lambda v: v,
        fused=lambda v: (lambda w: w + 1 / w + v - 2)(_lambertw_exp(1 - v)),
        t_range=(-math.inf, math.inf),
    ),
    FDivergence(
        "js", "JS",
        f=lambda u: 0.5 * (_xlogx(u) - (u + 1) * torch.log((u + 1) / 2)),
        f_star=lambda t: -0.5 * torch.log(2 - torch.exp(2 * t)),
        f_prime=lambda u: 0.5 * torch.log(2 * u / (u + 1)),
        activation=lambda v: 0.5 * (_LOG2 - F.softplus(-v)),
        fused=lambda v: 0.5 * (F.softplus(v) - _LOG2),
        t_range=(-math.inf, 0.5 * _LOG2),
    ),
    FDivergence(
        "js2", "",
        f=lambda u: _xlogx(u) - (u + 1) * torch.log((u + 1) / 2),
        f_star=lambda t: -torch.log(2 - torch.exp(t)),
        f_prime=lambda u: torch.log(2 * u / (u + 1)),
        activation=lambda v: _LOG2 - F.softplus(-v),
        fused=lambda v: F.softplus(v) - _LOG2,
        t_range=(-math.inf, _LOG2),
    ),
    FDivergence(
        "gan", "GAN",
        f=lambda u: _xlogx(u) - (u + 1) * torch.log(u + 1),
        f_star=lambda t: -torch.log(1 - torch.exp(t)),
        f_prime=lambda u: torch.log(u / (u + 1)),
        activation=lambda v: -F.softplus(-v),
        fused=F.softplus,
        t_range=(-math.inf, 0.0),
        su_activation="sigmoid-output D",
    ),
)  # fmt: skip

_BY_NAME = {d.name: d for d in DIVERGENCES}


def divergence(name: str) -> FDivergence:
    """The record of `name` (one of `DIVERGENCES`' names)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown f-divergence {name!r}; valid: {', '.join(_BY_NAME)}") from None


def f_estimate(name: str, v_real: Tensor, v_fake: Tensor) -> Tensor:
    """The variational lower bound E_p g(v) − E_q f*(g(v)) of D_f(P‖Q) (P real, Q fake)."""
    d = divergence(name)
    return d.activation(_flat(v_real)).mean() - d.fused(_flat(v_fake)).mean()


def f_d_loss(name: str, v_real: Tensor, v_fake: Tensor) -> Tensor:
    """Critic loss −[E_p g(v) − E_q f*(g(v))]: minimising it tightens the bound."""
    return -f_estimate(name, v_real, v_fake)


def f_g_loss(name: str, v_fake: Tensor, *, mode: Literal["alt", "saddle"] = "alt") -> Tensor:
    """Generator loss: "saddle" −E_q f*(g(v)) (the bound's Q-term: minimising it minimises the
    bound) or "alt" −E_q g(v) (Nowozin's practical variant; for `gan` it is the non-saturating
    loss)."""
    d = divergence(name)
    v = _flat(v_fake)
    if mode == "saddle":
        return -d.fused(v).mean()
    if mode == "alt":
        return -d.activation(v).mean()
    raise ValueError(f"mode must be 'alt' or 'saddle', got {mode!r}")


def f_divergence_exact(p: np.ndarray, q: np.ndarray, name: str) -> float:
    """Σ_x q(x) f(p(x)/q(x)) for discrete distributions p, q (q > 0), in float64."""
    p_t = torch.as_tensor(np.asarray(p, np.float64))
    q_t = torch.as_tensor(np.asarray(q, np.float64))
    if (q_t <= 0).any():
        raise ValueError("q must be positive everywhere")
    return float((q_t * divergence(name).f(p_t / q_t)).sum())
