r"""Unsupervised lexicon construction: the MEP-II merge criterion and multi-gram cohesion.

Article:  最小熵原理（二）：“当机立断”之词库构建 — 苏剑林, 2018-04-24
URL:      https://kexue.fm/archives/5476
See also: 【中文分词系列】8. 更好的新词发现算法 (https://kexue.fm/archives/4256),
          重新写了之前的新词发现算法：更快更好的新词发现 (https://kexue.fm/archives/6920)
Original: PyPI nlp-zero 0.1.6 (`Word_Finder`); bojone/word-discovery (`word_discovery.py`)

Key equations (natural log; units i with counts N_i, N = Σ N_i, p_i = N_i / N)::

    bits per char      L = H / l,  H = −Σ p_i log2 p_i,  l = Σ p_i len(i)            (2.8)
    merge a,b → ab     L' − L = −F_ab / l                                           (2.13)
    F_ab = p_ab ln(p_ab / (p_a p_b)) − (1 − p_ab) ln(1 − p_ab)
           + Σ_{i∈{a,b}} (p_i − p_ab) ln(1 − p_ab / p_i)                              (2.11)
    F*_ab = p_ab (ln(p_ab / (p_a p_b)) − 1)  ≤ F_ab                                  (2.15)
    k units: F_a = p_a ln(p_a / Π p_i) − [1 − (k−1) p_a] ln[1 − (k−1) p_a]
                   + Σ_i (p_i − p_a) ln(1 − p_a / p_i)                               (2.16)
    cohesion (blog 4256)   coh(s) = min_{1≤j<|s|} T c(s) / (c(s[:j]) c(s[j:]))

MEP II ("当机立断"): cut between neighbours unless the pair is strong (count ≥ min_count and
PMI > min_pmi); count the quasi-words; drop rare ones; de-redundancy sweep (longest first: take
w out, segment it with the rest; if its PMI against its parts is below the threshold, keep it
out and give its count to the parts). Cohesion pipeline: G = {s : ln coh(s) ≥ θ_|s|}; pre-segment
by "longest linkage" (never cut inside an occurrence of a member of G; overlapping occurrences
chain, touching ones do not); count the pieces; backtrack (keep w if |w| < 3, or w ∈ G, or every
n-window of a longer w is in G).

Beyond the article (issue 13): the nVBE autonomy of Magistry & Sagot (2012, "Unsupervised word
segmentation: the case for Mandarin Chinese", ACL) as a per-word bonus in the Viterbi score::

    h_r(x) = −Σ_c P(c | x) ln P(c | x)   (c: the next character or the chunk end; h_l mirrored)
    VBE_r(x) = h_r(x) − h_r(x[:-1]),  VBE_l(x) = h_l(x) − h_l(x[1:])
    a(x) = Σ_{d∈{l,r}} (VBE_d(x) − μ_d,|x|) / σ_d,|x|     (moments over the |x|-gram types)
    score(w) = ln p(w) + β a(w) |w|                       (β tuned on the dev lines)
    candidates  {x : a(x) ≥ τ, c(x) ≥ 2, 2 ≤ |x| ≤ 5} added with count κ c(x)  (τ on dev, κ = ½)
    function characters  F = the K characters of highest a(c) among those of frequency ≥ f_min;
    score(w) −= γ  for |w| ≥ 2 with w[0] ∈ F or w[−1] ∈ F              (γ on dev, K = 10)

Symbols: c(s) exact corpus count of string s; T total characters; n highest order (4);
θ_k ln-thresholds (θ_2, θ_3, θ_4) = (2, 4, 6).

Deviations from the article:
    - Exact per-order counts (no KenLM: no `<s>` padding, no dropped chunk tails, min_count per
      order, T = character count), so thresholds act on unbiased PMIs (spec §3.4).
    - Thresholds are absolute `min_count`s (the article's min_prob on a 20 GB corpus means nothing
      on 2 MB); MEP-II normalises pair probabilities by the pair total as nlp-zero does
      (`pair_norm="pairs"`; "chars" gives the article's single N).
    - The de-redundancy sweep order is fixed (length desc, count desc, string) and the removal
      rule is nlp-zero's: PMI(w; parts) < len(w) − 1 ("length"), or a fixed number.
    - `refine_lexicon` (not in the article) iterates segmentation and re-counting (hard EM on the
      unigram objective L), pruning words below min_count: the MEP objective itself, minimised
      jointly over lexicon and segmentation.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from kexue.text.ngrams import (
    KEEP,
    NgramTable,
    _codepoints,
    _fit_texts,
    _lines_of,
    count_ngrams_stream,
    count_ngrams_table,
    iter_shards,
    join_chunks,
)
from kexue.text.segment import UnigramSegmenter

__all__ = [
    "bits_per_char_counts",
    "merge_gain",
    "merge_gain_approx",
    "merge_gain_k",
    "cohesive_grams",
    "link_segment",
    "cohesion_lexicon",
    "mep_lexicon",
    "refine_lexicon",
    "branching_autonomy",
    "branching_statistics",
    "autonomous_candidates",
    "function_characters",
    "function_edge_penalty",
    "discover_words",
    "CohesionLexicon",
    "MinEntropyLexicon",
]

PairNorm = Literal["pairs", "chars"]


# ----------------------------------------------------------------------------- corpus input
def _corpus(texts: Iterable[str], keep: str) -> tuple[list[str], str]:
    """The texts as a list, and their kept chunks joined by NUL (`join_chunks`).

    Every corpus entry point of this module goes through here, so a bare `str` (which would be
    iterated character by character) and a corpus without a single kept character fail with a
    clear message instead of a silent wrong answer or "math domain error".
    """
    texts = _lines_of(texts)
    joined = join_chunks(texts, keep)
    if not joined:
        raise ValueError(
            f"empty corpus: the {len(texts)} texts hold no character of the kept class (the "
            "`keep` argument; punctuation and spaces are only boundaries)"
        )
    return texts, joined


# ----------------------------------------------------------------------------- the criterion
def bits_per_char_counts(counts: Mapping[object, int], lengths: Mapping[object, int]) -> float:
    """L = H / l in bits per character for unit counts and unit lengths (eq. 2.8)."""
    c = np.array([counts[u] for u in counts], dtype=np.float64)
    ln = np.array([lengths[u] for u in counts], dtype=np.float64)
    p = c[c > 0] / c.sum()
    h = -(p * np.log2(p)).sum()
    return float(h / (p * ln[c > 0]).sum())


def merge_gain(p_ab: float, p_a: float, p_b: float) -> float:
    """F_ab of eq. 2.11 (natural log): merging every (a, b) changes L by −F_ab / l."""
    return merge_gain_k(p_ab, [p_a, p_b])


def merge_gain_approx(p_ab: float, p_a: float, p_b: float) -> float:
    """F*_ab = p_ab (ln(p_ab / (p_a p_b)) − 1), eq. 2.15."""
    return p_ab * (math.log(p_ab / (p_a * p_b)) - 1.0)


def merge_gain_k(p_w: float, p_parts: Sequence[float]) -> float:
    """F_a for merging k distinct units a_1..a_k into one (eq. 2.16)."""
    k = len(p_parts)
    f = p_w * math.log(p_w / math.prod(p_parts)) - (1 - (k - 1) * p_w) * math.log(
        1 - (k - 1) * p_w
    )
    return f + sum((p - p_w) * math.log1p(-p_w / p) for p in p_parts)


# ----------------------------------------------------------------------------- cohesion
def cohesive_grams(
    table: NgramTable, thresholds: Sequence[float], total: float | None = None
) -> dict[int, np.ndarray]:
    """G per order k ≥ 2: sorted packed keys with ln coh(s) ≥ thresholds[k] (index 0, 1 unused)."""
    total = float(table.total(1) if total is None else total)
    out = {}
    for k in range(2, table.n + 1):
        keys, cnt = table.keys[k - 1], table.counts[k - 1]
        worst = np.full(len(keys), np.inf)
        for j in range(1, k):
            shift = np.uint64(table.bits * (k - j))
            left = table.lookup(j, keys >> shift)
            right = table.lookup(k - j, keys & np.uint64((1 << (table.bits * (k - j))) - 1))
            # a missing part (below min_count) counts as `total` → tiny cohesion (as the author)
            left = np.where(left > 0, left, total)
            right = np.where(right > 0, right, total)
            worst = np.minimum(worst, math.log(total) + np.log(cnt) - np.log(left * right))
        out[k] = keys[worst >= thresholds[k]]
    return out


def link_segment(joined: str, table: NgramTable, linked: dict[int, np.ndarray]) -> list[str]:
    """Cut a NUL-joined corpus everywhere except inside occurrences of the `linked` grams.

    `linked[k]` are sorted packed keys of order k; an occurrence at i forbids the k − 1 cuts
    inside it, so overlapping occurrences chain and touching ones stay separate.
    """
    cps = _codepoints(joined)
    ids = table.ids(cps)
    diff = np.zeros(len(ids) + 1, np.int64)
    for k, keys in linked.items():
        if len(keys) == 0 or len(ids) < k:
            continue
        key, valid = table.position_keys(ids, k)
        pos = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
        starts = np.flatnonzero(valid & (keys[pos] == key))
        np.add.at(diff, starts, 1)
        np.add.at(diff, starts + k - 1, -1)
    covered = np.cumsum(diff)[: len(ids) - 1] > 0  # link between i and i + 1
    cuts = np.r_[0, np.flatnonzero(~covered) + 1, len(ids)]
    return [
        joined[s:e]
        for s, e in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True)
        if joined[s] != "\0"
    ]


def _decode_all(table: NgramTable, grams: dict[int, np.ndarray]) -> set[str]:
    return {s for k, keys in grams.items() for s in table.decode(k, keys)}


def cohesion_lexicon(texts: Iterable[str] | Callable[[], Iterable[str]], n: int = 4,
                     min_count: int = 4, thresholds: Sequence[float] = (0, 0, 2, 4, 6),
                     keep: str = KEEP, table: NgramTable | None = None,
                     shard_chars: int = 10_000_000,
                     ) -> tuple[dict[str, int], dict[str, object]]:  # fmt: skip
    """The word-discovery pipeline (count → cohesion filter → pre-segment → count → backtrack).

    Args:
        texts: the corpus as lines, or a function returning a fresh iterator over them (e.g.
            lines read from files): then the corpus is streamed in shards of about
            `shard_chars` characters, two passes to count and one to pre-segment, and memory is
            bounded by a shard and the n-gram table instead of the corpus.
        table: the n-gram counts of `texts` when they were counted elsewhere (e.g. on a Dask
            cluster by `count_ngrams_dask` with min_count [1, min_count, …]); counted here if
            None.

    Returns:
        (lexicon word → count, info with the size of G and the number of candidates).
    """
    mins = [1] + [min_count] * (n - 1)
    if callable(texts):
        stream = texts
        if table is None:
            table = count_ngrams_stream(stream, n, mins, keep=keep, shard_chars=shard_chars)
        if table.total(1) == 0:
            raise ValueError("empty corpus: no character of the kept class (the `keep` argument)")
    else:
        lines, _ = _corpus(texts, keep)
        stream = lines.__iter__
        if table is None:
            table = count_ngrams_table(lines, n, mins, keep=keep)
    if table.n != n:
        raise ValueError(f"the table counts orders 1..{table.n}, the pipeline needs 1..{n}")
    grams = cohesive_grams(table, thresholds)
    pieces: Counter[str] = Counter()
    for shard in iter_shards(stream(), shard_chars):  # pieces never cross a line
        pieces.update(link_segment(join_chunks(shard, keep), table, grams))
    candidates = {w: c for w, c in pieces.items() if c >= min_count}
    g = _decode_all(table, grams)

    def keep_word(w: str) -> bool:
        if len(w) < 3:
            return True
        if len(w) <= n:
            return w in g
        return all(w[i : i + n] in g for i in range(len(w) - n + 1))

    lexicon = {w: c for w, c in candidates.items() if keep_word(w)}
    return lexicon, {
        "n_grams_kept": len(g),
        "n_candidates": len(candidates),
        "n_chars": table.total(1),
    }


# ----------------------------------------------------------------------------- MEP II
def _best_split(word: str, counts: Mapping[str, float], log_total: float) -> list[str]:
    """Unigram segmentation of one word with the lexicon (unreachable positions: ln p = −100)."""
    n = len(word)
    best = [0.0] + [-math.inf] * n
    back = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            c = counts.get(word[i:j])
            lp = math.log(c) - log_total if c else (-100.0 if j - i == 1 else None)
            if lp is not None and best[i] + lp > best[j]:
                best[j], back[j] = best[i] + lp, i
    out, j = [], n
    while j > 0:
        out.append(word[back[j] : j])
        j = back[j]
    return out[::-1]


def mep_lexicon(texts: Iterable[str], min_count: int = 5, min_pmi: float = 2.0,
                pair_norm: PairNorm = "pairs", redundancy: Literal["length"] | float = "length",
                keep: str = KEEP) -> tuple[dict[str, int], dict[str, object]]:  # fmt: skip
    """MEP II's four steps: count, cut weak pairs, truncate, remove redundant words."""
    if pair_norm not in ("pairs", "chars"):
        raise ValueError(f"pair_norm must be 'pairs' or 'chars', got {pair_norm!r}")
    if isinstance(redundancy, str) and redundancy != "length":
        raise ValueError(f"redundancy must be 'length' or a number, got {redundancy!r}")
    texts, joined = _corpus(texts, keep)
    table = count_ngrams_table(texts, 2, [1, min_count], keep=keep)
    n_chars = table.total(1)
    n_pairs = table.total(2) if pair_norm == "pairs" else n_chars
    keys, cnt = table.keys[1], table.counts[1]
    c_a = table.lookup(1, keys >> np.uint64(table.bits))
    c_b = table.lookup(1, keys & np.uint64((1 << table.bits) - 1))
    pmi = np.log(cnt / n_pairs) - np.log(c_a / n_chars) - np.log(c_b / n_chars)
    strong = keys[pmi > min_pmi]
    pieces = link_segment(joined, table, {2: strong})
    counts = {w: c for w, c in Counter(pieces).items() if c >= min_count}
    n_candidates = len(counts)
    # de-redundancy sweep, longest first
    for w in sorted(counts, key=lambda w: (-len(w), -counts[w], w)):
        if len(w) < 2:
            continue
        c = counts.pop(w)
        total = sum(counts.values()) + c
        log_total = math.log(total)
        parts = _best_split(w, counts, log_total)
        pmi_w = (
            math.log(c)
            - log_total
            - sum(math.log(counts[p]) - log_total if p in counts else -100.0 for p in parts)
        )
        threshold = len(w) - 1 if redundancy == "length" else float(redundancy)
        if pmi_w < threshold:
            for p in parts:
                counts[p] = counts.get(p, 0) + c
        else:
            counts[w] = c
    return counts, {"n_strong_pairs": len(strong), "n_candidates": n_candidates,
                    "n_chars": n_chars}  # fmt: skip


