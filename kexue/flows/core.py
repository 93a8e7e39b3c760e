r"""Shared flow machinery: the bijector contract, composition, priors, ActNorm, invertible 1×1
(LU) mixing, permutations, squeeze, the multi-scale factor-out, and the dequantisation /
bits-per-dim rules.

Article:  细水长flow之RealNVP与Glow：流模型的传承与升华 — 苏剑林, 2018-08-26
URL:      https://kexue.fm/archives/5807
Original: bojone/flow (flow_layers.py: Actnorm, InvDense, Squeeze, Permute)

Key equations::

    log p(x) = log p_Z(f(x)) + Σ_l log|det ∂h_l/∂h_{l−1}|          (change of variables)
    ActNorm:      y = (x + b) ⊙ exp(log s),      log|det| = (#positions) · Σ_c log s_c
    Invertible 1×1:  y = W x per position,        log|det| = (#positions) · log|det W|
    LU:           W = P L (U + diag(sign · exp(log|s|))),  log|det W| = Σ log|s|
    factor-out:   (h, z) = split(x);  ẑ = (z − μ(h)) / σ(h),  log|det| = −Σ log σ(h)
    bits/dim = (E_u[−log p_Y(y)] + D ln K) / (D ln 2),   y = (x + u)/K

Symbols: x (B, C, ...) data-side tensor, z latent, logabsdet (B,) for the direction called;
K the number of grey levels, D the number of dimensions.

Contract (DESIGN §6): every bijector is an nn.Module with `forward(x) -> (z, logabsdet)` (data →
latent) and `inverse(z) -> (x, logabsdet)`; the inverse returns −logabsdet of the forward map at
the corresponding point.

Deviations from the article:
    - ActNorm's data-dependent initialisation (Glow's DDI) is the default; the author's Keras
      Actnorm is zero-initialised (`ddi=False` reproduces it).
    - Priors are bijector-free: every model here maps to a standard prior; a learned diagonal
      Gaussian prior is a zero-initialised ActNorm before the standard normal (identical density).
    - Under mixed precision (autocast to bf16 on the user's images) the 1×1 mixing and the
      coupling and split-prior parameters are computed in the input's dtype: only the networks
      inside run in bf16, the log-dets stay in float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "Bijector",
    "Sequential",
    "Flow",
    "StandardNormal",
    "StandardLogistic",
    "ActNorm",
    "InvertibleLinear",
    "Reverse",
    "RandomPermutation",
    "SwapHalves",
    "Squeeze",
    "Flatten",
    "FactorOut",
    "nats_to_bpd",
    "bits_per_dim",
    "dequantize_uniform",
    "dequantized_bpd",
    "dequantized_bpd_per_image",
    "density_on_grid",
    "categorical_bpd",
    "categorical_bpd_per_image",
    "gaussian_bpd",
    "gaussian_bpd_per_image",
    "brute_force_logabsdet",
]


def _positions(x: Tensor) -> int:
    """Number of positions sharing one per-channel parameter (H·W for images, 1 for vectors)."""
    return int(math.prod(x.shape[2:]))


def _per_channel(p: Tensor, x: Tensor) -> Tensor:
    """Broadcast a (C,) parameter against x of shape (B, C, ...)."""
    return p.view(1, -1, *([1] * (x.dim() - 2)))


class Bijector(nn.Module):
    """Base class: `forward(x) -> (z, logabsdet)`, `inverse(z) -> (x, logabsdet)`."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError


class Sequential(Bijector):
    """Composition f = f_n ∘ … ∘ f_1; log-dets add up; the inverse runs backwards."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        lds = []
        for layer in self.layers:
            x, ld = layer(x)
            lds.append(ld)
        return x, _sum_logdets(lds, x)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        lds = []
        for layer in reversed(self.layers):
            z, ld = layer.inverse(z)
            lds.append(ld)
        return z, _sum_logdets(lds, z)


def _sum_logdets(lds: list[Tensor], x: Tensor) -> Tensor:
    """Σ of per-layer log-dets (B,) with one stacked reduction instead of a chain of adds."""
    if not lds:
        return x.new_zeros(x.shape[0])
    if len(lds) == 1:
        return lds[0]
    return torch.stack(lds).sum(0)


class StandardNormal(nn.Module):
    """N(0, I) on a fixed event shape: log p(z) = −½‖z‖² − D/2 · log 2π."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def log_prob(self, z: Tensor) -> Tensor:
        d = math.prod(z.shape[1:])
        sq = z.square().sum(1) if z.dim() == 2 else z.square().flatten(1).sum(1)
        return sq.mul(-0.5).sub(0.5 * d * math.log(2 * math.pi))

    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        return temperature * torch.randn(n, *self.shape, generator=generator)


