"""VAE building blocks: analytic KL against Monte Carlo and torch.distributions, ELBO pieces,
the IWAE bound."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from kexue.latent import (
    VAE,
    GaussianEncoder,
    gaussian_kl,
    gaussian_kl_per_dim,
    gaussian_log_prob,
    iwae_bound,
    reconstruction_nll,
)


def test_kl_matches_monte_carlo(f64):
    g = torch.Generator().manual_seed(0)
    mu = torch.tensor([[0.3, -1.2, 2.0]])
    logvar = torch.tensor([[-0.5, 0.7, -2.0]])
    n = 400_000
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n, 3, generator=g)
    # KL = E_q[log q(z) − log p(z)], each density written out by hand
    log_q = (-0.5 * ((z - mu) ** 2 / logvar.exp() + logvar + math.log(2 * math.pi))).sum(1)
    log_p = (-0.5 * (z**2 + math.log(2 * math.pi))).sum(1)
    terms = log_q - log_p
    mc, se = terms.mean(), terms.std() / math.sqrt(n)
    assert abs(float(gaussian_kl(mu, logvar)[0] - mc)) < 4 * float(se)


@given(
    mu=st.lists(st.floats(-3, 3), min_size=1, max_size=5),
    lv=st.lists(st.floats(-4, 4), min_size=5, max_size=5),
)
def test_kl_matches_torch_distributions(mu, lv):
    mu = torch.tensor(mu, dtype=torch.float64)
    logvar = torch.tensor(lv[: len(mu)], dtype=torch.float64)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    ref = torch.distributions.kl_divergence(q, p)
    assert torch.allclose(gaussian_kl_per_dim(mu, logvar), ref, atol=1e-10)
    assert float(gaussian_kl(mu, logvar)) >= 0


def test_kl_zero_at_prior():
    assert float(gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)).abs().max()) == 0.0


def test_gaussian_log_prob_matches_torch(f64):
    z, mu, logvar = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    ref = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    assert torch.allclose(gaussian_log_prob(z, mu, logvar), ref)
    ref0 = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    assert torch.allclose(gaussian_log_prob(z), ref0)


def test_reconstruction_terms_by_hand(f64):
    x = torch.tensor([[1.0, 0.0, 1.0]])
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    p = torch.sigmoid(logits)
    by_hand = -(x * p.log() + (1 - x) * (1 - p).log()).sum(1)
    assert torch.allclose(reconstruction_nll(x, logits, "bernoulli"), by_hand)
    xhat = torch.tensor([[0.5, 0.5, 0.0]])
    assert torch.allclose(reconstruction_nll(x, xhat, "mse"), torch.tensor([0.25 + 0.25 + 1.0]))


def test_loss_terms_are_rec_plus_kl_and_ae_has_no_kl():
    torch.manual_seed(0)
    x = (torch.rand(7, 10) > 0.5).float()
    vae = VAE(10, 3, hidden=(16,))
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    rec, kl = vae.loss_terms(x, generator=g1)
    x_out, mu, logvar, z = vae(x, generator=g2)
    assert torch.allclose(
        rec, F.binary_cross_entropy_with_logits(x_out, x, reduction="none").sum(1)
    )
    assert torch.allclose(kl, gaussian_kl(mu, logvar))
    ae = VAE(10, 3, hidden=(16,), deterministic=True)
    rec, kl = ae.loss_terms(x)
    _, mu, _, z = ae(x)
    assert torch.equal(z, mu) and float(kl.abs().max()) == 0.0


def test_encoder_clamps_logvar():
    enc = GaussianEncoder(4, 2, hidden=(8,), logvar_clamp=1.0)
    with torch.no_grad():
        enc.logvar.bias.fill_(50.0)
    _, logvar = enc(torch.randn(3, 4))
    assert float(logvar.detach().max()) <= 1.0


def test_iwae_bounds_ordered_and_gradients_flow():
    torch.manual_seed(0)
    x = (torch.rand(20, 12) > 0.5).float()
    vae = VAE(12, 2, hidden=(16,))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        elbo = -sum(sum(vae.loss_terms(x, generator=g)) for _ in range(200)) / 200
        k1 = torch.stack([iwae_bound(vae, x, 1, generator=g) for _ in range(50)]).mean(0)
        k64 = torch.stack([iwae_bound(vae, x, 64, generator=g) for _ in range(10)]).mean(0)
    # k = 1 is the ELBO in expectation; the bound tightens with k
    assert float((k1 - elbo).abs().mean()) < 0.3
    assert float((k64 - elbo).mean()) > 0
    (-iwae_bound(vae, x, 4).mean()).backward()
    assert all(p.grad is not None for p in vae.parameters())
