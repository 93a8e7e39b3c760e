r"""Recipe: the map equation and InfoMap on karate, Les Misérables, LFR, and word clustering.

Article: 最小熵原理（五）：“层层递进”之社区发现与聚类
         (see kexue.graph.infomap, kexue.graph.mapequation)
Data:    networkx's karate club (3.6: integer edge weights; also unweighted) and Les Misérables;
         LFR benchmark graphs (n = 1,000, ⟨k⟩ = 15, τ1 = 3, τ2 = 1.5, max degree 50, communities
         20–100, graph seed 10, self-loops removed); 199801 words (PPMI-SVD vectors) for clustering
Run:     kexue run infomap                 (full: μ = 0.1…0.5, 4,000 words)
         kexue run infomap --budget quick  (μ = 0.1, 0.3, 0.5; 1,500 words; ~30 s)
         kexue run infomap --budget smoke  (karate and Les Mis only; claims not judged)
Writes:  config.json metrics.json claims.json history.csv clusters.txt lfr.png codelengths.png

The reference codelengths and NMIs of the `infomap` package (2.16.0, two-level, seed 1, one
trial) were measured on exactly these graphs and are stored in this module; the repository's
text benchmark re-runs the package side by side. Word clustering follows bojone/infomap's
`word_cluster.py`: for each of the most frequent words, directed links to its top-40 cosine
neighbours while the similarity is ≥ min_sim, the directed flow model, two-level InfoMap;
clusters are scored against the words' majority gold POS (purity, NMI).
Claims: the karate codelengths are reproduced; on LFR with μ ≤ 0.4 the codelength and NMI match
the infomap package's; at μ = 0.5 everything collapses into one module, as the map equation
demands.
Recorded: `kexue show infomap` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import networkx as nx
import numpy as np
from sklearn.metrics import normalized_mutual_info_score

from kexue.data import peoples_daily
from kexue.graph import InfoMap, map_equation
from kexue.recipes import _plot
from kexue.runs import Claim, RunDir, Statement, seed_everything, statements_doc
from kexue.text.word_vectors import cooccurrence, ppmi_svd, top_words

# infomap 2.16.0 on the same LFR graphs (two-level, seed 1, 1 trial): codelength, NMI, modules
REFERENCE = {0.1: (6.8033, 1.0, 23), 0.2: (7.8579, 1.0, 23), 0.3: (8.7964, 0.9918, 23),
             0.4: (9.5537, 0.8912, 21), 0.5: (9.8672, 0.0, 1)}  # fmt: skip
KARATE = {"weighted": 4.087423, "unweighted": 4.311793}
LESMIS = 4.204715


@dataclass(frozen=True)
class Config:
    seed: int = 0
    num_trials: int = 1  # InfoMap restarts on LFR (the reference used one)
    mus: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
    lfr_n: int = 1000
    n_words: int = 4000  # word clustering (0 = skip)
    top_k: int = 40
    min_sim: float = 0.5
    dim: int = 100


QUICK = {"mus": (0.1, 0.3, 0.5), "n_words": 1500}
SMOKE = {"mus": (), "n_words": 0}

CLAIMS = (
    Claim("karate (weighted): infomap's codelength 4.0874 bits reproduced",
          "karate_weighted_error", "<=", 1e-4, ("quick", "full"), kind="goal"),
    Claim("karate (unweighted): infomap's codelength 4.3118 bits reproduced",
          "karate_unweighted_error", "<=", 1e-4, ("quick", "full"), kind="goal"),
    Claim("LFR μ ≤ 0.4: codelength within 0.5% of infomap's", "lfr_max_rel_gap", "<=", 0.005,
          ("quick", "full"), kind="goal"),
    Claim("LFR μ ≤ 0.4: NMI within 0.01 of infomap's", "lfr_min_nmi_gap", ">=", -0.01,
          ("quick", "full"), kind="goal"),
    Claim("LFR μ = 0.5 collapses to a single module, as infomap's does (no compressible "
          "structure left)", "lfr_mu0.5_modules", "==", 1, ("quick", "full"), kind="goal"),
)  # fmt: skip

STATEMENTS = (
    Statement(
        "the map equation: a two-level code (module index + within-module codebooks) "
        "for a random walk, L(M) = q H(Q) + Σ p_i H(P_i)",
        "test",
        "tests/graph/test_infomap.py::test_map_equation_equals_textbook_form",
    ),
    Statement(
        "one module reduces the code to the entropy of the visit rates",
        "test",
        "tests/graph/test_infomap.py::test_one_module_is_the_entropy_of_visit_rates",
    ),
    Statement(
        "communities are the partition that minimises the description length (the "
        "author uses the infomap package's search)",
        "test",
        "tests/graph/test_infomap.py::test_equals_infomap_package_undirected",
    ),
    Statement(
        "the hierarchy goes deeper (层层递进): a multilevel code for nested modules",
        "test",
        "tests/graph/test_infomap.py::test_multilevel_equals_infomap_package",
    ),
    Statement(
        "clustering words by a graph of similar word vectors gives meaningful groups "
        "(the article's word clusters)",
        "untestable",
        "the article lists clusters from its own word vectors and judges them by eye; "
        "the recipe writes ours to a file without a claim",
    ),
)


def lfr_graph(n: int, mu: float, seed: int = 10) -> tuple[nx.Graph, dict]:
    g = nx.LFR_benchmark_graph(n, 3, 1.5, mu, average_degree=15, max_degree=50,
                               min_community=20, max_community=100, seed=seed)  # fmt: skip
    g.remove_edges_from(list(nx.selfloop_edges(g)))
    return g, {v: min(g.nodes[v]["community"]) for v in g}


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    seed_everything(cfg.seed)
    metrics: dict[str, float] = {}
    # ---- reference graphs
    karate = nx.karate_club_graph()
    for name, g in (("weighted", karate), ("unweighted", nx.Graph(karate.edges()))):
        est = InfoMap(random_state=cfg.seed, num_trials=3).fit(g)
        metrics[f"karate_{name}_codelength"] = est.codelength_
        metrics[f"karate_{name}_modules"] = est.n_modules_
        metrics[f"karate_{name}_error"] = abs(est.codelength_ - KARATE[name])
    est = InfoMap(random_state=cfg.seed, num_trials=3).fit(nx.les_miserables_graph())
    metrics["lesmis_codelength"], metrics["lesmis_modules"] = est.codelength_, est.n_modules_
    if out.is_main:
        groups = {
            "karate (w)": [metrics["karate_weighted_codelength"], KARATE["weighted"]],
            "karate": [metrics["karate_unweighted_codelength"], KARATE["unweighted"]],
            "Les Mis": [metrics["lesmis_codelength"], LESMIS],
        }
        fig = _plot.bars(groups, ["kexue", "infomap 2.16"], "two-level codelength", "bits")
        out.save_figure(fig, "codelengths.png")

    # ---- LFR sweep over μ
    gaps, nmi_gaps = [], []
    for step, mu in enumerate(out.progress(cfg.mus, "lfr sweep", total=len(cfg.mus))):
        g, planted = lfr_graph(cfg.lfr_n, mu)
        est = InfoMap(random_state=cfg.seed + 1, num_trials=cfg.num_trials).fit(g)
        nodes = list(g)
        nmi = normalized_mutual_info_score(
            [planted[v] for v in nodes], [est.partition_[v] for v in nodes]
        )
        ref_l, ref_nmi, _ = REFERENCE.get(mu, (np.nan, np.nan, 0))
        row = {"mu": mu, "codelength": est.codelength_, "nmi": nmi, "modules": est.n_modules_,
               "planted_codelength": map_equation(g, planted),
               "ref_codelength": ref_l}  # fmt: skip
        out.log(step, **{k: v for k, v in row.items() if np.isfinite(v)})
        for k in ("codelength", "nmi", "modules", "planted_codelength"):
            metrics[f"lfr_mu{mu}_{k}"] = row[k]
        if mu <= 0.4 and mu in REFERENCE:
            gaps.append((est.codelength_ - ref_l) / ref_l)
            nmi_gaps.append(nmi - ref_nmi)
    if gaps:
        metrics["lfr_max_rel_gap"] = max(gaps)
        metrics["lfr_min_nmi_gap"] = min(nmi_gaps)

    # ---- word clustering from a similarity graph of word vectors
    if cfg.n_words:
        sentences = peoples_daily().sentences
        tags: dict[str, Counter] = defaultdict(Counter)
        for s in sentences:
            for w, t in zip(s.words, s.tags, strict=True):
                tags[w][t] += 1
        punct = {w for w, c in tags.items() if c.most_common(1)[0][0] == "w"}
        sents = [list(s.words) for s in sentences]
        vocab = top_words(sents, cfg.n_words, punct)
        vec = ppmi_svd(cooccurrence(sents, vocab, 5), cfg.dim, seed=cfg.seed)
        x = vec / np.linalg.norm(vec, axis=1, keepdims=True)
        sim = x @ x.T
        np.fill_diagonal(sim, -np.inf)
        graph = nx.DiGraph()
        graph.add_nodes_from(range(len(vocab)))
        for i in range(len(vocab)):
            for j in np.argsort(-sim[i])[: cfg.top_k]:
                if sim[i, j] < cfg.min_sim:
                    break  # stop at the first neighbour below the threshold (as the author)
                graph.add_edge(i, int(j), weight=float(sim[i, j]))
        est = InfoMap(random_state=cfg.seed, num_trials=3).fit(graph)
        labels = np.array([est.partition_[i] for i in range(len(vocab))])
        pos = np.array([tags[w].most_common(1)[0][0] for w in vocab])
        purity = sum(Counter(pos[labels == m]).most_common(1)[0][1] for m in np.unique(labels))
        metrics.update(words_links=graph.number_of_edges(), words_modules=est.n_modules_,
                       words_codelength=est.codelength_, words_pos_purity=purity / len(vocab),
                       words_pos_nmi=normalized_mutual_info_score(pos, labels))  # fmt: skip
        if out.is_main:
            lines = []
            for m in range(min(60, est.n_modules_)):
                members = [vocab[i] for i in np.flatnonzero(labels == m)][:25]
                if len(members) >= 3:
                    lines.append(f"{m}: " + " ".join(members))
            out.write_text("clusters.txt", "\n".join(lines) + "\n")
    if out.is_main and cfg.mus:
        fig = _plot.curves(out.history, ["codelength", "planted_codelength", "ref_codelength"],
                           "LFR n=1000: codelength vs step (μ ascending)")  # fmt: skip
        out.save_figure(fig, "lfr.png")
    return metrics


__doc__ = statements_doc(__doc__, STATEMENTS)
