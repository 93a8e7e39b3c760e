"""Sabotage: switching the article's method off must move its claim toward failing.

vi-unified (kexue.fm/archives/5716): with `method=none` the VI regulariser λ‖G(z) − G°(z)‖² is
off in every arm, so the largest-λ arm is the baseline and the claimed drop of the generator's
step E‖G(z) − G°(z)‖² per round vanishes: the paired difference moves from below 0 to exactly
0 and the claim's verdict is a fail.
"""

from __future__ import annotations

from kexue.cli import execute
from kexue.recipes.vi_unified import CLAIMS
from kexue.runs import judge_claims

TINY = ["seeds=3", "steps=30", "hidden=16", "eval_every=30", "n_eval=200"]


def _step_claim(metrics: dict[str, float]) -> dict:
    (verdict,) = [
        c
        for c in judge_claims(CLAIMS, metrics, "quick")
        if c["metric"] == "mean_step_reg_minus_none"
    ]
    return verdict


def test_vi_regulariser_switched_off_loses_its_step_size_claim(tmp_path):
    on = execute("vi-unified", budget="smoke", out=tmp_path / "on", threads=1, sets=TINY)
    off = execute(
        "vi-unified", budget="smoke", out=tmp_path / "off", threads=1, sets=[*TINY, "method=none"]
    )
    m_on, m_off = on["metrics"], off["metrics"]
    assert m_on["mean_step_reg_minus_none"] < 0  # the regularised arm steps less
    assert m_off["mean_step_reg_minus_none"] == 0.0  # the arms are identical without it
    assert m_off["mean_step_reg_minus_none_hi"] == 0.0 and not _step_claim(m_off)["pass"]
