r"""Evaluation of segmentations and lexicons: SIGHAN span scores, type scores, bits per char.

* `cws_scores`: each sentence becomes the set of character spans [start, end) of its words;
  correct = |pred ∩ gold|, P = correct/|pred|, R = correct/|gold|, F1 = 2PR/(P+R), micro-averaged
  (the standard re-implementation of the SIGHAN `score` script, which aligns with `diff`; the two
  agree except for pathological repeated-token alignments). OOV/IV recall when a training word
  list is given.
* `lexicon_scores`: type precision/recall against the gold vocabulary, precision@k of the k most
  frequent words, token-weighted recall.
* `bits_per_char`: the MEP objective L = H / l, H the unigram entropy (bits per token) of the
  segmented corpus and l the mean token length in characters (最小熵原理（二）, eq. 2.8).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["cws_scores", "lexicon_scores", "bits_per_char"]


def _spans(sentences: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Global (start, end) offsets of every word, and the words."""
    words = [w for s in sentences for w in s]
    ends = np.cumsum([len(w) for w in words], dtype=np.int64)
    starts = ends - np.array([len(w) for w in words], dtype=np.int64)
    return starts, ends, words


def cws_scores(predicted: Sequence[Sequence[str]], gold: Sequence[Sequence[str]],
               train_words: Iterable[str] | None = None) -> dict[str, float]:  # fmt: skip
    """SIGHAN-style span precision, recall and F1 over lists of word lists.

    Raises:
        ValueError: a predicted sentence does not concatenate to its gold sentence.
    """
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted sentences vs {len(gold)} gold")
    for i, (p, g) in enumerate(zip(predicted, gold, strict=True)):
        if "".join(p) != "".join(g):
            raise ValueError(f"sentence {i}: texts differ: {''.join(p)!r} vs {''.join(g)!r}")
    ps, pe, _ = _spans(predicted)
    gs, ge, gwords = _spans(gold)
    big = np.int64(ge[-1] + 1) if len(ge) else np.int64(1)
    pk, gk = ps * big + pe, gs * big + ge
    hit = np.isin(gk, pk)  # spans are unique within one segmentation
    correct = int(hit.sum())
    p = correct / len(pk) if len(pk) else 0.0
    r = correct / len(gk) if len(gk) else 0.0
    out = {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "n_pred": float(len(pk)),
        "n_gold": float(len(gk)),
        "n_correct": float(correct),
    }
    if train_words is not None:
        vocab = set(train_words)
        iv = np.array([w in vocab for w in gwords], dtype=bool)
        out["iv_recall"] = float(hit[iv].mean()) if iv.any() else 0.0
        out["oov_recall"] = float(hit[~iv].mean()) if (~iv).any() else 0.0
        out["oov_rate"] = float((~iv).mean())
    return out


def lexicon_scores(lexicon: Mapping[str, float], gold: Sequence[Sequence[str]],
                   ks: Sequence[int] = (1000, 5000, 10000)) -> dict[str, float]:  # fmt: skip
    """Type precision/recall, precision@k (most frequent first), token-weighted recall."""
    gold_counts = Counter(w for s in gold for w in s)
    vocab = set(gold_counts)
    hits = [w for w in lexicon if w in vocab]
    out = {
        "lexicon_size": float(len(lexicon)),
        "type_precision": len(hits) / len(lexicon) if lexicon else 0.0,
        "type_recall": len(hits) / len(vocab),
        "token_recall": sum(gold_counts[w] for w in hits) / sum(gold_counts.values()),
    }
    ranked = sorted(lexicon, key=lambda w: (-lexicon[w], w))
    for k in ks:
        top = ranked[:k]
        if len(top) == k:
            out[f"precision_at_{k}"] = sum(w in vocab for w in top) / k
    return out


def bits_per_char(sentences: Iterable[Sequence[str]]) -> float:
    """L = H / l (bits per character) of a segmented corpus under its own unigram model."""
    counts = Counter(w for s in sentences for w in s)
    n_tokens = sum(counts.values())
    n_chars = sum(len(w) * c for w, c in counts.items())
    c = np.fromiter(counts.values(), dtype=np.float64)
    h = math.log2(n_tokens) - float((c * np.log2(c)).sum()) / n_tokens
    return h / (n_chars / n_tokens)
