r"""Convolutional VAEs on images: a Gaussian VAE (and the AE of the same network) and a VAE with
categorical latents, for the latent recipes' image mode (`kexue run SLUG --data FOLDER`).

Articles: 变分自编码器（六）：从几何视角来理解VAE的尝试 — 苏剑林, 2020-09-10,
          https://kexue.fm/archives/7725 (the Gaussian VAE against the AE of the same network);
          漫谈重参数：从正态分布到Gumbel Softmax — 苏剑林, 2019-06-10,
          https://kexue.fm/archives/6705 (the categorical VAE, trained through Gumbel-Softmax)
Original: bojone/vae, vae_keras_celeba.py (the author's colour-image VAE: 5×5 stride-2
          convolutions with BatchNorm and LeakyReLU 0.2 down to the code, the mirror with ReLU up
          to a tanh image; a Gaussian likelihood of unit variance on pixels in [−1, 1]) and
          vae_keras_cnn_gs.py (categorical latents under a uniform prior)

The networks are the DCGAN-shaped ones of `kexue.gan.nets` at any power-of-2 side (the
celeba script's layout): E = `QPEncoder` (convolutions to a 4×4 map, then a linear map to the
code's parameters), G = `QPGenerator` (a linear map to 4×4, transposed convolutions, tanh).
Pixels y ∈ [0, 1)^D are dequantised 8-bit values, (x + u)/256, so that each negative ELBO is a
bound on −log p(y) and converts to bits/dim on 256 levels (`kexue.flows.bits_per_dim`)::

    decoder mean   m(z) = (G(z) + 1)/2 ∈ [0, 1]^D
    −log p(y|z)    = Σ_d (y_d − m_d)²/(2σ²) + D·log σ + (D/2)·log 2π      (one σ for all pixels)
    Gaussian VAE   −ELBO = E_q[−log p(y|z)] + KL(N(μ, σ_z²) ‖ N(0, I)),  z = μ + σ_z ⊗ ε
    AE             z = μ(x), no KL (the article's AE: the same network without noise and prior)
    categorical    −ELBO = E_q[−log p(y|z)] + KL(q(c|x) ‖ U(K)^L),  z = Gumbel-Softmax sample
                   of L one-hot variables over K categories (flattened, L·K inputs to G)

Symbols: y (B, C, H, W) pixels in [0, 1); μ, logvar (B, Z); logits (B, L, K); σ the decoder's
pixel noise (in [0, 1] units).

Deviations:
    - σ is one learned scalar by default (`sigma=None`, log σ a parameter, initialised at 0.1):
      the author's σ = 1 on [−1, 1] (σ = ½ here, `sigma=0.5`) weighs the pixels against the KL
      at CelebA's 12,288 dimensions; at 16–32 px a learned σ is the maximum-likelihood weight.
    - The encoder is the QP critic's trunk (down to 4×4, flattened) instead of the celeba
      script's extra stride-2 layer and global average pooling.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from kexue.gan.nets import QPEncoder, QPGenerator
from kexue.latent.gumbel import categorical_kl_uniform, gumbel_softmax, normal_rsample
from kexue.latent.vae import gaussian_kl, gaussian_log_prob

__all__ = [
    "ConvCategoricalVAE",
    "ConvGaussianVAE",
    "pixel_gaussian_nll",
]


def pixel_gaussian_nll(y: Tensor, mean: Tensor, log_sigma: Tensor) -> Tensor:
    """−log N(y; mean, σ² I) per image, (B, ...) → (B,) nats (σ a scalar, log σ a 0-d tensor)."""
    flat, m = y.flatten(1), mean.flatten(1)
    return -gaussian_log_prob(flat, m, (2.0 * log_sigma).expand_as(flat))


class _PixelDecoder(nn.Module):
    """G and the pixel noise σ: codes (B, P) → decoder means (B, C, S, S) in [0, 1]."""

    def __init__(
        self, img_size: int, code: int, channels: int, width: int | None, sigma: float | None
    ) -> None:
        super().__init__()
        self.net = QPGenerator(img_size, code, channels=channels, width=width)
        if sigma is None:  # learned; 0.1 is near the RMS error of a fitted decoder on [0, 1]
            self.log_sigma = nn.Parameter(torch.tensor(math.log(0.1)))
        else:
            if sigma <= 0:
                raise ValueError(f"sigma must be > 0 (or None: learned), got {sigma}")
            self.register_buffer("log_sigma", torch.tensor(math.log(sigma)))

    def forward(self, z: Tensor) -> Tensor:
        return (self.net(z) + 1.0) / 2.0

    def nll(self, y: Tensor, z: Tensor) -> Tensor:
        """−log p(y|z) per image (B,)."""
        return pixel_gaussian_nll(y, self(z), self.log_sigma)


class ConvGaussianVAE(nn.Module):
    """The Gaussian VAE on images, or (`deterministic=True`) the AE of the same network.

    Args:
        img_size: the image side S (a power of 2, ≥ 8).
        z_dim: Z.
        channels: C.
        width: the widest convolution's channels (None: the author's 8·S).
        sigma: the decoder's pixel σ on [0, 1] (None: one learned scalar).
        deterministic: the AE: z = μ(x), no KL.
        logvar_clamp: log σ_z² is clamped to [−c, c] (as `GaussianEncoder`).

    Shapes: y (B, C, S, S) → μ, logvar (B, Z); z (B, Z) → decoder means (B, C, S, S).
    """

    def __init__(
        self,
        img_size: int,
        z_dim: int,
        *,
        channels: int = 3,
        width: int | None = None,
        sigma: float | None = None,
        deterministic: bool = False,
        logvar_clamp: float = 10.0,
    ) -> None:
        super().__init__()
        self.encoder = QPEncoder(img_size, 2 * z_dim, channels=channels, width=width)
        self.decoder = _PixelDecoder(img_size, z_dim, channels, width, sigma)
        self.z_dim = z_dim
        self.deterministic = deterministic
        self.logvar_clamp = logvar_clamp

    def encode(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, logvar), each (B, Z)."""
        mu, logvar = self.encoder(y).chunk(2, dim=1)
        return mu, logvar.clamp(-self.logvar_clamp, self.logvar_clamp)

    def decode(self, z: Tensor) -> Tensor:
        """Decoder means in [0, 1], (B, Z) → (B, C, S, S)."""
        return self.decoder(z)

    def loss_terms(
        self, y: Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(rec (B,), kl (B,)) from one reparameterised sample; −ELBO = rec + kl (AE: kl = 0)."""
        mu, logvar = self.encode(y)
        z = mu if self.deterministic else normal_rsample(mu, logvar, generator=generator)
        rec = self.decoder.nll(y, z)
        kl = torch.zeros_like(rec) if self.deterministic else gaussian_kl(mu, logvar)
        return rec, kl

    def sample(self, n: int, temperature: float = 1.0, *,
               generator: torch.Generator | None = None) -> Tensor:  # fmt: skip
        """n decoder means from z ~ N(0, T²I) (in eval mode: BatchNorm's running statistics)."""
        device = self.decoder.log_sigma.device
        z = temperature * torch.randn(n, self.z_dim, generator=generator)
        return self.decode(z.to(device))


class ConvCategoricalVAE(nn.Module):
    """A VAE with L categorical latents of K categories under the uniform prior.

    Args:
        img_size: the image side S (a power of 2, ≥ 8).
        n_latents: L.
        n_categories: K.
        channels, width, sigma: as `ConvGaussianVAE`.

    Shapes: y (B, C, S, S) → logits (B, L, K); codes (B, L, K) → decoder means (B, C, S, S).
    """

    def __init__(
        self,
        img_size: int,
        n_latents: int,
        n_categories: int,
        *,
        channels: int = 3,
        width: int | None = None,
        sigma: float | None = None,
    ) -> None:
        super().__init__()
        code = n_latents * n_categories
        self.encoder = QPEncoder(img_size, code, channels=channels, width=width)
        self.decoder = _PixelDecoder(img_size, code, channels, width, sigma)
        self.n_latents, self.n_categories = n_latents, n_categories

    def logits(self, y: Tensor) -> Tensor:
        """(B, L, K) logits of q(c|x)."""
        return self.encoder(y).view(len(y), self.n_latents, self.n_categories)

    def decode(self, codes: Tensor) -> Tensor:
        """Decoder means in [0, 1], (B, L, K) one-hot (or relaxed) codes → (B, C, S, S)."""
        return self.decoder(codes.flatten(1))

    def loss_terms(
        self,
        y: Tensor,
        tau: float,
        *,
        hard: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """(rec (B,), kl (B,)) from one Gumbel-Softmax sample at temperature τ (`hard`: the
        straight-through one-hot); the KL is the analytic one of q, not of the relaxed sample."""
        logits = self.logits(y)
        codes = gumbel_softmax(logits, tau, hard=hard, generator=generator)
        return self.decoder.nll(y, codes.flatten(1)), categorical_kl_uniform(logits)

    def reconstruct(self, y: Tensor) -> Tensor:
        """G of the most probable code (argmax per latent): a deterministic reconstruction."""
        logits = self.logits(y)
        codes = torch.zeros_like(logits).scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
        return self.decode(codes)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """n decoder means from prior codes: one uniform one-hot per latent (the author's)."""
        device = self.decoder.log_sigma.device
        idx = torch.randint(self.n_categories, (n, self.n_latents), generator=generator)
        codes = torch.nn.functional.one_hot(idx, self.n_categories).float()
        return self.decode(codes.to(device))
