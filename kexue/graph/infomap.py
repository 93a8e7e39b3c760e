r"""InfoMap: minimise the map equation by local moves, aggregation and coarse/fine tuning.

Article:  最小熵原理（五）：“层层递进”之社区发现与聚类 — 苏剑林, 2019-10-19
URL:      https://kexue.fm/archives/7006
Original: bojone/infomap (`word_cluster.py`, word clustering with the Infomap 0.x package);
          Rosvall & Bergstrom 2008 (PNAS), Rosvall, Axelsson & Bergstrom 2009 (the search)

Key equations (the two-level map equation; q_i↶ / q_i↷ enter / exit rates, p_α visit rates)::

    L(M) = q↷ H(Q) + Σ_i p_i↻ H(P^i)
         = plogp(Σ q_i↶) − Σ plogp(q_i↶) − Σ plogp(q_i↷) − Σ_α plogp(p_α)
           + Σ plogp(q_i↷ + Σ_{α∈i} p_α)

Moving node v from module A to B (out_to[M] / in_from[M]: v's link flow to / from M \ {v}):
    q_A↷' = q_A↷ − (out − out_to[A]) + in_from[A],   q_A↶' = q_A↶ − (in − in_from[A]) + out_to[A]
    q_B↷' = q_B↷ + (out − out_to[B]) − in_from[B],   q_B↶' = q_B↶ + (in − in_from[B]) − out_to[B]
so ΔL is O(deg v) from cached module rates.

Algorithm (Infomap's two-level search): core loop (nodes in random order move to the
neighbouring or an empty module with the most negative ΔL, sweeps until no gain), aggregation
(modules become nodes, repeat), then alternate coarse tuning (split every module by the core
algorithm on its own subnetwork, move the submodules) and fine tuning (move single nodes from
the current partition), keeping the best of `num_trials` random restarts.

Symbols: Flow (kexue.graph.mapequation): p visit rates, (src, dst, f) encoded link flows.

Deviations from the article:
    - The article uses the Infomap package; this is a pure numpy/Python re-implementation of its
      two-level search for link-encoded flows (undirected; directed with unrecorded
      teleportation, Infomap's default). Recorded teleportation is scored by `map_equation` but
      not optimised. No random single-node merges for degree ≤ 2 nodes, no hierarchical search
      (the multilevel codelength is in kexue.graph.mapequation).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import TypedDict, Unpack

import networkx as nx
import numpy as np
from sklearn.base import BaseEstimator

from kexue.graph.mapequation import Flow, compute_flow, plogp, two_level_codelength

__all__ = ["InfoMap", "infomap"]


class _InfoMapOptions(TypedDict, total=False):
    """The keyword options of `infomap`: `InfoMap`'s hyperparameters but `random_state`."""

    num_trials: int
    max_tune: int
    tune_threshold: float
    directed: bool | None
    teleportation: float
    to_nodes: bool
    weight: str | None
    markov_time: float


def _plogp(x: float) -> float:
    return x * math.log2(x) if x > 0 else 0.0


class _Net:
    """A (possibly aggregated) network: node flows, out/in adjacency with link flows."""

    def __init__(self, p: np.ndarray, src: np.ndarray, dst: np.ndarray, f: np.ndarray) -> None:
        n = len(p)
        keep = src != dst
        src, dst, f = src[keep], dst[keep], f[keep]
        # merge parallel links
        key = src * n + dst
        u, inv = np.unique(key, return_inverse=True)
        f = np.bincount(inv, f)
        src, dst = u // n, u % n
        self.p, self.src, self.dst, self.f = p, src, dst, f
        self.n = n
        # per node: (neighbour, link flow) of its out-links / in-links
        self.out: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        self.inn: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        for a, b, w in zip(src.tolist(), dst.tolist(), f.tolist(), strict=True):
            self.out[a].append((b, w))
            self.inn[b].append((a, w))
        self.out_tot = np.bincount(src, f, minlength=n).tolist()
        self.symmetric = _is_symmetric(src, dst, f, n)
        self.in_tot = np.bincount(dst, f, minlength=n).tolist()

    def aggregate(self, labels: np.ndarray) -> _Net:
        k = int(labels.max()) + 1
        return _Net(
            np.bincount(labels, self.p, minlength=k), labels[self.src], labels[self.dst], self.f
        )

    def subnet(self, members: np.ndarray) -> tuple[_Net, np.ndarray]:
        local = -np.ones(self.n, np.int64)
        local[members] = np.arange(len(members))
        keep = (local[self.src] >= 0) & (local[self.dst] >= 0)
        return _Net(
            self.p[members], local[self.src[keep]], local[self.dst[keep]], self.f[keep]
        ), local


