"""Hierarchical InfoMap: multilevel search against the infomap package and tree invariants."""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from kexue.graph import InfoMap, compute_flow, multilevel_codelength


def nested_sbm(n_super: int, n_sub: int, size: int, p: tuple[float, float, float], seed: int):
    """Planted 2-level hierarchy: dense blocks, sparser within a super-block, sparse across."""
    k = n_super * n_sub
    probs = np.full((k, k), p[2])
    for a in range(k):
        for b in range(k):
            if a // n_sub == b // n_sub:
                probs[a, b] = p[1]
    np.fill_diagonal(probs, p[0])
    return nx.stochastic_block_model([size] * k, probs.tolist(), seed=seed)


def lfr(n: int = 1000, mu: float = 0.3, seed: int = 10) -> nx.Graph:
    g = nx.LFR_benchmark_graph(n, 3, 1.5, mu, average_degree=15, max_degree=50,
                               min_community=20, max_community=100, seed=seed)  # fmt: skip
    g.remove_edges_from(list(nx.selfloop_edges(g)))
    return g


def peer_hierarchical(graph: nx.Graph) -> tuple[float, int]:
    """(codelength, num_levels) of infomap's default multilevel mode, seed 1, one trial."""
    im_mod = pytest.importorskip("infomap")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        im = im_mod.Infomap(silent=True, seed=1, num_trials=1, two_level=False)
        im.add_networkx_graph(graph, weight="weight")
        im.run()
        return im.codelength, im.num_levels


def check_tree(paths: list[tuple[int, ...]]) -> None:
    """Paths form a tree: no path is a prefix of another, siblings are numbered 1..k."""
    leaves = set(paths)
    prefixes = {p[:d] for p in leaves for d in range(len(p))}
    assert not leaves & prefixes  # a module holds either nodes or sub-modules
    children: dict[tuple[int, ...], set[int]] = {}
    for p in leaves | prefixes:
        if p:
            children.setdefault(p[:-1], set()).add(p[-1])
    for kids in children.values():
        assert kids == set(range(1, len(kids) + 1))


@pytest.mark.parametrize(
    "shape", [(4, 4, 25, (0.5, 0.05, 0.002), 0), (3, 3, 30, (0.4, 0.04, 0.001), 1)]
)
def test_planted_hierarchy_against_infomap(shape):
    g = nested_sbm(*shape)
    n_sub = shape[1]
    est = InfoMap(random_state=1, hierarchical=True).fit(g)
    length, levels = peer_hierarchical(g)
    assert est.codelength_ <= length * 1.005
    assert est.num_levels_ == levels == 3  # modules, sub-modules, nodes
    blocks = [g.nodes[v]["block"] for v in est.nodes_]
    assert adjusted_rand_score([b // n_sub for b in blocks], est.labels_) == 1.0
    assert adjusted_rand_score(blocks, [str(p) for p in est.paths_]) == 1.0
    check_tree(est.paths_)


def test_lfr_against_infomap():
    g = lfr()
    est = InfoMap(random_state=1, hierarchical=True).fit(g)
    length, levels = peer_hierarchical(g)
    assert est.codelength_ == pytest.approx(length, rel=0.005)
    assert est.num_levels_ == levels  # LFR has one planted level: both stay two-level
    two = InfoMap(random_state=1).fit(g)
    assert est.codelength_ <= two.codelength_ + 1e-9


def test_hierarchy_beats_two_level_on_planted_hierarchy():
    g = nested_sbm(4, 4, 25, (0.5, 0.05, 0.002), 0)
    two = InfoMap(random_state=1).fit(g)
    hier = InfoMap(random_state=1, hierarchical=True).fit(g)
    assert two.num_levels_ == 2 and two.paths_ == [(m + 1,) for m in two.labels_]
    assert hier.codelength_ < two.codelength_ - 0.1


@settings(max_examples=15, deadline=None)
@given(
    st.integers(2, 4), st.integers(2, 3), st.integers(4, 10), st.integers(0, 10_000),
    st.sampled_from([False, True]),
)  # fmt: skip
def test_tree_invariants(n_super, n_sub, size, seed, directed):
    g = nested_sbm(n_super, n_sub, size, (0.7, 0.15, 0.02), seed)
    if directed:
        rng = np.random.default_rng(seed)
        g = nx.DiGraph([(u, v) if rng.random() < 0.5 else (v, u) for u, v in g.edges()])
        g.add_nodes_from(range(n_super * n_sub * size))
    est = InfoMap(random_state=seed, hierarchical=True).fit(g)
    check_tree(est.paths_)
    flow = compute_flow(g)
    assert est.codelength_ == pytest.approx(multilevel_codelength(flow, est.paths_), abs=1e-9)
    assert est.codelength_ <= est.one_level_codelength_ + 1e-9
    assert est.num_levels_ == max(map(len, est.paths_)) + 1
    assert [p[0] - 1 for p in est.paths_] == est.labels_.tolist()
    two = InfoMap(random_state=seed).fit(g)  # a two-level result is never worse than one module
    assert two.codelength_ <= two.one_level_codelength_ + 1e-9
    assert est.tree_ == dict(zip(est.nodes_, est.paths_, strict=True))


def test_deterministic_under_seed():
    g = nested_sbm(3, 3, 12, (0.6, 0.1, 0.01), 5)
    a = InfoMap(random_state=7, hierarchical=True).fit(g)
    b = InfoMap(random_state=7, hierarchical=True).fit(g)
    assert a.paths_ == b.paths_ and a.codelength_ == b.codelength_


def test_one_module_stays_flat():
    g = nx.complete_graph(12)
    est = InfoMap(random_state=0, hierarchical=True).fit(g)
    assert est.paths_ == [(1,)] * 12 and est.num_levels_ == 2
    assert est.codelength_ == pytest.approx(est.one_level_codelength_, abs=1e-12)
