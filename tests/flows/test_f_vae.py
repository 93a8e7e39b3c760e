"""f-VAE identities of spec §4.4: the two special cases and the equivalence of the article's loss
with the flow-prior VAE reading; IWAE tightens the bound."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Normal

from kexue.cli import execute
from kexue.flows import (
    FVAE,
    Flatten,
    Flow,
    Glow,
    RealNVP,
    Sequential,
    StandardNormal,
    conditional_flow_loss,
    decoder,
    encoder,
)


def _std_normal_logpdf(v: torch.Tensor) -> torch.Tensor:
    return Normal(0.0, 1.0).log_prob(v).flatten(1).sum(1)


def test_special_case_1_affine_posterior_is_the_gaussian_kl_vae(f64):
    # F_x(u) = σ(x) ⊙ u + μ(x): the MC average of log q(u) − log q(F_x(u)) − log|det|
    # is KL(N(μ, σ²) ‖ N(0, I))
    torch.manual_seed(0)
    mu, sigma = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.3, 1.5, 0.8])
    u = torch.randn(100_000, 3)
    z = sigma * u + mu
    loss = conditional_flow_loss(
        _std_normal_logpdf(u),
        torch.zeros(len(u)),
        _std_normal_logpdf(z),
        torch.log(sigma).sum().expand(len(u)),
    )
    kl = 0.5 * (mu**2 + sigma**2 - 1 - 2 * torch.log(sigma)).sum()
    assert abs(loss.mean() - kl) <= 3 * loss.std() / math.sqrt(len(loss))


def test_special_case_2_noisy_flow_trains_the_flow_nll_on_noisy_inputs(f64):
    # E = identity, G(h) = h (i.e. G∘F⁻¹ = F⁻¹ of z = F(h)), σ₁ = σ₂ = σ fixed
    torch.manual_seed(0)
    flow = RealNVP(3, n_couplings=2, hidden=(8,))
    flow(torch.randn(64, 3))
    for p in flow.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    sigma = 0.2
    model = FVAE(nn.Identity(), nn.Identity(), flow, sigma1=sigma, sigma2=sigma)
    x, u = torch.randn(16, 3), torch.randn(16, 3)
    neg = model.neg_elbo(x, u)
    flow_nll = -flow.log_prob(x + sigma * u)
    # −log q(x|z) = ½‖u‖² + D log σ + D/2 log 2π cancels log q(u) and the D log σ of the log-det:
    # what is left is exactly the flow's NLL at the noisy input
    recon = 0.5 * u.pow(2).sum(1) + 3 * math.log(sigma) + 1.5 * math.log(2 * math.pi)
    log_q_u = _std_normal_logpdf(u)
    article = conditional_flow_loss(
        log_q_u, -recon, flow.log_prob(x + sigma * u) - 0.0, 3 * math.log(sigma)
    )
    assert torch.allclose(neg, flow_nll) and torch.allclose(article, flow_nll)
    g1 = torch.autograd.grad(neg.sum(), list(flow.parameters()))
    g2 = torch.autograd.grad(flow_nll.sum(), list(flow.parameters()))
    assert all(torch.allclose(a, b) for a, b in zip(g1, g2, strict=True))


def _fvae() -> FVAE:
    torch.manual_seed(0)
    prior = Glow((4, 4, 4), levels=2, depth=1, width=8, squeeze_first=False)
    model = FVAE(encoder(1, 1, 8), decoder(1, 1, 8), prior, sigma1=0.7, sigma2=0.3)
    model.neg_elbo(torch.randn(32, 1, 8, 8))  # ActNorm DDI of the prior
    for p in model.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    return model.eval()


def test_article_loss_equals_flow_prior_vae_elbo(f64):
    model = _fvae()
    x, u = torch.randn(6, 1, 8, 8), torch.randn(6, 4, 4, 4)
    s1, s2 = model.log_sigma1.exp(), model.log_sigma2.exp()
    h = s1 * u + model.encoder(x)
    z, ld_f = model.prior(h)  # z = F_x(u) = F(σ₁u + E(x))
    x_mean = model.decoder(model.prior.inverse(z)[0])  # G(F⁻¹(z)), through the inverse
    log_lik = Normal(x_mean, s2).log_prob(x).flatten(1).sum(1)
    logdet = 64 * torch.log(s1) + ld_f  # log|det ∂F_x(u)/∂u|
    article = conditional_flow_loss(_std_normal_logpdf(u), log_lik, _std_normal_logpdf(z), logdet)
    assert torch.allclose(article, model.neg_elbo(x, u), atol=1e-6)


def test_iwae_is_tighter_than_the_elbo(f64):
    model = _fvae()
    x = torch.randn(4, 1, 8, 8) * 0.3
    torch.manual_seed(1)
    elbo = torch.stack([model.neg_elbo(x) for _ in range(64)]).mean(0)
    iwae = model.iwae_nll(x, 64)
    assert (iwae <= elbo).all()


def test_plain_vae_prior_is_standard_normal(f64):
    prior = Flow(Sequential(Flatten((4, 4, 4))), StandardNormal((64,)))
    h = torch.randn(3, 4, 4, 4)
    assert torch.allclose(prior.log_prob(h), _std_normal_logpdf(h))
    assert prior.sample(2).shape == (2, 4, 4, 4)


def test_fvae_trains_without_nan(digit_splits, digit_batch):
    torch.manual_seed(0)
    data = digit_splits
    g = torch.Generator().manual_seed(0)
    prior = Glow((4, 4, 4), levels=2, depth=1, width=16, squeeze_first=False)
    model = FVAE(encoder(1, 2, 16), decoder(1, 2, 16), prior)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = None
    for _ in range(200):
        loss = model.neg_elbo(digit_batch(data["train"], 64, g)).mean()
        assert torch.isfinite(loss)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first


def test_recipe_compares_arms_of_the_fvae_parameter_count(tmp_path):
    """The f-vae recipe's Glow and plain VAE are sized to the f-VAE's parameter count (the
    article's "same complexity"), within 5%, whatever the budget's widths."""
    metrics = execute("f-vae", budget="smoke", out=tmp_path, threads=1)["metrics"]
    for arm in ("vae", "glow"):
        assert abs(metrics[f"{arm}_params"] / metrics["fvae_params"] - 1) < 0.05, arm


def test_image_encoder_and_decoder_squeeze_and_start_as_inverses(f64):
    """E with two squeezes maps (3, 16, 16) to (48, 4, 4) codes, G mirrors it; the residual
    steps start at zero (zero-initialised last convolutions), so G(E(x)) = x at init; width 0
    is the author's: each step as wide as its channels."""
    enc, dec = encoder(3, steps=2, width=0, squeezes=2), decoder(3, steps=2, width=0, squeezes=2)
    x = torch.randn(2, 3, 16, 16)
    h = enc(x)
    assert h.shape == (2, 48, 4, 4)
    assert torch.allclose(dec(h), x)
    widths = [m.out_channels for m in enc.modules() if isinstance(m, nn.Conv2d)][::2]
    assert widths == [12, 12, 48, 48]
    # the digits recipe's one-squeeze layout is unchanged
    assert encoder(1, 4, 64)(torch.randn(1, 1, 8, 8)).shape == (1, 4, 4, 4)
