"""f-GAN table: conjugates vs a numerical sup, Fenchel–Young, fused = naive, ranges, tightness."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from kexue.gan import (
    DIVERGENCES,
    divergence,
    f_d_loss,
    f_divergence_exact,
    f_estimate,
    f_g_loss,
    sgan_d_loss,
    sgan_g_loss,
)

NAMES = [d.name for d in DIVERGENCES]
U = torch.logspace(-6, 6, 200_001, dtype=torch.float64)  # dense grid of ratios u > 0


def _t_points(name: str) -> torch.Tensor:
    lo, hi = divergence(name).t_range
    lo, hi = max(lo, -4.0), min(hi, 3.0)
    return torch.linspace(lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo), 9, dtype=torch.float64)


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_is_numerical_sup(name: str) -> None:
    d = divergence(name)
    fu = d.f(U)
    for t in _t_points(name):
        sup = float((t * U - fu).max())
        if name == "pearson" and t < -2:  # f restricted to u ≥ 0 has f* = −1 there
            continue
        assert float(d.f_star(t)) == pytest.approx(sup, abs=2e-3 * (1 + abs(sup))), float(t)


@pytest.mark.parametrize("name", NAMES)
def test_fenchel_young_and_equality_at_fprime(name: str) -> None:
    d = divergence(name)
    u = torch.tensor([0.2, 0.5, 0.9, 1.3, 2.0, 5.0], dtype=torch.float64)
    for t in _t_points(name):
        assert (d.f(u) + d.f_star(t) - t * u >= -1e-9).all()
    u = u[u != 1] if name == "total_variation" else u  # f′ is a subgradient at u = 1
    t_star = d.f_prime(u)
    assert torch.allclose(d.f(u) + d.f_star(t_star), t_star * u, atol=1e-8)
    f1 = -math.log(4) if name == "gan" else 0.0  # the GAN row is 2·JS − log 4
    assert float(d.f(torch.tensor(1.0, dtype=torch.float64))) == pytest.approx(f1, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_fused_equals_naive_and_activation_in_range(name: str) -> None:
    d = divergence(name)
    v = torch.linspace(-8, 8, 161, dtype=torch.float64)
    t = d.activation(v)
    lo, hi = d.t_range
    assert (t > lo - 1e-12).all() and (t < hi + 1e-12).all() if math.isfinite(hi) else True
    naive = d.f_star(t)
    ok = torch.isfinite(naive)
    assert torch.allclose(d.fused(v)[ok], naive[ok], rtol=1e-7, atol=1e-7)
    wide = torch.linspace(-50, 50, 101, dtype=torch.float64)
    if name not in ("kl", "neyman", "squared_hellinger"):  # exp overflow at the extremes by design
        assert torch.isfinite(d.fused(wide)).all()


def test_fused_gan_is_exact_where_naive_loses_digits() -> None:
    v = torch.tensor([30.0], dtype=torch.float64)
    assert float(divergence("gan").fused(v)) == pytest.approx(30.0, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_discrete_tightness(name: str) -> None:
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
    exact = f_divergence_exact(p, q, name)
    d = divergence(name)
    pt, qt = torch.tensor(p), torch.tensor(q)
    t_star = d.f_prime(pt / qt)
    bound = float((pt * t_star).sum() - (qt * d.f_star(t_star)).sum())
    assert bound == pytest.approx(exact, rel=1e-8, abs=1e-10)
    for _k in range(5):  # any perturbed T gives less (T* is the pointwise maximiser)
        t = t_star + 0.05 * torch.tensor(rng.standard_normal(6))
        lo, hi = d.t_range
        t = t.clamp(lo + 1e-6, hi - 1e-6) if math.isfinite(hi) else t
        assert float((pt * t).sum() - (qt * d.f_star(t)).sum()) <= exact + 1e-9


def test_exact_divergences_closed_forms() -> None:
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    assert f_divergence_exact(p, q, "kl") == pytest.approx((p * np.log(p / q)).sum())
    assert f_divergence_exact(p, q, "total_variation") == pytest.approx(0.4)
    assert f_divergence_exact(p, q, "pearson") == pytest.approx(((p - q) ** 2 / q).sum())
    assert f_divergence_exact(p, q, "neyman") == pytest.approx(((q - p) ** 2 / p).sum())
    m = (p + q) / 2
    js = 0.5 * (p * np.log(p / m)).sum() + 0.5 * (q * np.log(q / m)).sum()
    assert f_divergence_exact(p, q, "js") == pytest.approx(js)
    assert f_divergence_exact(p, q, "js2") == pytest.approx(2 * js)
    assert f_divergence_exact(p, q, "gan") == pytest.approx(2 * js - math.log(4))


def test_gan_row_is_bce() -> None:
    vr, vf = torch.randn(7, dtype=torch.float64), torch.randn(7, dtype=torch.float64)
    assert float(f_d_loss("gan", vr, vf)) == pytest.approx(float(sgan_d_loss(vr, vf)), abs=1e-12)
    assert float(f_g_loss("gan", vf)) == pytest.approx(float(sgan_g_loss(vf)), abs=1e-12)
    sad = f_g_loss("gan", vf, mode="saddle")
    assert float(sad) == pytest.approx(float(sgan_g_loss(vf, mode="minimax")), abs=1e-12)
    assert float(f_estimate("gan", vr, vf)) == pytest.approx(-float(sgan_d_loss(vr, vf)))


def test_js_row_is_half_the_standard_gan_up_to_constants() -> None:
    # the f-gan image recipe's default (img_loss f-js): its critic and "alt" generator losses
    # are ½ × the standard (non-saturating) GAN's minus log 2 and ½ log 2
    vr, vf = torch.randn(7, dtype=torch.float64), torch.randn(7, dtype=torch.float64)
    want_d = 0.5 * float(sgan_d_loss(vr, vf)) - math.log(2)
    assert float(f_d_loss("js", vr, vf)) == pytest.approx(want_d, abs=1e-12)
    want_g = 0.5 * float(sgan_g_loss(vf)) - 0.5 * math.log(2)
    assert float(f_g_loss("js", vf)) == pytest.approx(want_g, abs=1e-12)


@given(st.floats(-29, 31))
def test_jeffrey_conjugate_matches_scipy_lambertw(t: float) -> None:
    # f*(t) = w + 1/w + t − 2 with w = W(e^{1−t}); the Newton-solved W must match scipy's.
    w = float(scipy.special.lambertw(math.exp(1 - t)).real)
    want = w + 1 / w + t - 2
    got = float(divergence("jeffrey").f_star(torch.tensor(t, dtype=torch.float64)))
    assert got == pytest.approx(want, rel=1e-10)


def test_jeffrey_conjugate_gradcheck(f64: torch.dtype) -> None:
    # The custom autograd Function behind W(e^L), through f* and the fused activation.
    d = divergence("jeffrey")
    t = torch.tensor([4.0, 0.5, -39.0, 3.3, 1.0, -0.1, -2.9], requires_grad=True)
    assert torch.autograd.gradcheck(d.f_star, (t,))
    assert torch.autograd.gradcheck(d.fused, (t,))


def test_unknown_name_raises() -> None:
    with pytest.raises(ValueError):
        divergence("chi")
    assert F.softplus  # keep the import used


def test_js_and_hellinger_are_symmetric_and_bounded() -> None:
    """The article's remark: JS and (squared) Hellinger are symmetric and bounded, KL is not."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, q = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
        for name, bound in (("js", math.log(2)), ("squared_hellinger", 2.0)):
            d_pq, d_qp = f_divergence_exact(p, q, name), f_divergence_exact(q, p, name)
            assert d_pq == pytest.approx(d_qp, rel=1e-9)
            assert 0 <= d_pq <= bound
    p, q = np.array([1 - 1e-12, 1e-12]), np.array([1e-12, 1 - 1e-12])  # near-disjoint
    assert f_divergence_exact(p, q, "js") == pytest.approx(math.log(2), rel=1e-6)
    assert f_divergence_exact(p, q, "squared_hellinger") == pytest.approx(2.0, rel=1e-5)
    assert f_divergence_exact(p, q, "kl") > 20  # unbounded
