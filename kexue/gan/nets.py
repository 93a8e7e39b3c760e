r"""Convolutional generator, critic and encoder of the GAN-QP / BiGAN-QP code, and the DCGAN nets
of the WGAN-GP/SN and VI articles, for any power-of-2 image size.

Article: GAN-QP: 简单清晰的"生成-判别"对抗模型, 2018-11-20, https://kexue.fm/archives/6163
         (BiGAN-QP, 2018-12-10, https://kexue.fm/archives/6214, adds the encoder and the joint
         critic; 深度学习中的Lipschitz约束, 2018-10-07, https://kexue.fm/archives/6051, and
         用变分推断统一理解生成模型, 2018-07-18, https://kexue.fm/archives/5716, train DCGAN nets)

The author's networks (bojone/gan-qp, 128/ and 256/) are DCGAN-shaped and set by the image side
`img_dim` (a power of 2, ≥ 8) alone:

    num_layers = log2(img_dim) − 3,   max_channels = 8 · img_dim,   f = 4 (the first feature map)
    critic:    [Conv 5×5 stride 2 (no bias) → BatchNorm (not on the first layer) → LeakyReLU 0.2]
               × (num_layers + 1) with channels max_channels / 2^(num_layers − i), then a linear
               map to one score (no bias)
    generator: z → Linear → BatchNorm → ReLU → f × f × max_channels, then
               [ConvTranspose 5×5 stride 2 → BatchNorm → ReLU] × num_layers halving the channels,
               then ConvTranspose 5×5 stride 2 → tanh (img_dim × img_dim in [−1, 1])
    encoder:   the critic's trunk (convolutions with bias) with a linear map to z (BiGAN-QP)
    joint critic T(x, z) (BiGAN-QP): the critic's trunk → Linear to z_dim (no bias), concatenated
               with z, then Linear 1024 → LeakyReLU 0.2 → Linear 1024 → LeakyReLU 0.2 → Linear 1
               (no biases)

At 64 px this is DCGAN's 64-128-256-512 critic; at 128 px the author's CelebA-HQ model (max 1,024
channels). `width` scales max_channels down for CPU-sized runs. `norm` swaps the critic's
BatchNorm: "none" or "layer" for the gradient penalty (which BatchNorm breaks: the penalty is
per sample), "spectral" for WGAN-SN. Keras's 'same' padding with stride 2 is padding 2 (and
output_padding 1 for the transposed convolutions): each layer halves or doubles the side exactly.

DCGAN (Radford et al. 2016, arXiv 1511.06434, in the 5×5 form of its TensorFlow code that the
author's WGAN-GP/SN scripts (bojone/gan keras/) and the VI article's code (bojone/gan vgan/, from
LynnHo's DCGAN) use) is the same layout with dim = 64 base channels: critic 64-128-256-512 and
generator 512-256-128-64 at 64 px, i.e. max_channels = 64 · 2^num_layers = 8 · img_dim, the
QP layout at every size. `DCGANGenerator` / `DCGANCritic` add what differs: z_dim 100, weights
drawn from N(0, 0.02) (BatchNorm scales from N(1, 0.02)), and a bias on the critic's score.

Deviations: none in the shapes; PyTorch's default initialisation replaces Keras's Glorot uniform
in the QP nets; PyTorch's BatchNorm momentum (0.1) replaces Keras's 0.99 for the running
statistics that sampling in eval mode uses.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = [
    "DCGANCritic",
    "DCGANGenerator",
    "QPCritic",
    "QPEncoder",
    "QPGenerator",
    "QPJointCritic",
    "dcgan_init_",
    "qp_layout",
]

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


_NORMS = ("batch", "none", "layer", "spectral")


def _check_norm(norm: str) -> None:
    if norm not in _NORMS:
        raise ValueError(f"norm must be batch, none, layer or spectral, got {norm!r}")


class _Trunk(nn.Module):
    """The critic's convolutions: img_dim → 4, channels growing to max_channels."""

    def __init__(self, img_dim: int, channels: int, width: int | None, norm: Norm, *,
                 bias: bool = False, slope: float = 0.2) -> None:  # fmt: skip
        super().__init__()
        num_layers, top = qp_layout(img_dim, width)
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(num_layers + 1):
            c_out = top // 2 ** (num_layers - i)
            conv = nn.Conv2d(c_in, c_out, 5, stride=2, padding=2, bias=bias)
            layers.append(spectral_norm(conv) if norm == "spectral" else conv)
            if i > 0 and norm == "batch":
                layers.append(nn.BatchNorm2d(c_out))
            elif i > 0 and norm == "layer":
                layers.append(nn.GroupNorm(1, c_out))  # LayerNorm over (C, H, W)
            layers.append(nn.LeakyReLU(slope))
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.features = top * 4 * 4

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).flatten(1)


