import numpy as np
import pytest

from kexue.runs import Claim, Statement, judge_claims, statements_doc
from kexue.stats import bootstrap_interval, paired_interval, record_interval, seed_interval


def test_bootstrap_interval_covers_the_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = 0
    for i in range(200):
        x = rng.exponential(size=200)
        lo, hi = bootstrap_interval(x, n_resamples=500, seed=i)
        covered += lo <= 1.0 <= hi
    assert 0.88 <= covered / 200 <= 0.99


def test_seed_interval_matches_the_t_formula_and_widens_with_fewer_seeds():
    x = np.array([0.1, 0.3, 0.2, 0.4])
    lo, hi = seed_interval(x)
    assert lo < x.mean() < hi
    assert hi - lo > seed_interval(np.tile(x, 4))[1] - seed_interval(np.tile(x, 4))[0]
    with pytest.raises(ValueError, match="at least 2 seeds"):
        seed_interval([1.0])


def test_paired_interval_sees_a_shift_hidden_by_item_noise():
    rng = np.random.default_rng(1)
    item = rng.normal(0, 5, 300)  # item difficulty shared by both arms
    a, b = item + 0.3 + rng.normal(0, 0.1, 300), item + rng.normal(0, 0.1, 300)
    lo, _ = paired_interval(a, b)
    assert lo > 0.2
    with pytest.raises(ValueError, match="same items"):
        paired_interval(a, b[:-1])


def test_interval_claims_are_judged_on_the_bound_on_the_pass_side():
    metrics: dict[str, float] = {}
    record_interval(metrics, "gain", 0.05, (-0.01, 0.11))
    up = Claim("gain above 0", "gain", ">", 0.0, ("quick",), interval=True)
    down = Claim("gain below 0.1", "gain", "<", 0.1, ("quick",), interval=True)
    point = Claim("gain above 0, point", "gain", ">", 0.0, ("quick",))
    judged = judge_claims([up, down, point], metrics, "quick")
    assert [c["pass"] for c in judged] == [False, False, True]
    assert judged[0]["interval"] == [-0.01, 0.11]
    missing = judge_claims([up], {"gain": 1.0}, "quick")[0]
    assert missing["pass"] is False and missing["interval"] is None
    with pytest.raises(ValueError, match="inequality"):
        Claim("x", "gain", "==", 0.0, interval=True)


def test_statements_need_a_status_and_a_where_and_land_in_the_docstring():
    s = Statement("HSIC is 0.096 on the example", "claim", "article_dependent_rel_err")
    assert "[claim on article_dependent_rel_err]" in statements_doc("Recipe.", [s])
    with pytest.raises(ValueError, match="status"):
        Statement("x", "maybe", "y")
    with pytest.raises(ValueError, match="needs `where`"):
        Statement("x", "claim", "")
