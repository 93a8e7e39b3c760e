"""Evaluation kit: certified bound ≤ W1 always (property), exact for the optimal critic;
noise floor; swiss-roll distance; Fréchet distance pins; the label statistics of generated
digits and folder images by hand; the folder classifier learns the synthetic shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from kexue.data import mode_centres, shapes_array, toy2d
from kexue.gan import (
    ImageClassifier,
    certified_lower_bound,
    digit_label_stats,
    evaluate_toy_generator,
    fit_image_classifier,
    frechet_distance,
    image_label_stats,
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


class _Lookup(nn.Module):
    """A stand-in classifier: logit `x[:, 1]` (flattened) on class `x[:, 0]`, 0 on the others."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.unused = nn.Parameter(torch.zeros(()))  # where `image_label_stats` finds the device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        logits = torch.zeros(len(x), self.k)
        logits[torch.arange(len(x)), flat[:, 0].long()] = flat[:, 1]
        return logits


def _items(counts: list[tuple[int, int, float]], shape: tuple[int, ...]) -> torch.Tensor:
    """Images whose first two values are (class, logit): `n` items per (class, n, logit)."""
    rows = [torch.tensor([c, logit]) for c, n, logit in counts for _ in range(n)]
    x = torch.zeros(len(rows), int(np.prod(shape)))
    x[:, :2] = torch.stack(rows)
    return x.reshape(len(rows), *shape)


def test_image_label_stats_by_hand() -> None:
    # K = 4, n = 100; logit 10 → softmax 0.9999 (confident), logit 1 → e/(e + 3) = 0.48 (not).
    x = _items([(0, 60, 10.0), (1, 2, 10.0), (1, 28, 1.0), (2, 8, 10.0), (3, 2, 1.0)], (1, 2, 2))
    stats = image_label_stats(_Lookup(4), x, 4)
    hist = np.array([0.6, 0.3, 0.08, 0.02])
    # class coverage: ≥ 1/(2K) = 12.5% of the labels → classes 0 and 1
    assert stats["class_coverage"] == 2.0
    # covered by confident samples: ≥ n/(10K) = 2.5 confident samples → classes 0 (60) and 2 (8),
    # not 1 (2 confident of its 30) nor 3 (none)
    assert stats["confident_classes"] == 2.0 and stats["coverage_confident"] == 0.5
    assert stats["confident"] == pytest.approx(0.70)
    assert stats["label_kl"] == pytest.approx(float((hist * np.log(4 * hist)).sum()))
    with pytest.raises(ValueError, match="4 classes, not 5"):
        image_label_stats(_Lookup(4), x, 5)


def test_digit_label_stats_keep_the_digits_definitions() -> None:
    # ten classes: 5% of the labels (5 of 100) counts for class coverage, 4% does not
    counts = [(c, 10, 10.0) for c in range(8)] + [(8, 15, 10.0), (9, 5, 10.0)]
    stats = digit_label_stats(_Lookup(10), _items(counts, (64,)))
    assert stats["class_coverage"] == 10.0 and stats["confident"] == 1.0
    counts = [(c, 10, 10.0) for c in range(8)] + [(8, 16, 10.0), (9, 4, 1.0)]
    stats = digit_label_stats(_Lookup(10), _items(counts, (64,)))
    assert stats["class_coverage"] == 9.0 and stats["confident"] == pytest.approx(0.96)
    assert stats["coverage_confident"] == pytest.approx(0.9)  # class 9's 4 are not confident


def test_image_classifier_learns_the_shapes_and_is_confident_on_them() -> None:
    torch.manual_seed(0)
    kinds = {"shapes": ("circle", "triangle"), "colours": ("red", "blue")}

    def unit(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).permute(0, 3, 1, 2).float() / 127.5 - 1

    x, y = shapes_array(256, 16, seed=0, **kinds)
    clf = fit_image_classifier(unit(x), y, epochs=12, seed=0, batch_size=16)
    assert isinstance(clf, ImageClassifier) and not clf.training
    x_test, y_test = shapes_array(100, 16, seed=1, **kinds)
    with torch.no_grad():
        assert (clf(unit(x_test)).argmax(1).numpy() == y_test).mean() >= 0.9
        assert clf.features(unit(x_test)).shape == (100, 128)
    stats = image_label_stats(clf, unit(x_test))
    assert stats["coverage_confident"] == 1.0 and stats["class_coverage"] == 4.0
    with pytest.raises(ValueError, match="labels must lie"):
        fit_image_classifier(unit(x[:4]), np.array([0, 1, 2, 7]), n_classes=4)
