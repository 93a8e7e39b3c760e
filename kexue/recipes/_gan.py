"""Plumbing shared by the toy-GAN recipes (scoring a trained arm); no math lives here."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from kexue.gan import evaluate_toy_generator
from kexue.runs import Parts


def finish_toy_arm(
    parts: Parts,
    key: str,
    gen: Callable[[torch.Tensor], torch.Tensor],
    data: str,
    *,
    n: int,
    ref: object,
    extra: Mapping[str, object] | None = None,
    keep: int = 500,
    nan_to_zero: bool = False,
) -> None:
    """Score a trained toy generator on `data` and finish its part `key`.

    The part's values are `{key}_{score}` for each of `evaluate_toy_generator`'s scores (modes,
    hq, w1, …), then `extra`, then `{key}_samples`: the first `keep` samples as a tensor (NaN and
    inf replaced by finite numbers when `nan_to_zero`, for arms that may diverge).
    """
    x_gen, scores = evaluate_toy_generator(gen, data, n=n, ref=ref)
    x_keep = np.nan_to_num(x_gen[:keep]) if nan_to_zero else x_gen[:keep]
    parts.finish(key, {
        **{f"{key}_{m}": v for m, v in scores.items()},
        **(extra or {}),
        f"{key}_samples": torch.from_numpy(x_keep),
    })  # fmt: skip