# ----------------------------------------------------------------------------- refinement
def refine_lexicon(texts: Sequence[str], lexicon: Mapping[str, int], n_iter: int = 3,
                   min_count: int = 2, keep: str = KEEP, extra: Mapping[str, int] | None = None
                   ) -> tuple[dict[str, int], list[float]]:  # fmt: skip
    """Hard-EM on the unigram objective: segment with the lexicon, recount, prune, repeat.

    Every step can only lower the corpus code length −Σ ln p(w) for fixed counts (Viterbi), and
    re-estimating p from the new segmentation lowers it again (maximum likelihood); pruning words
    below `min_count` trades a little likelihood for a smaller lexicon. `extra` words (e.g. all
    cohesive n-grams with their counts) enter the first segmentation as candidates.

    Returns:
        (lexicon, bits per character after each iteration).
    """
    from kexue.text.evaluate import bits_per_char

    _, joined = _corpus(texts, keep)
    counts = dict(extra or {})
    counts.update(lexicon)
    chunks = joined.split("\0")
    history = []
    for _ in range(n_iter):
        seg = UnigramSegmenter(keep=keep).fit(counts)
        words = seg.transform(chunks)
        history.append(bits_per_char(words))
        new = Counter(w for s in words for w in s)
        counts = {w: c for w, c in new.items() if c >= min_count or len(w) == 1}
    return counts, history


