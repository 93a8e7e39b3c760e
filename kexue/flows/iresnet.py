r"""Invertible residual networks: contractive blocks y = x + g(x), fixed-point inverse,
power-series log-determinant with Hutchinson's trace estimator, and the exact log-det.

Article:  细水长flow之可逆ResNet：极致的暴力美学 — 苏剑林, 2019-03-21
URL:      https://kexue.fm/archives/6482
Original: none from the author (he stopped short of an MNIST run); paper Behrmann et al.,
          arXiv 1811.00995, code jhjacobsen/invertible-resnet

Key equations::

    invertible if Lip(g) < 1;   g = W_m ∘ φ ∘ … ∘ φ ∘ W_1 with ‖W_i‖₂ ≤ c < 1, Lip(φ) ≤ 1
    spectral normalisation (soft):  W ← W / max(1, σ̂(W)/c),  σ̂ by power iteration
    inverse:   x₀ = y,  x_{n+1} = y − g(x_n),   ‖x* − x_n‖ ≤ Lⁿ/(1−L) · ‖x₁ − x₀‖
    log-det:   ln det(I + J_g) = Σ_{k≥1} (−1)^{k+1} tr(J_g^k)/k
    Hutchinson: tr(A) = E_v[vᵀ A v],  E v = 0, Cov v = I
    truncation bound: |ln det − PS_n| ≤ −D (ln(1 − L) + Σ_{k≤n} L^k/k)

Symbols: x, y (B, ...) input/output of a block; J_g the Jacobian of g at x; L = Lip(g);
c the spectral coefficient; n the number of series terms.

Implemented: SpectralNormLinear, SpectralNormConv2d (operator norm by power iteration with
conv2d / conv_transpose2d on the input shape), fixed_point_inverse, exact_logdet,
power_series_logdet (Hutchinson, differentiable), series_logdet_from_jacobian,
series_error_bound, ResidualBlock, IResNet (vectors), ConvIResNet (images).

Deviations from the article:
    - The spectral normalisation is the paper's soft form W / max(1, σ̂/c) (the article writes
      c·W/‖W‖₂); power-iteration vectors persist across steps and only update in train mode.
    - `logdet="exact"` (slogdet of I + J_g from D vector-Jacobian products) is offered for
      training and evaluation in small dimension.
    - Small vector i-ResNets build J_g explicitly (`mlp_with_jacobian`: products of the layer
      matrices and activation slopes) instead of chaining vector-Jacobian products; the exact
      log-det and the Hutchinson series get the same values, without a double backward.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from kexue.flows.core import ActNorm, Bijector, Flatten, Flow, Sequential, Squeeze, StandardNormal

__all__ = [
    "SpectralNormLinear",
    "SpectralNormConv2d",
    "fixed_point_inverse",
    "exact_logdet",
    "power_series_logdet",
    "series_logdet_from_jacobian",
    "mlp_with_jacobian",
    "series_error_bound",
    "ResidualBlock",
    "IResNet",
    "ConvIResNet",
]

LogDet = Literal["series", "exact"]
Jacobian = Literal["autograd", "explicit"]


def _normalize(v: Tensor) -> Tensor:
    return v / (v.norm() + 1e-12)


class SpectralNormLinear(nn.Module):
    """Linear layer with weight W / max(1, σ̂/c), σ̂ = uᵀWv from persistent power iteration."""

    def __init__(
        self, in_features: int, out_features: int, *, coeff: float = 0.9, n_power: int = 5
    ) -> None:
        super().__init__()
        lin = nn.Linear(in_features, out_features)
        self.weight, self.bias = lin.weight, lin.bias
        self.coeff, self.n_power = coeff, n_power
        self.register_buffer("u", _normalize(torch.randn(out_features)))
        self.register_buffer("v", _normalize(torch.randn(in_features)))
        self._power(50)

    @torch.no_grad()
    def _power(self, n: int) -> None:
        w = self.weight
        for _ in range(n):
            self.v.copy_(_normalize(w.T @ self.u))
            self.u.copy_(_normalize(w @ self.v))

    def normalized_weight(self) -> Tensor:
        sigma = self.u @ self.weight @ self.v
        return self.weight / torch.clamp(sigma / self.coeff, min=1.0)

    def current_weight(self) -> Tensor:
        """The weight this forward uses (one power-iteration update first in train mode)."""
        if self.training:
            self._power(self.n_power)
        return self.normalized_weight()

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.current_weight(), self.bias)


class SpectralNormConv2d(nn.Module):
    """Stride-1 'same' convolution normalised by its operator norm on inputs of `in_shape`."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        in_shape: Sequence[int],
        *,
        coeff: float = 0.9,
        n_power: int = 5,
    ) -> None:
        super().__init__()
        conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
        self.weight, self.bias = conv.weight, conv.bias
        self.pad, self.coeff, self.n_power = kernel // 2, coeff, n_power
        h, w = in_shape
        self.register_buffer("u", _normalize(torch.randn(1, c_out, h, w)))
        self.register_buffer("v", _normalize(torch.randn(1, c_in, h, w)))
        self._power(50)

    @torch.no_grad()
    def _power(self, n: int) -> None:
        f = nn.functional
        for _ in range(n):
            self.v.copy_(_normalize(f.conv_transpose2d(self.u, self.weight, padding=self.pad)))
            self.u.copy_(_normalize(f.conv2d(self.v, self.weight, padding=self.pad)))

    def normalized_weight(self) -> Tensor:
        sigma = (self.u * nn.functional.conv2d(self.v, self.weight, padding=self.pad)).sum()
        return self.weight / torch.clamp(sigma / self.coeff, min=1.0)

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            self._power(self.n_power)
        return nn.functional.conv2d(x, self.normalized_weight(), self.bias, padding=self.pad)


