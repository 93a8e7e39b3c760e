"""Sabotage: a flow recipe with the article's method switched off must move its claim toward
failing (the claims can fail, issue 15)."""

from __future__ import annotations

from kexue.cli import execute

# a tiny NICE run: long enough for the couplings to matter, a few seconds on one thread
TINY = ["steps=300", "eval_every=100", "hidden=(64,)", "valid_draws=1", "test_draws=2"]


def _nice_gap(out, *extra: str) -> float:
    result = execute("nice", budget="smoke", out=out, threads=1, sets=[*TINY, *extra])
    return result["metrics"]["gap_to_gaussian_bpd"]


def test_nice_without_its_couplings_loses_to_the_gaussian(tmp_path):
    """With every additive coupling replaced by the identity, NICE is an independent model of
    the pixels (scaling layer + logistic prior): its test bits/dim must rise well above the
    coupled model's, past the full-covariance Gaussian the claim compares with."""
    coupled = _nice_gap(tmp_path / "coupled")
    identity = _nice_gap(tmp_path / "identity", "method=identity")
    assert identity > coupled + 0.2, (coupled, identity)
    assert identity > 0.0  # the claim `gap_to_gaussian_bpd < 0` fails for the sabotaged run