# ----------------------------------------------------------------------------- autonomy
_BOS, _EOS = "\x02", "\x03"  # chunk edges: a boundary is one more "next character"


def _context_entropy(grams: Counter[str], side: int) -> dict[str, float]:
    """h(x) of every context x (side −1: x = g[:-1], the next character varies; 0: x = g[1:])."""
    total: dict[str, float] = {}
    clogc: dict[str, float] = {}
    for g, c in grams.items():
        x = g[:-1] if side < 0 else g[1:]
        total[x] = total.get(x, 0.0) + c
        clogc[x] = clogc.get(x, 0.0) + c * math.log(c)
    # H = ln S − Σ c ln c / S, one pass instead of a distribution per context
    return {x: math.log(t) - clogc[x] / t for x, t in total.items()}


def branching_statistics(texts: Iterable[str], max_len: int = 5, min_count: int = 2,
                         keep: str = KEEP) -> tuple[dict[str, float], dict[str, int]]:  # fmt: skip
    """The nVBE autonomy a(x) of every n-gram up to `max_len`, and its corpus count c(x).

    A word boundary is where the uncertainty about the next character rises: VBE_r(x) is the
    growth of the right branching entropy when x gains its last character, VBE_l the mirror.
    Standardising per length (the moments of all |x|-gram types) makes lengths comparable, so
    a(x) > 0 reads "more autonomous than a typical string of its length" (Magistry & Sagot 2012).

    Returns:
        (n-gram → a(x), n-gram → c(x)), both for the n-grams seen at least `min_count` times
        (all types enter the per-length moments).
    """
    if max_len < 1:
        raise ValueError(f"max_len must be ≥ 1, got {max_len}")
    _, joined = _corpus(texts, keep)
    grams: list[Counter[str]] = [Counter() for _ in range(max_len + 2)]
    for chunk in joined.split("\0"):
        if chunk:
            s = _BOS + chunk + _EOS
            for k in range(1, max_len + 2):
                grams[k].update(s[i : i + k] for i in range(len(s) - k + 1))
    right, left = {"": 0.0}, {"": 0.0}  # h("") is a constant, removed by the standardisation
    for k in range(2, max_len + 2):
        right.update(_context_entropy(grams[k], -1))
        left.update(_context_entropy(grams[k], 0))
    out: dict[str, float] = {}
    counts: dict[str, int] = {}
    for k in range(1, max_len + 1):
        types = [x for x in grams[k] if _BOS not in x and _EOS not in x]
        vr = np.array([right[x] - right[x[:-1]] for x in types])
        vl = np.array([left[x] - left[x[1:]] for x in types])
        z = (vr - vr.mean()) / (vr.std() or 1.0) + (vl - vl.mean()) / (vl.std() or 1.0)
        seen = grams[k]
        for x, a in zip(types, z.tolist(), strict=True):
            if seen[x] >= min_count:
                out[x], counts[x] = a, seen[x]
    return out, counts


