"""The image models of the latent recipes' --data mode: the pixel likelihood and the categorical
KL by hand, the VAE / AE / categorical VAE's shapes and terms, the author's InfoMax layouts."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Normal, kl_divergence

from kexue.latent import (
    ConvCategoricalVAE,
    ConvGaussianVAE,
    InfoMaxEncoder,
    categorical_kl_uniform,
    image_blocks,
    pixel_gaussian_nll,
)


def test_pixel_likelihood_is_the_gaussian_density_summed_over_pixels():
    y, mean = torch.rand(3, 2, 4, 4), torch.rand(3, 2, 4, 4)
    log_sigma = torch.tensor(math.log(0.2))
    want = -Normal(mean, 0.2).log_prob(y).sum((1, 2, 3))
    assert torch.allclose(pixel_gaussian_nll(y, mean, log_sigma), want, atol=1e-4)


def test_categorical_kl_is_the_kl_to_the_uniform_prior_summed_over_latents():
    logits = torch.randn(5, 3, 7)
    uniform = Categorical(logits=torch.zeros(7))
    want = kl_divergence(Categorical(logits=logits), uniform).sum(-1)
    assert torch.allclose(categorical_kl_uniform(logits), want, atol=1e-5)
    assert torch.allclose(categorical_kl_uniform(torch.zeros(2, 3, 7)), torch.zeros(2), atol=1e-6)


@pytest.mark.parametrize("size", [8, 16, 32])
def test_the_gaussian_vae_maps_images_to_codes_and_back(size):
    model = ConvGaussianVAE(size, 5, channels=3, width=16).eval()
    y = torch.rand(4, 3, size, size)
    mu, logvar = model.encode(y)
    assert mu.shape == logvar.shape == (4, 5)
    out = model.decode(mu)
    assert out.shape == y.shape and 0 <= out.min() and out.max() <= 1
    samples = model.sample(3, 0.5, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (3, 3, size, size)


def test_vae_terms_are_the_reparameterised_likelihood_and_the_kl():
    model = ConvGaussianVAE(8, 4, channels=1, width=8, sigma=0.3).eval()
    y = torch.rand(6, 1, 8, 8)
    rec, kl = model.loss_terms(y, generator=torch.Generator().manual_seed(3))
    mu, logvar = model.encode(y)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
    z = mu + (0.5 * logvar).exp() * eps
    want = -Normal(model.decode(z), 0.3).log_prob(y).sum((1, 2, 3))
    assert torch.allclose(rec, want, rtol=1e-4)
    assert torch.allclose(kl, 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(1), atol=1e-5)


def test_the_ae_is_the_same_network_without_noise_or_kl():
    ae = ConvGaussianVAE(8, 4, channels=1, width=8, deterministic=True).eval()
    y = torch.rand(6, 1, 8, 8)
    rec_a, kl_a = ae.loss_terms(y, generator=torch.Generator().manual_seed(1))
    rec_b, _ = ae.loss_terms(y, generator=torch.Generator().manual_seed(2))
    assert torch.equal(kl_a, torch.zeros(6)) and torch.equal(rec_a, rec_b)
    vae = ConvGaussianVAE(8, 4, channels=1, width=8)
    assert isinstance(vae.decoder.log_sigma, torch.nn.Parameter)  # learned σ by default
    assert sum(p.numel() for p in vae.parameters()) == sum(p.numel() for p in ae.parameters())


def test_a_non_positive_sigma_is_refused():
    with pytest.raises(ValueError, match="sigma must be > 0"):
        ConvGaussianVAE(8, 4, sigma=-1.0)


def test_the_categorical_vae_decodes_one_hot_codes():
    model = ConvCategoricalVAE(16, 3, 4, channels=3, width=16).eval()
    y = torch.rand(5, 3, 16, 16)
    logits = model.logits(y)
    assert logits.shape == (5, 3, 4)
    codes = torch.nn.functional.one_hot(logits.argmax(-1), 4).float()
    assert torch.allclose(model.reconstruct(y), model.decode(codes))
    rec, kl = model.loss_terms(y, 0.5, hard=True, generator=torch.Generator().manual_seed(0))
    assert rec.shape == kl.shape == (5,) and (kl >= -1e-6).all()
    assert model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, 3, 16, 16)


def test_image_blocks_are_the_authors_cifar_and_tiny_imagenet_encoders():
    local, top = image_blocks(32, 256)  # infomax_cifar10.py
    assert local == ((64, True), (128, True), (256, True)) and top == ((256, False),) * 2
    local, _ = image_blocks(64, 256)  # infomax_tiny_imagenet.py
    assert [c for c, _ in local] == [32, 64, 128, 256]
    for size in (16, 32, 64):  # a 4×4 local map at every side
        local, top = image_blocks(size, 16)
        enc = InfoMaxEncoder(3, local_blocks=local, global_blocks=top, z_dim=8)
        mu, _, c = enc(torch.rand(2, 3, size, size))
        assert c.shape[2:] == (4, 4) and mu.shape == (2, 8)
    with pytest.raises(ValueError, match="power of 2"):
        image_blocks(24, 16)
