r"""Exact Wasserstein-1 distance between sample sets (the primal side of the WGAN article).

Article:  从Wasserstein距离、对偶理论到WGAN — 苏剑林, 2019-01-20
URL:      https://kexue.fm/archives/6280

The article writes W1 as a linear programme over transport plans γ ≥ 0 (its primal form)::

    W1(p, q) = min_γ  Σ_ij γ_ij ‖x_i − y_j‖   s.t.  Σ_j γ_ij = p_i,  Σ_i γ_ij = q_j

and derives the Kantorovich–Rubinstein dual sup_{‖f‖_L ≤ 1} E_p f − E_q f that the WGAN critic
estimates. For two empirical distributions of equal size with uniform weights the optimal plan
is a permutation (Birkhoff–von Neumann), so the LP reduces to an assignment problem.

Implemented:
    w1_exact(x, y)        equal sizes: assignment (scipy's linear_sum_assignment); otherwise the LP
    w1_lp(x, y, a, b)     weighted sets: the transport LP solved by HiGHS (scipy's linprog)

Deviations from the article: none (the article solves the LP in its primal form; the assignment
shortcut gives the same optimum and is much faster).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment, linprog
from scipy.spatial.distance import cdist

__all__ = ["w1_exact", "w1_lp"]


def _as_points(x: object, name: str) -> np.ndarray:
    arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or len(arr) == 0:
        raise ValueError(f"{name} must be a non-empty array of shape (n, d), got {arr.shape}")
    return arr


def w1_exact(x: object, y: object) -> float:
    """Exact W1 between the empirical distributions of `x` (n, d) and `y` (m, d).

    Euclidean ground cost, uniform weights, float64. Equal sizes use an assignment in
    O(n³); unequal sizes fall back to the transport LP.

    Example:
        >>> w1_exact([[0.0], [1.0]], [[0.0], [3.0]])
        1.0
    """
    x, y = _as_points(x, "x"), _as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y differ in dimension: {x.shape[1]} vs {y.shape[1]}")
    if len(x) != len(y):
        return w1_lp(x, y)
    cost = cdist(x, y)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def w1_lp(x: object, y: object, a: np.ndarray | None = None, b: np.ndarray | None = None) -> float:
    """W1 between weighted point sets by the transport LP (the article's primal form).

    Args:
        x: (n, d) support of p; y: (m, d) support of q.
        a: (n,) weights of p (uniform if None); b: (m,) weights of q. Each must sum to 1.

    Note: the LP has n·m variables; use it for n·m up to about 10⁶.
    """
    x, y = _as_points(x, "x"), _as_points(y, "y")
    n, m = len(x), len(y)
    a = np.full(n, 1.0 / n) if a is None else np.asarray(a, dtype=np.float64)
    b = np.full(m, 1.0 / m) if b is None else np.asarray(b, dtype=np.float64)
    for w, name, k in ((a, "a", n), (b, "b", m)):
        if w.shape != (k,) or (w < 0).any() or abs(w.sum() - 1) > 1e-9:
            raise ValueError(f"{name} must be {k} non-negative weights summing to 1")
    cost = cdist(x, y).ravel()
    # Row sums: for each i, Σ_j γ_ij = a_i; column sums: for each j, Σ_i γ_ij = b_j.
    rows = sparse.kron(sparse.eye(n), np.ones((1, m)))
    cols = sparse.kron(np.ones((1, n)), sparse.eye(m))
    res = linprog(
        cost,
        A_eq=sparse.vstack([rows, cols]).tocsr(),
        b_eq=np.concatenate([a, b]),
        bounds=(0, None),
        method="highs",
    )
    if not res.success:
        raise RuntimeError(f"transport LP failed: {res.message}")
    return float(res.fun)