@torch.no_grad()
def fixed_point_inverse(
    g: nn.Module, y: Tensor, n_iter: int = 100, atol: float = 0.0
) -> tuple[Tensor, list[float]]:
    """Solve x + g(x) = y by x_{n+1} = y − g(x_n), x₀ = y; return x and the step sizes."""
    x, steps = y.clone(), []
    for _ in range(n_iter):
        x_new = y - g(x)
        steps.append(float((x_new - x).abs().max()))
        x = x_new
        if steps[-1] <= atol:
            break
    return x, steps


def exact_logdet(gx: Tensor, x: Tensor, create_graph: bool) -> Tensor:
    """log det(I + J_g(x)) per example from D vector-Jacobian products and slogdet."""
    b, d = x.shape[0], x[0].numel()
    flat = gx.reshape(b, d)
    rows = [
        torch.autograd.grad(flat[:, i].sum(), x, create_graph=create_graph, retain_graph=True)[
            0
        ].reshape(b, d)
        for i in range(d)
    ]
    jac = torch.stack(rows, 1)
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    return torch.linalg.slogdet(eye + jac)[1]


def power_series_logdet(
    gx: Tensor, x: Tensor, n_terms: int, v: Tensor, create_graph: bool
) -> Tensor:
    """Σ_{k≤n} (−1)^{k+1} vᵀ J_g^k v / k per example (Hutchinson with probe v, shape of x)."""
    w, total = v, x.new_zeros(x.shape[0])
    for k in range(1, n_terms + 1):
        w = torch.autograd.grad(gx, x, w, create_graph=create_graph, retain_graph=True)[0]
        total = total + (-1) ** (k + 1) * (w * v).flatten(1).sum(1) / k
    return total


def mlp_with_jacobian(g: nn.Sequential, x: Tensor) -> tuple[Tensor, Tensor]:
    """g(x) and its Jacobian J_g(x) (B, D_out, D_in) in one pass, for g made of Linear /
    SpectralNormLinear layers and ELU / Tanh activations (J = W_m Φ'_{m−1} W_{m−1} ⋯ Φ'_1 W_1).

    Differentiable (an ordinary graph, no double backward): the cheap route to the log-det of
    small vector i-ResNets. Jᵀ is accumulated (B, D_in, width) so every product is one matmul.
    """
    h, jt = x, None  # jt None = identity; an unbatched (D_in, width) matrix until the first φ'
    for layer in g:
        if isinstance(layer, (SpectralNormLinear, nn.Linear)):
            w = layer.current_weight() if isinstance(layer, SpectralNormLinear) else layer.weight
            h = nn.functional.linear(h, w, layer.bias)
            jt = w.T if jt is None else jt @ w.T
            continue
        if isinstance(layer, nn.ELU) and layer.alpha == 1.0:
            h = nn.functional.elu(h)
            slope = (h + 1).clamp(max=1.0)  # = 1 for h > 0, e^h for h ≤ 0
        elif isinstance(layer, nn.ELU):
            slope = torch.where(h > 0, torch.ones_like(h), layer.alpha * h.exp())
            h = nn.functional.elu(h, layer.alpha)
        elif isinstance(layer, nn.Tanh):
            h = torch.tanh(h)
            slope = 1 - h.pow(2)
        else:
            raise TypeError(f"mlp_with_jacobian: unsupported layer {type(layer).__name__}")
        jt = slope.unsqueeze(1) * (torch.eye(h.shape[1], dtype=h.dtype) if jt is None else jt)
    if jt is None:
        jt = torch.eye(x.shape[1], dtype=x.dtype)
    return h, jt.expand(x.shape[0], *jt.shape[-2:]).transpose(1, 2)


