r"""RealNVP: affine coupling with bounded scale parametrisations, and the vector RealNVP model.

Article:  细水长flow之RealNVP与Glow：流模型的传承与升华 — 苏剑林, 2018-08-26
URL:      https://kexue.fm/archives/5807
Original: bojone/flow (flow_layers.py: AffineCouple); paper Dinh, Sohl-Dickstein & Bengio,
          arXiv 1605.08803

Key equations::

    affine coupling:  h₁ = x₁,  h₂ = s(x₁) ⊙ x₂ + t(x₁),  s > 0     log|det| = Σ log s
    inverse:          x₂ = (h₂ − t(h₁)) / s(h₁)
    shift first (RealNVP/Glow official code): h₂ = (x₂ + t) ⊙ s      same log-det

Scale parametrisations (`scale_fn`, ŝ the network output, zero-initialised)::

    exp        log s = ŝ                        (article; unbounded)
    tanh       log s = λ·tanh(ŝ), λ learned     (RealNVP official)
    sigmoid2   s = sigmoid(ŝ + 2)               (Glow official)
    softclamp  log s = c·(2/π)·atan(ŝ/c), c=2   (FrEIA's bound; FrEIA's slope at 0 is 1.27)
    nflows     s = sigmoid(ŝ + 2) + 1e-3        (nflows)
    zuko       log s = ŝ / (1 + |ŝ / ln 1e-3|)  (zuko's soft clip)

Symbols: x (B, D) or (B, C, H, W); s, t the scale and shift networks' outputs.

Implemented: AffineCoupling (any partition of `Coupling`: even/odd, half, checkerboard),
SCALE_FNS, RealNVP (vector: [ActNorm →] coupling, alternating partitions; optional mixing),
resnet (the s,t network of the image model), MultiScaleRealNVP (the paper's image model: per
scale 3 checkerboard couplings → squeeze → 3 channel couplings → factor out half; the last
scale 4 checkerboard couplings; every factored-out half gets the standard normal prior).
For speed, RealNVP runs alternating even/odd partitions of an even D as half partitions of the
de-interleaved vector [x₀, x₂, …, x₁, x₃, …] (one gather at each end instead of strided views in
every coupling); the function class is the same, ActNorm's entries are stored in that order.

Default scale function: `RealNVP` uses "softclamp" (log s = 2·(2/π)·atan(ŝ/2), bounded by ±2).
In benchmarks/flows.py (5 seeds, docs/benchmarks_flows.md) it trained at least as well as λ·tanh
at equal steps on both the 8 Gaussians and the digits (differences within one std), trained
best of all bounded choices without ActNorm, and needs no learned λ (one parameter tensor fewer
per coupling, which matters when the step is dominated by per-operation overhead). `exp` trains
as fast on the toy but is unbounded and learns slowest on the digits. `AffineCoupling` itself keeps
"tanh" as its default, and the `realnvp` recipe passes λ·tanh explicitly (the paper's choice).

Multi-scale image model (Dinh et al. §3.6; article §多尺度结构)::

    scale i < L:  3 × checkerboard coupling (b[i,j] = (i+j) mod 2, parities 0, 1, 0)
                  → squeeze (C, H, W) → (4C, H/2, W/2)
                  → 3 × channel coupling (first / second half, alternating)
                  → factor out half the channels:  z_i ~ N(0, I)
    scale L:      4 × checkerboard coupling → z_L ~ N(0, I)

Deviations from the article:
    - s and t come from one network (two output halves), as in the official code; the masks on
      2-D toys alternate which coordinate is transformed.
    - ActNorm (Glow's) before each coupling replaces RealNVP's batch normalisation, in the
      vector model and in the image model (no batch statistics: exact inverses in train mode,
      and small per-GPU batches work).
    - The image model's s,t ResNet is the paper's shape (3×3 convolutions with residual blocks,
      zero-initialised output) without its weight normalisation; its checkerboard couplings see
      the mask as an extra input channel ([x ⊙ b, b]) and not [relu(x ⊙ b), relu(−x ⊙ b), b].
    - No logit preprocessing: the image model sees w = (x + u)/256 − ½ like Glow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from kexue.flows.core import (
    ActNorm,
    FactorOut,
    Flatten,
    Flow,
    InvertibleLinear,
    RandomPermutation,
    Reverse,
    Sequential,
    Squeeze,
    StandardNormal,
    _Permutation,
)
from kexue.flows.nice import AdditiveCoupling, Coupling, Split, _checkerboard, zero_last_layer
from kexue.nn import MLP

__all__ = ["SCALE_FNS", "AffineCoupling", "RealNVP", "resnet", "MultiScaleRealNVP"]

ScaleFn = Literal["exp", "tanh", "sigmoid2", "softclamp", "nflows", "zuko"]
SCALE_FNS: tuple[str, ...] = get_args(ScaleFn)


class AffineCoupling(Coupling):
    """h₂ = s(x₁) ⊙ x₂ + t(x₁) (or (x₂ + t) ⊙ s with `shift_first`); see `Coupling`.

    `net` must return 2·(transformed size) channels: (ŝ, t) = chunk(net(x₁), 2, dim=1).
    """

    def __init__(
        self,
        channels: int,
        net: nn.Module,
        *,
        split: Split = "evenodd",
        parity: int = 0,
        scale_fn: ScaleFn = "tanh",
        shift_first: bool = False,
    ) -> None:
        super().__init__(channels, net, split=split, parity=parity)
        if scale_fn not in SCALE_FNS:
            raise ValueError(f"scale_fn {scale_fn!r}; valid: {', '.join(SCALE_FNS)}")
        self.scale_fn, self.shift_first = scale_fn, shift_first
        if scale_fn == "tanh":
            self.lam = nn.Parameter(torch.ones(()))

    def log_scale(self, raw: Tensor) -> Tensor:
        f = self.scale_fn
        if f == "exp":
            return raw
        if f == "tanh":
            return self.lam * torch.tanh(raw)
        if f == "sigmoid2":
            return nn.functional.logsigmoid(raw + 2.0)
        if f == "softclamp":
            return 2.0 * (2 / math.pi) * torch.atan(raw / 2.0)
        if f == "nflows":
            return torch.log(torch.sigmoid(raw + 2.0) + 1e-3)
        return raw / (1 + (raw / math.log(1e-3)).abs())

    def _params(self, params: Tensor) -> tuple[Tensor, Tensor]:
        raw, t = params.chunk(2, dim=1)
        return self.log_scale(raw), t

    def _transform(self, params: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        logs, t = self._params(params)
        y2 = (x2 + t) * logs.exp() if self.shift_first else torch.addcmul(t, x2, logs.exp())
        return y2, logs

    def _untransform(self, params: Tensor, y2: Tensor) -> tuple[Tensor, Tensor]:
        logs, t = self._params(params)
        x2 = y2 * (-logs).exp() - t if self.shift_first else (y2 - t) * (-logs).exp()
        return x2, -logs


class RealNVP(Flow):
    """Vector RealNVP: n × ([ActNorm] → [mixing] → coupling with alternating partition), N(0, I).

    Args:
        dim: D.
        n_couplings: number of couplings (E2: 8).
        hidden: hidden sizes of the s,t MLP (ReLU), last layer zero-initialised.
        scale_fn: one of SCALE_FNS; "additive" coupling is `coupling="additive"`. Default
            "softclamp" (see the module docstring); "tanh" is the RealNVP paper's.
        actnorm: an ActNorm (DDI) before each coupling.
        mixing: "alternate" (even/odd partitions alternate), "reverse", "shuffle" or "lu"
            (an InvertibleLinear before each coupling, which then always uses parity 0).
        split: "evenodd" or "half".

    Shapes: x (B, D) → z (B, D).
    """

    def __init__(
        self,
        dim: int,
        *,
        n_couplings: int = 8,
        hidden: Sequence[int] = (64, 64),
        scale_fn: ScaleFn = "softclamp",
        actnorm: bool = True,
        mixing: Literal["alternate", "reverse", "shuffle", "lu"] = "alternate",
        coupling: Literal["affine", "additive"] = "affine",
        split: Literal["evenodd", "half"] = "evenodd",
        shift_first: bool = False,
    ) -> None:
        if mixing not in ("alternate", "reverse", "shuffle", "lu"):
            raise ValueError(f"mixing {mixing!r}; valid: alternate, reverse, shuffle, lu")
        if coupling not in ("affine", "additive"):
            raise ValueError(f"coupling {coupling!r}; valid: affine, additive")
        if split not in ("evenodd", "half"):
            raise ValueError(f"split {split!r}; valid: evenodd, half")
        if scale_fn not in SCALE_FNS:
            raise ValueError(f"scale_fn {scale_fn!r}; valid: {', '.join(SCALE_FNS)}")
        layers: list[nn.Module] = []
        gen = torch.Generator().manual_seed(0)
        # Even/odd partitions that alternate are half partitions of the de-interleaved vector
        # [x₀, x₂, …, x₁, x₃, …]: one gather at each end instead of strided views (and their
        # copies) in every coupling; same function class (ActNorm's entries are permuted).
        interleave = split == "evenodd" and mixing == "alternate" and dim % 2 == 0
        if interleave:
            split = "half"
            if dim > 2:
                layers.append(_Permutation(_DEINTERLEAVE(dim)))
        for i in range(n_couplings):
            if actnorm:
                layers.append(ActNorm(dim))
            parity = i % 2
            if mixing == "reverse":
                layers.append(Reverse(dim))
            elif mixing == "shuffle":
                layers.append(RandomPermutation(dim, seed=i))
            elif mixing == "lu":
                layers.append(InvertibleLinear(dim, lu=True, generator=gen))
            if mixing != "alternate":
                parity = 0
            n_cond = (dim + 1) // 2 if split == "evenodd" else dim // 2
            if parity == 1:
                n_cond = dim - n_cond
            n_trans = dim - n_cond
            if coupling == "affine":
                net = zero_last_layer(MLP(n_cond, 2 * n_trans, hidden=hidden))
                layers.append(
                    AffineCoupling(
                        dim,
                        net,
                        split=split,
                        parity=parity,
                        scale_fn=scale_fn,
                        shift_first=shift_first,
                    )
                )
            else:
                net = zero_last_layer(MLP(n_cond, n_trans, hidden=hidden))
                layers.append(AdditiveCoupling(dim, net, split=split, parity=parity))
        if interleave and dim > 2:
            layers.append(_Permutation(torch.argsort(_DEINTERLEAVE(dim))))
        super().__init__(Sequential(*layers), StandardNormal((dim,)))


def _DEINTERLEAVE(dim: int) -> Tensor:  # noqa: N802 - a constant-like helper
    """Index putting even positions first: [0, 2, 4, …, 1, 3, 5, …]."""
    return torch.cat([torch.arange(0, dim, 2), torch.arange(1, dim, 2)])


class _ResidualBlock(nn.Module):
    """x + Conv3×3(ReLU(Conv3×3(ReLU(x)))) (a pre-activation block of the s,t ResNet)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def resnet(c_in: int, c_out: int, width: int, blocks: int = 2) -> nn.Sequential:
    """RealNVP's s,t network: Conv3×3(c_in → width) → `blocks` residual blocks → ReLU →
    Conv3×3(width → c_out), the last one zero-initialised (the coupling starts as identity)."""
    return zero_last_layer(
        nn.Sequential(
            nn.Conv2d(c_in, width, 3, padding=1),
            *[_ResidualBlock(width) for _ in range(blocks)],
            nn.ReLU(),
            nn.Conv2d(width, c_out, 3, padding=1),
        )
    )


