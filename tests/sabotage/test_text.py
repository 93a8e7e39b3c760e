"""Sabotage, text theme: word-vectors' article claim must move when the method is switched off.

The claim "minimising S drives q(j|i) to p(j|i)" is judged on the share of I(I; J) the trained
vectors capture; with (almost) no minimisation the same measure must fall, else it measures
something other than training.
"""

from __future__ import annotations

import torch

from kexue.recipes import word_vectors
from kexue.runs import RunDir

SMALL = {"n_lines": 1500, "vocab_size": 300, "dim": 16, "lr": 5e-2}


def _run(tmp_path, epochs: int) -> dict[str, float]:
    torch.set_num_threads(1)
    cfg = word_vectors.Config(**SMALL, epochs=epochs)
    return word_vectors.run(cfg, RunDir(tmp_path / f"e{epochs}"))


def test_untrained_vectors_capture_less_mutual_information(tmp_path):
    trained, sabotaged = _run(tmp_path, 30), _run(tmp_path, 1)
    assert trained["dot2_mi_captured"] > sabotaged["dot2_mi_captured"] + 0.1, (
        trained["dot2_mi_captured"],
        sabotaged["dot2_mi_captured"],
    )