def series_logdet_from_jacobian(jac: Tensor, n_terms: int) -> Tensor:
    """The truncated series with exact traces: Σ_{k≤n} (−1)^{k+1} tr(J^k)/k for J (..., D, D)."""
    power, total = jac, jac.new_zeros(jac.shape[:-2])
    for k in range(1, n_terms + 1):
        total = total + (-1) ** (k + 1) * torch.diagonal(power, dim1=-2, dim2=-1).sum(-1) / k
        power = power @ jac
    return total


def series_error_bound(lip: float, n_terms: int, dim: int) -> float:
    """Worst-case truncation error −D (ln(1 − L) + Σ_{k≤n} L^k/k) of the log-det series."""
    return -dim * (math.log(1 - lip) + sum(lip**k / k for k in range(1, n_terms + 1)))


class ResidualBlock(Bijector):
    """y = x + g(x) with Lip(g) < 1 (g built from spectrally normalised layers).

    Args:
        g: the residual branch.
        logdet: "series" (Hutchinson power series, training at scale) or "exact".
        n_series: number of series terms n.
        n_fixed_point: iterations of the fixed-point inverse (stops early at `atol`).
        probe: "gaussian" or "rademacher" Hutchinson vectors.
        jacobian: how J_g enters the log-det: "autograd" (vector-Jacobian products, any g) or
            "explicit" (the whole Jacobian from `mlp_with_jacobian`, small vector MLPs only).
            Both give the same numbers for the same probe; "explicit" avoids double backward.
    """

    def __init__(
        self,
        g: nn.Module,
        *,
        logdet: LogDet = "series",
        n_series: int = 5,
        n_fixed_point: int = 200,
        atol: float = 1e-12,
        probe: Literal["gaussian", "rademacher"] = "gaussian",
        jacobian: Jacobian = "autograd",
    ) -> None:
        super().__init__()
        _check_logdet(logdet)
        if probe not in ("gaussian", "rademacher"):
            raise ValueError(f"probe must be 'gaussian' or 'rademacher', not {probe!r}")
        if jacobian not in ("autograd", "explicit"):
            raise ValueError(f"jacobian must be 'autograd' or 'explicit', not {jacobian!r}")
        self.g, self.logdet, self.n_series = g, logdet, n_series
        self.n_fixed_point, self.atol, self.probe = n_fixed_point, atol, probe
        self.jacobian = jacobian

    def _probe(self, x: Tensor) -> Tensor:
        if self.probe == "rademacher":
            return torch.randint(0, 2, x.shape, dtype=x.dtype, device=x.device) * 2 - 1
        return torch.randn_like(x)

    def _logdet(self, x: Tensor, gx: Tensor, create_graph: bool) -> Tensor:
        if self.logdet == "exact":
            return exact_logdet(gx, x, create_graph)
        return power_series_logdet(gx, x, self.n_series, self._probe(x), create_graph)

    def _logdet_explicit(self, x: Tensor, jac: Tensor) -> Tensor:
        if self.logdet == "exact":
            return torch.linalg.slogdet(torch.eye(x.shape[1], dtype=x.dtype) + jac)[1]
        v = self._probe(x)
        jt, w, total = jac.transpose(1, 2), v.unsqueeze(-1), x.new_zeros(x.shape[0])
        for k in range(1, self.n_series + 1):
            w = jt @ w  # Jᵀw: the vector-Jacobian product wᵀJ of the autograd route
            total = total + (-1) ** (k + 1) * (w.squeeze(-1) * v).sum(1) / k
        return total

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.jacobian == "explicit":
            gx, jac = mlp_with_jacobian(self.g, x)
            return x + gx, self._logdet_explicit(x, jac)
        graph = torch.is_grad_enabled()
        with torch.enable_grad():
            x_in = x if x.requires_grad else x.detach().requires_grad_(True)
            gx = self.g(x_in)
            ld = self._logdet(x_in, gx, create_graph=graph)
            y = x_in + gx
        return (y, ld) if graph else (y.detach(), ld.detach())

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        was_training = self.g.training
        self.g.eval()  # the same normalised weights during the whole iteration
        try:
            x, _ = fixed_point_inverse(self.g, z.detach(), self.n_fixed_point, self.atol)
            if self.jacobian == "explicit":
                with torch.no_grad():
                    ld = self._logdet_explicit(x, mlp_with_jacobian(self.g, x)[1])
            else:
                with torch.enable_grad():
                    x_in = x.requires_grad_(True)
                    ld = self._logdet(x_in, self.g(x_in), create_graph=False)
        finally:
            self.g.train(was_training)
        return x.detach(), -ld.detach()


