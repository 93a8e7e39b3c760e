r"""Flow models and the map equation (two-level and multilevel codelengths, in bits).

Flow models (spec text_structure §7.3; w_αβ ≥ 0, s_α out-strength, W = Σ w, τ teleportation):
    undirected   p_α = s_α / 2W,  f_αβ = w_αβ / 2W (both directions)
    directed     PageRank p = (1−τ) Pᵀp + (τ Σ_{non-dangling} p + Σ_{dangling} p) t,
                 t uniform ("to nodes") or ∝ in-strength ("to links");
                 recorded teleportation: teleport steps are encoded (exit gets τ p_α Σ_{β∉i} t_β);
                 unrecorded (Infomap's default): only link flows are encoded,
                 f_αβ = (1−τ) p_α w_αβ/s_α + (τ Σ_nd p + Σ_d p) w_αβ / W  (to links) or
                 f_αβ = p_α w_αβ / s_α (to nodes), renormalised; p_β = Σ_α f_αβ.
Map equation (plogp(x) = x log2 x, plogp(0) = 0; q_i↶ enter, q_i↷ exit rates of module i):
    L = plogp(Σ q_i↶) − Σ plogp(q_i↶) − Σ plogp(q_i↷) − Σ_α plogp(p_α)
           + Σ plogp(q_i↷ + Σ_{α∈i} p_α)
Multilevel: L = q↷ H(Q) + Σ_i L(M^i), non-leaf L(M^i) = plogp(q_i↷ + Σ_j q_ij↶) − plogp(q_i↷)
    − Σ_j plogp(q_ij↶) + Σ_j L(M^ij); leaf modules as in the two-level code.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

import networkx as nx
import numpy as np
import numpy.typing as npt

__all__ = ["Flow", "compute_flow", "plogp", "two_level_codelength", "multilevel_codelength",
           "map_equation"]  # fmt: skip


def plogp(x: npt.ArrayLike) -> np.ndarray:
    """x log2 x elementwise with 0 log 0 = 0."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    pos = x > 0
    out[pos] = x[pos] * np.log2(x[pos])
    return out


class _FlowOptions(TypedDict, total=False):
    """The keyword options of `compute_flow` (the `flow_options` of `map_equation`)."""

    directed: bool | None
    teleportation: float
    recorded: bool
    to_nodes: bool
    weight: str | None
    markov_time: float
    tol: float
    max_iter: int


@dataclass
class Flow:
    """Visit rates and encoded link flows of a network.

    Attributes:
        nodes: node labels in index order.
        p: node visit rates (sum 1).
        src, dst, f: encoded link flows (self-links included in p, never in exit/enter).
        tele: per-node teleportation rate that is encoded (recorded teleportation), or None.
        target: teleportation target distribution t (recorded teleportation), or None.
    """

    nodes: list
    p: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    f: np.ndarray
    tele: np.ndarray | None = None
    target: np.ndarray | None = None


def _edges(
    graph: nx.Graph, weight: str | None
) -> tuple[list[Hashable], np.ndarray, np.ndarray, np.ndarray]:
    nodes = list(graph.nodes())
    index = {u: i for i, u in enumerate(nodes)}
    src, dst, w = [], [], []
    for u, v, d in graph.edges(data=True):
        src.append(index[u])
        dst.append(index[v])
        w.append(float(d.get(weight, 1.0)) if weight else 1.0)
    return nodes, np.array(src, np.int64), np.array(dst, np.int64), np.array(w, np.float64)


def compute_flow(graph: nx.Graph, directed: bool | None = None, teleportation: float = 0.15,
                 recorded: bool = False, to_nodes: bool = False, weight: str | None = "weight",
                 markov_time: float = 1.0, tol: float = 1e-15, max_iter: int = 1000
                 ) -> Flow:  # fmt: skip
    """Flow of a networkx graph under the undirected or a directed model (see module docs).

    `markov_time` t scales the encoded link flow (node visit rates unchanged): a larger t makes
    module changes costlier, so the optimum has fewer modules (Infomap's --markov-time).
    """
    directed = graph.is_directed() if directed is None else directed
    nodes, src, dst, w = _edges(graph, weight)
    n = len(nodes)
    if not directed:
        loop = src == dst
        src, dst = np.r_[src, dst[~loop]], np.r_[dst, src[~loop]]
        w = np.r_[w, w[~loop]]
        total = w.sum()
        p = np.bincount(src, w, minlength=n) / total
        return Flow(nodes, p, src, dst, markov_time * w / total)
    out_s = np.bincount(src, w, minlength=n)
    in_s = np.bincount(dst, w, minlength=n)
    dangling = out_s == 0
    tau = teleportation
    t = np.full(n, 1.0 / n) if to_nodes else in_s / w.sum()
    trans = w / np.where(out_s[src] > 0, out_s[src], 1.0)
    p = np.full(n, 1.0 / n)
    for it in range(max_iter):
        moved = np.bincount(dst, (1 - tau) * p[src] * trans, minlength=n)
        jump = tau * p[~dangling].sum() + p[dangling].sum()
        new = moved + jump * t
        new /= new.sum()
        err = np.abs(new - p).sum()
        p = new
        if err < tol and it >= 50:
            break
    if recorded:
        tele = np.where(dangling, p, tau * p)
        f = markov_time * (1 - tau) * p[src] * trans
        return Flow(nodes, p, src, dst, f, markov_time * tele, t)
    if to_nodes:
        f = p[src] * trans
    else:
        jump = tau * p[~dangling].sum() + p[dangling].sum()
        f = (1 - tau) * p[src] * trans + jump * w / w.sum()
    f = f / f.sum()
    return Flow(nodes, np.bincount(dst, f, minlength=n), src, dst, markov_time * f)


