r"""Exact character n-gram counting on packed integer keys (single machine and Dask).

Text is normalised (NFKC; U+3000 and other spaces become separators) and split into chunks of
the kept character class (CJK ideographs and ASCII letters/digits by default). Every k-gram
inside a chunk is counted exactly, for k = 1..n; no n-gram crosses a chunk boundary and no
`<s>` padding is used (spec text_structure §3.4, §8 pitfalls 1–4, 12).

Method: characters get integer ids 1..V (0 marks a chunk boundary); a k-gram becomes one
`uint64` key  Σ_t id[i+t] · 2^{b(k−1−t)}  with b = bit length of V (so k·b ≤ 64), and the counts
of order k are `np.unique(keys, return_counts=True)` over the valid positions. Keys are sorted,
so prefix/suffix counts are found with `searchsorted`. With `min_count > 1` the Apriori rule
prunes positions whose (k−1)-prefix or (k−1)-suffix is already below its threshold — exact,
because a k-gram is never more frequent than its sub-grams.

Distributed: `count_ngrams_dask` runs two map-reduce rounds on a `dask.bag` of texts (round 0:
the character vocabulary; round 1: per-partition packed counts merged by a sorted reduce), then
applies `min_count` per order on the merged table. The result equals the single-machine one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, Unpack

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from dask.bag import Bag

__all__ = [
    "KEEP",
    "NgramTable",
    "NgramCounter",
    "join_chunks",
    "normalize",
    "split_chunks",
    "count_ngrams",
    "count_ngrams_table",
    "count_ngrams_dask",
    "count_ngrams_stream",
    "iter_shards",
]

#: the kept character class: CJK unified ideographs (basic block + extension A), ASCII alnum and
#: U+E000 (the number placeholder of `kexue.text.segment.mask_numbers`)
KEEP = "\u3400-\u4dbf\u4e00-\u9fff0-9A-Za-z\ue000"


def normalize(text: str) -> str:
    """NFKC (full-width digits/letters → ASCII, U+3000 → space)."""
    return unicodedata.normalize("NFKC", text)


def split_chunks(text: str, keep: str = KEEP, nfkc: bool = True) -> list[str]:
    """Chunks of kept characters; everything else (punctuation, spaces) is a hard boundary."""
    if nfkc:
        text = normalize(text)
    return [c for c in re.split(f"[^{keep}]+", text) if c]


def _codepoints(s: str) -> np.ndarray:
    """Unicode codepoints of a string as uint32."""
    return np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)


def join_chunks(texts: Iterable[str], keep: str = KEEP, nfkc: bool = True) -> str:
    """All chunks of all texts joined by NUL (codepoint 0 = id 0 = boundary)."""
    return "\0".join(c for t in texts for c in split_chunks(t, keep, nfkc))


def _merge_sorted(
    keys: Sequence[np.ndarray], counts: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Sum counts of equal keys over several (keys, counts) tables (the reduce step)."""
    k = np.concatenate(keys)
    c = np.concatenate(counts)
    if len(k) == 0:
        return k.astype(np.uint64), c.astype(np.int64)
    order = np.argsort(k, kind="stable")
    k, c = k[order], c[order]
    start = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    return k[start], np.add.reduceat(c, start).astype(np.int64)


def _as_orders(min_count: int | Sequence[int], n: int) -> list[int]:
    if isinstance(min_count, int | np.integer):
        return [int(min_count)] * n
    m = [int(x) for x in min_count]
    if len(m) != n:
        raise ValueError(f"min_count has {len(m)} entries, expected one per order 1..{n}")
    return m


