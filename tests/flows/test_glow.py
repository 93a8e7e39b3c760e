"""Glow pieces: squeeze order, LU 1×1 convolution, ActNorm DDI, the conditional split prior,
temperature sampling."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal

from kexue.flows import (
    ActNorm,
    FactorOut,
    Flatten,
    Glow,
    GlowStep,
    InvertibleLinear,
    Sequential,
    Squeeze,
)


@pytest.mark.parametrize("order", ["kexue", "glow"])
def test_squeeze_matches_an_explicit_index_loop(order):
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4)
    y, _ = Squeeze(order=order)(x)
    assert y.shape == (1, 8, 2, 2)
    for c in range(2):
        for i in range(2):
            for j in range(2):
                for dy in range(2):
                    for dx in range(2):
                        k = (2 * dy + dx) * 2 + c if order == "kexue" else c * 4 + 2 * dy + dx
                        assert y[0, k, i, j] == x[0, c, 2 * i + dy, 2 * j + dx]
    assert torch.equal(Squeeze(order=order).inverse(y)[0], x)


def test_lu_weight_logdet_and_orthogonal_init(f64):
    layer = InvertibleLinear(6, lu=True, generator=torch.Generator().manual_seed(0))
    w = layer.weight_matrix()
    assert torch.allclose(w @ w.T, torch.eye(6), atol=1e-12)  # random orthogonal at init
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    w = layer.weight_matrix()
    assert torch.allclose(torch.linalg.slogdet(w)[1], layer.log_s.sum())
    # the strict upper entries of `lower` and the diagonal are masked out
    assert torch.allclose(
        torch.diagonal(torch.linalg.lu(w)[2]).abs().log().sum(), layer.log_s.sum()
    )
    x = torch.randn(3, 6, 2, 2)
    z, ld = layer(x)
    assert torch.allclose(z, torch.einsum("ij,bjhw->bihw", w, x))
    assert torch.allclose(ld, 4 * layer.log_s.sum().expand(3))


def test_actnorm_ddi_standardises_channels_and_persists(f64):
    layer = ActNorm(3, logscale_factor=3.0)
    x = torch.randn(256, 3, 4, 4) * torch.tensor([1.0, 5.0, 0.1]).view(1, 3, 1, 1) + 2.0
    z, _ = layer(x)
    assert torch.allclose(z.mean((0, 2, 3)), torch.zeros(3), atol=1e-10)
    assert torch.allclose(z.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-5)
    state = layer.state_dict()
    assert bool(state["initialized"])
    fresh = ActNorm(3, logscale_factor=3.0)
    fresh.load_state_dict(state)
    assert torch.allclose(fresh(x + 1.0)[0], layer(x + 1.0)[0])  # no second initialisation
    # eval mode never initialises
    lazy = ActNorm(3).eval()
    assert torch.equal(lazy(x)[0], x)


def test_factor_out_density_is_the_conditional_gaussian(f64):
    torch.manual_seed(0)
    layer = FactorOut((2, 4, 4), Sequential(Flatten((1, 4, 4))))
    torch.nn.init.normal_(layer.prior_net.weight, std=0.3)
    torch.nn.init.normal_(layer.prior_net.bias, std=0.3)
    x = torch.randn(5, 2, 4, 4)
    z, ld = layer(x)
    ours = Normal(0.0, 1.0).log_prob(z).sum(1) + ld
    mu, log_sigma = layer.prior_net(x[:, :1]).chunk(2, 1)
    expected = Normal(mu, log_sigma.exp()).log_prob(x[:, 1:]).flatten(1).sum(1)
    expected = expected + Normal(0.0, 1.0).log_prob(x[:, :1]).flatten(1).sum(1)
    assert torch.allclose(ours, expected)


def test_glow_temperature_zero_is_the_decoded_mode_and_samples_scale(f64):
    torch.manual_seed(0)
    model = Glow((1, 8, 8), levels=2, depth=2, width=8)
    model(torch.randn(64, 1, 8, 8))
    model.eval()
    s0 = model.sample(4, temperature=0.0)
    assert torch.allclose(s0, model.inverse(torch.zeros(1, 64))[0].expand(4, 1, 8, 8))
    assert model.log_prob(torch.randn(3, 1, 8, 8)).shape == (3,)


def test_glow_log_prob_integrates_like_a_density_in_one_dimension_slice(f64):
    # the change of variables: log p(x) = log N(f(x)) + log|det|, checked against a direct
    # evaluation with the standard normal on the returned latent
    torch.manual_seed(0)
    model = Glow((1, 4, 4), levels=1, depth=2, width=8)
    x = torch.randn(7, 1, 4, 4)
    model(x)
    z, ld = model(x)
    assert torch.allclose(model.log_prob(x), Normal(0.0, 1.0).log_prob(z).sum(1) + ld)


@pytest.mark.parametrize("size", [32, 64])
def test_glow_on_rgb_images_of_32_and_64_pixels(size):
    """The image model the glow recipe trains on --data: 3 levels on RGB, squeezes to 12, 24 and
    48 channels, one flat latent of the data's size, an exact inverse in float32."""
    torch.manual_seed(0)
    model = Glow((3, size, size), levels=3, depth=1, width=8)
    steps = [m for m in model.modules() if isinstance(m, GlowStep)]
    assert [s.layers[0].bias.numel() for s in steps] == [12, 24, 48]
    x = torch.rand(4, 3, size, size) - 0.5
    model(x)  # data-dependent init
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.eval()
    z, ld = model(x)
    assert z.shape == (4, 3 * size * size) and torch.isfinite(ld).all()
    assert (model.inverse(z)[0] - x).abs().max() < 1e-4
    sample = model.sample(2, temperature=0.7, generator=torch.Generator().manual_seed(0))
    assert sample.shape == (2, 3, size, size)
