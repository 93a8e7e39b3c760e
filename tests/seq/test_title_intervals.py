"""The interval of a score difference over titles and seeds must clear both noises."""

from __future__ import annotations

import numpy as np

from kexue.stats import paired_interval, seeded_paired_interval


def test_one_seed_is_the_paired_bootstrap_over_items():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.3, 0.1, 200), rng.normal(0.1, 0.1, 200)
    assert seeded_paired_interval(a, b) == paired_interval(a, b)
    assert seeded_paired_interval(a[:1], b[:1]) is None  # one item, one seed: no interval


def test_seeds_that_disagree_widen_the_interval_past_zero():
    # every title gains on average, but one of three seeds loses: the bootstrap over titles
    # alone passes "> 0"; the union with the seed t-interval must not
    rng = np.random.default_rng(1)
    shift = np.array([0.2, 0.25, -0.1])[:, None]
    a = rng.normal(0.0, 0.05, (3, 200)) + shift
    assert paired_interval(a.mean(0), np.zeros(200))[0] > 0
    lo, hi = seeded_paired_interval(a, 0.0)
    assert lo < 0 < hi


def test_seeds_that_agree_keep_the_interval_above_zero():
    rng = np.random.default_rng(2)
    a = rng.normal(0.0, 0.05, (3, 200)) + np.array([0.2, 0.21, 0.19])[:, None]
    lo, _ = seeded_paired_interval(a, np.zeros((3, 200)))
    assert lo > 0.1
