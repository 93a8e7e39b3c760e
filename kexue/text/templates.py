r"""Sentence templates from non-adjacent associations ("飞象过河"), matching and nested parsing.

Article:  最小熵原理（三）：“飞象过河”之句模版和语言结构 — 苏剑林, 2018-05-30
URL:      https://kexue.fm/archives/5577
Original: PyPI nlp-zero 0.1.6 (`Template_Finder`, `XTrie`, `Parser`)

Key equations (natural log; p_a word frequency, p_ab skip-gram pair frequency within `window`)::

    strong pair a → b      count(a, b) ≥ min_count  and  ln p_ab − ln p_a − ln p_b > min_pmi
    piece DAG              edge i → j (0 < j − i ≤ window) for each strong (w_i, w_j)
    templates              every maximal source → sink path; skipped positions become X,
                           plus a leading / trailing X when the path misses an end
    number of paths        cnt[i] = 1 if i has no out-edge else Σ_{i→j} cnt[j]   (DP)
    parse score of a span  ln f(t) − ln Σ f + Σ_gaps best(gap);  no template: null · (len − 1)

A template is a tuple of words and None (the placeholder X); a placeholder absorbs ≥ 1 words.

Symbols: f(t) template count; `null_score` the cost per extra word of an unparsed span.

Deviations from the article:
    - Path counting by DP first; pieces with more than `max_paths` maximal paths are skipped
      (nlp-zero enumerates recursively and blew up: 3.3·10⁸ paths on one review, spec §5.2).
    - Strict matching (nlp-zero's left edge may skip words without a leading X).
    - The parser memoises spans (nlp-zero's recursion is exponential); ties of the rounded
      score go to the longer match, then to the later literal positions (left-nested X和X).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import TypeAlias

from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "Template",
    "count_paths",
    "piece_templates",
    "TemplateFinder",
    "match",
    "TemplateParser",
    "render",
]

Template = tuple  # tuple[str | None, ...]
#: a parse: a single word, or (template or None, parts), each part a literal word or
#: ("slot", sub-parse); an unparsed span is (None, [words])
_Parse: TypeAlias = "str | tuple[Template | None, list[str | tuple[str, _Parse]]]"


def _skipgram_counts(pieces: Iterable[Sequence[str]], window: int) -> tuple[Counter, Counter]:
    """Word counts and directed skip-gram pair counts (a at i, b at j, 0 < j − i ≤ window)."""
    words, pairs = Counter(), Counter()
    for p in pieces:
        words.update(p)
        for i, a in enumerate(p):
            for b in p[i + 1 : i + 1 + window]:
                pairs[a, b] += 1
    return words, pairs


def _strong_pairs(
    words: Mapping[str, int], pairs: Mapping[tuple, int], min_count: int = 5, min_pmi: float = 2.0
) -> set[tuple[str, str]]:
    """Pairs with count ≥ min_count and PMI > min_pmi (p_ab over the pair total, as nlp-zero)."""
    n_w, n_p = sum(words.values()), sum(pairs.values())
    ln_w, ln_p = math.log(n_w), math.log(n_p)
    return {
        (a, b)
        for (a, b), c in pairs.items()
        if c >= min_count
        and math.log(c) - ln_p - (math.log(words[a]) - ln_w) - (math.log(words[b]) - ln_w)
        > min_pmi
    }


def _edges(piece: Sequence[str], strong: set, window: int) -> list[list[int]]:
    n = len(piece)
    return [
        [j for j in range(i + 1, min(n, i + 1 + window)) if (piece[i], piece[j]) in strong]
        for i in range(n)
    ]


def count_paths(piece: Sequence[str], strong: set, window: int) -> int:
    """Number of maximal source → sink paths of the piece's DAG (DP, no enumeration)."""
    out = _edges(piece, strong, window)
    has_in = {j for js in out for j in js}
    cnt = [0] * len(piece)
    for i in range(len(piece) - 1, -1, -1):
        cnt[i] = 1 if not out[i] else sum(cnt[j] for j in out[i])
    return sum(cnt[i] for i in range(len(piece)) if i not in has_in)