class _WithMask(nn.Module):
    """Feeds [x ⊙ b, b] to `net`: the checkerboard coupling's network sees which positions are
    the conditioning ones (a convolution cannot tell a masked zero from a pixel at zero)."""

    def __init__(self, net: nn.Module, parity: int) -> None:
        super().__init__()
        self.net, self.parity = net, parity

    def forward(self, xb: Tensor) -> Tensor:
        b = _checkerboard(xb, self.parity).expand(xb.shape[0], 1, -1, -1)
        return self.net(torch.cat([xb, b], 1))


class MultiScaleRealNVP(Flow):
    """RealNVP's multi-scale model on images (see the module docstring for the layout).

    Args:
        shape: (C, H, W) of the input; H, W divisible by 2^(scales − 1).
        scales: L, the number of scales (L − 1 squeezes and factor-outs).
        width: hidden channels of the s,t ResNets.
        blocks: residual blocks per s,t ResNet.
        scale_fn: the affine scale parametrisation; "tanh" (λ·tanh) is the paper's.
        actnorm: an ActNorm (DDI) before each coupling.

    Shapes: x (B, C, H, W) → z (B, C·H·W) flat; sample(n) → (n, C, H, W).
    """

    def __init__(
        self,
        shape: Sequence[int] = (3, 32, 32),
        *,
        scales: int = 3,
        width: int = 64,
        blocks: int = 2,
        scale_fn: ScaleFn = "tanh",
        actnorm: bool = True,
    ) -> None:
        if scale_fn not in SCALE_FNS:
            raise ValueError(f"scale_fn {scale_fn!r}; valid: {', '.join(SCALE_FNS)}")
        c, h, w = shape
        if scales < 1 or h % 2 ** (scales - 1) or w % 2 ** (scales - 1):
            raise ValueError(f"{h}×{w} images do not halve {scales - 1} times (scales={scales})")

        def coupling(c: int, split: Split, parity: int) -> list[nn.Module]:
            if split == "checkerboard":
                net: nn.Module = _WithMask(resnet(c + 1, 2 * c, width, blocks), parity)
            else:
                net = resnet(c // 2, 2 * (c - c // 2), width, blocks)
            layer = AffineCoupling(c, net, split=split, parity=parity, scale_fn=scale_fn)
            return [ActNorm(c), layer] if actnorm else [layer]

        def level(i: int, c: int, h: int, w: int) -> nn.Module:
            last = i == scales - 1
            layers = [m for p in ((0, 1, 0, 1) if last else (0, 1, 0))
                      for m in coupling(c, "checkerboard", p)]  # fmt: skip
            if last:
                return Sequential(*layers, Flatten((c, h, w)))
            c, h, w = 4 * c, h // 2, w // 2
            layers.append(Squeeze())
            layers += [m for p in (0, 1, 0) for m in coupling(c, "half", p)]
            inner = level(i + 1, c // 2, h, w)
            return Sequential(*layers, FactorOut((c, h, w), inner, prior="standard"))

        self.shape = tuple(shape)
        super().__init__(level(0, c, h, w), StandardNormal((c * h * w,)))