def branching_autonomy(texts: Iterable[str], max_len: int = 5, min_count: int = 2,
                       keep: str = KEEP) -> dict[str, float]:  # fmt: skip
    """Normalised variation of branching entropy a(x) of every n-gram up to `max_len` (nVBE).

    Returns:
        n-gram → a(x), for the n-grams seen at least `min_count` times (see
        `branching_statistics`, which also returns their counts).
    """
    return branching_statistics(texts, max_len, min_count, keep)[0]


def autonomous_candidates(autonomy: Mapping[str, float], counts: Mapping[str, float],
                          threshold: float, weight: float = 0.5, min_len: int = 2,
                          exclude: Container[str] = ()) -> dict[str, float]:  # fmt: skip
    """Autonomous n-grams as extra lexicon candidates: {x : a(x) ≥ threshold}, count weight·c(x).

    The cohesion backtrack drops strings such as 社会主义 or 联合国 (not every window is
    cohesive), though their branching entropy jumps at both ends; adding them as plain unigram
    candidates lets the Viterbi weigh them against their parts. Their raw counts overstate them
    against the lexicon's piece counts (a piece is counted only where it is not inside a longer
    one), hence `weight` < 1 (issue 13: 0.5, chosen on dev lines).

    Args:
        autonomy, counts: a(x) and c(x) of `branching_statistics`.
        exclude: words left out (e.g. the lexicon they are added to, which keeps its counts).
    """
    if not weight > 0:
        raise ValueError(f"weight must be > 0, got {weight}")
    return {
        x: weight * counts[x]
        for x, a in autonomy.items()
        if a >= threshold and len(x) >= min_len and x in counts and x not in exclude
    }