class QPCritic(nn.Module):
    """The GAN-QP critic T(x): (B, C, img_dim, img_dim) → (B,) scores."""

    def __init__(
        self,
        img_dim: int,
        channels: int = 3,
        *,
        width: int | None = None,
        norm: Norm = "batch",
        slope: float = 0.2,
        head_bias: bool = False,
    ) -> None:
        super().__init__()
        _check_norm(norm)
        self.trunk = _Trunk(img_dim, channels, width, norm, slope=slope)
        head = nn.Linear(self.trunk.features, 1, bias=head_bias)
        self.head = spectral_norm(head) if norm == "spectral" else head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x))[:, 0]


class QPEncoder(nn.Module):
    """BiGAN-QP's encoder E(x): the critic's trunk, then a linear map to z (B, z_dim)."""

    def __init__(self, img_dim: int, z_dim: int = 128, *, channels: int = 3,
                 width: int | None = None) -> None:  # fmt: skip
        super().__init__()
        self.trunk = _Trunk(img_dim, channels, width, "batch", bias=True)  # the author's E
        self.head = nn.Linear(self.trunk.features, z_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x))


class QPJointCritic(nn.Module):
    """BiGAN-QP's critic on joint pairs, T(x, z): (B, C, img_dim, img_dim), (B, z_dim) → (B,).

    The image goes through the critic's trunk and a linear map to z_dim (no bias), is
    concatenated with z, and an MLP of two `hidden`-wide layers (the author's 1024) scores the
    pair. `norm` is the trunk's, as in `QPCritic` (the author's: batch).
    """

    def __init__(
        self,
        img_dim: int,
        z_dim: int = 128,
        *,
        channels: int = 3,
        width: int | None = None,
        hidden: int = 1024,
        norm: Norm = "batch",
    ) -> None:
        super().__init__()
        _check_norm(norm)
        self.trunk = _Trunk(img_dim, channels, width, norm)

        def linear(a: int, b: int) -> nn.Module:
            layer = nn.Linear(a, b, bias=False)
            return spectral_norm(layer) if norm == "spectral" else layer

        self.encode = linear(self.trunk.features, z_dim)
        act = nn.LeakyReLU(0.2)
        self.head = nn.Sequential(
            linear(2 * z_dim, hidden), act, linear(hidden, hidden), act, linear(hidden, 1)
        )

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return self.head(torch.cat([self.encode(self.trunk(x)), z], 1))[:, 0]


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


@torch.no_grad()
def dcgan_init_(module: nn.Module, std: float = 0.02) -> nn.Module:
    """DCGAN's initialisation in place: every convolution and linear weight from N(0, std),
    BatchNorm scales from N(1, std), biases 0 (also under a spectral-norm parametrisation, whose
    original weight is drawn). Returns `module`."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weights = getattr(m, "parametrizations", None)
            nn.init.normal_(weights.weight.original if weights is not None else m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return module


class DCGANGenerator(QPGenerator):
    """DCGAN's generator (the 5×5 TensorFlow form): z (B, 100) → 4×4×8·img_dim → … → tanh image,
    N(0, 0.02) weights. At 64 px: 512-256-128-64 channels, the VI and WGAN-GP/SN articles' G."""

    def __init__(self, img_dim: int = 64, z_dim: int = 100, *, channels: int = 3,
                 width: int | None = None) -> None:  # fmt: skip
        super().__init__(img_dim, z_dim, channels=channels, width=width)
        dcgan_init_(self)


class DCGANCritic(QPCritic):
    """DCGAN's discriminator (5×5 convolutions 64-128-256-512 at 64 px, BatchNorm but on the
    first, LeakyReLU 0.2, a linear score with bias), N(0, 0.02) weights. `norm` "none" or
    "layer" for WGAN-GP (no BatchNorm: the penalty is per sample), "spectral" for WGAN-SN;
    `slope` 0.3 is Keras's default LeakyReLU of the author's WGAN-GP/SN scripts."""

    def __init__(self, img_dim: int = 64, channels: int = 3, *, width: int | None = None,
                 norm: Norm = "batch", slope: float = 0.2) -> None:  # fmt: skip
        super().__init__(img_dim, channels, width=width, norm=norm, slope=slope, head_bias=True)
        dcgan_init_(self)
