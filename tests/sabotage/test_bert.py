"""Sabotage: switch the article's method off and the claim's metric must move toward failing.

conditional-ln: with `condition=zero` the Conditional LayerNorm sees a zero vector instead of
the label embedding, so the true and the flipped label give the same likelihood and the claim
"the true label lowers the held-out NLL" (cln_delta_nll > 0) loses its margin.
"""

from __future__ import annotations

from kexue.cli import execute

TINY = ["steps=20", "n_train=300", "n_eval=40", "n_samples=4", "maxlen=16"]


def test_conditional_ln_without_its_condition_loses_the_label_effect(tmp_path):
    normal = execute(
        "conditional-ln", budget="smoke", out=tmp_path / "normal", threads=1, sets=TINY
    )["metrics"]
    sabotaged = execute(
        "conditional-ln", budget="smoke", out=tmp_path / "zero", threads=1,
        sets=[*TINY, "condition=zero"],
    )["metrics"]  # fmt: skip
    assert normal["cln_delta_nll"] > 0
    assert abs(sabotaged["cln_delta_nll"]) < 1e-6  # the label no longer reaches the model
    assert sabotaged["cln_delta_nll_lo"] < normal["cln_delta_nll_lo"]