def _template(piece: Sequence[str], path: list[int]) -> tuple[Template, list[tuple[int, int]]]:
    """Template of a path, and the filler span (start, end) of each placeholder."""
    out: list = []
    gaps = []
    if path[0] > 0:
        out.append(None)
        gaps.append((0, path[0]))
    for k, i in enumerate(path):
        if k and i - path[k - 1] > 1:
            out.append(None)
            gaps.append((path[k - 1] + 1, i))
        out.append(piece[i])
    if path[-1] < len(piece) - 1:
        out.append(None)
        gaps.append((path[-1] + 1, len(piece)))
    return tuple(out), gaps


def piece_templates(
    piece: Sequence[str], strong: set, window: int, max_paths: int = 1000
) -> list[tuple[Template, list[tuple[int, int]]]] | None:
    """(template, filler spans) for every maximal path; None if there are > max_paths paths."""
    if not piece:
        return []
    if count_paths(piece, strong, window) > max_paths:
        return None
    out = _edges(piece, strong, window)
    has_in = {j for js in out for j in js}
    found = []

    def walk(path: list[int]) -> None:
        nxt = out[path[-1]]
        if not nxt:
            found.append(_template(piece, path))
        for j in nxt:
            walk(path + [j])

    for i in range(len(piece)):
        if i not in has_in:
            walk([i])
    return found


class TemplateFinder(BaseEstimator):
    """Template mining (scikit-learn contract).

    Parameters:
        window: skip-gram window. min_count: pair and template count threshold.
        min_pmi: PMI threshold of a strong pair. max_paths: skip pieces with more paths.

    Attributes:
        templates_: Counter of templates (count ≥ min_count). strong_: the strong pairs.
        fillers_: template → list of filler spans' last words' indices (piece, position).
        n_skipped_: pieces skipped for too many paths.
    """

    def __init__(
        self, *, window: int = 3, min_count: int = 5, min_pmi: float = 2.0, max_paths: int = 1000
    ) -> None:
        self.window = window
        self.min_count = min_count
        self.min_pmi = min_pmi
        self.max_paths = max_paths

    def fit(self, pieces: Sequence[Sequence[str]], y: None = None) -> TemplateFinder:
        pieces = _fit_pieces(pieces)
        words, pairs = _skipgram_counts(pieces, self.window)
        self.strong_ = _strong_pairs(words, pairs, self.min_count, self.min_pmi)
        counts: Counter = Counter()
        fillers: dict[Template, list[list[tuple[int, int]]]] = {}
        self.n_skipped_ = 0
        for k, piece in enumerate(pieces):
            found = piece_templates(piece, self.strong_, self.window, self.max_paths)
            if found is None:
                self.n_skipped_ += 1
                continue
            for t, gaps in found:
                counts[t] += 1
                fillers.setdefault(t, []).append([(k, e - 1) for _, e in gaps])
        self.templates_ = Counter({t: c for t, c in counts.items() if c >= self.min_count})
        self.fillers_ = {t: fillers[t] for t in self.templates_}
        return self

    def nontrivial(self, k: int = 20) -> list[tuple[Template, int]]:
        """Most frequent templates other than the trivial X w X."""
        check_is_fitted(self, "templates_")
        return [(t, c) for t, c in self.templates_.most_common()
                if not (len(t) == 3 and t[0] is None and t[2] is None)][:k]  # fmt: skip


def _fit_pieces(pieces: object) -> list[Sequence[str]]:
    """The input of `TemplateFinder.fit`: a non-empty sequence of word sequences, as a list."""
    if isinstance(pieces, str) or not isinstance(pieces, Iterable):
        raise TypeError(
            f"pieces must be a list of word sequences (e.g. [['我', '的'], ...]), got "
            f"{type(pieces).__name__}"
        )
    pieces = list(pieces)
    for i, piece in enumerate(pieces):
        if isinstance(piece, str) or not isinstance(piece, Sequence):
            raise TypeError(
                f"pieces must hold word sequences (lists of str); item {i} is "
                f"{type(piece).__name__}"
            )
    if not pieces:
        raise ValueError("pieces is empty: fit needs at least one piece")
    return pieces