def _is_symmetric(src: np.ndarray, dst: np.ndarray, f: np.ndarray, n: int) -> bool:
    """Whether link flows are symmetric (f_uv = f_vu exactly), as for undirected flows."""
    fwd = src * n + dst
    bwd = dst * n + src
    order_f, order_b = np.argsort(fwd), np.argsort(bwd)
    return bool(
        np.array_equal(fwd[order_f], bwd[order_b]) and np.array_equal(f[order_f], f[order_b])
    )


def _relabel(labels: np.ndarray) -> np.ndarray:
    return np.unique(labels, return_inverse=True)[1]


def _core(net: _Net, labels: np.ndarray, rng: np.random.Generator, max_sweeps: int = 20,
          threshold: float = 1e-10) -> tuple[np.ndarray, bool]:  # fmt: skip
    """Local moving of single net nodes starting from `labels`; returns (labels, moved).

    After the first sweep only nodes with a neighbour that moved are revisited (a node whose
    neighbourhood is unchanged has no improving move left).
    """
    log2 = math.log2
    n = net.n
    k = n  # module ids 0..n-1 (room for singletons)
    flow = np.bincount(labels, net.p, minlength=k)
    cross = labels[net.src] != labels[net.dst]
    exit_ = np.bincount(labels[net.src][cross], net.f[cross], minlength=k)
    enter = np.bincount(labels[net.dst][cross], net.f[cross], minlength=k)
    size = np.bincount(labels, minlength=k).tolist()
    exit_, enter, flow = exit_.tolist(), enter.tolist(), flow.tolist()
    # cached module terms −plogp(q↶) − plogp(q↷) + plogp(q↷ + Σp)
    mterm = [
        -_plogp(e) - _plogp(x) + _plogp(x + f) for e, x, f in zip(enter, exit_, flow, strict=True)
    ]
    lab = labels.tolist()
    empty = [m for m in range(k) if size[m] == 0]
    total_enter = sum(enter)
    p = net.p.tolist()
    sym = net.symmetric
    out, inn, out_tot, in_tot = net.out, net.inn, net.out_tot, net.in_tot
    active = bytearray(b"\x01") * n
    moved_any = False
    for _ in range(max_sweeps):
        gain_sweep = 0.0
        moves = 0
        nxt = bytearray(n)
        pte = total_enter * log2(total_enter) if total_enter > 0 else 0.0
        for v in rng.permutation(n).tolist():
            if not active[v]:
                continue
            a = lab[v]
            out_to: dict[int, float] = {}
            for u, w in out[v]:
                m = lab[u]
                out_to[m] = out_to.get(m, 0.0) + w
            if sym:
                in_from = out_to
            else:
                in_from = {}
                for u, w in inn[v]:
                    m = lab[u]
                    in_from[m] = in_from.get(m, 0.0) + w
            o, i, pv = out_tot[v], in_tot[v], p[v]
            oa, ia = out_to.get(a, 0.0), in_from.get(a, 0.0)
            ex_a = exit_[a] - (o - oa) + ia
            en_a = enter[a] - (i - ia) + oa
            fl_a = flow[a] - pv
            new_a = -_plogp(en_a) - _plogp(ex_a) + _plogp(ex_a + fl_a)
            base = new_a - mterm[a] - pte
            base_enter = total_enter - enter[a] + en_a
            best, best_m = 0.0, a
            cands = set(out_to) if sym else set(out_to) | set(in_from)
            cands.discard(a)
            if size[a] > 1 and empty:
                cands.add(-1)
            for b in cands:
                if b == -1:
                    eb = xb = fb = ob = ib = old_b = 0.0
                else:
                    eb, xb, fb, old_b = enter[b], exit_[b], flow[b], mterm[b]
                    ob = out_to.get(b, 0.0)
                    ib = ob if sym else in_from.get(b, 0.0)
                ex_b = xb + (o - ob) - ib
                en_b = eb + (i - ib) - ob
                xf = ex_b + fb + pv
                te = base_enter - eb + en_b
                delta = base - old_b + xf * log2(xf)
                if en_b > 0:
                    delta -= en_b * log2(en_b)
                if ex_b > 0:
                    delta -= ex_b * log2(ex_b)
                if te > 0:
                    delta += te * log2(te)
                if delta < best - threshold:
                    best, best_m = delta, b
            if best_m != a:
                b = empty.pop() if best_m == -1 else best_m
                ob = out_to.get(b, 0.0)
                ib = in_from.get(b, 0.0)
                en_b = enter[b] + (i - ib) - ob
                total_enter += (en_a - enter[a]) + (en_b - enter[b])
                pte = total_enter * log2(total_enter) if total_enter > 0 else 0.0
                exit_[a], enter[a], flow[a] = ex_a, en_a, fl_a
                exit_[b] = exit_[b] + (o - ob) - ib
                enter[b] = en_b
                flow[b] += pv
                size[a] -= 1
                size[b] += 1
                if size[a] == 0:
                    exit_[a] = enter[a] = flow[a] = 0.0
                    empty.append(a)
                for m in (a, b):
                    mterm[m] = -_plogp(enter[m]) - _plogp(exit_[m]) + _plogp(exit_[m] + flow[m])
                lab[v] = b
                gain_sweep += best
                moves += 1
                for u, _ in out[v]:
                    nxt[u] = 1
                if not sym:
                    for u, _ in inn[v]:
                        nxt[u] = 1
        if moves:
            moved_any = True
        if moves == 0 or -gain_sweep < threshold:
            break
        active = nxt
    return _relabel(np.array(lab)), moved_any


