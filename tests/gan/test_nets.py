"""The author's GAN-QP / BiGAN-QP networks at any power-of-2 size: shapes, layout, norms."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kexue.gan import QPCritic, QPEncoder, QPGenerator, qp_layout

torch.set_num_threads(1)


@pytest.mark.parametrize("img_dim", [8, 16, 32, 64])
def test_generator_critic_encoder_shapes_and_range(img_dim):
    g = torch.Generator().manual_seed(0)
    gen = QPGenerator(img_dim, z_dim=16, width=32)
    x = gen(torch.randn(4, 16, generator=g))
    assert x.shape == (4, 3, img_dim, img_dim) and x.abs().max() <= 1
    assert QPCritic(img_dim, width=32)(x).shape == (4,)
    assert QPEncoder(img_dim, z_dim=16, width=32)(x).shape == (4, 16)


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
