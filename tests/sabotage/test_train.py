"""Sabotage: switching the article's method off must move its claims' metrics toward failing.

adversarial: `eps_rel = 0` turns FGM's perturbation and the gradient penalty off (both share the
radius), so the trained arms are the baseline and the penalty's flattening of L around the
test reviews (the claim `grad_norm_change_gp` < 0) disappears.
"""

from __future__ import annotations

import torch

from kexue.recipes import adversarial
from kexue.runs import RunDir


def _run(tmp_path, name: str, **overrides) -> dict[str, float]:
    torch.set_num_threads(1)
    cfg = adversarial.Config(**{**adversarial.SMOKE, "n_train": 300, **overrides})
    return adversarial.run(cfg, RunDir(tmp_path / name, progress=False))


def test_adversarial_without_its_perturbation_loses_its_effect(tmp_path):
    normal = _run(tmp_path, "normal")
    off = _run(tmp_path, "off", eps_rel=0.0)
    # the method works at this tiny scale: the penalty flattens L at the test reviews
    assert normal["grad_norm_change_gp_hi"] < 0
    # switched off, FGM and GP train exactly the baseline: every gain is gone
    assert off["grad_norm_change_gp"] == 0.0 and off["grad_norm_change_fgm"] == 0.0
    assert off["robust_gain_fgm"] == 0.0 and off["gain_gp"] == 0.0
    assert normal["grad_norm_change_gp"] < off["grad_norm_change_gp"]
