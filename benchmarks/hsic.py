"""HSIC independence test: kexue.stats.hsic_test against hyppo's Hsic and dcor's dCov test.

Same data (kexue.data.dependence_sim, hyppo's definitions, p = 1, noise on), same seeds, α = 0.05,
B permutations for every method (hyppo with auto=False so it permutes too). Reports power per
simulation and wall time per test.

Run: python benchmarks/hsic.py [--n 100] [--reps 100] [--B 199]
"""

from __future__ import annotations

import argparse
import time
import warnings

from kexue.data import DEPENDENCE_SIMS, dependence_sim
from kexue.stats import hsic_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--B", type=int, default=199)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # hyppo: 'replications low'
    import dcor
    import hyppo
    from hyppo.independence import Hsic

    print(f"hyppo {hyppo.__version__}, dcor {dcor.__version__}; n = {args.n}, "
          f"{args.reps} replicates, B = {args.B}, α = 0.05")  # fmt: skip
    methods = {
        "kexue hsic_test": lambda x, y, s: hsic_test(x, y, n_permutations=args.B, seed=s).pvalue,
        "hyppo Hsic": lambda x, y, s: Hsic().test(x, y, reps=args.B, auto=False, random_state=s)[
            1
        ],
        "dcor dCov": lambda x, y, s: (
            dcor.independence.distance_covariance_test(
                x, y, num_resamples=args.B, random_state=s
            ).pvalue
        ),
    }
    print("\n| simulation | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for name in DEPENDENCE_SIMS:
        powers = []
        for fn in methods.values():
            rejected = 0
            for r in range(args.reps):
                x, y = dependence_sim(name, args.n, seed=r)
                rejected += fn(x, y, r) < 0.05
            powers.append(rejected / args.reps)
        print(f"| {name} | " + " | ".join(f"{p:.2f}" for p in powers) + " |")

    print("\n| n | " + " | ".join(f"{m} (s/test)" for m in methods) + " |")
    print("|---|" + "---|" * len(methods))
    for n in args.sizes:
        x, y = dependence_sim("circle", n, seed=0)
        times = []
        for fn in methods.values():
            t0 = time.perf_counter()
            fn(x, y, 0)
            times.append(time.perf_counter() - t0)
        print(f"| {n} | " + " | ".join(f"{t:.3f}" for t in times) + " |")


if __name__ == "__main__":
    main()
