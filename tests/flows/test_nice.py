"""NICE: additive coupling, scaling layer, priors, and the bits/dim conventions (spec §0.3, §1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import (
    Independent,
    Normal,
    SigmoidTransform,
    TransformedDistribution,
    Uniform,
)

from kexue.data import DIGIT_LEVELS
from kexue.flows import (
    NICE,
    AdditiveCoupling,
    DiagonalScale,
    StandardLogistic,
    StandardNormal,
    categorical_bpd,
    categorical_bpd_per_image,
    density_on_grid,
    dequantized_bpd,
    nats_to_bpd,
)
from kexue.nn import MLP


def test_nice_mnist_likelihood_converts_to_published_bits_per_dim():
    # NICE paper: 1980.50 nats on [0,1]-scaled dequantised MNIST = 4.36 bits/dim (i-ResNet table)
    assert abs(nats_to_bpd(-1980.50, 784, 256) - 4.36) <= 0.005


def test_uniform_density_gives_log2_of_levels(f64):
    # log p(w) = 0 on the unit cube [−½, ½)^D is the uniform over levels: exactly log2(17) bits/dim
    images = torch.randint(0, 17, (50, 64))
    bpd = dequantized_bpd(lambda w: torch.zeros(len(w)), images, 17, draws=2)
    assert abs(bpd - math.log2(17)) < 1e-9


def test_categorical_baseline_matches_a_direct_count(f64):
    rng = np.random.RandomState(0)
    train, test = rng.randint(0, 3, (40, 5)), rng.randint(0, 3, (7, 5))
    total = 0.0
    for row in test:
        for d, v in enumerate(row):
            total -= math.log(((train[:, d] == v).sum() + 1) / (len(train) + 3))
    expected = total / (len(test) * 5 * math.log(2))
    assert (
        abs(categorical_bpd(torch.from_numpy(train), torch.from_numpy(test), 3) - expected) < 1e-12
    )


def test_categorical_baseline_counts_in_chunks_and_per_image():
    # the image loop counts a memory-mapped folder chunk by chunk: same numbers as at once
    g = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (300, 3, 4, 4), generator=g, dtype=torch.uint8)
    test = torch.randint(0, 256, (20, 3, 4, 4), generator=g, dtype=torch.uint8)
    whole = categorical_bpd_per_image(train, test, 256)
    chunked = categorical_bpd_per_image(iter(train.split(64)), test, 256)
    assert whole.shape == (20,) and torch.allclose(whole, chunked)
    assert abs(float(whole.mean()) - categorical_bpd(train, test, 256)) < 1e-12
    with pytest.raises(ValueError, match="0..15"):
        categorical_bpd(train, test, 16)


def test_priors_match_torch_distributions(f64):
    z = 3 * torch.randn(20, 4)
    logistic = TransformedDistribution(
        Uniform(torch.zeros(4), torch.ones(4)), [SigmoidTransform().inv]
    )
    assert torch.allclose(StandardLogistic((4,)).log_prob(z), logistic.log_prob(z).sum(1))
    normal = Independent(Normal(torch.zeros(4), torch.ones(4)), 1)
    assert torch.allclose(StandardNormal((4,)).log_prob(z), normal.log_prob(z))
    # the logistic log-density stays finite far out (softplus, not log(1 + exp))
    assert torch.isfinite(
        StandardLogistic((1,)).log_prob(torch.tensor([[1e4]], dtype=torch.float32))
    ).all()


def test_logistic_samples_have_the_logistic_variance():
    s = StandardLogistic((1,)).sample(200_000, generator=torch.Generator().manual_seed(0))
    assert abs(s.var().item() - math.pi**2 / 3) < 0.05


def test_additive_coupling_is_volume_preserving_and_keeps_the_conditioning_half(f64):
    layer = AdditiveCoupling(6, MLP(3, 3, hidden=(8,)), split="evenodd", parity=0)
    torch.nn.init.normal_(layer.net[-1].weight)
    x = torch.randn(5, 6)
    z, ld = layer(x)
    assert torch.equal(ld, torch.zeros(5))
    assert torch.equal(z[:, 0::2], x[:, 0::2]) and not torch.allclose(z[:, 1::2], x[:, 1::2])


def test_nice_without_scale_is_volume_preserving_and_ddi_standardises(f64):
    model = NICE(8, n_couplings=4, hidden=(16,))
    x = 3 * torch.randn(256, 8) + 1
    model(x)  # DDI of the scaling layer
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    couplings = torch.nn.Sequential(*model.bijector.layers[:-1])
    h = x
    total = torch.zeros(256)
    for layer in couplings:
        h, ld = layer(h)
        total = total + ld
    assert torch.equal(total, torch.zeros(256))
    scale = DiagonalScale(8)
    out, _ = scale(h)
    assert torch.allclose(out.std(0, unbiased=False), torch.ones(8), atol=1e-6)


def test_density_on_grid_integrates_a_gaussian(f64):
    normal = StandardNormal((2,))
    _, integral = density_on_grid(normal.log_prob, 6.0, 400)
    assert abs(integral - 1.0) < 1e-3


def test_nice_digits_training_improves_validation_bpd(digit_splits, digit_batch):
    torch.manual_seed(0)
    data = digit_splits
    g = torch.Generator().manual_seed(0)
    model = NICE(64, n_couplings=4, hidden=(64, 64))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(digit_batch(data["train"], 128, g).flatten(1))

    def valid() -> float:
        model.eval()
        noise = torch.Generator().manual_seed(0)  # fresh, seeded draws (off the training stream)
        v = dequantized_bpd(
            lambda w: model.log_prob(w.flatten(1)), data["valid"], DIGIT_LEVELS, 1, noise
        )
        model.train()
        return v

    before = valid()
    for _ in range(300):
        loss = model.nll(digit_batch(data["train"], 128, g).flatten(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert valid() <= before - 0.3