def _boundary(flow: Flow, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Enter rates, exit rates and total node flow of each of k modules."""
    cross = labels[flow.src] != labels[flow.dst]
    exit_ = np.bincount(labels[flow.src][cross], flow.f[cross], minlength=k)
    enter = np.bincount(labels[flow.dst][cross], flow.f[cross], minlength=k)
    if flow.tele is not None:
        t_in = np.bincount(labels, flow.target, minlength=k)
        tele_in = np.bincount(labels, flow.tele, minlength=k)
        exit_ = exit_ + tele_in * (1 - t_in)
        enter = enter + (flow.tele.sum() - tele_in) * t_in
    return enter, exit_, np.bincount(labels, flow.p, minlength=k)


def two_level_codelength(flow: Flow, labels: Sequence[int]) -> tuple[float, float, float]:
    """(L, index codelength, module codelength) in bits for module labels per node index."""
    _, labels = np.unique(np.asarray(labels), return_inverse=True)
    k = int(labels.max()) + 1
    enter, exit_, pin = _boundary(flow, labels, k)
    index = float(plogp(enter.sum()) - plogp(enter).sum())
    module = float(-plogp(exit_).sum() - plogp(flow.p).sum() + plogp(exit_ + pin).sum())
    return index + module, index, module


def multilevel_codelength(flow: Flow, paths: Sequence[Sequence[int]]) -> float:
    """Hierarchical codelength; paths[v] = module path of node v, e.g. (2, 0) (same depth or not).

    A tree node whose children are graph nodes is a leaf module; others have a codebook of their
    exit and their submodules' entries.
    """
    paths = [tuple(p) for p in paths]
    total = 0.0
    # index codebook of the top level
    top = np.unique(np.array([p[0] for p in paths]), return_inverse=True)[1]
    enter, _, _ = _boundary(flow, top, int(top.max()) + 1)
    total += float(plogp(enter.sum()) - plogp(enter).sum())
    prefixes = sorted({p[:d] for p in paths for d in range(1, len(p) + 1)}, key=len)
    ids = {pre: i for i, pre in enumerate(prefixes)}
    depth_labels = {}
    for d in range(1, max(map(len, paths)) + 1):
        # nodes whose path is shorter keep their deepest prefix (unique, so never merged)
        lab = np.array([ids[p[: min(d, len(p))]] for p in paths])
        depth_labels[d] = _boundary(flow, lab, len(prefixes))
    for pre in prefixes:
        d = len(pre)
        _, exit_, pin = depth_labels[d]
        i = ids[pre]
        children = [q for q in prefixes if len(q) == d + 1 and q[:d] == pre]
        if not children:  # leaf module: its nodes
            members = np.array([v for v, p in enumerate(paths) if p == pre])
            total += float(
                plogp(exit_[i] + pin[i]) - plogp(exit_[i]) - plogp(flow.p[members]).sum()
            )
        else:
            enter_sub = depth_labels[d + 1][0][[ids[c] for c in children]]
            total += float(
                plogp(exit_[i] + enter_sub.sum()) - plogp(exit_[i]) - plogp(enter_sub).sum()
            )
    return total


def map_equation(
    graph: nx.Graph, partition: Mapping[Hashable, object], **flow_options: Unpack[_FlowOptions]
) -> float:
    """Two-level codelength in bits of `partition` (node → module) on a networkx graph.

    Undirected graphs use the undirected flow; directed graphs Infomap's default (unrecorded
    teleportation to links, τ = 0.15); `flow_options` go to `compute_flow`. A partition value
    that is a tuple is read as a module path (multilevel codelength).
    """
    flow = compute_flow(graph, **flow_options)
    values = [partition[v] for v in flow.nodes]
    if values and isinstance(values[0], tuple):
        return multilevel_codelength(flow, values)
    ids: dict[object, int] = {}
    return two_level_codelength(flow, [ids.setdefault(v, len(ids)) for v in values])[0]