class StandardLogistic(nn.Module):
    """Standard logistic per dimension (NICE paper): log p(z) = −Σ softplus(z) + softplus(−z)."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def log_prob(self, z: Tensor) -> Tensor:
        f = nn.functional.softplus
        return -(f(z) + f(-z)).flatten(1).sum(1)

    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        u = torch.rand(n, *self.shape, generator=generator).clamp(1e-7, 1 - 1e-7)
        return temperature * (torch.log(u) - torch.log1p(-u))


class Flow(Bijector):
    """A bijector to latent space plus a prior: the density model.

    Args:
        bijector: data → latent map.
        prior: an object with `log_prob(z)` and `sample(n, temperature, generator)`.
    """

    def __init__(self, bijector: nn.Module, prior: nn.Module) -> None:
        super().__init__()
        self.bijector = bijector
        self.prior = prior

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.bijector(x)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.bijector.inverse(z)

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) in nats per example, shape (B,)."""
        z, ld = self.bijector(x)
        return self.prior.log_prob(z) + ld

    def nll(self, x: Tensor) -> Tensor:
        """Mean negative log-likelihood in nats per example (the training loss)."""
        return -self.log_prob(x).mean()

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """Draw n samples x = f⁻¹(T·ε), ε from the prior (Glow's temperature: scale the noise)."""
        # the prior draws on the CPU (the generator's device); the model may sit on a GPU
        z = self.prior.sample(n, temperature, generator).to(_device_of(self))
        with torch.enable_grad():  # i-ResNet log-dets need autograd even when sampling
            x, _ = self.bijector.inverse(z)
        return x.detach()


