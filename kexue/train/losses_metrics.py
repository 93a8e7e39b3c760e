r"""Losses that are not a function of (output, target), metrics read from inside the model,
weights normalised inside the forward pass, and progress-bar averaging.

Article:  “让Keras更酷一些！”：随意的输出和灵活的归一化 — 苏剑林, 2019-01-27
URL:      https://kexue.fm/archives/6311

Content and equations::

    output-free model      the loss (e.g. mean((x̂ − x)²) of an autoencoder) is built inside the
                           model (`add_loss`) and `fit(x, None)` needs no targets
    extra metrics          any scalar from inside, e.g. mean_b Σ_j h_bj² of a hidden layer
    weight normalisation   (a) after the step: θ ← constraint(θ) (Keras kernel_constraint);
                           (b) before use: replace the kernel by a function of the stored one.
    spectral norm (b)      W as (in, out); u = 1 (1×in); r = 5 times: v = l2norm(uW),
                           u = l2norm(vWᵀ); σ = uWvᵀ; use W/σ (no state kept between calls)
    progress bar           values are averaged since the epoch start unless "stateful"

Symbols: W (in, out) kernel (torch's Linear.weight is its transpose), σ spectral norm estimate,
r power iterations, h (B, H) hidden activations.

Delegation: the loss is a return value of `forward` (a dict), not a side-effect registry;
intermediate metrics are `register_forward_hook`; post-step constraints are `torch.renorm`
under no_grad; tqdm is the progress bar (only its averaging rule is written here:
`RunningMean`); torch's own spectral norm is `torch.nn.utils.parametrizations.spectral_norm`
(persistent u, one iteration per call). Written by hand: the article's fixed-init 5-iteration
spectral norm as a parametrization (`SpectralNormFixedInit`), for parity with the article.

Deviations from the article:
    - `forward` returns {"loss": …, "recon": …} instead of Keras' `add_loss`.
    - `RunningMean` weights by the number of samples you pass (Keras weights by the number of
      progress steps advanced; pass n = steps to get Keras' exact rule).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = [
    "OutputFreeAutoencoder",
    "RunningMean",
    "SpectralNormFixedInit",
    "add_spectral_norm_fixed_init",
    "hidden_sq_norm",
    "max_norm_",
    "spectral_norm_fixed_init",
    "track_activation",
]


def spectral_norm_fixed_init(weight: Tensor, r: int = 5, *, layout: str = "torch") -> Tensor:
    """The article's σ(W): r power iterations from u = 1, nothing carried between calls.

    Args:
        weight: a torch weight (out, in, …) with layout="torch", or a Keras kernel (…, out)
            with layout="keras".
        r: power iterations (5 in the article).

    Returns:
        0-dim σ = u W vᵀ.
    """
    if layout == "torch":
        w = weight.reshape(weight.shape[0], -1).T  # Keras' (in, out)
    elif layout == "keras":
        w = weight.reshape(-1, weight.shape[-1])
    else:
        raise ValueError(f"layout must be 'torch' or 'keras', got {layout!r}")
    u = torch.ones(1, w.shape[0], dtype=w.dtype, device=w.device)
    v = u @ w
    for _ in range(r):
        v = F.normalize(u @ w, dim=1)
        u = F.normalize(v @ w.T, dim=1)
    return (u @ w @ v.T).sum()


class SpectralNormFixedInit(nn.Module):
    """Parametrization W ↦ W / σ(W) with the article's fixed-init power iteration."""

    def __init__(self, r: int = 5) -> None:
        super().__init__()
        self.r = r

    def forward(self, weight: Tensor) -> Tensor:  # noqa: D102
        return weight / spectral_norm_fixed_init(weight, self.r)


def add_spectral_norm_fixed_init(module: nn.Module, name: str = "weight", r: int = 5) -> nn.Module:
    """Register `SpectralNormFixedInit` on `module.<name>` (the article's wrapper)."""
    parametrize.register_parametrization(module, name, SpectralNormFixedInit(r))
    return module


@torch.no_grad()
def max_norm_(weight: Tensor, max_norm: float, dim: int = 0) -> Tensor:
    """Post-step constraint (Keras' MaxNorm): rows along `dim` rescaled to norm ≤ max_norm."""
    weight.copy_(torch.renorm(weight, 2, dim, max_norm))
    return weight


def hidden_sq_norm(h: Tensor) -> Tensor:
    """The article's example metric: mean_b Σ_j h_bj²."""
    return h.pow(2).sum(1).mean()


def track_activation(
    module: nn.Module, fn: Callable[[Tensor], Tensor], store: list[float]
) -> torch.utils.hooks.RemovableHandle:
    """Append fn(output) (detached, as a float) to `store` at every forward of `module`."""

    def hook(_m: nn.Module, _inp: tuple[Tensor, ...], out: Tensor) -> None:
        store.append(float(fn(out.detach())))

    return module.register_forward_hook(hook)


class OutputFreeAutoencoder(nn.Module):
    """x → hidden → x̂ with its loss computed inside: forward returns {"loss", "recon", "h"}.

    Args:
        dim: input size (784 in the article, 64 for the 8×8 digits).
        hidden: bottleneck size (100 in the article).
    """

    def __init__(self, dim: int, hidden: int = 100) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(hidden, dim), nn.Sigmoid())

    def forward(self, x: Tensor) -> dict[str, Tensor]:  # noqa: D102
        h = self.encoder(x)
        recon = self.decoder(h)
        return {"loss": (recon - x).pow(2).mean(), "recon": recon, "h": h}


class RunningMean:
    """Progress-bar averaging: the weighted mean of each value since `reset()`, except the names
    in `stateful`, which show their last value (Keras' Progbar `stateful_metrics`)."""

    def __init__(self, stateful: Iterable[str] = ()) -> None:
        self.stateful = set(stateful)
        self.reset()

    def reset(self) -> None:
        self._sum: dict[str, float] = {}
        self._count: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def update(self, n: float = 1, **values: float) -> dict[str, float]:
        """Add values observed on n samples (or steps); returns the current display values."""
        for k, v in values.items():
            v = float(v)
            self._last[k] = v
            self._sum[k] = self._sum.get(k, 0.0) + v * n
            self._count[k] = self._count.get(k, 0.0) + n
        return self.values()

    def values(self) -> dict[str, float]:  # noqa: D102
        return {
            k: self._last[k] if k in self.stateful else self._sum[k] / self._count[k]
            for k in self._last
        }
