"""Gumbel-Max exactness, Gumbel-Softmax limits and density, estimator bias and variance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats as sps

from kexue.latent import (
    TauSchedule,
    categorical_grad_samples,
    exact_categorical_grad,
    gumbel_max,
    gumbel_noise,
    gumbel_softmax,
    normal_rsample,
)


def _toy(k: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    return (
        torch.tensor(rng.normal(size=k), dtype=torch.float64),
        torch.tensor(rng.normal(size=k), dtype=torch.float64),
    )


def test_gumbel_max_samples_the_softmax_exactly():
    logits, _ = _toy()
    p = F.softmax(logits, -1).numpy()
    n = 200_000
    y = gumbel_max(logits.expand(n, -1), generator=torch.Generator().manual_seed(0)).numpy()
    freq = np.bincount(y, minlength=10) / n
    assert np.all(np.abs(freq - p) < 4 * np.sqrt(p * (1 - p) / n))
    assert sps.chisquare(freq * n, p * n).pvalue > 1e-3


def test_gumbel_noise_has_gumbel_moments_and_the_authors_variant_too():
    g = gumbel_noise((200_000,), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.isfinite(g).all()
    assert float(g.mean()) == pytest.approx(np.euler_gamma, abs=0.01)  # mean of Gumbel(0, 1)
    assert float(g.var()) == pytest.approx(np.pi**2 / 6, abs=0.03)
    g2 = gumbel_noise((200_000,), eps=1e-7, generator=torch.Generator().manual_seed(1))
    assert float(g2.mean()) == pytest.approx(np.euler_gamma, abs=0.01)


def test_gumbel_softmax_limits():
    logits, _ = _toy()
    gen = torch.Generator().manual_seed(2)
    # One-hot needs the top two perturbed logits to differ by more than τ·ln 99.
    cold = gumbel_softmax(logits.expand(20_000, -1), 1e-3, generator=gen)
    assert (cold.max(-1).values > 0.99).float().mean() > 0.99
    p = F.softmax(logits, -1)
    assert torch.allclose(cold.mean(0), p, atol=0.015)
    hot = gumbel_softmax(logits.expand(1000, -1), 1e4, generator=gen)
    assert torch.allclose(hot, torch.full_like(hot, 0.1), atol=1e-3)


def test_relaxed_density_matches_torch_distributions():
    # Same points scored by torch's RelaxedOneHotCategorical: samples must be in its support
    # with a finite density; and ours, sampled with torch's noise, equal torch's rsample.
    logits, _ = _toy(5)
    tau = 0.7
    dist = torch.distributions.RelaxedOneHotCategorical(torch.tensor(tau), logits=logits)
    torch.manual_seed(3)
    theirs = dist.rsample((4,))
    torch.manual_seed(3)
    uniforms = torch.rand((4, 5), dtype=logits.dtype)  # what torch's rsample draws
    u = uniforms.clamp(torch.finfo(logits.dtype).tiny, 1 - torch.finfo(logits.dtype).eps)
    ours = gumbel_softmax(logits, tau, noise=-(-u.log()).log())
    lp_torch = dist.log_prob(theirs)
    assert torch.isfinite(lp_torch).all()
    assert torch.allclose(ours, theirs, atol=1e-10)


def test_straight_through_is_hard_forward_soft_backward():
    logits = torch.tensor([0.3, -1.0, 2.0], requires_grad=True)
    noise = torch.tensor([0.1, 0.5, -0.2])
    y = gumbel_softmax(logits, 0.5, hard=True, noise=noise)
    assert torch.equal(y.detach(), torch.tensor([0.0, 0.0, 1.0]))
    r = torch.tensor([1.0, -2.0, 0.5])
    ((y @ r - 0.3) ** 2).backward()  # nonlinear f separates ST from soft gradients
    st_grad = logits.grad.clone()
    logits.grad = None
    soft = gumbel_softmax(logits, 0.5, noise=noise)
    ((soft @ r - 0.3) ** 2).backward()
    assert not torch.allclose(st_grad, logits.grad)
    logits.grad = None
    y2 = gumbel_softmax(logits, 0.5, noise=noise)
    s = F.softmax((logits + noise) / 0.5, -1)
    # chain rule by hand: d/do of (s·r − c)² through the hard forward value
    jac = (torch.diag(s) - s[:, None] * s[None, :]) / 0.5
    expected = 2 * (y.detach() @ r - 0.3) * (jac @ r)
    assert torch.allclose(st_grad, expected.detach(), atol=1e-6)
    assert torch.allclose(y2, s)


def test_exact_gradient_against_autograd():
    logits, rewards = _toy()
    o = logits.clone().requires_grad_(True)
    (F.softmax(o, -1) @ rewards).backward()
    assert torch.allclose(exact_categorical_grad(logits, rewards), o.grad)


@pytest.mark.parametrize("method", ["sf", "sf_baseline", "sf_loo"])
def test_score_function_estimators_are_unbiased(method):
    logits, rewards = _toy()
    est = categorical_grad_samples(
        logits, rewards, method, 40_000, generator=torch.Generator().manual_seed(4)
    )
    se = est.std(0) / np.sqrt(len(est))
    assert torch.all(
        (est.mean(0) - exact_categorical_grad(logits, rewards)).abs() < 4 * se + 1e-12
    )


def test_gumbel_softmax_bias_grows_and_variance_falls_with_tau():
    logits, rewards = _toy()
    exact = exact_categorical_grad(logits, rewards)
    bias, var = [], []
    for tau in (0.1, 0.5, 1.0, 2.0):
        est = categorical_grad_samples(
            logits, rewards, "gumbel_softmax", 20_000, tau=tau,
            generator=torch.Generator().manual_seed(5),
        )  # fmt: skip
        bias.append(float((est.mean(0) - exact).norm()))
        var.append(float(est.var(0).sum()))
    assert bias == sorted(bias) and var == sorted(var, reverse=True)
    sf = categorical_grad_samples(
        logits, rewards, "sf", 20_000, generator=torch.Generator().manual_seed(6)
    )
    # The article's "usually": at τ = 0.1 the reparameterised estimator is noisier than REINFORCE.
    assert var[0] > float(sf.var(0).sum())


def test_gaussian_reparameterisation_beats_score_function_variance():
    # L = E(z − 2)², z ~ N(μ, 1), μ = 0.5: ∂L/∂μ = 2(μ − 2) = −3.
    n, mu = 200_000, torch.tensor(0.5, dtype=torch.float64)
    gen = torch.Generator().manual_seed(7)
    m = mu.expand(n).clone().requires_grad_(True)
    z = normal_rsample(m, torch.zeros(n, dtype=torch.float64), generator=gen)
    ((z - 2) ** 2).sum().backward()
    reparam = m.grad
    z = z.detach()
    f = (z - 2) ** 2
    sf = f * (z - mu)  # ∇_μ log N(z; μ, 1) = z − μ
    sf_b = (f - f.mean()) * (z - mu)
    assert float(reparam.mean()) == pytest.approx(-3.0, abs=0.02)
    assert float(reparam.var()) == pytest.approx(4.0, rel=0.02)  # analytic 4σ²
    assert reparam.var() < sf_b.var() < sf.var()


def test_tau_schedules():
    s = TauSchedule()
    assert s(0) == pytest.approx(1.0) and s(10_000) == pytest.approx(0.01, abs=1e-4)
    assert s(1) == pytest.approx(0.01 + 0.99 * 0.999)
    j = TauSchedule(kind="jang", tau_min=0.5)
    assert j(999) == 1.0 and j(1000) == pytest.approx(np.exp(-1e-2))
    with pytest.raises(ValueError, match="valid: exp_per_step, jang"):
        TauSchedule(kind="linear")(0)
    with pytest.raises(ValueError, match="tau must be > 0"):
        gumbel_softmax(torch.zeros(3), 0.0)