def _device_of(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU for a module without any)."""
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")


class ActNorm(Bijector):
    """Per-channel affine y = (x + b) ⊙ exp(log s) with Glow's data-dependent init.

    Args:
        channels: size of dim 1.
        ddi: on the first forward in train mode set b = −mean, log s = −log(std + 1e-6) per channel
            (False: identity init, the author's Keras Actnorm and a learned diagonal prior).
        logscale_factor: the parameter stored is log s / factor (OpenAI Glow uses 3).
    """

    def __init__(self, channels: int, *, ddi: bool = True, logscale_factor: float = 1.0) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.logs = nn.Parameter(torch.zeros(channels))
        self.factor = logscale_factor
        self.register_buffer("initialized", torch.tensor(not ddi))
        # Python mirror of `initialized`, so the hot path does not read a tensor each call
        self._ready = not ddi

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._ready = bool(self.initialized)

    @torch.no_grad()
    def _init(self, x: Tensor) -> None:
        dims = [0, *range(2, x.dim())]
        mean = x.mean(dims)
        std = (x - _per_channel(mean, x)).pow(2).mean(dims).sqrt()
        self.bias.copy_(-mean)
        self.logs.copy_(-torch.log(std + 1e-6) / self.factor)
        self.initialized.fill_(True)
        self._ready = True

    def _logs(self) -> Tensor:
        return self.logs if self.factor == 1.0 else self.logs * self.factor

    def _logdet(self, logs: Tensor, x: Tensor) -> Tensor:
        n = _positions(x)
        s = logs.sum()
        return (s if n == 1 else s * n).expand(x.shape[0])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.training and not self._ready:
            if bool(self.initialized):  # set by hand or by a load
                self._ready = True
            else:
                self._init(x)
        logs = self._logs()
        if x.dim() == 2:  # vectors: parameters broadcast over the batch as they are
            return (x + self.bias) * logs.exp(), self._logdet(logs, x)
        z = (x + _per_channel(self.bias, x)) * _per_channel(logs.exp(), x)
        return z, self._logdet(logs, x)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        logs = self._logs()
        if z.dim() == 2:
            x = z * (-logs).exp() - self.bias
        else:
            x = z * _per_channel((-logs).exp(), z) - _per_channel(self.bias, z)
        return x, -self._logdet(logs, z)


class InvertibleLinear(Bijector):
    """Invertible 1×1 convolution (Glow) on dim 1; a dense invertible layer for vectors.

    Args:
        channels: size of dim 1.
        lu: parametrise W = P L (U + diag(sign·exp(log|s|))) (Glow's LU); else a plain W with
            log|det W| from slogdet.
        generator: for the random orthogonal initialisation (QR of a Gaussian matrix).
    """

    def __init__(
        self, channels: int, *, lu: bool = True, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        q, _ = torch.linalg.qr(
            torch.randn(channels, channels, generator=generator, dtype=torch.float64)
        )
        self.lu = lu
        if not lu:
            self.weight = nn.Parameter(q.to(torch.get_default_dtype()))
            return
        import scipy.linalg

        p, lower, upper = (torch.from_numpy(a) for a in scipy.linalg.lu(q.numpy()))
        diag = torch.diagonal(upper)
        dt = torch.get_default_dtype()
        self.register_buffer("perm", p.to(dt))
        self.register_buffer("sign", torch.sign(diag).to(dt))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1).to(dt))
        self.lower = nn.Parameter(lower.to(dt))
        self.upper = nn.Parameter(torch.triu(upper, 1).to(dt))
        self.log_s = nn.Parameter(torch.log(diag.abs()).to(dt))

    def _factors(self) -> tuple[Tensor, Tensor]:
        """Lower (unit diagonal) and upper (with the signed scale diagonal) triangular factors."""
        eye = torch.eye(len(self.log_s), dtype=self.lower.dtype, device=self.lower.device)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign * self.log_s.exp())
        return lower, upper

    def weight_matrix(self) -> Tensor:
        if not self.lu:
            return self.weight
        lower, upper = self._factors()
        return self.perm @ lower @ upper

    def _logdet(self) -> Tensor:
        if self.lu:
            return self.log_s.sum()
        return torch.linalg.slogdet(self.weight)[1]

    @staticmethod
    def _mix(w: Tensor, x: Tensor) -> Tensor:
        # outside autocast: a bf16 product would make the layer only approximately invertible
        with torch.autocast(x.device.type, enabled=False):
            return torch.einsum("ij,bj...->bi...", w.to(x.dtype), x)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self._mix(self.weight_matrix(), x)
        return z, (_positions(x) * self._logdet()).expand(x.shape[0])

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        if self.lu:  # W⁻¹ = U⁻¹ L⁻¹ Pᵀ by triangular solves
            lower, upper = self._factors()
            eye = torch.eye(len(self.log_s), dtype=z.dtype, device=z.device)
            inv_l = torch.linalg.solve_triangular(lower, eye, upper=False, unitriangular=True)
            inv_w = torch.linalg.solve_triangular(upper, inv_l, upper=True) @ self.perm.T
        else:
            inv_w = torch.linalg.inv(self.weight)
        return self._mix(inv_w, z), (-_positions(z) * self._logdet()).expand(z.shape[0])


class _Permutation(Bijector):
    def __init__(self, index: Tensor) -> None:
        super().__init__()
        self.register_buffer("index", index)
        self.register_buffer("inverse_index", torch.argsort(index))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x[:, self.index], x.new_zeros(x.shape[0])

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return z[:, self.inverse_index], z.new_zeros(z.shape[0])


class Reverse(_Permutation):
    """Reverse the order along dim 1 (NICE's `Shuffle(mode='reverse')`)."""

    def __init__(self, channels: int) -> None:
        super().__init__(torch.arange(channels - 1, -1, -1))


class RandomPermutation(_Permutation):
    """A fixed random permutation of dim 1 (RealNVP/Glow's shuffle), drawn from `seed`."""

    def __init__(self, channels: int, *, seed: int = 0) -> None:
        super().__init__(torch.from_numpy(np.random.RandomState(seed).permutation(channels)))


class SwapHalves(_Permutation):
    """Exchange the first and second halves of dim 1."""

    def __init__(self, channels: int) -> None:
        h = channels // 2
        super().__init__(torch.cat([torch.arange(h, channels), torch.arange(h)]))


class Squeeze(Bijector):
    """(C, H, W) → (4C, H/2, W/2); kexue order out[(2·dy + dx)·C + c] = in[c, 2i+dy, 2j+dx].

    `order="glow"` uses OpenAI Glow's c·4 + 2·dy + dx. Log-det 0.
    """

    def __init__(self, *, order: Literal["kexue", "glow"] = "kexue") -> None:
        super().__init__()
        if order not in ("kexue", "glow"):
            raise ValueError(f"squeeze order {order!r}; valid: kexue, glow")
        self.order = order

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b, c, h, w = x.shape
        y = x.reshape(b, c, h // 2, 2, w // 2, 2)  # b c i dy j dx
        perm = (0, 3, 5, 1, 2, 4) if self.order == "kexue" else (0, 1, 3, 5, 2, 4)
        return y.permute(perm).reshape(b, 4 * c, h // 2, w // 2), x.new_zeros(b)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        b, c4, h, w = z.shape
        c = c4 // 4
        if self.order == "kexue":
            y = z.reshape(b, 2, 2, c, h, w).permute(0, 3, 4, 1, 5, 2)
        else:
            y = z.reshape(b, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
        return y.reshape(b, c, 2 * h, 2 * w), z.new_zeros(b)


class Flatten(Bijector):
    """(B, *shape) → (B, prod(shape)); log-det 0.

    `channels_last=True` flattens (B, C, H, W) in (H, W, C) order, the Keras (NHWC) layout the
    author's vector flows see: the channels of one pixel are neighbours, so NICE's even/odd
    split conditions a pixel's green on its red and blue (in (C, H, W) order all channels of a
    pixel share one parity, and reversals keep it so).
    """

    def __init__(self, shape: Sequence[int], *, channels_last: bool = False) -> None:
        super().__init__()
        self.shape = tuple(shape)
        if channels_last and len(self.shape) != 3:
            raise ValueError(f"channels_last flattens (C, H, W) images, got shape {self.shape}")
        self.channels_last = channels_last

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.channels_last:
            x = x.permute(0, 2, 3, 1)
        return x.flatten(1), x.new_zeros(x.shape[0])

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        if self.channels_last:
            c, h, w = self.shape
            return z.reshape(z.shape[0], h, w, c).permute(0, 3, 1, 2), z.new_zeros(z.shape[0])
        return z.reshape(z.shape[0], *self.shape), z.new_zeros(z.shape[0])


class FactorOut(Bijector):
    """Split channels (h, z); z gets the prior N(μ(h), σ(h)²) or N(0, I); h goes to `inner`.

    RealNVP's factor-out (standard prior) and Glow's split with a learned conditional prior
    (`split2d_prior`: μ, log σ from a zero-initialised 3×3 convolution of the kept half h).
    Forward returns the flat vector [ẑ, inner(h)] with ẑ = (z − μ(h))/σ(h).

    Args:
        shape: (C, H, W) of the input.
        inner: bijector from (B, C/2, H, W) to a flat (B, C/2·H·W) latent.
        prior: "conditional" (Glow's split2d prior) or "standard" (RealNVP's).
    """

    def __init__(
        self,
        shape: Sequence[int],
        inner: nn.Module,
        *,
        prior: Literal["conditional", "standard"] = "conditional",
    ) -> None:
        super().__init__()
        self.shape = tuple(shape)
        c = self.shape[0]
        self.keep = c // 2
        self.inner = inner
        if prior not in ("conditional", "standard"):
            raise ValueError(f"split prior {prior!r}; valid: conditional, standard")
        if prior == "conditional":
            conv = nn.Conv2d(self.keep, 2 * (c - self.keep), 3, padding=1)
            nn.init.zeros_(conv.weight)  # the prior starts as N(0, I)
            nn.init.zeros_(conv.bias)
            self.prior_net: nn.Module | None = conv
        else:
            self.prior_net = None

    def _stats(self, h: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        if self.prior_net is None:
            return torch.zeros_like(z), torch.zeros_like(z)
        mu, log_sigma = self.prior_net(h).to(z.dtype).chunk(2, dim=1)
        return mu, log_sigma

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h, z = x[:, : self.keep], x[:, self.keep :]
        mu, log_sigma = self._stats(h, z)
        z_hat = (z - mu) * (-log_sigma).exp()
        rest, ld = self.inner(h)
        ld = ld - log_sigma.flatten(1).sum(1)
        return torch.cat([z_hat.flatten(1), rest], 1), ld

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        c, hh, ww = self.shape
        n_out = (c - self.keep) * hh * ww
        z_hat = z[:, :n_out].reshape(z.shape[0], c - self.keep, hh, ww)
        h, ld = self.inner.inverse(z[:, n_out:])
        mu, log_sigma = self._stats(h, z_hat)
        zz = z_hat * log_sigma.exp() + mu
        return torch.cat([h, zz], 1), ld + log_sigma.flatten(1).sum(1)


def nats_to_bpd(nll: float | Tensor, dims: int, levels: int) -> float | Tensor:
    """bits/dim = (−log p_Y(y) + D ln K) / (D ln 2) for y = (x + u)/K in [0, 1)^D.

    Example: NICE's MNIST log-likelihood 1980.50 nats → `nats_to_bpd(-1980.50, 784, 256)` ≈ 4.36.
    """
    return (nll + dims * math.log(levels)) / (dims * math.log(2))


def bits_per_dim(log_prob_y: Tensor, dims: int, levels: int) -> Tensor:
    """Per-example bits/dim from log p_Y(y) (B,) of dequantised data y = (x+u)/K (or y − ½)."""
    return nats_to_bpd(-log_prob_y, dims, levels)


def brute_force_logabsdet(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """log|det ∂fn(x_b)/∂x_b| per example from the full autograd Jacobian (slow; for tests)."""
    out = []
    for xb in x:
        jac = torch.autograd.functional.jacobian(lambda v: fn(v.unsqueeze(0))[0].flatten(), xb)
        out.append(torch.linalg.slogdet(jac.reshape(xb.numel(), xb.numel()))[1])
    return torch.stack(out)


def dequantize_uniform(
    images: Tensor, levels: int, generator: torch.Generator | None = None
) -> Tensor:
    """Model-space w = (x + u)/K − ½, u ~ U[0,1)^D (spec §0.3; centering adds no log-det)."""
    u = torch.rand(images.shape, generator=generator, dtype=torch.get_default_dtype())
    return (images.to(u.dtype) + u) / levels - 0.5


@torch.no_grad()
def dequantized_bpd_per_image(
    log_prob: Callable[[Tensor], Tensor],
    images: Tensor,
    levels: int,
    draws: int = 10,
    generator: torch.Generator | None = None,
    batch: int = 512,
) -> Tensor:
    """Bits/dim of each integer image in `images` (N, ...) → (N,) float64: the Jensen bound
    with `draws` noise draws per image (the items a confidence interval resamples).

    `log_prob` maps w = (x + u)/K − ½ (B, ...) to log p(w) (B,).
    """
    dims = images[0].numel()
    out = []
    for start in range(0, len(images), batch):
        x = images[start : start + batch]
        lp = torch.stack(
            [log_prob(dequantize_uniform(x, levels, generator)) for _ in range(draws)]
        ).mean(0)
        out.append(bits_per_dim(lp, dims, levels).double())
    return torch.cat(out)


def dequantized_bpd(
    log_prob: Callable[[Tensor], Tensor],
    images: Tensor,
    levels: int,
    draws: int = 10,
    generator: torch.Generator | None = None,
    batch: int = 512,
) -> float:
    """Mean bits/dim of integer `images` (N, ...): Jensen bound, `draws` noise draws per image.

    `log_prob` maps w = (x + u)/K − ½ (B, ...) to log p(w) (B,).
    """
    items = dequantized_bpd_per_image(log_prob, images, levels, draws, generator, batch)
    return float(items.mean())


@torch.no_grad()
def density_on_grid(
    log_prob: Callable[[Tensor], Tensor], lim: float, n: int, batch: int = 20000
) -> tuple[Tensor, float]:
    """exp(log p) on an n×n grid over [−lim, lim]² (rows = y) and its Riemann sum (≈ 1)."""
    g = torch.linspace(-lim, lim, n)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    lp = torch.cat([log_prob(pts[i : i + batch]) for i in range(0, len(pts), batch)])
    dens = lp.exp().reshape(n, n)
    cell = (g[1] - g[0]) ** 2
    return dens, float(dens.sum() * cell)


def _pixel_counts(train: Tensor | Iterable[Tensor], levels: int) -> Tensor:
    """(K, D) counts of each level at each dimension, over integer images (N, ...) given whole
    or as an iterable of chunks (a memory-mapped folder need not sit in memory at once)."""
    chunks = [train] if isinstance(train, Tensor) else train
    counts: Tensor | None = None
    for chunk in chunks:
        x = chunk.flatten(1).long()
        d = x.shape[1]
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= levels):
            raise ValueError(f"pixel values must lie in 0..{levels - 1}")
        # one bincount over (dimension, level) pairs instead of K comparisons of the whole set
        flat = (torch.arange(d, device=x.device) * levels + x).flatten()
        c = torch.bincount(flat, minlength=d * levels).view(d, levels).T.double()
        counts = c if counts is None else counts + c
    if counts is None:
        raise ValueError("no training images for the categorical baseline")
    return counts


def categorical_bpd_per_image(
    train: Tensor | Iterable[Tensor], test: Tensor, levels: int
) -> Tensor:
    """Bits/dim of each test image (N,) float64 under the independent per-pixel categorical
    model of the training images (add-one smoothing: every level of every dimension gets one
    pseudo-count, so a test value never seen in training costs a finite amount).

    `train` is an (N, ...) integer tensor or an iterable of such chunks.
    """
    counts = _pixel_counts(train, levels) + 1.0  # (K, D)
    logp = torch.log(counts / counts.sum(0, keepdim=True))
    te = test.flatten(1).long()
    if te.shape[1] != logp.shape[1]:
        raise ValueError(f"test images have {te.shape[1]} dimensions, training {logp.shape[1]}")
    nll = -logp.gather(0, te).sum(1)  # (N,): logp[x_nd, d] summed over d
    return nll / (te.shape[1] * math.log(2))


def categorical_bpd(train: Tensor | Iterable[Tensor], test: Tensor, levels: int) -> float:
    """Test bits/dim of the independent per-pixel categorical (add-one smoothing) on train."""
    return float(categorical_bpd_per_image(train, test, levels).mean())


def gaussian_bpd_per_image(
    train: Tensor,
    test: Tensor,
    levels: int,
    ridge: float = 1e-4,
    draws: int = 10,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Bits/dim of each test image (N,) under a full-covariance Gaussian fitted to dequantised
    train images (§1.4)."""
    w = torch.cat(
        [dequantize_uniform(train.flatten(1), levels, generator) for _ in range(draws)]
    ).double()
    mean = w.mean(0)
    cov = torch.cov(w.T) + ridge * torch.eye(w.shape[1], dtype=w.dtype)
    mvn = torch.distributions.MultivariateNormal(mean, cov)
    return dequantized_bpd_per_image(
        lambda v: mvn.log_prob(v.double()), test.flatten(1), levels, draws, generator
    )


def gaussian_bpd(
    train: Tensor,
    test: Tensor,
    levels: int,
    ridge: float = 1e-4,
    draws: int = 10,
    generator: torch.Generator | None = None,
) -> float:
    """Test bits/dim of a full-covariance Gaussian fitted to dequantised train images (§1.4)."""
    return float(gaussian_bpd_per_image(train, test, levels, ridge, draws, generator).mean())
