r"""Glow: actnorm → invertible 1×1 convolution → coupling steps, in a multi-scale architecture
with a learned conditional prior on the factored-out halves.

Article:  细水长flow之RealNVP与Glow：流模型的传承与升华 — 苏剑林, 2018-08-26
URL:      https://kexue.fm/archives/5807
Original: bojone/flow (glow.py, flow_layers.py: Actnorm, InvDense, CondActnorm, Squeeze);
          paper Kingma & Dhariwal, arXiv 1807.03039 (openai/glow)

Key equations::

    step:        actnorm → W (1×1 conv, LU) → split channels → coupling → concat
    1×1 conv:    log|det| = H·W·log|det W|
    factor-out:  (h, z) = split(x);  p(z | h) = N(z; μ(h), σ(h)²)
                 ẑ = (z − μ(h)) / σ(h),  log|det| = −Σ log σ(h),  ẑ ~ N(0, I)
                 (the author's CondActnorm: ẑ = exp(a(h)) ⊙ z + b(h), [a, b] = zero-init conv(h))
    multi-scale: squeeze → K steps → factor out half → squeeze → K steps → … → learned prior

Symbols: x (B, C, H, W); K steps per level ("depth"), L levels; μ, σ from a zero-initialised 3×3
convolution of the kept half h.

Implemented: conv_net (Conv3×3 → ReLU → Conv1×1 → ReLU → zero-init Conv3×3), GlowStep, Glow
(the model; its split uses kexue.flows.core.FactorOut with the conditional prior).

Deviations from the article:
    - The conditional prior is written as the bijection ẑ = (z − μ)/σ before a standard normal
      (the article's own "equivalent" reading), so `forward` returns one flat latent vector and
      temperature scales the noise ε, as in Glow's `split2d_reverse`.
    - The top-level learned prior is a zero-initialised ActNorm before N(0, I).
    - Defaults follow the spec's Glow-mini (affine `sigmoid2` coupling, LU 1×1, DDI actnorm); the
      author's Keras run is `coupling="additive", permutation="shuffle", actnorm_ddi=False`.
    - The zero-init output convolution has no extra learned scale exp(3·logs) (Glow's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

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
)
from kexue.flows.nice import AdditiveCoupling, zero_last_layer
from kexue.flows.realnvp import SCALE_FNS, AffineCoupling, ScaleFn

__all__ = ["conv_net", "GlowStep", "Glow"]

Coupling = Literal["affine", "additive"]
Permutation = Literal["lu", "conv", "shuffle", "reverse"]
SplitPrior = Literal["conditional", "standard"]


def _check_options(coupling: str, permutation: str, scale_fn: str) -> None:
    if coupling not in ("affine", "additive"):
        raise ValueError(f"coupling {coupling!r}; valid: affine, additive")
    if permutation not in ("lu", "conv", "shuffle", "reverse"):
        raise ValueError(f"permutation {permutation!r}; valid: lu, conv, shuffle, reverse")
    if scale_fn not in SCALE_FNS:
        raise ValueError(f"scale_fn {scale_fn!r}; valid: {', '.join(SCALE_FNS)}")


def conv_net(c_in: int, c_out: int, width: int) -> nn.Sequential:
    """Glow's coupling network f: Conv3×3 → ReLU → Conv1×1 → ReLU → Conv3×3 (zero init)."""
    net = nn.Sequential(
        nn.Conv2d(c_in, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width, 1),
        nn.ReLU(),
        nn.Conv2d(width, c_out, 3, padding=1),
    )
    return zero_last_layer(net)


