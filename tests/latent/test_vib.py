"""VIB: rate = analytic KL, the loss pieces, predictive averaging, lerp/slerp norms, ECE."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from kexue.latent import VIBClassifier, expected_calibration_error, lerp, slerp_normal, vib_loss


def test_std_offset_and_rate_by_hand(f64):
    model = VIBClassifier(6, 3, z_dim=4, hidden=(8,))
    x = torch.randn(5, 6)
    mu, std = model.encode(x)
    rho = model.encoder(x)[:, 4:]
    assert torch.allclose(std, torch.log1p(torch.exp(rho - 5.0)))
    by_hand = 0.5 * (mu**2 + std**2 - torch.log(std**2) - 1).sum(1)
    assert torch.allclose(model.rate(x), by_hand)


def test_rate_matches_monte_carlo_kl(f64):
    # KL(q‖p) = E_q[log q − log p] for one example, q from the model
    model = VIBClassifier(3, 2, z_dim=2, hidden=(8,), std_offset=0.0)
    x = torch.randn(1, 3)
    with torch.no_grad():
        mu, std = model.encode(x)
    q = torch.distributions.Normal(mu[0], std[0])
    z = q.sample((300_000,))
    terms = q.log_prob(z).sum(1) - torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    se = float(terms.std()) / math.sqrt(len(z))
    assert abs(float(model.rate(x)[0].detach()) - float(terms.mean())) < 4 * se


def test_vib_loss_is_ce_plus_beta_rate(f64):
    torch.manual_seed(0)
    logits, y = torch.randn(4, 3), torch.tensor([0, 2, 1, 1])
    mu, std = torch.randn(4, 5), torch.rand(4, 5) + 0.1
    loss, ce, rate = vib_loss(logits, y, mu, std, beta=0.3)
    ce_hand = -F.log_softmax(logits, -1)[torch.arange(4), y].mean()
    kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, std), torch.distributions.Normal(0.0, 1.0)
    )
    assert torch.allclose(ce, ce_hand)
    assert torch.allclose(rate, kl.sum(1).mean())
    assert torch.allclose(loss, ce_hand + 0.3 * kl.sum(1).mean())


def test_deterministic_baseline_uses_the_mean():
    model = VIBClassifier(6, 3, z_dim=4, hidden=(8,), stochastic=False)
    x = torch.randn(5, 6)
    logits, mu, _ = model(x)
    assert torch.allclose(logits, model.decoder(mu))
    assert torch.allclose(model.predict_proba(x), F.softmax(logits, -1))


def test_predict_proba_averages_softmax_over_samples():
    model = VIBClassifier(6, 3, z_dim=4, hidden=(8,), std_offset=0.0)
    x = torch.randn(5, 6)
    p = model.predict_proba(x, 7, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    mu, std = model.encode(x)
    manual = (
        sum(
            F.softmax(model.decoder(mu + std * torch.randn(mu.shape, generator=g)), -1)
            for _ in range(7)
        )
        / 7
    )
    assert torch.allclose(p, manual.detach(), atol=1e-6)
    assert torch.allclose(p.sum(1), torch.ones(5))


def test_slerp_and_lerp_midpoint_norms():
    # E‖lerp(½)‖² = ½·d, E‖slerp(π/4)‖² = d for independent N(0, I_d) ends (d = 16)
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(50_000, 16, generator=g), torch.randn(50_000, 16, generator=g)
    m_lerp = lerp(z1, z2, 0.5).pow(2).sum(1).mean()
    m_slerp = slerp_normal(z1, z2, math.pi / 4).pow(2).sum(1).mean()
    assert abs(float(m_lerp) - 8) < 0.15
    assert abs(float(m_slerp) - 16) < 0.3


@given(theta=st.floats(0, math.pi / 2), t=st.floats(0, 1))
def test_interpolation_endpoints_and_variance(theta, t):
    z1, z2 = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 3.0])
    assert torch.allclose(slerp_normal(z1, z2, 0.0), z1)
    assert torch.allclose(slerp_normal(z1, z2, math.pi / 2), z2, atol=1e-6)
    assert torch.allclose(lerp(z1, z2, 0.0), z1) and torch.allclose(lerp(z1, z2, 1.0), z2)
    # variance of a combination of independent standard normals: cos² + sin² = 1
    c = slerp_normal(torch.tensor(1.0), torch.tensor(0.0), theta)
    s = slerp_normal(torch.tensor(0.0), torch.tensor(1.0), theta)
    assert abs(float(c**2 + s**2) - 1) < 1e-6
    lc, ls = lerp(torch.tensor(1.0), torch.tensor(0.0), t), lerp(torch.tensor(0.0), 1.0, t)
    assert abs(float(lc**2 + ls**2) - ((1 - t) ** 2 + t**2)) < 1e-6


def test_ece_by_hand():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    y = np.array([0, 1, 1, 1])
    # 2 bins: [0, .5) empty; [.5, 1]: conf mean (0.9+0.8+0.7+0.6)/4 = 0.75, acc 3/4
    assert abs(expected_calibration_error(probs, y, n_bins=2) - 0.0) < 1e-12
    # 10 bins: each point alone: |1−.9| + |0−.8| + |1−.7| + |1−.6| over 4
    assert (
        abs(expected_calibration_error(probs, y, n_bins=10) - (0.1 + 0.8 + 0.3 + 0.4) / 4) < 1e-9
    )


def test_gradients_reach_every_parameter():
    model = VIBClassifier(6, 3, z_dim=4, hidden=(8,))
    logits, mu, std = model(torch.randn(5, 6))
    vib_loss(logits, torch.tensor([0, 1, 2, 0, 1]), mu, std, beta=1e-2)[0].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