def function_characters(autonomy: Mapping[str, float], counts: Mapping[str, float], k: int = 10,
                        min_freq: float = 5e-4) -> list[str]:  # fmt: skip
    """The k most autonomous frequent characters (的, 和, 了, 是, … on People's Daily).

    A character that is frequent and whose branching entropy jumps on both sides is mostly a
    word by itself (a function word), learnt from the raw text: no list is given. Frequency is
    c(x) over the total character count; ranking is by a(x) of `branching_statistics`.
    """
    if k < 0:
        raise ValueError(f"k must be ≥ 0, got {k}")
    total = sum(c for x, c in counts.items() if len(x) == 1)
    chars = [x for x in autonomy if len(x) == 1 and counts.get(x, 0) >= min_freq * total]
    return sorted(chars, key=lambda x: (-autonomy[x], x))[:k]


def function_edge_penalty(words: Iterable[str], chars: Iterable[str],
                          penalty: float) -> dict[str, float]:  # fmt: skip
    """word → −penalty for the words of ≥ 2 characters that begin or end with one of `chars`.

    Added to the Viterbi score, it makes the segmenter pay for gluing a function character to a
    neighbour (这是, 新的, 就是 as one word), so such characters stand alone unless the longer
    word is much more probable.
    """
    f = set(chars)
    return {w: -penalty for w in words if len(w) >= 2 and (w[0] in f or w[-1] in f)}


