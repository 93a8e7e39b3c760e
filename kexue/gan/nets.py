r"""Convolutional generator, critic and encoder of the GAN-QP / BiGAN-QP code, for any image size.

Article: GAN-QP: 简单清晰的"生成-判别"对抗模型, 2018-11-20, https://kexue.fm/archives/6163
         (BiGAN-QP, 2018-12-10, https://kexue.fm/archives/6214, adds the encoder)

The author's networks (bojone/gan-qp, 128/ and 256/) are DCGAN-shaped and set by the image side
`img_dim` (a power of 2, ≥ 8) alone:

    num_layers = log2(img_dim) − 3,   max_channels = 8 · img_dim,   f = 4 (the first feature map)
    critic:    [Conv 5×5 stride 2 (no bias) → BatchNorm (not on the first layer) → LeakyReLU 0.2]
               × (num_layers + 1) with channels max_channels / 2^(num_layers − i), then a linear
               map to one score (no bias)
    generator: z → Linear → BatchNorm → ReLU → f × f × max_channels, then
               [ConvTranspose 5×5 stride 2 → BatchNorm → ReLU] × num_layers halving the channels,
               then ConvTranspose 5×5 stride 2 → tanh (img_dim × img_dim in [−1, 1])
    encoder:   the critic's trunk with a linear map to z (BiGAN-QP)

At 64 px this is DCGAN's 64-128-256-512 critic; at 128 px the author's CelebA-HQ model (max 1,024
channels). `width` scales max_channels down for CPU-sized runs. `norm` swaps the critic's
BatchNorm: "none" or "layer" for the gradient penalty (which BatchNorm breaks: the penalty is
per sample), "spectral" for WGAN-SN. Keras's 'same' padding with stride 2 is padding 2 (and
output_padding 1 for the transposed convolutions): each layer halves or doubles the side exactly.

Deviations: none in the shapes; PyTorch's default initialisation replaces Keras's Glorot uniform.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["QPCritic", "QPEncoder", "QPGenerator", "qp_layout"]

Norm = Literal["batch", "none", "layer", "spectral"]


def qp_layout(img_dim: int, width: int | None = None) -> tuple[int, int]:
    """(num_layers, max_channels) of the author's networks for an img_dim × img_dim image."""
    if img_dim < 8 or img_dim & (img_dim - 1):
        raise ValueError(f"img_dim must be a power of 2 ≥ 8, got {img_dim}")
    num_layers = int(math.log2(img_dim)) - 3
    max_channels = width if width is not None else 8 * img_dim
    if max_channels < 2**num_layers:
        raise ValueError(f"width {max_channels} is below 2^{num_layers} (one channel per layer)")
    return num_layers, max_channels


class _Trunk(nn.Module):
    """The critic's convolutions: img_dim → 4, channels growing to max_channels."""

    def __init__(self, img_dim: int, channels: int, width: int | None, norm: Norm) -> None:
        super().__init__()
        num_layers, top = qp_layout(img_dim, width)
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(num_layers + 1):
            c_out = top // 2 ** (num_layers - i)
            conv = nn.Conv2d(c_in, c_out, 5, stride=2, padding=2, bias=False)
            layers.append(spectral_norm(conv) if norm == "spectral" else conv)
            if i > 0 and norm == "batch":
                layers.append(nn.BatchNorm2d(c_out))
            elif i > 0 and norm == "layer":
                layers.append(nn.GroupNorm(1, c_out))  # LayerNorm over (C, H, W)
            layers.append(nn.LeakyReLU(0.2))
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.features = top * 4 * 4

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).flatten(1)


class QPCritic(nn.Module):
    """The GAN-QP critic T(x): (B, C, img_dim, img_dim) → (B,) scores."""

    def __init__(self, img_dim: int, channels: int = 3, *, width: int | None = None,
                 norm: Norm = "batch") -> None:  # fmt: skip
        super().__init__()
        if norm not in ("batch", "none", "layer", "spectral"):
            raise ValueError(f"norm must be batch, none, layer or spectral, got {norm!r}")
        self.trunk = _Trunk(img_dim, channels, width, norm)
        head = nn.Linear(self.trunk.features, 1, bias=False)
        self.head = spectral_norm(head) if norm == "spectral" else head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x))[:, 0]


class QPEncoder(nn.Module):
    """BiGAN-QP's encoder E(x): the critic's trunk, then a linear map to z (B, z_dim)."""

    def __init__(self, img_dim: int, z_dim: int = 128, *, channels: int = 3,
                 width: int | None = None) -> None:  # fmt: skip
        super().__init__()
        self.trunk = _Trunk(img_dim, channels, width, "batch")
        self.head = nn.Linear(self.trunk.features, z_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x))


class QPGenerator(nn.Module):
    """The GAN-QP generator G(z): (B, z_dim) → (B, C, img_dim, img_dim) in [−1, 1]."""

    def __init__(self, img_dim: int, z_dim: int = 128, *, channels: int = 3,
                 width: int | None = None) -> None:  # fmt: skip
        super().__init__()
        num_layers, top = qp_layout(img_dim, width)
        self.z_dim, self.top = z_dim, top
        self.project = nn.Sequential(nn.Linear(z_dim, 16 * top), nn.BatchNorm1d(16 * top),
                                     nn.ReLU())  # fmt: skip
        layers: list[nn.Module] = []
        c_in = top
        for i in range(num_layers):
            c_out = top // 2 ** (i + 1)
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
            c_in = c_out
        layers += [
            nn.ConvTranspose2d(c_in, channels, 5, stride=2, padding=2, output_padding=1),
            nn.Tanh(),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.project(z).view(len(z), self.top, 4, 4))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n images from z ~ N(0, I) (in eval mode: BatchNorm's running statistics)."""
        device = next(self.parameters()).device
        return self(torch.randn(n, self.z_dim, generator=generator).to(device))