def _levels(net: _Net, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Core loop from `labels`, then repeatedly aggregate modules and move them."""
    labels, _ = _core(net, labels, rng)
    while True:
        agg = net.aggregate(labels)
        if agg.n <= 1:
            return labels
        sup, moved = _core(agg, np.arange(agg.n), rng)
        if not moved or sup.max() + 1 == agg.n:
            return labels
        labels = sup[labels]


def _codelength(net: _Net, labels: np.ndarray, node_entropy: float) -> float:
    cross = labels[net.src] != labels[net.dst]
    k = int(labels.max()) + 1
    ex = np.bincount(labels[net.src][cross], net.f[cross], minlength=k)
    en = np.bincount(labels[net.dst][cross], net.f[cross], minlength=k)
    fl = np.bincount(labels, net.p, minlength=k)
    return float(
        plogp(en.sum()) - plogp(en).sum() - plogp(ex).sum() + plogp(ex + fl).sum() - node_entropy
    )


def _trial(
    net: _Net, rng: np.random.Generator, node_entropy: float, max_tune: int, tune_threshold: float
) -> tuple[np.ndarray, float]:
    labels = _levels(net, np.arange(net.n), rng)
    best = _codelength(net, labels, node_entropy)
    for it in range(max_tune):
        if it % 2 == 0:  # coarse tuning: split modules, move the submodules
            sub = np.empty(net.n, np.int64)
            offset = 0
            for m in range(int(labels.max()) + 1):
                members = np.flatnonzero(labels == m)
                if len(members) > 1:
                    sn, _ = net.subnet(members)
                    parts, _ = _core(sn, np.arange(len(members)), rng)
                else:
                    parts = np.zeros(1, np.int64)
                sub[members] = parts + offset
                offset += int(parts.max()) + 1
            agg = net.aggregate(sub)
            start = np.zeros(agg.n, np.int64)
            start[sub] = labels  # each submodule starts in its module
            sup = _levels(agg, _relabel(start), rng)
            cand = sup[sub]
        else:  # fine tuning: single nodes from the current partition
            cand = _levels(net, labels, rng)
        length = _codelength(net, cand, node_entropy)
        if length < best - 1e-12:
            improvement = (best - length) / best
            labels, best = _relabel(cand), length
            if improvement < tune_threshold:
                break
        elif it >= 1:
            break
    return labels, best


def _infomap_flow(flow: Flow, seed: int | None = None, num_trials: int = 1, max_tune: int = 10,
                  tune_threshold: float = 1e-5) -> tuple[np.ndarray, float]:  # fmt: skip
    """Two-level InfoMap on a precomputed link-encoded flow; returns (labels, codelength)."""
    if flow.tele is not None:
        raise NotImplementedError("the optimiser handles link-encoded flows (recorded=False)")
    net = _Net(flow.p, flow.src, flow.dst, flow.f)
    node_entropy = float(plogp(flow.p).sum())
    rng = np.random.default_rng(seed)
    best_labels, best = None, math.inf
    for _ in range(num_trials):
        labels, length = _trial(net, rng, node_entropy, max_tune, tune_threshold)
        if length < best:
            best_labels, best = labels, length
    # like Infomap: a partition that does not beat the one-module code (L = H(p)) is dropped
    if best >= -node_entropy:
        best_labels = np.zeros(net.n, np.int64)
    return best_labels, two_level_codelength(flow, best_labels)[0]


def infomap(
    graph: nx.Graph, seed: int | None = None, **options: Unpack[_InfoMapOptions]
) -> dict[Hashable, int]:
    """Node → module id (0 = the module with the most flow) minimising the map equation.

    Options: num_trials (1), max_tune (10), tune_threshold (1e-5), and the flow options of
    `compute_flow` (directed, teleportation, to_nodes, weight, markov_time).
    """
    return InfoMap(random_state=seed, **options).fit(graph).partition_


class InfoMap(BaseEstimator):
    """Estimator twin of `infomap` (scikit-learn contract).

    Parameters:
        random_state: seeds the search (the `seed` of `infomap`); None draws fresh entropy.
        num_trials, max_tune, tune_threshold: see `infomap`; directed, teleportation, to_nodes,
        weight, markov_time: the flow options of `compute_flow`.

    Attributes:
        labels_: module of each node (index order of `nodes_`), sorted by decreasing flow.
        partition_: node → module.  codelength_: L in bits.  one_level_codelength_: H(p).
        n_modules_: number of modules.  node_flow_: stationary visit rate of each node (the
        flow column of infomap's .clu and .tree files).
    """

    def __init__(self, *, random_state: int | None = None, num_trials: int = 1, max_tune: int = 10,
                 tune_threshold: float = 1e-5, directed: bool | None = None,
                 teleportation: float = 0.15, to_nodes: bool = False,
                 weight: str | None = "weight", markov_time: float = 1.0) -> None:  # fmt: skip
        self.random_state = random_state
        self.num_trials = num_trials
        self.max_tune = max_tune
        self.tune_threshold = tune_threshold
        self.directed = directed
        self.teleportation = teleportation
        self.to_nodes = to_nodes
        self.weight = weight
        self.markov_time = markov_time

    def fit(self, graph: nx.Graph, y: None = None) -> InfoMap:
        if not isinstance(graph, nx.Graph):
            raise TypeError(f"graph must be a networkx graph, got {type(graph).__name__}")
        if graph.number_of_nodes() == 0:
            raise ValueError("graph has no nodes: fit needs at least one")
        flow = compute_flow(graph, directed=self.directed, teleportation=self.teleportation,
                            to_nodes=self.to_nodes, weight=self.weight,
                            markov_time=self.markov_time)  # fmt: skip
        labels, length = _infomap_flow(
            flow, self.random_state, self.num_trials, self.max_tune, self.tune_threshold
        )
        mflow = np.bincount(labels, flow.p)
        rank = np.empty(len(mflow), np.int64)
        rank[np.argsort(-mflow, kind="stable")] = np.arange(len(mflow))
        self.labels_ = rank[labels]
        self.nodes_ = flow.nodes
        self.partition_ = dict(zip(flow.nodes, self.labels_.tolist(), strict=True))
        self.codelength_ = length
        self.one_level_codelength_ = float(-plogp(flow.p).sum())
        self.node_flow_ = np.asarray(flow.p, dtype=float)
        self.n_modules_ = int(len(mflow))
        return self
