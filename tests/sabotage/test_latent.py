"""Sabotage: infomax without its mutual-information terms must lose what the article claims.

`mi=False` keeps the article's loss but drops α and β (the prior alone), so nothing ties μ to
the image: μ collapses onto the prior's mean (the claim "std μ ≥ 0.7" flips to failing) and the
linear probe on μ loses its gain over the random encoder.
"""

from __future__ import annotations

from kexue.cli import execute

TINY = ["epochs=8", "variants=reference", "critic_hidden=64", "n_train=512", "test_copies=1",
        "baselines=False"]  # fmt: skip


def test_infomax_without_mi_fails_its_claims(tmp_path) -> None:
    normal = execute("infomax", budget="smoke", out=tmp_path / "mi", threads=1, sets=TINY)
    sabotaged = execute(
        "infomax", budget="smoke", out=tmp_path / "no_mi", threads=1, sets=[*TINY, "mi=False"]
    )
    m, s = normal["metrics"], sabotaged["metrics"]
    assert m["reference_mu_std"] >= 0.7 > s["reference_mu_std"]  # the prior claim's verdict
    key = "reference_linear_gain_over_random"
    assert m[key] > s[key] + 0.02