@dataclass
class NgramTable:
    """Exact counts of orders 1..n over one vocabulary.

    Attributes:
        vocab: sorted codepoints (uint32) of the characters; id i ↔ vocab[i-1].
        bits: bits per character id in a packed key.
        keys: per order k (index k-1), sorted packed keys (uint64).
        counts: per order, int64 counts aligned with `keys`.
    """

    vocab: np.ndarray
    bits: int
    keys: list[np.ndarray]
    counts: list[np.ndarray]

    @property
    def n(self) -> int:
        return len(self.keys)

    def total(self, order: int = 1) -> int:
        return int(self.counts[order - 1].sum())

    def encode(self, grams: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Packed keys of equal-length strings; second array: all characters known."""
        if not grams:
            return np.zeros(0, np.uint64), np.zeros(0, bool)
        k = len(grams[0])
        cps = _codepoints("".join(grams)).reshape(len(grams), k)
        pos = np.searchsorted(self.vocab, cps)
        pos = np.minimum(pos, len(self.vocab) - 1)
        known = (self.vocab[pos] == cps).all(axis=1)
        ids = (pos + 1).astype(np.uint64)
        key = np.zeros(len(grams), np.uint64)
        for t in range(k):
            key = (key << np.uint64(self.bits)) | ids[:, t]
        return key, known

    def ids(self, cps: np.ndarray) -> np.ndarray:
        """Character ids (uint64) of codepoints; 0 for NUL (boundary) and unknown characters."""
        pos = np.minimum(np.searchsorted(self.vocab, cps), max(len(self.vocab) - 1, 0))
        ok = (self.vocab[pos] == cps) if len(self.vocab) else np.zeros(len(cps), bool)
        return np.where(ok, pos + 1, 0).astype(np.uint64)

    def position_keys(self, ids: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
        """Packed key of the k-gram starting at every position, and whether it is valid."""
        b = np.uint64(self.bits)
        key, valid = ids.copy(), ids != 0
        for k in range(2, order + 1):
            key = (key[:-1] << b) | ids[k - 1 :]
            valid = valid[:-1] & (ids[k - 1 :] != 0)
        return key, valid

    def lookup(self, order: int, keys: np.ndarray) -> np.ndarray:
        """Counts of packed keys of one order (0 where absent)."""
        table, cnt = self.keys[order - 1], self.counts[order - 1]
        if len(table) == 0:
            return np.zeros(len(keys), np.int64)
        pos = np.minimum(np.searchsorted(table, keys), len(table) - 1)
        return np.where(table[pos] == keys, cnt[pos], 0)

    def count(self, gram: str) -> int:
        """Count of one string (0 if absent or longer than n)."""
        if not 1 <= len(gram) <= self.n:
            return 0
        key, known = self.encode([gram])
        return int(self.lookup(len(gram), key)[0]) if known[0] else 0

    def decode(self, order: int, keys: np.ndarray | None = None) -> list[str]:
        """Strings of packed keys (all keys of the order by default)."""
        keys = self.keys[order - 1] if keys is None else keys
        mask = np.uint64((1 << self.bits) - 1)
        shifts = np.uint64(self.bits) * np.arange(order - 1, -1, -1, dtype=np.uint64)
        ids = (keys[:, None] >> shifts[None, :]) & mask
        cps = np.ascontiguousarray(self.vocab[ids.astype(np.int64) - 1], dtype="<u4")
        return cps.view(f"<U{order}").ravel().tolist()

    def to_dict(self, orders: Iterable[int] | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for k in orders or range(1, self.n + 1):
            out.update(zip(self.decode(k), self.counts[k - 1].tolist(), strict=True))
        return out


def _vocab_of(joined: str) -> np.ndarray:
    cps = np.unique(_codepoints(joined))
    return cps[cps != 0]


def _bits_for(vocab_size: int, n: int) -> int:
    bits = max(1, int(vocab_size).bit_length())
    if bits * n > 64:
        raise ValueError(
            f"{vocab_size} character types need {bits} bits each; order {n} does not fit a "
            f"64-bit key (max order {64 // bits}); count fewer orders or map rare characters out"
        )
    return bits


def _unique_counts(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and their counts; sorts `a` in place (it must be a fresh copy)."""
    if len(a) == 0:
        return a.astype(np.uint64), np.zeros(0, np.int64)
    a.sort()
    start = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
    return a[start], np.diff(np.r_[start, len(a)]).astype(np.int64)


def _ids_of(cps: np.ndarray, vocab: np.ndarray) -> np.ndarray:
    """Ids 1..V of codepoints through a dense lookup table (0 for NUL and unknown characters)."""
    top = int(max(cps.max(initial=0), vocab.max(initial=0))) + 1
    table = np.zeros(top, np.uint64)
    table[vocab] = np.arange(1, len(vocab) + 1, dtype=np.uint64)
    return table[cps]


def _count_joined(
    joined: str, vocab: np.ndarray, bits: int, n: int, min_count: list[int] | None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Counts of orders 1..n in one NUL-joined string (no filtering when min_count is None)."""
    ids = _ids_of(_codepoints(joined), vocab)
    b = np.uint64(bits)
    key = ids.copy()
    valid = ids != 0
    keys, counts = [], []
    for k in range(1, n + 1):
        if k > 1:
            key = (key[:-1] << b) | ids[k - 1 :]
            valid = valid[:-1] & (ids[k - 1 :] != 0)
        sel = valid
        if min_count is not None and k > 1 and 1 < min_count[k - 2] <= min_count[k - 1]:
            # Apriori: keep positions whose (k-1)-prefix and (k-1)-suffix survived (exact when
            # the thresholds do not decrease with the order)
            prev = keys[-1] if len(keys[-1]) else np.zeros(1, np.uint64)
            suffix_mask = np.uint64((1 << (bits * (k - 1))) - 1)
            pre, suf = key >> b, key & suffix_mask
            ok_pre = prev[np.minimum(np.searchsorted(prev, pre), len(prev) - 1)] == pre
            ok_suf = prev[np.minimum(np.searchsorted(prev, suf), len(prev) - 1)] == suf
            sel = valid & ok_pre & ok_suf
        if k == 1:  # characters: a histogram
            c = np.bincount(ids.astype(np.int64), minlength=len(vocab) + 1)[1:]
            u = np.flatnonzero(c).astype(np.uint64) + np.uint64(1)
            c = c[c > 0].astype(np.int64)
        else:
            u, c = _unique_counts(key[sel])
        if min_count is not None:
            keep = c >= min_count[k - 1]
            u, c = u[keep], c[keep]
        keys.append(u.astype(np.uint64))
        counts.append(c)
    return keys, counts


def _lines_of(texts: Iterable[str]) -> list[str]:
    """The texts as a list; a bare `str` (which would be iterated character by character, giving
    silently wrong counts) is a TypeError."""
    if isinstance(texts, str):
        raise TypeError(
            f"texts must be an iterable of lines, got a single str of {len(texts)} characters; "
            "pass a list of lines, e.g. text.splitlines()"
        )
    return list(texts)


def _fit_texts(texts: object) -> list[str]:
    """The corpus of a text estimator's `fit`: a non-empty iterable of str, as a list.

    Raises:
        TypeError: a bare str, something not iterable, or an item that is not a str.
        ValueError: no text at all.
    """
    if isinstance(texts, str):
        return _lines_of(texts)  # the TypeError naming splitlines
    if not isinstance(texts, Iterable):
        raise TypeError(f"texts must be an iterable of str, got {type(texts).__name__}")
    lines = list(texts)
    for i, t in enumerate(lines):
        if not isinstance(t, str):
            raise TypeError(f"texts must be an iterable of str; item {i} is {type(t).__name__}")
    if not lines:
        raise ValueError("empty corpus: texts holds no text (fit needs at least one)")
    return lines


def count_ngrams_table(
    texts: Iterable[str],
    n: int,
    min_count: int | Sequence[int] = 1,
    *,
    keep: str = KEEP,
    nfkc: bool = True,
    shard_chars: int = 50_000_000,
) -> NgramTable:
    """Exact counts of orders 1..n as an `NgramTable` (sorted packed keys per order).

    Args:
        texts: raw texts (normalised and chunked here).
        n: highest order.
        min_count: one threshold for every order, or one per order (1..n).
        keep: regex class of kept characters (others are boundaries).
        nfkc: apply NFKC first.
        shard_chars: texts are counted in shards of about this many characters whose tables are
            merged (bounds peak memory; thresholds are applied after the merge).
    """
    mins = _as_orders(min_count, n)
    texts = _lines_of(texts)
    joined_all = join_chunks(texts, keep, nfkc)
    vocab = _vocab_of(joined_all)
    bits = _bits_for(len(vocab), n)
    if len(joined_all) <= shard_chars:
        keys, counts = _count_joined(joined_all, vocab, bits, n, mins)
        return NgramTable(vocab, bits, keys, counts)
    shards, cur, size = [], [], 0
    for chunk in joined_all.split("\0"):
        cur.append(chunk)
        size += len(chunk) + 1
        if size >= shard_chars:
            shards.append("\0".join(cur))
            cur, size = [], 0
    if cur:
        shards.append("\0".join(cur))
    del joined_all
    parts = [_count_joined(s, vocab, bits, n, None) for s in shards]
    return _finish(vocab, bits, n, mins, parts)


def iter_shards(texts: Iterable[str], shard_chars: int) -> Iterable[list[str]]:
    """Consecutive lists of texts holding about `shard_chars` characters each (streamed)."""
    shard: list[str] = []
    size = 0
    for t in texts:
        if isinstance(t, bytes) or not isinstance(t, str):
            raise TypeError(f"texts must be str, got {type(t).__name__}")
        shard.append(t)
        size += len(t)
        if size >= shard_chars:
            yield shard
            shard, size = [], 0
    if shard:
        yield shard


def count_ngrams_stream(
    texts: Callable[[], Iterable[str]],
    n: int,
    min_count: int | Sequence[int] = 1,
    *,
    keep: str = KEEP,
    nfkc: bool = True,
    shard_chars: int = 10_000_000,
    prune_above: int | None = None,
    prune_min: int = 2,
) -> NgramTable:
    """Counts of orders 1..n of a corpus streamed twice, with memory bounded by one shard and
    the table: `texts()` must return a fresh iterator each call (e.g. lines read from files).

    Pass 1 collects the character vocabulary (it fixes the key width); pass 2 counts shards of
    about `shard_chars` characters and merges each into the running table. Exact, equal to
    `count_ngrams_table`, unless `prune_above` is set: then, whenever an order holds more than
    `prune_above` distinct n-grams, those of order ≥ 2 seen fewer than `prune_min` times so far
    are dropped (the author's word-discovery code prunes the same way to bound memory). Pruned
    counts are lost, so rare n-grams are undercounted; frequent ones are exact.
    """
    mins = _as_orders(min_count, n)
    seen = np.zeros(0, np.uint32)
    for shard in iter_shards(texts(), shard_chars):
        seen = np.union1d(seen, _vocab_of(join_chunks(shard, keep, nfkc)))
    vocab = seen[seen != 0]
    bits = _bits_for(len(vocab), n)
    keys: list[np.ndarray] = [np.zeros(0, np.uint64) for _ in range(n)]
    counts: list[np.ndarray] = [np.zeros(0, np.int64) for _ in range(n)]
    for shard in iter_shards(texts(), shard_chars):
        part_keys, part_counts = _count_joined(
            join_chunks(shard, keep, nfkc), vocab, bits, n, None
        )
        for k in range(n):
            keys[k], counts[k] = _merge_sorted(
                [keys[k], part_keys[k]], [counts[k], part_counts[k]]
            )
            if prune_above is not None and k > 0 and len(keys[k]) > prune_above:
                kept = counts[k] >= prune_min
                keys[k], counts[k] = keys[k][kept], counts[k][kept]
    return _finish(vocab, bits, n, mins, [(keys, counts)])


def _finish(
    vocab: np.ndarray,
    bits: int,
    n: int,
    mins: Sequence[int],
    parts: Sequence[tuple[Sequence[np.ndarray], Sequence[np.ndarray]]],
) -> NgramTable:
    keys, counts = [], []
    for k in range(n):
        u, c = _merge_sorted([p[0][k] for p in parts], [p[1][k] for p in parts])
        keep = c >= mins[k]
        keys.append(u[keep])
        counts.append(c[keep])
    return NgramTable(vocab, bits, keys, counts)


class _TableOptions(TypedDict, total=False):
    """The keyword options of `count_ngrams_table` (the `options` of `count_ngrams`)."""

    keep: str
    nfkc: bool
    shard_chars: int


def count_ngrams(
    texts: Iterable[str],
    n: int,
    min_count: int | Sequence[int] = 1,
    **options: Unpack[_TableOptions],
) -> dict[str, int]:
    """Exact counts of all character k-grams, k = 1..n, with count ≥ min_count (per order).

    Equals `collections.Counter` over every substring of length ≤ n of every chunk of
    `split_chunks(text)`; `options` go to `count_ngrams_table`.
    """
    return count_ngrams_table(texts, n, min_count, **options).to_dict()


class NgramCounter(BaseEstimator):
    """Estimator wrapper of `count_ngrams_table` (scikit-learn contract).

    Parameters:
        n: highest order. min_count: int or one per order. keep, nfkc: see `split_chunks`.

    Attributes:
        table_: the fitted `NgramTable`.
    """

    def __init__(self, n: int = 4, *, min_count: int | Sequence[int] = 1, keep: str = KEEP,
                 nfkc: bool = True) -> None:  # fmt: skip
        self.n = n
        self.min_count = min_count
        self.keep = keep
        self.nfkc = nfkc

    def fit(self, texts: Iterable[str], y: None = None) -> NgramCounter:
        texts = _fit_texts(texts)
        self.table_ = count_ngrams_table(
            texts, self.n, self.min_count, keep=self.keep, nfkc=self.nfkc
        )
        return self

    def to_dict(self) -> dict[str, int]:
        check_is_fitted(self, "table_")
        return self.table_.to_dict()


# ----------------------------------------------------------------------------- Dask
def _partition_vocab(texts: Iterable[str], keep: str, nfkc: bool) -> list[np.ndarray]:
    return [_vocab_of(join_chunks(texts, keep, nfkc))]


def _partition_counts(
    texts: Iterable[str], vocab: np.ndarray, bits: int, n: int, keep: str, nfkc: bool
) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    keys, counts = _count_joined(join_chunks(texts, keep, nfkc), vocab, bits, n, None)
    return [(keys, counts)]


def _reduce_counts(
    parts: Iterable[tuple[Sequence[np.ndarray], Sequence[np.ndarray]]],
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    parts = list(parts)
    n = len(parts[0][0])
    merged = [_merge_sorted([p[0][k] for p in parts], [p[1][k] for p in parts]) for k in range(n)]
    return ([m[0] for m in merged], [m[1] for m in merged])


def count_ngrams_dask(
    bag: Bag, n: int, min_count: int | Sequence[int] = 1, *, keep: str = KEEP, nfkc: bool = True,
    split_every: int = 8,
) -> NgramTable:  # fmt: skip
    """The same exact counts from a `dask.bag.Bag` of texts (any scheduler or cluster).

    Round 0 collects the character vocabulary (a distributed distinct), which fixes the ids;
    round 1 maps every partition to packed per-order counts and tree-reduces them by key;
    `min_count` is applied once, on the merged table, so the result is exact.

    Example (a real cluster; files larger than one machine's memory)::

        from dask.distributed import Client
        import dask.bag as db
        client = Client("tcp://scheduler:8786")
        bag = db.read_text("s3://corpus/*.txt", blocksize="64MB")
        table = count_ngrams_dask(bag, 4, [1, 8, 8, 8])   # NgramTable on the driver

    Only the merged table (distinct keys × 16 bytes per order) comes back to the driver.
    """
    mins = _as_orders(min_count, n)
    vocabs = bag.map_partitions(_partition_vocab, keep, nfkc).compute()
    vocab = np.unique(np.concatenate([np.zeros(0, np.uint32), *vocabs]))
    bits = _bits_for(len(vocab), n)
    counted = bag.map_partitions(_partition_counts, vocab, bits, n, keep, nfkc)
    keys, counts = counted.reduction(
        _reduce_counts, _reduce_counts, split_every=split_every
    ).compute()
    return _finish(vocab, bits, n, mins, [(keys, counts)])