class GlowStep(Sequential):
    """One flow step: ActNorm → permutation (1×1 conv / shuffle / reverse) → coupling.

    Args:
        channels: C (even).
        width: hidden channels of the coupling network.
        coupling: "affine" or "additive".
        permutation: "lu", "conv" (plain 1×1), "shuffle" or "reverse".
        scale_fn: the affine scale parametrisation (see kexue.flows.realnvp).
        actnorm_ddi: data-dependent actnorm init (False: the author's zero init).
        generator: the random source of the 1×1 convolution's initialisation and of the
            shuffle (None: torch's global generator).
    """

    def __init__(
        self,
        channels: int,
        *,
        width: int,
        coupling: Coupling = "affine",
        permutation: Permutation = "lu",
        scale_fn: ScaleFn = "sigmoid2",
        actnorm_ddi: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        _check_options(coupling, permutation, scale_fn)
        if permutation in ("lu", "conv"):
            perm: nn.Module = InvertibleLinear(
                channels, lu=permutation == "lu", generator=generator
            )
        elif permutation == "shuffle":
            seed = int(torch.randint(2**31 - 1, (), generator=generator))
            perm = RandomPermutation(channels, seed=seed)
        else:
            perm = Reverse(channels)
        half = channels // 2
        if coupling == "affine":
            net = conv_net(half, 2 * (channels - half), width)
            layer: nn.Module = AffineCoupling(
                channels, net, split="half", parity=0, scale_fn=scale_fn, shift_first=True
            )
        else:
            net = conv_net(half, channels - half, width)
            layer = AdditiveCoupling(channels, net, split="half", parity=0)
        super().__init__(ActNorm(channels, ddi=actnorm_ddi), perm, layer)


class Glow(Flow):
    """Multi-scale Glow on images: L levels of (squeeze → K steps → factor out half).

    Args:
        shape: (C, H, W) of the input; H, W divisible by 2^levels.
        levels: L.
        depth: K steps per level (an int or one per level).
        width: hidden channels of the coupling networks.
        coupling, permutation, scale_fn, actnorm_ddi: see GlowStep.
        split_prior: "conditional" or "standard" for the factored-out halves.
        seed: seeds the generator of the 1×1 initialisations and shuffles.
        squeeze_first: False skips the first level's squeeze (f-VAE's prior on 4×4×4 codes).

    Shapes: x (B, C, H, W) → z (B, C·H·W) flat; sample(n) → (B, C, H, W).
    """

    def __init__(
        self,
        shape: Sequence[int] = (1, 8, 8),
        *,
        levels: int = 2,
        depth: int | Sequence[int] = 8,
        width: int = 64,
        coupling: Coupling = "affine",
        permutation: Permutation = "lu",
        scale_fn: ScaleFn = "sigmoid2",
        actnorm_ddi: bool = True,
        split_prior: SplitPrior = "conditional",
        seed: int = 0,
        squeeze_first: bool = True,
    ) -> None:
        _check_options(coupling, permutation, scale_fn)
        if split_prior not in ("conditional", "standard"):
            raise ValueError(f"split prior {split_prior!r}; valid: conditional, standard")
        depths = [depth] * levels if isinstance(depth, int) else list(depth)
        gen = torch.Generator().manual_seed(seed)
        c, h, w = shape

        def level(i: int, c: int, h: int, w: int) -> nn.Module:
            squeeze = [Squeeze()] if (i > 0 or squeeze_first) else []
            if squeeze:
                c, h, w = 4 * c, h // 2, w // 2
            steps = [
                GlowStep(
                    c,
                    width=width,
                    coupling=coupling,
                    permutation=permutation,
                    scale_fn=scale_fn,
                    actnorm_ddi=actnorm_ddi,
                    generator=gen,
                )
                for _ in range(depths[i])
            ]
            if i == levels - 1:  # the top: a learned diagonal Gaussian prior (zero-init actnorm)
                return Sequential(*squeeze, *steps, ActNorm(c, ddi=False), Flatten((c, h, w)))
            inner = level(i + 1, c // 2, h, w)
            return Sequential(*squeeze, *steps, FactorOut((c, h, w), inner, prior=split_prior))

        self.shape = tuple(shape)
        super().__init__(level(0, c, h, w), StandardNormal((c * h * w,)))