def _check_logdet(logdet: str) -> None:
    if logdet not in ("series", "exact"):
        raise ValueError(f"logdet must be 'series' or 'exact', not {logdet!r}")


def _set_logdet(model: nn.Module, mode: str) -> None:
    _check_logdet(mode)
    for m in model.modules():
        if isinstance(m, ResidualBlock):
            m.logdet = mode


class IResNet(Flow):
    """Vector i-ResNet: n × (ActNorm → x + g(x)), g = SN-Linear → ELU → … → SN-Linear; N(0, I).

    Args:
        dim: D.
        n_blocks: number of residual blocks.
        hidden: hidden sizes of g.
        coeff: c, the spectral bound of each weight.
        logdet: "exact" or "series"; n_series: terms of the series.
        actnorm: ActNorm (DDI) before each block.
        jacobian: "explicit" (default; whole Jacobian of the MLP in one pass) or "autograd"
            (vector-Jacobian products); the same estimator either way.
        n_power: power-iteration updates of each spectral norm per training forward.
    """

    def __init__(
        self,
        dim: int,
        *,
        n_blocks: int = 10,
        hidden: Sequence[int] = (64, 64),
        coeff: float = 0.9,
        logdet: LogDet = "exact",
        n_series: int = 5,
        actnorm: bool = True,
        jacobian: Jacobian = "explicit",
        n_power: int = 5,
    ) -> None:
        layers: list[nn.Module] = []
        sizes = [dim, *hidden, dim]
        for _ in range(n_blocks):
            if actnorm:
                layers.append(ActNorm(dim))
            mods: list[nn.Module] = []
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
                mods.append(SpectralNormLinear(a, b, coeff=coeff, n_power=n_power))
                if i < len(sizes) - 2:
                    mods.append(nn.ELU())
            g = nn.Sequential(*mods)
            layers.append(ResidualBlock(g, logdet=logdet, n_series=n_series, jacobian=jacobian))
        super().__init__(Sequential(*layers), StandardNormal((dim,)))

    def set_logdet(self, mode: LogDet) -> None:
        """Switch every block to "exact" or "series" log-determinants."""
        _set_logdet(self, mode)


class ConvIResNet(Flow):
    """Image i-ResNet: squeeze → n × (ActNorm → x + g(x)) → learned diagonal prior.

    g = SN-Conv3×3(C→width) → ELU → SN-Conv1×1(width→width) → ELU → SN-Conv3×3(width→C).

    Shapes: x (B, C, H, W) → z (B, C·H·W).
    """

    def __init__(
        self,
        shape: Sequence[int] = (1, 8, 8),
        *,
        n_blocks: int = 8,
        width: int = 32,
        coeff: float = 0.9,
        logdet: LogDet = "series",
        n_series: int = 5,
    ) -> None:
        _check_logdet(logdet)
        c, h, w = shape
        c, h, w = 4 * c, h // 2, w // 2
        layers: list[nn.Module] = [Squeeze()]
        for _ in range(n_blocks):
            g = nn.Sequential(
                SpectralNormConv2d(c, width, 3, (h, w), coeff=coeff),
                nn.ELU(),
                SpectralNormConv2d(width, width, 1, (h, w), coeff=coeff),
                nn.ELU(),
                SpectralNormConv2d(width, c, 3, (h, w), coeff=coeff),
            )
            layers += [ActNorm(c), ResidualBlock(g, logdet=logdet, n_series=n_series)]
        layers += [ActNorm(c, ddi=False), Flatten((c, h, w))]
        self.shape = tuple(shape)
        super().__init__(Sequential(*layers), StandardNormal((c * h * w,)))

    def set_logdet(self, mode: LogDet) -> None:
        """Switch every block to "exact" or "series" log-determinants."""
        _set_logdet(self, mode)