def match(template: Template, words: Sequence[str]) -> list[tuple[int, ...]]:
    """All strict alignments of a template to the whole word sequence: literal positions."""
    n, m = len(words), len(template)

    @cache
    def go(ti: int, wi: int) -> tuple[tuple[int, ...], ...]:
        if ti == m:
            return ((),) if wi == n else ()
        tok = template[ti]
        if tok is None:  # absorb ≥ 1 words
            return tuple(r for end in range(wi + 1, n + 1) for r in go(ti + 1, end))
        if wi < n and words[wi] == tok:
            return tuple((wi, *r) for r in go(ti + 1, wi + 1))
        return ()

    return list(go(0, 0))


def _flat(tree: _Parse) -> str:
    if isinstance(tree, str):
        return tree
    return "".join(p if isinstance(p, str) else _flat(p[1]) for p in tree[1])


def render(tree: _Parse, depth: int | None = None) -> str:
    """Bracketed string of a parse: slots in parentheses, literals bare; below `depth` levels of
    slots the text is printed flat (depth=1 is the article's top line)."""
    if isinstance(tree, str):
        return tree
    if depth == 0:
        return _flat(tree)
    sub = None if depth is None else depth - 1
    return "".join(p if isinstance(p, str) else f"({render(p[1], sub)})" for p in tree[1])


class TemplateParser(BaseEstimator):
    """Minimum-information nested parse with a template table (memoised over spans);
    scikit-learn contract: `TemplateParser().fit(templates).parse(words)`.

    A parse is (template or None, parts) where each part is a literal word or ("slot", subtree);
    an unparsed span is (None, [words]).

    Parameters:
        null_score: log-probability charged per word boundary of an unparsed span.

    Attributes:
        templates_: template → count (a copy of the fitted table).
        log_total_: ln Σ counts.
    """

    def __init__(self, *, null_score: float = -20.0) -> None:
        self.null_score = null_score

    def fit(self, templates: Mapping[Template, int], y: None = None) -> TemplateParser:
        if not isinstance(templates, Mapping):
            raise TypeError(
                f"templates must be a mapping template -> count (e.g. TemplateFinder's "
                f"templates_), got {type(templates).__name__}"
            )
        if not templates:
            raise ValueError("templates is empty: fit needs at least one template")
        bad = [t for t, c in templates.items() if not c > 0]
        if bad:
            raise ValueError(f"template counts must be > 0; {bad[0]!r} has {templates[bad[0]]!r}")
        self.templates_ = dict(templates)
        self.log_total_ = math.log(sum(self.templates_.values()))
        return self

    def parse(self, words: Sequence[str]) -> _Parse:
        check_is_fitted(self, "templates_")
        words = tuple(words)
        total = self.log_total_
        table = [
            (t, math.log(c) - total, {w for w in t if w is not None})
            for t, c in self.templates_.items()
        ]

        @cache
        def best(s: int, e: int) -> tuple[float, _Parse]:
            span = words[s:e]
            if len(span) == 1:
                return 0.0, span[0]
            present = set(span)
            top = None
            for t, lp, lits in table:
                if not lits or not lits <= present or len(t) > len(span):
                    continue
                for pos in match(t, span):
                    parts: list[str | tuple[str, _Parse]]
                    score, parts, i = lp, [], 0
                    for k, tok in enumerate(t):
                        if tok is None:
                            end = (
                                pos[len([x for x in t[:k] if x is not None])]
                                if any(x is not None for x in t[k:])
                                else len(span)
                            )
                            sub = best(s + i, s + end)
                            score += sub[0]
                            parts.append(("slot", sub[1]))
                            i = end
                        else:
                            parts.append(tok)
                            i += 1
                    key = (round(score, 4), len(pos), pos)
                    if top is None or key > top[0]:
                        top = (key, score, (t, parts))
            if top is None:
                return self.null_score * (len(span) - 1), (None, list(span))
            return top[1], top[2]

        return best(0, len(words))[1]
