r"""Exact Wasserstein-1 distance between sample sets (the primal side of the WGAN article).

Article:  从Wasserstein距离、对偶理论到WGAN — 苏剑林, 2019-01-20
URL:      https://kexue.fm/archives/6280

The article writes W1 as a linear programme over transport plans γ ≥ 0 (its primal form)::

    W1(p, q) = min_γ  Σ_ij γ_ij ‖x_i − y_j‖   s.t.  Σ_j γ_ij = p_i,  Σ_i γ_ij = q_j

and derives the Kantorovich–Rubinstein dual sup_{‖f‖_L ≤ 1} E_p f − E_q f that the WGAN critic
estimates. For two empirical distributions of equal size with uniform weights the optimal plan
is a permutation (Birkhoff–von Neumann), so the LP reduces to an assignment problem.

Implemented:
    w1_exact(x, y)        equal sizes: POT's network simplex (`ot.emd2`) when POT is installed,
                          else scipy's assignment (linear_sum_assignment); unequal sizes: the LP
    w1_lp(x, y, a, b)     weighted sets: the transport LP, by POT's network simplex when POT is
                          installed, else HiGHS (scipy's linprog)
    solver="auto" | "pot" | "scipy" picks the backend; both give the same optimum (tested).

Deviations from the article: none (the article solves the LP in its primal form; the assignment
shortcut gives the same optimum and is much faster).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment, linprog
from scipy.spatial.distance import cdist

__all__ = ["w1_exact", "w1_lp"]

SOLVERS = ("auto", "pot", "scipy")


def _pot(solver: str) -> object | None:
    """POT's module when the solver should use it (None: use scipy)."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if solver == "scipy":
        return None
    try:
        import ot
    except ImportError:
        if solver == "pot":
            raise ImportError("solver='pot' needs POT: pip install POT") from None
        return None
    return ot


def _emd2(ot: object, a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> float:
    value = ot.emd2(a, b, cost, numItermax=max(10_000_000, 50 * cost.size))  # type: ignore[attr-defined]
    return float(value)


def _as_points(x: object, name: str) -> np.ndarray:
    arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or len(arr) == 0:
        raise ValueError(f"{name} must be a non-empty array of shape (n, d), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} contains NaN or inf (at row {np.argwhere(~np.isfinite(arr))[0, 0]})"
        )
    return arr


def _as_point_pair(x: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_points(x, "x"), _as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y differ in dimension: x has dimension {x.shape[1]} but y has dimension "
            f"{y.shape[1]}"
        )
    return x, y


_EPS64 = float(np.finfo(np.float64).eps)
WEIGHT_SUM_RTOL = 1e-9  # float64 weights; lower precisions get 16 of their own eps (float32: 2e-6)


def _eps(w: object) -> float:
    """Machine epsilon of the weights' own float type (float64 for lists, ints and float64)."""
    dtype = getattr(w, "dtype", None)
    if hasattr(w, "detach"):  # a torch tensor
        import torch

        return float(torch.finfo(dtype).eps) if dtype.is_floating_point else _EPS64
    if dtype is not None and np.issubdtype(dtype, np.floating):
        return float(np.finfo(dtype).eps)
    return _EPS64


def _as_weights(w: object, k: int, name: str) -> np.ndarray:
    """Probability weights of k points, renormalised to sum to exactly 1 in float64.

    The sum must be 1 within max(1e-9, 16 eps) of the weights' own dtype, so float32 softmax
    outputs (off by ~1e-7) pass while float64 weights that do not sum to 1 still fail.
    """
    if w is None:
        return np.full(k, 1.0 / k)
    tol = max(WEIGHT_SUM_RTOL, 16 * _eps(w))
    arr = np.asarray(w.detach().cpu().double() if hasattr(w, "detach") else w, dtype=np.float64)
    if arr.shape != (k,):
        raise ValueError(f"{name} must have shape ({k},), one weight per point, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} contains NaN or inf (at index {np.flatnonzero(~np.isfinite(arr))[0]})"
        )
    if (arr < 0).any():
        i = int(np.argmin(arr))
        raise ValueError(
            f"{name} has negative weights ({name}[{i}] = {arr[i]:g}); weights must be >= 0"
        )
    total = arr.sum()
    if abs(total - 1) > tol:
        raise ValueError(
            f"{name} must sum to 1 (within {tol:.1e} for its dtype), got {total:.12g}"
        )
    return arr / total


def w1_exact(x: object, y: object, solver: str = "auto") -> float:
    """Exact W1 between the empirical distributions of `x` (n, d) and `y` (m, d).

    Euclidean ground cost, uniform weights, float64. Equal sizes use POT's network simplex
    (solver "auto" with POT installed, or "pot") or scipy's assignment in O(n³) ("scipy", or
    "auto" without POT); unequal sizes fall back to the transport LP.

    Example:
        >>> w1_exact([[0.0], [1.0]], [[0.0], [3.0]])
        1.0
    """
    x, y = _as_point_pair(x, y)
    if len(x) != len(y):
        return w1_lp(x, y, solver=solver)
    cost = cdist(x, y)
    ot = _pot(solver)
    if ot is not None:
        w = np.full(len(x), 1.0 / len(x))
        return _emd2(ot, w, w, cost)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def w1_lp(
    x: object,
    y: object,
    a: np.ndarray | None = None,
    b: np.ndarray | None = None,
    solver: str = "auto",
) -> float:
    """W1 between weighted point sets by the transport LP (the article's primal form).

    Args:
        x: (n, d) support of p; y: (m, d) support of q.
        a: (n,) weights of p (uniform if None); b: (m,) weights of q. NumPy arrays, torch
            tensors or sequences; non-negative and finite, each summing to 1 within a tolerance
            set by its dtype (1e-9 for float64, 16 eps otherwise: about 2e-6 for float32, so
            a float32 softmax passes); they are then renormalised in float64.
        solver: "auto" (POT's network simplex when installed, else HiGHS), "pot" or "scipy".

    Raises:
        ValueError: NaN or inf in the points or weights, negative weights, weights of the
            wrong shape or sum, or x and y of different dimensions (both named).

    Note: the LP has n·m variables; with HiGHS use it for n·m up to about 10⁶.
    """
    x, y = _as_point_pair(x, y)
    n, m = len(x), len(y)
    a, b = _as_weights(a, n, "a"), _as_weights(b, m, "b")
    ot = _pot(solver)
    if ot is not None:
        return _emd2(ot, a, b, cdist(x, y))
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
