"""Exact W1: kexue.stats.w1_exact (scipy assignment) against POT's network simplex (ot.emd2).

Both solve the same problem (uniform weights, Euclidean ground cost; note POT's `ot.dist` is
*squared* Euclidean by default, so the cost matrix is built with metric="euclidean"). Reports
the largest absolute difference and the median wall time over repeats.

Run: python benchmarks/w1.py [--sizes 250 500 1000 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import scipy

from kexue.data import toy2d
from kexue.stats import w1_exact


def _time(fn, repeats: int) -> tuple[float, float]:
    times, value = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return value, float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    try:
        import ot
    except ImportError:
        raise SystemExit("POT is not installed: pip install 'kexue[bench]'") from None

    print(f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__},"
          f" POT {ot.__version__}")  # fmt: skip
    print("| n | kexue w1_exact | POT emd2 | abs diff | kexue time (s) | POT time (s) |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        x = toy2d("eight_gaussians", n, seed=1).astype(np.float64)
        y = toy2d("two_moons", n, seed=2).astype(np.float64)
        ours, t_ours = _time(lambda x=x, y=y: w1_exact(x, y), args.repeats)

        def pot(x=x, y=y, n=n):
            cost = ot.dist(x, y, metric="euclidean")
            w = np.full(n, 1.0 / n)
            return float(ot.emd2(w, w, cost, numItermax=10_000_000))

        theirs, t_pot = _time(pot, args.repeats)
        print(f"| {n} | {ours:.10f} | {theirs:.10f} | {abs(ours - theirs):.1e} | "
              f"{t_ours:.3f} | {t_pot:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
