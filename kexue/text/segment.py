r"""Minimum-information (unigram) segmentation: Viterbi over the DAG of lexicon matches.

The total information of a corpus under a unigram model decomposes over sentences, so the best
segmentation of a sentence minimises  −Σ_k ln p(w_k)  with p(w) = count(w) / Σ count
(最小熵原理（二）, eqs. 2.18–2.19). Solved right-to-left in O(n · max word length).

Reproduces `jieba.cut(text, HMM=False)` with `jieba.Tokenizer(dictionary=lexicon)`: the DAG
holds every lexicon word starting at i (a character with no lexicon word starting there is a
single-character edge of count 1), ties go to the longer word, and runs of single ASCII
letters/digits are joined. Characters outside the kept class (punctuation, spaces) are emitted
one by one.

`word_bonus` adds a score to chosen words, ln p(w) + bonus(w): e.g. β a(w) |w| with the nVBE
autonomy a of `kexue.text.word_discovery.branching_autonomy` (Magistry & Sagot 2012), which
measured +0.01 F1 on the People's Daily dev lines (docs/notes/word-discovery.md). A bonus model is
more than a lexicon (ln c(w) + b(w) − ln Σc cannot be rewritten as plain counts: any rescaling
moves every word's score by the same constant, which changes how many words a path pays for), so
`format_scored_lexicon` / `read_scored_lexicon` save and load it as one `word count bonus` line
per word (UTF-8, whitespace-separated; a missing bonus is 0, so a `kexue words` lexicon file is
also a valid scored lexicon).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping

from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from kexue.errors import InputError
from kexue.text.ngrams import KEEP, _lines_of

__all__ = [
    "NUMBER",
    "UnigramSegmenter",
    "format_scored_lexicon",
    "read_scored_lexicon",
    "mask_numbers",
    "segment",
    "unmask_numbers",
]

_ALNUM = re.compile(r"[A-Za-z0-9]")
#: placeholder character standing for one number (a private-use codepoint, in the kept class)
NUMBER = "\ue000"
_NUMBER_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?%?")


def mask_numbers(text: str) -> tuple[str, list[str]]:
    """Replace every number (digits, optional decimal part, optional %) by `NUMBER`.

    Counting then sees one symbol per number, so "NUMBER年" can be discovered like a word (the
    usual unsupervised-CWS convention of mapping digit runs to one token). Apply after NFKC.
    """
    numbers = _NUMBER_RE.findall(text)
    return _NUMBER_RE.sub(NUMBER, text), numbers


def unmask_numbers(tokens: list[str], numbers: list[str]) -> list[str]:
    """Inverse of `mask_numbers` on a token list (placeholders filled left to right)."""
    it = iter(numbers)
    return [
        t if NUMBER not in t else "".join(next(it) if c == NUMBER else c for c in t)
        for t in tokens
    ]


def _viterbi_segment(
    text: str, logp: Mapping[str, float], prefixes: set[str] | frozenset[str], unknown: float
) -> list[str]:
    """Best split of `text` (one kept-class run) under word log-probabilities `logp`.

    Args:
        logp: word → ln p(w) (the lexicon).
        prefixes: every prefix of every lexicon word (stops the DAG scan early).
        unknown: ln p of a character that starts no lexicon word.
    """
    n = len(text)
    route = [0.0] * (n + 1)
    nxt = [0] * n
    for i in range(n - 1, -1, -1):
        best, bj = -math.inf, i + 1
        j = i + 1
        while j <= n:
            w = text[i:j]
            if w not in prefixes:
                break
            lp = logp.get(w)
            if lp is not None:
                score = lp + route[j]
                if score >= best:  # ties → longer word (jieba's max over (score, end))
                    best, bj = score, j
            j += 1
        if best == -math.inf:
            best, bj = unknown + route[i + 1], i + 1
        route[i], nxt[i] = best, bj
    out, i = [], 0
    while i < n:
        out.append(text[i : nxt[i]])
        i = nxt[i]
    return out


class UnigramSegmenter(BaseEstimator):
    """Unigram (minimum-information) segmenter over a lexicon (scikit-learn contract).

    Parameters:
        unknown_count: pseudo-count of a character that starts no lexicon word (jieba: 1).
        combine_alnum: join runs of single ASCII letters/digits (as jieba does).
        keep: regex class of characters segmented by the model; others are single tokens...
        group_repeats: ... except runs of one repeated character ("——", "……"), one token.
        word_bonus: word → score added to its ln p(w) (lexicon words only; None: plain unigram).

    Attributes:
        logp_: word → ln p(w) (+ word_bonus).  prefixes_: all prefixes of lexicon words.
        total_: Σ counts.
    """

    def __init__(self, *, unknown_count: float = 1.0, combine_alnum: bool = True,
                 keep: str = KEEP, group_repeats: bool = True,
                 word_bonus: Mapping[str, float] | None = None) -> None:  # fmt: skip
        self.unknown_count = unknown_count
        self.combine_alnum = combine_alnum
        self.keep = keep
        self.group_repeats = group_repeats
        self.word_bonus = word_bonus

    def fit(self, lexicon: Mapping[str, float], y: None = None) -> UnigramSegmenter:
        if not isinstance(lexicon, Mapping):
            raise TypeError(
                f"lexicon must be a mapping word -> count, got {type(lexicon).__name__}"
            )
        words = {w: float(c) for w, c in lexicon.items() if c > 0 and w}
        if not words:
            raise ValueError("empty lexicon: no word with a positive count")
        self.total_ = sum(words.values())
        log_total = math.log(self.total_)
        self.logp_ = {w: math.log(c) - log_total for w, c in words.items()}
        if self.word_bonus:
            bonus = self.word_bonus
            self.logp_ = {w: lp + bonus.get(w, 0.0) for w, lp in self.logp_.items()}
        self.prefixes_ = {w[:k] for w in words for k in range(1, len(w) + 1)}
        self.unknown_ = math.log(self.unknown_count) - log_total
        self._runs = re.compile(f"([{self.keep}]+)")
        return self

    def segment(self, text: str) -> list[str]:
        if not hasattr(self, "logp_"):  # check_is_fitted's test, without its cost per call
            raise NotFittedError("this UnigramSegmenter is not fitted yet: call fit(lexicon)")
        out: list[str] = []
        for piece in self._runs.split(text):
            if not piece:
                continue
            if self._runs.fullmatch(piece):
                words = _viterbi_segment(piece, self.logp_, self.prefixes_, self.unknown_)
                out += _combine_alnum(words) if self.combine_alnum else words
            elif self.group_repeats:
                out += [m.group(0) for m in re.finditer(r"(.)\1*", piece, re.S)]
            else:
                out += list(piece)
        return out

    def transform(self, texts: Iterable[str]) -> list[list[str]]:
        check_is_fitted(self, "logp_")
        return [self.segment(t) for t in _lines_of(texts)]


def _combine_alnum(words: list[str]) -> list[str]:
    out, buf = [], ""
    for w in words:
        if len(w) == 1 and _ALNUM.match(w):
            buf += w
            continue
        if buf:
            out.append(buf)
            buf = ""
        out.append(w)
    if buf:
        out.append(buf)
    return out


def format_scored_lexicon(lexicon: Mapping[str, float], bonus: Mapping[str, float]) -> str:
    """A bonus model as text: `word count bonus` per line, most frequent first (exact floats).

    `read_scored_lexicon` of the written file gives back (lexicon, bonus) exactly (repr floats);
    bonuses of words outside the lexicon are dropped (the segmenter ignores them too).
    """
    ranked = sorted((w for w in lexicon if w), key=lambda w: (-lexicon[w], w))
    for w in ranked:
        if any(c.isspace() for c in w):
            raise ValueError(f"word {w!r} holds whitespace: it cannot be one field of the file")
    return "".join(f"{w} {float(lexicon[w])!r} {float(bonus.get(w, 0.0))!r}\n" for w in ranked)


def read_scored_lexicon(
    path: str | os.PathLike[str], *, encoding: str = "utf-8"
) -> tuple[dict[str, float], dict[str, float]]:
    """(lexicon, bonus) of a `word count [bonus]` file, for `UnigramSegmenter(word_bonus=bonus)`.

    Raises:
        InputError: a line whose count is not a positive number or whose bonus is not a finite
            number (the message names file and line), or a file without a single word.
    """
    lexicon: dict[str, float] = {}
    bonus: dict[str, float] = {}
    with open(path, encoding=encoding) as f:
        for lineno, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) not in (2, 3):
                raise InputError(f"{path}:{lineno}: expected `word count [bonus]`, got "
                                 f"{len(fields)} fields")  # fmt: skip
            try:
                count = float(fields[1])
                b = float(fields[2]) if len(fields) == 3 else 0.0
            except ValueError:
                raise InputError(f"{path}:{lineno}: count and bonus of {fields[0]!r} must be "
                                 f"numbers, got {' '.join(fields[1:])!r}") from None  # fmt: skip
            if not count > 0 or not math.isfinite(count) or not math.isfinite(b):
                raise InputError(f"{path}:{lineno}: {fields[0]!r} needs a finite count > 0 and a "
                                 f"finite bonus, got {' '.join(fields[1:])}")  # fmt: skip
            lexicon[fields[0]] = count
            if b:
                bonus[fields[0]] = b
    if not lexicon:
        raise InputError(f"{path}: no word (expected `word count [bonus]` lines)")
    return lexicon, bonus


def segment(text: str, lexicon: Mapping[str, float]) -> list[str]:
    """Minimum-information segmentation of `text` with `lexicon` (word → count)."""
    return UnigramSegmenter().fit(lexicon).segment(text)
