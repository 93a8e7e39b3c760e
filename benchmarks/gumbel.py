"""Gumbel-Softmax: kexue.latent.gumbel_softmax against torch's F.gumbel_softmax.

(a) distributional parity of hard samples (χ² of kexue's counts against torch's counts),
(b) gradient parity with shared noise, (c) wall time per 10⁶ draws at K = 10 and K = 1000.

Run: python benchmarks/gumbel.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats as sps

from kexue.latent import gumbel_noise, gumbel_softmax


def _best_time(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, one thread")
    logits = torch.randn(10, generator=torch.Generator().manual_seed(0))
    n = 200_000
    ours = gumbel_softmax(logits.expand(n, -1), 0.5, hard=True,
                          generator=torch.Generator().manual_seed(1)).argmax(-1)  # fmt: skip
    torch.manual_seed(2)
    theirs = F.gumbel_softmax(logits.expand(n, -1), tau=0.5, hard=True).argmax(-1)
    table = np.stack([np.bincount(ours.numpy(), minlength=10),
                      np.bincount(theirs.numpy(), minlength=10)])  # fmt: skip
    print(f"(a) hard-sample χ² homogeneity p-value (n = {n}): "
          f"{sps.chi2_contingency(table).pvalue:.3f}")  # fmt: skip

    o1 = torch.randn(64, 10, requires_grad=True)
    o2 = o1.detach().clone().requires_grad_(True)
    g = gumbel_noise((64, 10), generator=torch.Generator().manual_seed(3))
    r = torch.randn(10)
    ((gumbel_softmax(o1, 0.3, hard=True, noise=g) @ r) ** 2).sum().backward()
    # torch's hard=True computes the same straight-through form from logits + gumbels.
    y = F.softmax((o2 + g) / 0.3, -1)
    hard = torch.zeros_like(y).scatter_(-1, y.argmax(-1, keepdim=True), 1.0)
    ((hard - y.detach() + y) @ r).pow(2).sum().backward()
    print(f"(b) max |grad difference| with shared noise: {(o1.grad - o2.grad).abs().max():.2e}")

    print("\n| K | draws | kexue (s) | torch F.gumbel_softmax (s) | ratio |")
    print("|---|---|---|---|---|")
    for k in (10, 1000):
        rows = 1_000_000 // k
        lg = torch.randn(rows, k)
        t_ours = _best_time(lambda lg=lg: gumbel_softmax(lg, 0.5))
        t_torch = _best_time(lambda lg=lg: F.gumbel_softmax(lg, tau=0.5))
        print(f"| {k} | 10^6 | {t_ours:.4f} | {t_torch:.4f} | {t_ours / t_torch:.2f} |")


if __name__ == "__main__":
    main()
