r"""Character-level generation metrics: ROUGE-1/2/L F, sentence BLEU-4 (smoothing method 1),
position accuracies from the start and from the end, copy rate; the interval of a score
difference over evaluated items and training seeds.

Article:  玩转Keras之seq2seq自动生成标题 — 苏剑林, 2018-09-01
URL:      https://kexue.fm/archives/5861
See also: bert4keras examples/task_seq2seq_autotitle_csl.py (the metric set: rouge-1/2/l, bleu).

Key equations (sequences are lists of characters)::

    ROUGE-n F = 2 P R / (P + R),  P = |ngrams(c) ∩ ngrams(r)| / |ngrams(c)|, R = … / |ngrams(r)|
    ROUGE-L F = 2 P R / (P + R),  P = LCS(c, r) / |c|,  R = LCS(c, r) / |r|
    BLEU-4    = BP · exp(¼ Σ_n log p_n),  BP = min(1, exp(1 − |r|/|c|)),
                p_n = clipped matches / candidate n-grams, a zero numerator replaced by ε = 0.1
                (NLTK SmoothingFunction().method1)

Deviations from the article:
    - the article reports no metric; these follow the later bert4keras CSL example, at the
      character level, one reference per candidate.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

__all__ = [
    "bleu",
    "copy_rate",
    "lcs_length",
    "position_accuracy",
    "rouge_l",
    "rouge_n",
]


def _ngrams(seq: Sequence[str], n: int) -> Counter:
    return Counter(tuple(seq[i : i + n]) for i in range(len(seq) - n + 1))


def _f(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def rouge_n(cand: Sequence[str], ref: Sequence[str], n: int) -> float:
    c, r = _ngrams(cand, n), _ngrams(ref, n)
    if not c or not r:
        return 0.0
    hit = sum((c & r).values())
    return _f(hit / sum(c.values()), hit / sum(r.values()))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(cand: Sequence[str], ref: Sequence[str]) -> float:
    if not cand or not ref:
        return 0.0
    m = lcs_length(cand, ref)
    return _f(m / len(cand), m / len(ref))


def bleu(cand: Sequence[str], ref: Sequence[str], max_n: int = 4, eps: float = 0.1) -> float:
    if not cand:
        return 0.0
    logs = []
    for n in range(1, max_n + 1):
        c, r = _ngrams(cand, n), _ngrams(ref, n)
        total = sum(c.values())
        if total == 0:  # NLTK: a missing order makes the precision 0 → the whole score 0
            return 0.0
        hit = sum((c & r).values())
        logs.append(math.log((hit if hit else eps) / total))
    bp = 1.0 if len(cand) > len(ref) else math.exp(1 - len(ref) / len(cand))
    return bp * math.exp(sum(logs) / max_n)


def position_accuracy(cand: Sequence[str], ref: Sequence[str], n: int = 4) -> tuple[float, float]:
    """(accuracy of the first n positions aligned from the start, of the last n aligned from the
    end), over min(n, |ref|) reference positions; a missing candidate position counts wrong."""
    m = min(n, len(ref))
    if m == 0:
        return 0.0, 0.0
    first = sum(i < len(cand) and cand[i] == ref[i] for i in range(m)) / m
    last = sum(i < len(cand) and cand[-1 - i] == ref[-1 - i] for i in range(m)) / m
    return first, last


def copy_rate(cand: Sequence[str], source: Sequence[str]) -> float:
    """Fraction of candidate characters that occur in the source."""
    if not cand:
        return 0.0
    s = set(source)
    return sum(ch in s for ch in cand) / len(cand)