# ----------------------------------------------------------------------------- front door
def discover_words(
    texts: Iterable[str] | Callable[[], Iterable[str]], method: str = "cohesion", **options: Any
) -> dict[str, int]:
    """Induced lexicon (word → count) from raw texts.

    Args:
        texts: the corpus as an iterable of lines (a list, a file object), or (cohesion) a
            function returning a fresh iterator over them, to stream it; a single str is
            rejected: pass `text.splitlines()`.
        method: "cohesion" (multi-gram cohesion pipeline, default) or "mep" (MEP II).
        options: keyword arguments of `cohesion_lexicon` / `mep_lexicon`.

    Raises:
        TypeError: `texts` is a single str.
        ValueError: an unknown method, or an empty corpus (no kept character at all).
    """
    if method == "cohesion":
        return cohesion_lexicon(texts, **options)[0]
    if method == "mep":
        return mep_lexicon(texts, **options)[0]
    raise ValueError(f"unknown method {method!r}; valid: cohesion, mep")


class CohesionLexicon(BaseEstimator):
    """Estimator twin of `cohesion_lexicon` (scikit-learn contract).

    Attributes:
        lexicon_: word → count.  info_: the pipeline's sizes (see `cohesion_lexicon`).
    """

    def __init__(self, n: int = 4, *, min_count: int = 4,
                 thresholds: Sequence[float] = (0, 0, 2, 4, 6),
                 keep: str = KEEP) -> None:  # fmt: skip
        self.n = n
        self.min_count = min_count
        self.thresholds = thresholds
        self.keep = keep

    def fit(self, texts: Iterable[str], y: None = None) -> CohesionLexicon:
        texts = _fit_texts(texts)
        self.lexicon_, self.info_ = cohesion_lexicon(
            texts, self.n, self.min_count, self.thresholds, self.keep
        )
        return self

    def segmenter(self) -> UnigramSegmenter:
        check_is_fitted(self, "lexicon_")
        return UnigramSegmenter(keep=self.keep).fit(self.lexicon_)


class MinEntropyLexicon(BaseEstimator):
    """Estimator twin of `mep_lexicon` (scikit-learn contract).

    Attributes:
        lexicon_: word → count.  info_: the pipeline's sizes (see `mep_lexicon`).
    """

    def __init__(self, *, min_count: int = 5, min_pmi: float = 2.0, pair_norm: PairNorm = "pairs",
                 redundancy: Literal["length"] | float = "length",
                 keep: str = KEEP) -> None:  # fmt: skip
        self.min_count = min_count
        self.min_pmi = min_pmi
        self.pair_norm = pair_norm
        self.redundancy = redundancy
        self.keep = keep

    def fit(self, texts: Iterable[str], y: None = None) -> MinEntropyLexicon:
        texts = _fit_texts(texts)
        self.lexicon_, self.info_ = mep_lexicon(
            texts, self.min_count, self.min_pmi, self.pair_norm, self.redundancy, self.keep
        )
        return self

    def segmenter(self) -> UnigramSegmenter:
        check_is_fitted(self, "lexicon_")
        return UnigramSegmenter(keep=self.keep).fit(self.lexicon_)
