r"""Confidence intervals for claims judged on small evaluations.

A claim scored on a few hundred items, or on one training seed, is judged on a confidence
bound rather than on its point estimate (`kexue.runs.Claim(interval=True)`): "A beats B" passes
only when the lower bound of A − B clears the bar. Two sources of noise, two intervals:

    bootstrap_interval(values)         percentile bootstrap over scored items (scipy's bootstrap)
    paired_interval(a, b)              the same for the mean of the paired differences a − b,
                                       resampling items jointly so both arms see the same items
    seed_interval(values)              Student-t interval of the mean over training seeds
    seeded_paired_interval(a, b)       per-item scores of several seeds: the union of the paired
                                       bootstrap over items and the t interval over seeds
    record_interval(metrics, key, …)   writes key, key_lo and key_hi, the names a claim reads

Symbols: level the two-sided confidence level (0.95 by default).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence

import numpy as np
from scipy import stats

__all__ = [
    "bootstrap_interval",
    "paired_interval",
    "record_interval",
    "seed_interval",
    "seeded_paired_interval",
]


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic` over the items in `values`.

    >>> lo, hi = bootstrap_interval([0.0, 1.0] * 200)
    >>> round(lo, 2) < 0.5 < round(hi, 2)
    True
    """
    x = np.asarray(values, dtype=float).ravel()
    if x.size < 2:
        raise ValueError(f"a bootstrap interval needs at least 2 items, got {x.size}")
    if np.all(x == x[0]):  # scipy refuses a degenerate sample; its interval is the point
        point = float(statistic(x))
        return point, point
    res = stats.bootstrap(
        (x,),
        lambda s, axis: np.apply_along_axis(statistic, axis, s),
        confidence_level=level,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    # Percentile bounds are means of resamples: a bound that is 0 in exact arithmetic (a tie
    # between paired arms) can come out as ±1e-19 and pass a strict claim. Round it back.
    return round(float(res.confidence_interval.low), 12), round(
        float(res.confidence_interval.high), 12
    )


def paired_interval(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Bootstrap interval of mean(a − b) over paired items (both arms scored on each item)."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired arms need the same items, got {a.size} and {b.size}")
    return bootstrap_interval(a - b, level=level, n_resamples=n_resamples, seed=seed)


def seed_interval(
    values: Sequence[float] | np.ndarray, *, level: float = 0.95
) -> tuple[float, float]:
    """Student-t interval of the mean over independent seeds (at least 2).

    >>> [round(v, 3) for v in seed_interval([1.0, 2.0, 3.0])]
    [-0.484, 4.484]
    """
    x = np.asarray(values, dtype=float).ravel()
    if x.size < 2:
        raise ValueError(f"a seed interval needs at least 2 seeds, got {x.size}")
    half = stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return float(x.mean() - half), float(x.mean() + half)


def record_interval(
    metrics: MutableMapping[str, float],
    key: str,
    point: float,
    interval: tuple[float, float],
) -> None:
    """Store a point estimate and its interval as `key`, `key_lo`, `key_hi`."""
    metrics[key] = float(point)
    metrics[f"{key}_lo"], metrics[f"{key}_hi"] = float(interval[0]), float(interval[1])


def seeded_paired_interval(
    a: np.ndarray, b: np.ndarray | float = 0.0, *, level: float = 0.95
) -> tuple[float, float] | None:
    """Interval of mean(a − b) for per-item scores of shape (seeds, items) (or (items,): one
    seed); b = 0 for a single arm. It is the union of the paired bootstrap over the items (the
    scores averaged over the seeds) and, with ≥ 2 seeds, the Student-t interval over the seeds'
    means: a claim judged on it must clear both the item noise and the seed noise. None when
    there are fewer than 2 items and fewer than 2 seeds.

    >>> a = np.array([[0.5, 0.6, 0.7], [0.4, 0.5, 0.6], [-0.3, -0.2, -0.1]])
    >>> lo, hi = seeded_paired_interval(a)
    >>> lo < 0 < hi  # the items agree, the seeds do not
    True
    """
    a = np.atleast_2d(np.asarray(a, dtype=float))
    b = np.broadcast_to(np.asarray(b, dtype=float), a.shape)
    intervals = []
    if a.shape[1] >= 2:
        intervals.append(paired_interval(a.mean(0), b.mean(0), level=level))
    if a.shape[0] >= 2:
        intervals.append(seed_interval((a - b).mean(1), level=level))
    if not intervals:
        return None
    return min(i[0] for i in intervals), max(i[1] for i in intervals)
