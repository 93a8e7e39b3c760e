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
the current partition), keeping the best of `num_trials` random restarts. The sweep over the
nodes (kexue.graph._infomap_sweep) is compiled by numba when it is installed (`pip install
kexue[fast]`); without numba the same code runs in Python, with identical results.

Hierarchical search (`hierarchical=True`, the article's "层层递进"; Infomap's default mode):
    multilevel map equation L = q↷ H(Q) + Σ_i L(M^i), a non-leaf module i coding its exit and
    its sub-modules' entries: L(M^i) = plogp(q_i↷ + Σ_j q_ij↶) − plogp(q_i↷) − Σ_j plogp(q_ij↶)
    + Σ_j L(M^ij). (1) best two-level partition; (2) super-modules: the modules become nodes with
    flow q_i↶ — their two-level code is exactly the index code with one more level — accepted
    while it shortens the index code, the top-most grouping becomes the top level; (3) each
    module is split by a two-level search on its subnetwork in which links leaving the module
    are external flows (they count in the sub-modules' exit/enter rates) and q_i↷ is a constant
    word of the index codebook, plus super-modules; the split is kept if it shortens L(M^i),
    then its sub-modules are split in turn, level by level.

Symbols: Flow (kexue.graph.mapequation): p visit rates, (src, dst, f) encoded link flows.

Deviations from the article:
    - The article uses the Infomap package; this is a numpy/Python re-implementation of its
      search (the local-move sweep compiled by numba when available) for link-encoded flows
      (undirected; directed with unrecorded teleportation, Infomap's default). Recorded
      teleportation is scored by `map_equation` but not optimised.
      No random single-node merges for degree ≤ 2 nodes. In hierarchical mode `num_trials`
      applies to the top two-level search only (sub-searches run one trial each); Infomap
      repeats the whole hierarchical search per trial.
    - Speed (LFR, 1 trial, shared 2-core machine, docs/benchmarks_text.md): with numba
      1.2–1.5× the C++ `run()` at n = 5,000 (1.1–3.3× at n = 1,000), about half of infomap's
      `add_networkx_graph` + `run()`; without numba 5–6× `run()` at n = 5,000. Once per
      process numba costs about 0.6 s to import and 0.4 s to load the cached sweep (3 s, 0.9 s
      of CPU, when it has to compile it).
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Hashable, Iterator
from typing import TypedDict, Unpack

import networkx as nx
import numpy as np
from sklearn.base import BaseEstimator

from kexue.graph import _infomap_sweep as _sweep
from kexue.graph.mapequation import Flow, compute_flow, plogp, two_level_codelength

__all__ = ["InfoMap", "best_moves", "infomap"]


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
    hierarchical: bool


def _plogp(x: float) -> float:
    return x * math.log2(x) if x > 0 else 0.0


class _Net:
    """A (possibly aggregated) network: node flows, out/in adjacency with link flows.

    `ext_out` / `ext_in` are flows between a node and the world outside this (sub)network; they
    count in the exit / enter rates of modules (zero for the whole network).
    """

    def __init__(self, p: np.ndarray, src: np.ndarray, dst: np.ndarray, f: np.ndarray,
                 ext_out: np.ndarray | None = None, ext_in: np.ndarray | None = None,
                 symmetric: bool | None = None) -> None:  # fmt: skip
        n = len(p)
        keep = src != dst
        src, dst, f = src[keep], dst[keep], f[keep]
        # merge parallel links (sorted by (src, dst))
        key = src * n + dst
        u, inv = np.unique(key, return_inverse=True)
        f = np.bincount(inv, f).astype(np.float64, copy=False)  # (int64 when there are none)
        src, dst = u // n, u % n
        self.p, self.src, self.dst, self.f = p, src, dst, f
        self.n = n
        self.ext_out = np.zeros(n) if ext_out is None else ext_out
        self.ext_in = np.zeros(n) if ext_in is None else ext_in
        if symmetric is None:  # aggregates and subnetworks inherit it (equal up to rounding)
            same_ext = np.array_equal(self.ext_out, self.ext_in)
            symmetric = same_ext and _is_symmetric(src, dst, f, n)
        self.symmetric = symmetric
        # CSR rows (neighbours ascending) of out-links and, unless symmetric, of in-links
        self.out_ptr = np.searchsorted(src, np.arange(n + 1))
        self.out_nb, self.out_w = dst, f
        if symmetric:
            self.in_ptr, self.in_nb, self.in_w = self.out_ptr, dst, f
        else:
            order = np.argsort(dst, kind="stable")
            self.in_ptr = np.searchsorted(dst[order], np.arange(n + 1))
            self.in_nb, self.in_w = src[order], f[order]
        self.out_arr = np.bincount(src, f, minlength=n) + self.ext_out
        self.in_arr = np.bincount(dst, f, minlength=n) + self.ext_in
        self._lists: tuple[list, ...] | None = None

    def sweep_args(self, jit: bool) -> tuple:
        """The network arguments of `_infomap_sweep.sweep`: numpy arrays for the compiled
        kernel, Python lists (built once per network) for the interpreter."""
        args = (self.out_ptr, self.out_nb, self.out_w, self.in_ptr, self.in_nb, self.in_w,
                self.symmetric, self.out_arr, self.in_arr, self.p)  # fmt: skip
        if jit:
            return args
        if self._lists is None:
            self._lists = tuple(x.tolist() if isinstance(x, np.ndarray) else x for x in args)
        return self._lists

    def aggregate(self, labels: np.ndarray, p: np.ndarray | None = None) -> _Net:
        """Modules as nodes (node flow `p`, default the modules' total flow)."""
        k = int(labels.max()) + 1
        return _Net(
            np.bincount(labels, self.p, minlength=k) if p is None else p,
            labels[self.src], labels[self.dst], self.f,
            np.bincount(labels, self.ext_out, minlength=k),
            np.bincount(labels, self.ext_in, minlength=k), self.symmetric,
        )  # fmt: skip

    def subnets(self, labels: np.ndarray, external: bool = False) -> list[_Net]:
        """The induced subnetwork of every module 0..k-1 (label −1: a node in none), its nodes in
        ascending order; with `external`, links to the rest become external flows. One pass
        over the links for all modules."""
        k = int(labels.max()) + 1
        lab = np.where(labels >= 0, labels, k)  # the nodes in no module: module k, dropped
        order = np.argsort(lab, kind="stable")
        counts = np.bincount(lab, minlength=k + 1)
        starts = np.cumsum(counts) - counts
        local = np.empty(self.n, np.int64)
        local[order] = np.arange(self.n) - starts[lab[order]]
        ls, ld = lab[self.src], lab[self.dst]
        keep = np.flatnonzero(ls == ld)
        keep = keep[np.argsort(ls[keep], kind="stable")]
        cuts = np.searchsorted(ls[keep], np.arange(k + 1))
        src, dst, f = local[self.src[keep]], local[self.dst[keep]], self.f[keep]
        ext_out = ext_in = None
        if external:
            cross = ls != ld
            ext_out = np.bincount(self.src[cross], self.f[cross], minlength=self.n) + self.ext_out
            ext_in = np.bincount(self.dst[cross], self.f[cross], minlength=self.n) + self.ext_in
        return [
            _Net(self.p[m], src[a:b], dst[a:b], f[a:b], None if ext_out is None else ext_out[m],
                 None if ext_in is None else ext_in[m], self.symmetric)
            for m, a, b in zip(np.split(order, starts[1:])[:k], cuts[:-1], cuts[1:], strict=True)
        ]  # fmt: skip

    def module_rates(self, labels: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
        """(enter, exit, flow) of k modules, external flows included."""
        cross = labels[self.src] != labels[self.dst]
        ex = np.bincount(labels[self.src][cross], self.f[cross], minlength=k)
        en = np.bincount(labels[self.dst][cross], self.f[cross], minlength=k)
        ex = ex + np.bincount(labels, self.ext_out, minlength=k)
        en = en + np.bincount(labels, self.ext_in, minlength=k)
        return en, ex, np.bincount(labels, self.p, minlength=k)


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


def _moves(net: _Net, lab: np.ndarray, state: tuple[np.ndarray, ...], total_enter: float
           ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Best single-node move of every node, vectorised: (ΔL, target module).

    The same ΔL as the sweep's (see the module docstring), for every (node, neighbouring
    module) pair at once and for a move to an empty module (target −1); ΔL = 0 and target =
    own module where nothing improves. `state` is (exit, enter, flow, cached module term, size)
    per module id.
    """
    exit_, enter, flow, mterm, size = state
    n, src, dst, f = net.n, net.src, net.dst, net.f
    if net.symmetric:
        key = src * n + lab[dst]
        uk, inv = np.unique(key, return_inverse=True)
        ob = ib = np.bincount(inv, f)
    else:
        key = np.concatenate([src * n + lab[dst], dst * n + lab[src]])
        uk, inv = np.unique(key, return_inverse=True)
        ob = np.bincount(inv[: len(src)], f, minlength=len(uk))
        ib = np.bincount(inv[len(src) :], f, minlength=len(uk))
    pv, pm = uk // n, uk % n
    own = pm == lab[pv]
    oa, ia = np.zeros(n), np.zeros(n)
    oa[pv[own]], ia[pv[own]] = ob[own], ib[own]
    o, i, p, a = net.out_arr, net.in_arr, net.p, lab
    ex_a = exit_[a] - (o - oa) + ia
    en_a = enter[a] - (i - ia) + oa
    base = -plogp(en_a) - plogp(ex_a) + plogp(ex_a + flow[a] - p) - mterm[a] - _plogp(total_enter)
    base_enter = total_enter - enter[a] + en_a
    # to an empty module (possible when v is not alone)
    best = base + plogp(o + p) - plogp(i) - plogp(o) + plogp(base_enter + i)
    best[size[a] <= 1] = 0.0
    target = np.where(best < 0.0, -1, a)
    best = np.minimum(best, 0.0)
    c = ~own
    cv, cb, cob, cib = pv[c], pm[c], ob[c], ib[c]
    ex_b = exit_[cb] + (o[cv] - cob) - cib
    en_b = enter[cb] + (i[cv] - cib) - cob
    delta = (base[cv] - mterm[cb] + plogp(ex_b + flow[cb] + p[cv]) - plogp(en_b) - plogp(ex_b)
             + plogp(base_enter[cv] - enter[cb] + en_b))  # fmt: skip
    np.minimum.at(best, cv, delta)
    win = delta == best[cv]
    target[cv[win]] = cb[win]
    return best, target


def best_moves(flow: Flow, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best single-node move of every node under the two-level map equation: (ΔL in bits,
    target module; −1 a new module, the node's own module where no move shortens the code).

    The vectorised twin of the search's sweep (kexue.graph._infomap_sweep), whose ΔL it equals.
    """
    net = _Net(flow.p, flow.src, flow.dst, flow.f)
    labels = np.asarray(labels, dtype=np.int64)
    state, total = _module_state(net, labels, 0.0)
    return _moves(net, labels, state, total)


def _module_state(net: _Net, lab: np.ndarray, offset: float
                  ) -> tuple[tuple[np.ndarray, ...], float]:  # fmt: skip
    """(exit, enter, flow, cached module term, size) per module id < n, and Σ enter + offset."""
    enter, exit_, flow = net.module_rates(lab, net.n)
    mterm = -plogp(enter) - plogp(exit_) + plogp(exit_ + flow)
    size = np.bincount(lab, minlength=net.n)
    return (exit_, enter, flow, mterm, size), float(enter.sum()) + offset


class _Mover:
    """Module state of a local-moving run on `net` from `labels`, and its sweep: the compiled
    `_infomap_sweep.sweep` over numpy arrays when numba imports, else the same function in
    Python over lists. Module ids are 0..n-1 (room for singletons)."""

    def __init__(self, net: _Net, labels: np.ndarray, offset: float = 0.0) -> None:
        n = net.n
        self.kernel = _sweep.kernel()
        self.jit = self.kernel is not None
        enter, exit_, flow = net.module_rates(labels, n)
        mterm = -plogp(enter) - plogp(exit_) + plogp(exit_ + flow)  # as cached by the sweep
        size = np.bincount(labels, minlength=n)
        unused = np.flatnonzero(size == 0)
        empty = np.zeros(n, np.int64)  # a stack of unused module ids, room for all
        empty[: len(unused)] = unused
        self.n_empty = len(unused)
        self.total_enter = float(enter.sum()) + offset  # `offset`: a constant index-code rate
        state = [labels.astype(np.int64), exit_, enter, flow, mterm, size, empty]
        scratch = [np.zeros(n), np.zeros(n), np.zeros(n, np.uint8), np.zeros(n, np.int64)]
        if not self.jit:
            state = [x.tolist() for x in state]
            scratch = [x.tolist() for x in scratch]
        self.lab, self.modules, self.scratch = state[0], state[1:], scratch
        self.net_args = net.sweep_args(self.jit)

    def sweep(self, visit: np.ndarray, threshold: float) -> tuple[float, int, np.ndarray]:
        """Visit `visit` in order; (summed ΔL, moves, neighbours of moved nodes as a mask)."""
        n = len(self.lab)
        nxt = np.zeros(n, np.uint8) if self.jit else bytearray(n)
        self.total_enter, self.n_empty, gain, moves = (self.kernel or _sweep.sweep)(
            visit if self.jit else visit.tolist(), self.lab, *self.net_args, *self.modules,
            self.n_empty, self.total_enter, threshold, nxt, *self.scratch,
        )  # fmt: skip
        return gain, moves, np.frombuffer(nxt, np.uint8).astype(bool)

    def labels(self) -> np.ndarray:
        return np.asarray(self.lab, np.int64)


def _core(net: _Net, labels: np.ndarray, rng: np.random.Generator, max_sweeps: int = 20,
          threshold: float = 1e-10, offset: float = 0.0) -> tuple[np.ndarray, bool]:  # fmt: skip
    """Local moving of single net nodes starting from `labels`; returns (labels, moved).

    Each sweep visits the active nodes in a random order; after the first sweep only nodes with
    a neighbour that moved are active (a node whose neighbourhood is unchanged has no improving
    move left). `offset` is a constant rate in the index codebook (the exit rate of the parent
    module in a hierarchical search).
    """
    mover = _Mover(net, labels, offset)
    active = np.ones(net.n, bool)
    moved_any = False
    for _ in range(max_sweeps):
        order = rng.permutation(net.n)
        gain, moves, active = mover.sweep(order[active[order]], threshold)
        moved_any = moved_any or moves > 0
        if moves == 0 or -gain < threshold:
            break
    return _relabel(mover.labels()), moved_any


def _levels(net: _Net, labels: np.ndarray, rng: np.random.Generator, offset: float = 0.0
            ) -> np.ndarray:  # fmt: skip
    """Core loop from `labels`, then repeatedly aggregate modules and move them."""
    labels, _ = _core(net, labels, rng, offset=offset)
    while True:
        agg = net.aggregate(labels)
        if agg.n <= 1:
            return labels
        sup, moved = _core(agg, np.arange(agg.n), rng, offset=offset)
        if not moved or sup.max() + 1 == agg.n:
            return labels
        labels = sup[labels]


def _codelength(net: _Net, labels: np.ndarray, node_entropy: float, offset: float = 0.0) -> float:
    """Two-level codelength (external flows and the index offset included) − constants."""
    en, ex, fl = net.module_rates(labels, int(labels.max()) + 1)
    return float(
        plogp(en.sum() + offset) - plogp(en).sum() - plogp(ex).sum() + plogp(ex + fl).sum()
        - node_entropy
    )  # fmt: skip


def _groups(labels: np.ndarray) -> list[np.ndarray]:
    """Members (ascending) of modules 0..k-1."""
    order = np.argsort(labels, kind="stable")
    cuts = np.searchsorted(labels[order], np.arange(1, int(labels.max()) + 1))
    return np.split(order, cuts)


def _trial(net: _Net, rng: np.random.Generator, node_entropy: float, max_tune: int,
           tune_threshold: float, offset: float = 0.0) -> tuple[np.ndarray, float]:  # fmt: skip
    labels = _levels(net, np.arange(net.n), rng, offset)
    best = _codelength(net, labels, node_entropy, offset)
    for it in range(max_tune):
        if it % 2 == 0:  # coarse tuning: split modules, move the submodules
            sub = np.empty(net.n, np.int64)
            base = 0
            for members, sn in zip(_groups(labels), net.subnets(labels), strict=True):
                if len(members) > 1:
                    parts, _ = _core(sn, np.arange(len(members)), rng)
                else:
                    parts = np.zeros(1, np.int64)
                sub[members] = parts + base
                base += int(parts.max()) + 1
            agg = net.aggregate(sub)
            start = np.zeros(agg.n, np.int64)
            start[sub] = labels  # each submodule starts in its module
            sup = _levels(agg, _relabel(start), rng, offset)
            cand = sup[sub]
        else:  # fine tuning: single nodes from the current partition
            cand = _levels(net, labels, rng, offset)
        length = _codelength(net, cand, node_entropy, offset)
        if length < best - 1e-12:
            improvement = (best - length) / best
            labels, best = _relabel(cand), length
            if improvement < tune_threshold:
                break
        elif it >= 1:
            break
    return labels, best


def _search(net: _Net, rng: np.random.Generator, num_trials: int, max_tune: int,
            tune_threshold: float, offset: float = 0.0) -> tuple[np.ndarray, float]:  # fmt: skip
    """Best two-level partition of `num_trials`; returns (labels, codelength − constants)."""
    node_entropy = float(plogp(net.p).sum())
    best_labels, best = np.zeros(net.n, np.int64), math.inf
    for _ in range(num_trials):
        labels, length = _trial(net, rng, node_entropy, max_tune, tune_threshold, offset)
        if length < best:
            best_labels, best = labels, length
    return best_labels, best


def _infomap_flow(flow: Flow, seed: int | None = None, num_trials: int = 1, max_tune: int = 10,
                  tune_threshold: float = 1e-5, hierarchical: bool = False
                  ) -> tuple[np.ndarray, float, list[tuple[int, ...]]]:  # fmt: skip
    """InfoMap on a precomputed link-encoded flow; returns (top labels, codelength, paths).

    Two-level by default (paths are (module + 1,)); `hierarchical` adds super-modules and
    recursive sub-modules and returns the multilevel codelength.
    """
    if flow.tele is not None:
        raise NotImplementedError("the optimiser handles link-encoded flows (recorded=False)")
    with _no_gc():
        return _run(flow, seed, num_trials, max_tune, tune_threshold, hierarchical)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: the search allocates many small lists and dicts
    (none in cycles), and each full collection would rescan the caller's heap (the networkx
    graph)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run(flow: Flow, seed: int | None, num_trials: int, max_tune: int, tune_threshold: float,
         hierarchical: bool) -> tuple[np.ndarray, float, list[tuple[int, ...]]]:  # fmt: skip
    net = _Net(flow.p, flow.src, flow.dst, flow.f)
    node_entropy = float(plogp(flow.p).sum())
    rng = np.random.default_rng(seed)
    best_labels, best = _search(net, rng, num_trials, max_tune, tune_threshold)
    # like Infomap: a partition that does not beat the one-module code (L = H(p)) is dropped
    if best >= -node_entropy:
        best_labels = np.zeros(net.n, np.int64)
    if not hierarchical:
        paths = [(x + 1,) for x in best_labels.tolist()]
        return best_labels, two_level_codelength(flow, best_labels)[0], paths
    top, length = _hierarchy(net, best_labels, rng, max_tune, tune_threshold)
    paths = _paths(top, net.n)
    return np.array([p[0] - 1 for p in paths], np.int64), length, paths


# ----------------------------------------------------------------------------- hierarchy
def _index_cost(exit_rate: float, enter: np.ndarray) -> float:
    """Codebook of a non-leaf module: its exit word and the entry words of its children."""
    return float(plogp(exit_rate + enter.sum()) - plogp(exit_rate) - plogp(enter).sum())


def _super_modules(net: _Net, labels: np.ndarray, rng: np.random.Generator, offset: float,
                   max_tune: int, tune_threshold: float) -> np.ndarray:  # fmt: skip
    """Group modules into super-modules while that shortens the index code; top-most grouping.

    The modules become nodes whose flow is their enter rate: the two-level code of that network
    is exactly the index code with one more level (Infomap's findHierarchicalSuperModules).
    """
    while True:
        k = int(labels.max()) + 1
        if k <= 2:
            return labels
        enter, _, _ = net.module_rates(labels, k)
        old = float(plogp(offset + enter.sum()) - plogp(enter).sum())
        sup, length = _search(net.aggregate(labels, enter), rng, 1, max_tune, tune_threshold,
                              offset)  # fmt: skip
        n_sup = int(sup.max()) + 1
        if n_sup in (1, k) or not length < old - 1e-10:
            return labels
        labels = sup[labels]
        if int((np.bincount(sup) > 1).sum()) <= 1:
            return labels


class _Module:
    """A tree node of the hierarchy: graph nodes `members`, sub-modules `children` (or None)."""

    def __init__(self, members: np.ndarray, flow: float) -> None:
        self.members, self.flow = members, flow
        self.children: list[_Module] | None = None
        self.leaf_cost = 0.0  # p↻ H(P) of this module as a leaf
        self.index_cost = 0.0  # its codebook of exit + sub-module entries, when split

    def cost(self) -> float:
        """Codelength of this module's codebook and of everything below it."""
        if self.children is None:
            return self.leaf_cost
        return self.index_cost + sum(c.cost() for c in self.children)


def _split(sub: _Net, module: _Module, rng: np.random.Generator, max_tune: int,
           tune_threshold: float, search: bool = True) -> list[_Module] | None:  # fmt: skip
    """Sub-modules of `module` if they shorten its code (else None); sets its costs.

    Two-level search on the module's subnetwork `sub`, where links to the rest of the network
    are external flows and the module's exit rate sits in the index codebook, then
    super-modules.
    """
    q = float(sub.ext_out.sum())  # the module's exit rate
    node_entropy = float(plogp(sub.p).sum())
    module.leaf_cost = float(plogp(q + sub.p.sum()) - plogp(q)) - node_entropy
    if not search or len(module.members) <= 2:
        return None
    labels, _ = _search(sub, rng, 1, max_tune, tune_threshold, q)
    if int(labels.max()) + 1 not in (1, len(module.members)):
        labels = _super_modules(sub, labels, rng, q, max_tune, tune_threshold)
    k = int(labels.max()) + 1
    if k in (1, len(module.members)):
        return None
    enter, exit_, flow = sub.module_rates(labels, k)
    index = _index_cost(q, enter)
    leaves = float(plogp(exit_ + flow).sum() - plogp(exit_).sum()) - node_entropy
    if not index + leaves < module.leaf_cost - 1e-10:
        return None
    module.index_cost = index
    return [_Module(module.members[g], float(flow[j])) for j, g in enumerate(_groups(labels))]


def _hierarchy(net: _Net, labels: np.ndarray, rng: np.random.Generator, max_tune: int,
               tune_threshold: float) -> tuple[list[_Module], float]:  # fmt: skip
    """Super-modules on top of a two-level partition, then recursive sub-module search.

    Returns (top modules, multilevel codelength). Like Infomap's default (multilevel) mode: the
    top level is the top-most accepted super-module grouping (the levels below are searched
    again inside each top module), then modules are split level by level while that shortens
    the code. A trivial partition (one module, or all singletons) is kept as it is.
    """
    k = int(labels.max()) + 1
    trivial = k in (1, net.n)
    if not trivial:
        labels = _super_modules(net, labels, rng, 0.0, max_tune, tune_threshold)
        k = int(labels.max()) + 1
    enter, _, flow = net.module_rates(labels, k)
    top = [_Module(g, float(flow[j])) for j, g in enumerate(_groups(labels))]
    queue = top
    while queue:
        owner = np.full(net.n, -1)
        for j, module in enumerate(queue):
            owner[module.members] = j
        nxt = []
        for module, sub in zip(queue, net.subnets(owner, external=True), strict=True):
            module.children = _split(sub, module, rng, max_tune, tune_threshold, not trivial)
            nxt.extend(module.children or [])
        queue = nxt
    return top, _index_cost(0.0, enter) + sum(m.cost() for m in top)


def _paths(top: list[_Module], n: int) -> list[tuple[int, ...]]:
    """1-based module path of every node; siblings ordered by decreasing flow (like Infomap)."""
    paths: list[tuple[int, ...]] = [()] * n
    stack = [((), top)]
    while stack:
        prefix, modules = stack.pop()
        order = sorted(range(len(modules)), key=lambda j: -modules[j].flow)
        for rank, j in enumerate(order, 1):
            m = modules[j]
            path = (*prefix, rank)
            if m.children is None:
                for v in m.members.tolist():
                    paths[v] = path
            else:
                stack.append((path, m.children))
    return paths


def infomap(
    graph: nx.Graph, seed: int | None = None, **options: Unpack[_InfoMapOptions]
) -> dict[Hashable, int]:
    """Node → module id (0 = the module with the most flow) minimising the map equation.

    Options: num_trials (1), max_tune (10), tune_threshold (1e-5), hierarchical (False: top
    modules of the multilevel search), and the flow options of `compute_flow` (directed,
    teleportation, to_nodes, weight, markov_time).
    """
    return InfoMap(random_state=seed, **options).fit(graph).partition_


class InfoMap(BaseEstimator):
    """Estimator twin of `infomap` (scikit-learn contract).

    Parameters:
        random_state: seeds the search (the `seed` of `infomap`); None draws fresh entropy.
        num_trials, max_tune, tune_threshold: see `infomap`; directed, teleportation, to_nodes,
        weight, markov_time: the flow options of `compute_flow`.
        hierarchical: multilevel search (Infomap without --two-level): super-modules on top of
            the best two-level partition, then each module split recursively while the
            multilevel codelength drops (sub-searches use one trial).

    Attributes:
        labels_: top module of each node (index order of `nodes_`), sorted by decreasing flow.
        partition_: node → top module.  n_modules_: number of top modules.
        codelength_: L in bits (the multilevel codelength when hierarchical).
        one_level_codelength_: H(p).  node_flow_: stationary visit rate of each node (the flow
        column of infomap's .clu and .tree files).
        paths_: 1-based module path of each node (index order of `nodes_`), e.g. (2, 1) = first
            sub-module of the second top module, as in infomap's .tree without the leaf index;
            (m + 1,) in two-level mode.  tree_: node → path.
        num_levels_: levels of the tree counting the leaves, as infomap's `num_levels` (2 for a
            two-level partition).
    """

    def __init__(self, *, random_state: int | None = None, num_trials: int = 1, max_tune: int = 10,
                 tune_threshold: float = 1e-5, directed: bool | None = None,
                 teleportation: float = 0.15, to_nodes: bool = False,
                 weight: str | None = "weight", markov_time: float = 1.0,
                 hierarchical: bool = False) -> None:  # fmt: skip
        self.random_state = random_state
        self.num_trials = num_trials
        self.max_tune = max_tune
        self.tune_threshold = tune_threshold
        self.directed = directed
        self.teleportation = teleportation
        self.to_nodes = to_nodes
        self.weight = weight
        self.markov_time = markov_time
        self.hierarchical = hierarchical

    def fit(self, graph: nx.Graph, y: None = None) -> InfoMap:
        if not isinstance(graph, nx.Graph):
            raise TypeError(f"graph must be a networkx graph, got {type(graph).__name__}")
        if graph.number_of_nodes() == 0:
            raise ValueError("graph has no nodes: fit needs at least one")
        flow = compute_flow(graph, directed=self.directed, teleportation=self.teleportation,
                            to_nodes=self.to_nodes, weight=self.weight,
                            markov_time=self.markov_time)  # fmt: skip
        labels, length, paths = _infomap_flow(flow, self.random_state, self.num_trials,
                                              self.max_tune, self.tune_threshold,
                                              self.hierarchical)  # fmt: skip
        mflow = np.bincount(labels, flow.p)
        rank = np.empty(len(mflow), np.int64)
        rank[np.argsort(-mflow, kind="stable")] = np.arange(len(mflow))
        self.labels_ = rank[labels]
        self.nodes_ = flow.nodes
        self.partition_ = dict(zip(flow.nodes, self.labels_.tolist(), strict=True))
        if not self.hierarchical:
            paths = [(x + 1,) for x in self.labels_.tolist()]
        self.paths_ = paths
        self.tree_ = dict(zip(flow.nodes, paths, strict=True))
        self.num_levels_ = max(map(len, paths)) + 1
        self.codelength_ = length
        self.one_level_codelength_ = float(-plogp(flow.p).sum())
        self.node_flow_ = np.asarray(flow.p, dtype=float)
        self.n_modules_ = int(len(mflow))
        return self
