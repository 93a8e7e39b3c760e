r"""NICE: additive coupling, the scaling layer, and the NICE density model.

Article:  细水长flow之NICE：流模型的基本概念与实现 — 苏剑林, 2018-08-11
URL:      https://kexue.fm/archives/5776
Original: bojone/flow (nice.py); paper Dinh, Krueger & Bengio, arXiv 1410.8516

Key equations (article eqs. (5)–(9), (14)–(17))::

    log q(x) = −D/2·log 2π − ½‖f(x)‖² + log|det ∂f/∂x|
    additive coupling:  h₁ = x₁,  h₂ = x₂ + m(x₁)         log|det| = 0
    inverse:            x₁ = h₁,  x₂ = h₂ − m(h₁)
    scaling layer:      z = s ⊙ h⁽ⁿ⁾,  s = exp(a)         log|det| = Σ_i a_i

Symbols: x (B, D) data, h⁽ˡ⁾ intermediate states, m the coupling network, s the learned scale
(1/s_i is the prior's σ_i: a large s_i means dimension i is nearly collapsed).

Implemented:
    Coupling          the partition machinery shared with RealNVP: split dim 1 into a conditioning
                      part and a transformed part ("evenodd", "half" or an image "checkerboard")
    AdditiveCoupling  h₂ = x₂ + sign·m(x₁)  (sign = −1 is the author's orientation)
    DiagonalScale     the scaling layer, zero or data-dependent init
    NICE              (Reverse → even/odd additive coupling) × n → DiagonalScale, logistic or
                      normal prior

Deviations from the article:
    - The default prior is the standard logistic of the NICE paper's MNIST run; the article and
      the author's code use a standard normal (`prior="normal"`).
    - `DiagonalScale(init="ddi")` sets a = −log std on the first batch (a convenience; the author
      initialises a glorot-normally, the paper at zero), so constant pixels collapse at once.
    - The coupling network's last layer is zero-initialised (every coupling starts as identity),
      except with a final ReLU, whose zero derivative at 0 would freeze m.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from kexue.flows.core import (
    Bijector,
    Flow,
    RandomPermutation,
    Reverse,
    Sequential,
    StandardLogistic,
    StandardNormal,
)
from kexue.nn import MLP

__all__ = ["Coupling", "AdditiveCoupling", "DiagonalScale", "NICE", "zero_last_layer"]

Split = Literal["evenodd", "half", "checkerboard"]


def zero_last_layer(net: nn.Module) -> nn.Module:
    """Zero the last Linear/Conv layer's weights and bias so the coupling starts as identity."""
    last = [m for m in net.modules() if isinstance(m, nn.Linear | nn.Conv2d)][-1]
    nn.init.zeros_(last.weight)
    if last.bias is not None:
        nn.init.zeros_(last.bias)
    return net


def _checkerboard(x: Tensor, parity: int) -> Tensor:
    """b[i, j] = 1 where (i + j) mod 2 == parity, shape (1, 1, H, W), x's dtype and device."""
    h, w = x.shape[-2:]
    ij = torch.arange(h, device=x.device).view(-1, 1) + torch.arange(w, device=x.device)
    return ((ij % 2) == parity).to(x.dtype).view(1, 1, h, w)


