"""The author's GAN-QP / BiGAN-QP networks and DCGAN's at any power-of-2 size: shapes, layout
(parameter counts from the formula), norms, spectral normalisation, initialisation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from kexue.gan import (
    DCGANCritic,
    DCGANGenerator,
    QPCritic,
    QPEncoder,
    QPGenerator,
    QPJointCritic,
    qp_layout,
)

torch.set_num_threads(1)


@pytest.mark.parametrize("img_dim", [8, 16, 32, 64, 128])
def test_generator_critic_encoder_shapes_and_range(img_dim):
    g = torch.Generator().manual_seed(0)
    gen = QPGenerator(img_dim, z_dim=16, width=32)
    x = gen(torch.randn(4, 16, generator=g))
    assert x.shape == (4, 3, img_dim, img_dim) and x.abs().max() <= 1
    assert QPCritic(img_dim, width=32)(x).shape == (4,)
    assert QPEncoder(img_dim, z_dim=16, width=32)(x).shape == (4, 16)
    z = torch.randn(4, 16, generator=g)
    assert QPJointCritic(img_dim, 16, width=32, hidden=8)(x, z).shape == (4,)
    dcgan = DCGANGenerator(img_dim, z_dim=16, width=32)(z)
    assert dcgan.shape == (4, 3, img_dim, img_dim) and dcgan.abs().max() <= 1
    for norm in ("batch", "none", "layer", "spectral"):
        assert DCGANCritic(img_dim, width=32, norm=norm)(dcgan).shape == (4,)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("img_dim", [64, 128])
def test_parameter_counts_of_the_authors_layout(img_dim):
    """Counted from the layout formula: num_layers = log2(img_dim) − 3, max_channels 8·img_dim,
    5×5 kernels, a 4×4 first map; critic convolutions without bias, BatchNorm (γ, β) on all but
    the first, a bias-free score; generator Linear (bias) + BatchNorm1d, transposed convolutions
    with bias + BatchNorm, a last transposed convolution to 3 channels."""
    n = int(math.log2(img_dim)) - 3
    top = 8 * img_dim
    chans = [top // 2 ** (n - i) for i in range(n + 1)]  # the critic's, growing
    critic = sum(25 * a * b for a, b in zip([3, *chans[:-1]], chans, strict=True))
    critic += sum(2 * c for c in chans[1:]) + 16 * top
    assert _count(QPCritic(img_dim)) == critic
    z = 128
    ups = [top // 2**i for i in range(n + 1)]  # the generator's, shrinking
    gen = z * 16 * top + 16 * top + 2 * 16 * top
    gen += sum(25 * a * b + b + 2 * b for a, b in zip(ups[:-1], ups[1:], strict=True))
    gen += 25 * ups[-1] * 3 + 3
    assert _count(QPGenerator(img_dim, z)) == gen
    if img_dim == 128:  # the author's CelebA-HQ 128 models, 64 … 1024 channels
        assert chans == [64, 128, 256, 512, 1024]
    # DCGAN at the same size: z 100 and a bias on the critic's score, otherwise the same layout
    assert _count(DCGANCritic(img_dim)) == critic + 1
    assert _count(DCGANGenerator(img_dim)) == gen - 28 * 16 * top


def test_the_joint_critic_scores_pairs_with_the_authors_mlp():
    torch.manual_seed(0)
    critic = QPJointCritic(32, 16, width=32).eval()
    linears = [m for m in critic.head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(32, 1024), (1024, 1024),
                                                                  (1024, 1)]  # fmt: skip
    assert all(m.bias is None for m in linears) and critic.encode.bias is None
    x, z = torch.randn(4, 3, 32, 32), torch.randn(4, 16)
    with torch.no_grad():
        assert not torch.allclose(critic(x, z), critic(x, z + 1))  # T reads the code too


def test_spectral_norm_critic_layers_reach_norm_one_after_power_iterations():
    torch.manual_seed(0)
    critic = QPCritic(32, width=32, norm="spectral")
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        for _ in range(30):  # each training-mode forward runs one power iteration per layer
            critic(x)
    critic.eval()
    layers = [m for m in critic.modules() if hasattr(m, "parametrizations")]
    assert len(layers) == 4
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().reshape(len(m.weight), -1), 2)
        assert float(sigma) <= 1 + 1e-3
        assert float(sigma) >= 0.99  # normalised, not merely shrunk


def test_dcgan_initialisation_is_normal_002():
    torch.manual_seed(0)
    gen, critic = DCGANGenerator(64), DCGANCritic(64, norm="spectral")
    w = torch.cat([m.weight.detach().flatten() for m in gen.modules()
                   if isinstance(m, nn.ConvTranspose2d)])  # fmt: skip
    assert abs(float(w.std()) - 0.02) < 1e-3 and abs(float(w.mean())) < 1e-3
    bn = torch.cat([m.weight.detach() for m in gen.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(float(bn.mean()) - 1) < 5e-3
    conv = critic.trunk.body[0]
    assert abs(float(conv.parametrizations.weight.original.detach().std()) - 0.02) < 2e-3
    assert gen.z_dim == 100
    convs = [m for m in DCGANCritic(64).modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512]  # Radford et al.'s at 64 px


def test_the_authors_layout_at_64_and_128_px():
    assert qp_layout(64) == (3, 512) and qp_layout(128) == (4, 1024)
    convs = [m for m in QPCritic(64).modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512]  # DCGAN's critic at 64 px
    assert all(c.kernel_size == (5, 5) and c.stride == (2, 2) and c.bias is None for c in convs)
    ups = [m for m in QPGenerator(64).modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [u.out_channels for u in ups] == [256, 128, 64, 3]


def test_batchnorm_skips_the_critics_first_layer_and_other_norms_replace_it():
    body = list(QPCritic(32, width=16).trunk.body)
    assert isinstance(body[0], nn.Conv2d) and isinstance(body[1], nn.LeakyReLU)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in body) == 2  # layers 2 and 3 of 3
    gp = QPCritic(32, width=16, norm="none")
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in gp.modules())
    sn = QPCritic(32, width=16, norm="spectral")
    assert sum(hasattr(m, "parametrizations") for m in sn.modules()) == 4  # 3 convs + head


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="power of 2"):
        QPGenerator(48)
    with pytest.raises(ValueError, match="norm must be"):
        QPCritic(32, norm="weird")


def test_gan_qp_step_on_the_networks_trains_the_critic():
    from kexue.gan import gan_qp_d_loss

    torch.manual_seed(0)
    gen, critic = QPGenerator(16, z_dim=8, channels=1, width=16), QPCritic(16, 1, width=16)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    real = torch.rand(16, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        fake = gen(torch.randn(16, 8))
    losses = []
    for _ in range(30):
        loss = gan_qp_d_loss(critic(real), critic(fake), real, fake)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
