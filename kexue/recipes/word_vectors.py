r"""Recipe: library (minimum-entropy) word vectors on 199801 vs PPMI-SVD; the dimension rule.

Article: 最小熵原理（四）：“物以类聚”之从图书馆到词向量 (see kexue.text.word_vectors)
Data:    kexue.data.peoples_daily() gold segmentation; vocabulary = the most frequent
         non-punctuation words; co-occurrence window ±5 within a line
Run:     kexue run word-vectors                 (full: 4,000 words, 200 epochs, a few minutes)
         kexue run word-vectors --budget quick  (2,000 words, ~30 s)
         kexue run word-vectors --budget smoke  (300 words, 2 epochs; claims not judged)
Writes:  config.json metrics.json claims.json history.csv neighbours.txt loss.png
         checkpoint.safetensors

Trains q(j|i) = softmax_j(score) by minimising the library cost S = −Σ p(i,j) ln q(j|i) with the
full softmax (exact gradient over row batches): two vector sets with the dot score (Word2Vec's
skip-gram objective) and one set with the L2 score (the library proper). S is a cross-entropy,
bounded below by H(J|I). Baseline: PPMI (α = 0.75) + truncated SVD. Metrics: kNN@10 agreement of
the words' majority gold POS (cosine), correlation of the learnt scores with PMI on frequent
pairs, and MEP VI's h_n (the entropy gap behind n > 8.33 ln N) against the article's values.
Claims: none yet (the vector metrics are reported, not judged). h_n against MEP VI's values is
checked by tests/text/test_word_vectors.py, not claimed.
Recorded: `kexue show word-vectors` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from kexue.data import peoples_daily
from kexue.recipes import _plot
from kexue.runs import Claim, RunDir, seed_everything
from kexue.text.word_vectors import (
    LibraryEmbedding,
    cooccurrence,
    dimension_rule,
    knn_agreement,
    ppmi_svd,
    sphere_entropy_gap,
    top_words,
)

# MEP VI's numeric h_n (nats) for n = 32, 64, 128, 256
ARTICLE_H = {32: -7.775, 64: -15.473, 128: -30.872, 256: -61.669}


@dataclass(frozen=True)
class Config:
    seed: int = 0
    n_lines: int = 0  # 0 = the whole corpus
    vocab_size: int = 4000
    window: int = 5
    dim: int = 100
    epochs: int = 200  # passes over all centre words (full softmax, exact gradient per batch)
    rows_per_batch: int = 500
    lr: float = 1e-2
    min_pair_count: int = 20  # pairs used for the PMI correlation


QUICK = {"vocab_size": 2000, "epochs": 40}
SMOKE = {"n_lines": 1500, "vocab_size": 300, "epochs": 2, "dim": 16}

# No claims yet: h_n against MEP VI's values is another article's arithmetic, a unit test
# (tests/text/test_word_vectors.py::test_sphere_entropy_gap_matches_mep_vi); h_n_max_abs_error
# stays a reported metric.
CLAIMS: tuple[Claim, ...] = ()


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    sentences = peoples_daily().sentences
    sentences = sentences[: cfg.n_lines] if cfg.n_lines else sentences
    sents = [list(s.words) for s in sentences]
    tags: dict[str, Counter] = defaultdict(Counter)
    for s in sentences:
        for w, t in zip(s.words, s.tags, strict=True):
            tags[w][t] += 1
    punct = {w for w, c in tags.items() if c.most_common(1)[0][0] == "w"}
    vocab = top_words(sents, cfg.vocab_size, punct)
    pos = [tags[w].most_common(1)[0][0] for w in vocab]
    counts = cooccurrence(sents, vocab, cfg.window)
    dense = torch.tensor(counts.toarray(), dtype=torch.float32)
    p_ij = dense / dense.sum()
    p_i = p_ij.sum(1)
    cond = p_ij / p_i.clamp_min(1e-30)[:, None]
    h_cond = float(-(p_ij[p_ij > 0] * torch.log(cond[p_ij > 0])).sum())  # H(J|I), nats

    metrics: dict[str, float] = {"n_pairs": float(counts.sum()), "h_cond_nats": h_cond}
    errs = [abs(sphere_entropy_gap(n) - h) for n, h in ARTICLE_H.items()]
    metrics["h_n_max_abs_error"] = max(errs)
    metrics["h_n_slope_256"] = sphere_entropy_gap(256) / 256
    metrics["dimension_rule"] = dimension_rule(len(vocab))

    svd = ppmi_svd(counts, cfg.dim, seed=cfg.seed)
    metrics["ppmi_svd_knn_pos"] = knn_agreement(svd, pos)

    models = {
        "dot2": LibraryEmbedding(len(vocab), cfg.dim, metric="dot", two_sets=True, generator=g),
        "l2": LibraryEmbedding(len(vocab), cfg.dim, metric="l2", two_sets=False, generator=g),
    }
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in models.items()}
    state = {**{f"model_{k}": m for k, m in models.items()},
             **{f"opt_{k}": o for k, o in opts.items()}, "rng": g}  # fmt: skip
    start = out.restore(state)
    n = len(vocab)
    for epoch in out.progress(range(start, cfg.epochs), "epochs"):
        order = torch.randperm(n, generator=g)
        totals = dict.fromkeys(models, 0.0)
        for b in range(0, n, cfg.rows_per_batch):
            rows = order[b : b + cfg.rows_per_batch]
            for name, model in models.items():
                logq = torch.log_softmax(model.logits(rows), dim=1)
                weights = p_ij[rows]
                # S restricted to these centre words: −Σ p(i,j) ln q(j|i)
                loss = -(weights * logq.masked_fill(weights == 0, 0.0)).sum()
                opts[name].zero_grad()
                loss.backward()
                opts[name].step()
                totals[name] += loss.item()
        out.log(epoch, **{f"S_{k}": v for k, v in totals.items()}, H_cond=h_cond)
        out.maybe_checkpoint(epoch + 1, state)
    out.save_checkpoint(cfg.epochs, state)

    # evaluation
    pmi = torch.log(p_ij / (p_i[:, None] * p_i[None, :])).numpy()
    frequent = counts.toarray() >= cfg.min_pair_count
    with torch.no_grad():
        for name, model in models.items():
            metrics[f"{name}_S_nats"] = out.history[-1][f"S_{name}"] if out.history else math.nan
            metrics[f"{name}_knn_pos"] = knn_agreement(model.vectors(), pos)
        dot = models["dot2"]
        scores = (dot.centre @ dot.context.T).numpy()
    # two-set optimum: ⟨u_i, v_j⟩ = PMI(i,j) + ln p(j) + c_i → compare after removing row means
    target = pmi + np.log(p_i.numpy())[None, :]
    s_c = scores - scores.mean(1, keepdims=True)
    t_c = np.where(frequent, target, 0.0)
    t_c = t_c - (t_c.sum(1) / np.maximum(frequent.sum(1), 1))[:, None]
    ok = frequent
    metrics["dot2_log_cond_corr"] = float(np.corrcoef(s_c[ok], t_c[ok])[0, 1])
    svd_gram = svd @ svd.T
    metrics["ppmi_svd_pmi_corr"] = float(np.corrcoef(svd_gram[frequent], pmi[frequent])[0, 1])

    if out.is_main:
        lines = []
        x = models["dot2"].vectors()
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        for w in vocab[:40]:
            i = vocab.index(w)
            nb = np.argsort(-(x @ x[i]))[1:9]
            lines.append(f"{w}: " + " ".join(vocab[j] for j in nb))
        out.write_text("neighbours.txt", "\n".join(lines) + "\n")
        fig = _plot.curves(out.history, ["S_dot2", "S_l2"], "library cost S (nats)",
                           {"H(J|I)": h_cond}, xlabel="epoch")  # fmt: skip
        out.save_figure(fig, "loss.png")
    return metrics