class Coupling(Bijector):
    """Partition dim 1 into (conditioning, transformed) parts; subclasses transform the second.

    Args:
        channels: size of dim 1.
        net: maps the conditioning part to the transform's parameters.
        split: "evenodd" (NICE's interleave), "half" (channel mask), or "checkerboard" (images;
            the net sees b ⊙ x and must return parameters for the full tensor).
        parity: 0 conditions on the first part (even indices / first half / (i+j) even), 1 on
            the second.
    """

    def __init__(
        self, channels: int, net: nn.Module, *, split: Split = "evenodd", parity: int = 0
    ) -> None:
        super().__init__()
        if split not in ("evenodd", "half", "checkerboard"):
            raise ValueError(f"coupling split {split!r}; valid: evenodd, half, checkerboard")
        self.net, self.split, self.parity = net, split, parity
        if split != "checkerboard":
            idx = torch.arange(channels)
            a, b = (
                (idx[0::2], idx[1::2])
                if split == "evenodd"
                else (idx[: channels // 2], idx[channels // 2 :])
            )
            cond, trans = (a, b) if parity == 0 else (b, a)
            self.register_buffer("cond_index", cond)
            self.register_buffer("trans_index", trans)
            self.register_buffer("join_index", torch.argsort(torch.cat([cond, trans])))

    def _mask(self, x: Tensor) -> Tensor:
        return _checkerboard(x, self.parity).expand_as(x[0:1])

    def _transform(self, params: Tensor, x2: Tensor) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError  # pragma: no cover

    def _untransform(self, params: Tensor, y2: Tensor) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError  # pragma: no cover

    def _run(self, x: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        step = self._untransform if inverse else self._transform
        if self.split == "checkerboard":
            b = self._mask(x)
            # parameters in x's dtype: under autocast only the network runs in low precision
            y, logs = step(self.net(x * b).to(x.dtype), x)
            y = b * x + (1 - b) * y
            ld = x.new_zeros(x.shape[0]) if logs is None else ((1 - b) * logs).flatten(1).sum(1)
            return y, ld
        a, b = self._split(x)
        x1, x2 = (a, b) if self.parity == 0 else (b, a)
        y2, logs = step(self.net(x1).to(x.dtype), x2)
        if logs is None:
            ld = x.new_zeros(x.shape[0])
        else:
            ld = logs.sum(1) if logs.dim() == 2 else logs.flatten(1).sum(1)
        return self._join(*((x1, y2) if self.parity == 0 else (y2, x1))), ld

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The two parts (first/second half, or even/odd indices) as views of x."""
        if self.split == "half":
            h = x.shape[1] // 2
            return x[:, :h], x[:, h:]
        return x[:, 0::2], x[:, 1::2]

    def _join(self, a: Tensor, b: Tensor) -> Tensor:
        """Inverse of `_split`."""
        if self.split == "half":
            return torch.cat([a, b], 1)
        if a.shape[1] == b.shape[1]:  # interleave without an index gather
            return torch.stack([a, b], 2).flatten(1, 2)
        order = torch.cat([self.cond_index, self.trans_index]) if self.parity == 0 else None
        joined = torch.cat([a, b], 1)
        if order is None:
            order = torch.cat([self.trans_index, self.cond_index])
        return joined[:, torch.argsort(order)]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._run(x, inverse=False)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        y, ld = self._run(z, inverse=True)
        return y, ld


class AdditiveCoupling(Coupling):
    """NICE's additive coupling h₂ = x₂ + sign·m(x₁); log-det 0.

    `sign=-1` with a final ReLU in `net` is the author's Keras choice (encoder subtracts, so the
    generator can only add mass); see `Coupling` for the other arguments.
    """

    def __init__(
        self,
        channels: int,
        net: nn.Module,
        *,
        split: Split = "evenodd",
        parity: int = 0,
        sign: int = 1,
    ) -> None:
        super().__init__(channels, net, split=split, parity=parity)
        if sign not in (1, -1):
            raise ValueError("sign must be +1 or -1")
        self.sign = sign

    def _transform(self, params: Tensor, x2: Tensor) -> tuple[Tensor, None]:
        return x2 + self.sign * params, None

    def _untransform(self, params: Tensor, y2: Tensor) -> tuple[Tensor, None]:
        return y2 - self.sign * params, None


class DiagonalScale(Bijector):
    """NICE's scaling layer z = exp(a) ⊙ h on dim 1; log|det| = Σ a (times positions for images).

    Args:
        channels: size of dim 1.
        init: "zeros" (identity) or "ddi" (a = −log(std + 1e-6) of the first training batch).
    """

    def __init__(self, channels: int, *, init: Literal["zeros", "ddi"] = "ddi") -> None:
        super().__init__()
        if init not in ("zeros", "ddi"):
            raise ValueError(f"scale init {init!r}; valid: zeros, ddi")
        self.log_scale = nn.Parameter(torch.zeros(channels))
        self.register_buffer("initialized", torch.tensor(init == "zeros"))

    def _shape(self, x: Tensor) -> tuple[Tensor, int]:
        return self.log_scale.view(1, -1, *([1] * (x.dim() - 2))), int(math.prod(x.shape[2:]))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialized):
            with torch.no_grad():
                dims = [0, *range(2, x.dim())]
                self.log_scale.copy_(-torch.log(x.std(dims, unbiased=False) + 1e-6))
                self.initialized.fill_(True)
        a, n = self._shape(x)
        return x * a.exp(), (n * self.log_scale.sum()).expand(x.shape[0])

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        a, n = self._shape(z)
        return z * (-a).exp(), (-n * self.log_scale.sum()).expand(z.shape[0])


class NICE(Flow):
    """The NICE density model on vectors.

    Args:
        dim: D.
        n_couplings: number of additive couplings (article and paper: 4).
        hidden: hidden sizes of each coupling network m (ReLU).
        prior: "logistic" (paper) or "normal" (article / author's code).
        scale_init: the scaling layer's init, "ddi" or "zeros".
        permutation: "reverse" (the author's) or "shuffle" (a fixed random permutation each).
        sign, out_activation: the coupling orientation; (−1, "relu") is the author's Keras NICE.

    Shapes: x (B, D) → z (B, D).
    """

    def __init__(
        self,
        dim: int,
        *,
        n_couplings: int = 4,
        hidden: Sequence[int] = (256, 256, 256),
        prior: Literal["logistic", "normal"] = "logistic",
        scale_init: Literal["ddi", "zeros"] = "ddi",
        permutation: Literal["reverse", "shuffle"] = "reverse",
        sign: int = 1,
        out_activation: Literal["relu"] | None = None,
    ) -> None:
        if permutation not in ("reverse", "shuffle"):
            raise ValueError(f"permutation {permutation!r}; valid: reverse, shuffle")
        if out_activation not in (None, "relu"):
            raise ValueError(f"out_activation must be None or 'relu', got {out_activation!r}")
        if prior not in ("logistic", "normal"):
            raise ValueError(f"prior {prior!r}; valid: logistic, normal")
        layers: list[nn.Module] = []
        for i in range(n_couplings):
            if permutation == "reverse":
                layers.append(Reverse(dim))
            else:
                layers.append(RandomPermutation(dim, seed=i))
            net = MLP(dim - dim // 2, dim // 2, hidden=hidden)
            if out_activation == "relu":  # not zero-initialised: relu'(0) = 0 would freeze m
                net = nn.Sequential(net, nn.ReLU())
            else:
                net = zero_last_layer(net)
            layers.append(AdditiveCoupling(dim, net, split="evenodd", parity=0, sign=sign))
        layers.append(DiagonalScale(dim, init=scale_init))
        base = StandardLogistic((dim,)) if prior == "logistic" else StandardNormal((dim,))
        super().__init__(Sequential(*layers), base)

    @property
    def scale(self) -> DiagonalScale:
        """The final scaling layer (its log_scale is the learned log s)."""
        return self.bijector.layers[-1]
