"""Evaluation kit: certified bound ≤ W1 always (property), exact for the optimal critic;
noise floor; swiss-roll distance; Fréchet distance pins."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kexue.data import mode_centres, toy2d
from kexue.gan import (
    certified_lower_bound,
    evaluate_toy_generator,
    frechet_distance,
    swiss_roll_distance,
    swiss_roll_hq_fraction,
    toy_scores,
    w1_noise_floor,
)
from kexue.stats import w1_exact


@given(st.integers(0, 10_000), st.integers(5, 30))
def test_certified_bound_never_exceeds_w1(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, 2)), rng.standard_normal((n, 2)) + rng.uniform(-1, 1, 2)
    w = rng.standard_normal((2, 8))
    critic = lambda a: np.tanh(a @ w).sum(1) ** 3  # noqa: E731 - any function
    cert = certified_lower_bound(critic(x), critic(y), x, y)
    assert cert["certified_lb"] <= w1_exact(x, y) + 1e-9


def test_linear_optimal_critic_is_tight() -> None:
    x = toy2d("eight_gaussians", 300, seed=0).astype(np.float64)
    t = np.array([0.5, 0.0])
    y = x + t  # W1 = ‖t‖ and f(x) = −⟨x, t⟩/‖t‖ is optimal
    f = lambda a: -(a @ t) / np.linalg.norm(t)  # noqa: E731
    cert = certified_lower_bound(f(x), f(y), x, y)
    assert cert["L_hat"] == pytest.approx(1.0, abs=1e-9)
    assert cert["certified_lb"] == pytest.approx(0.5, abs=1e-9)
    assert w1_exact(x, y) == pytest.approx(0.5, abs=1e-6)


def test_noise_floor_positive_and_shrinks() -> None:
    a = w1_noise_floor("eight_gaussians", 200, seed=0, n_draws=3)
    b = w1_noise_floor("eight_gaussians", 1000, seed=0, n_draws=3)
    assert 0 < b < a


def test_swiss_roll_distance() -> None:
    x = toy2d("swiss_roll", 500, seed=0)
    assert swiss_roll_hq_fraction(x) > 0.9
    t = 3 * np.pi
    on = np.array([[t * np.cos(t), t * np.sin(t)]]) / 7.5
    assert swiss_roll_distance(on)[0] < 1e-3
    assert swiss_roll_distance(np.zeros((1, 2)))[0] > 0.5  # the roll starts at radius 1.5π/7.5


def test_frechet_distance_gaussian_closed_form() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20000, 3))
    b = rng.standard_normal((20000, 3)) * 2 + 1
    # ‖μ₁ − μ₂‖² = 3, tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}) = 3·(1 + 4 − 4) = 3
    assert frechet_distance(a, b) == pytest.approx(6.0, rel=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert torch  # keep


def test_toy_scores_of_a_perfect_and_a_collapsed_generator() -> None:
    centres = mode_centres("eight_gaussians")  # (8, 2)
    even = np.repeat(centres, 5, axis=0)  # 5 points on each centre: every mode, balanced
    scores = toy_scores(even, "eight_gaussians", ref=even[::-1].copy())
    assert scores == {"modes": 8, "hq": 1.0, "mode_kl": 0.0, "w1": 0.0}
    one = np.repeat(centres[:1], 40, axis=0)  # all on one centre: KL(one-hot ‖ uniform) = log 8
    scores = toy_scores(one + 0.07, "eight_gaussians")  # 0.07·√2 ≈ 0.099 > 3σ = 0.06: not HQ
    assert scores == {"modes": 0, "hq": 0.0, "mode_kl": float("inf")}
    scores = toy_scores(one + 0.04, "eight_gaussians")  # 0.04·√2 ≈ 0.057 ≤ 0.06: HQ
    assert scores["modes"] == 1 and scores["hq"] == 1.0
    assert scores["mode_kl"] == pytest.approx(np.log(8))


def test_toy_scores_of_non_finite_samples() -> None:
    x = toy2d("eight_gaussians", 16, seed=0)
    x[3, 1] = np.nan
    scores = toy_scores(x, "eight_gaussians", ref=toy2d("eight_gaussians", 16, seed=1))
    assert scores["modes"] == 0 and scores["hq"] == 0.0 and scores["mode_kl"] == float("inf")
    assert np.isnan(scores["w1"])
    with pytest.raises(ValueError, match="no modes"):
        toy_scores(x, "swiss_roll")


def test_evaluate_toy_generator_draws_fixed_codes_and_scores_them() -> None:
    ref = toy2d("twentyfive_gaussians", 300, seed=5)
    x, scores = evaluate_toy_generator(lambda z: z, "twentyfive_gaussians", n=300, ref=ref, seed=3)
    want = torch.randn(300, 2, generator=torch.Generator().manual_seed(3)).numpy()
    assert np.array_equal(x, want)  # G = identity: the samples are the codes themselves
    assert scores == toy_scores(want, "twentyfive_gaussians", ref=ref)
    assert scores["w1"] == w1_exact(want, ref)
    shift = torch.tensor([[0.5, 0.0]])
    x3, _ = evaluate_toy_generator(lambda z: z[:, :2] + shift, "eight_gaussians", n=10, z_dim=3)
    want3 = torch.randn(10, 3, generator=torch.Generator().manual_seed(99))[:, :2] + shift
    assert np.array_equal(x3, want3.numpy())  # default seed 99, z of dimension z_dim
