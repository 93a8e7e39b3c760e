"""Data, training and evaluation plumbing shared by the CSL title recipes (seq2seq-title,
bidirectional-decoding); no math lives here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from kexue.data import TitlePairs, title_split
from kexue.runs import DataSpec
from kexue.seq import CharVocab, pad_batch
from kexue.stats import record_interval, seed_interval, seeded_paired_interval

DATA = DataSpec(  # what --data takes (both recipes)
    "data",
    "a CSL title folder (dev.tsv and test.tsv, columns task<TAB>abstract<TAB>title) or one "
    "title–text file of any size: TSV (text<TAB>title, or CSL's three columns) or JSONL "
    '({"title", "content"/"text"/"abstract"}); read by seek from an index of line offsets '
    "kept in the file's folder (.kexue-cache); a file's first 200 pairs are held out",
    "../shared/data/csl_ts beside the checkout, or $KEXUE_DATA/csl_ts",
)


class _Encoded(Sequence[list[int]]):
    """`encode(pair)` of each pair, computed when indexed: the ids of a corpus of any size
    without holding them (the pairs themselves are read by seek)."""

    def __init__(self, pairs: TitlePairs, encode: Callable[[tuple[str, str]], list[int]]) -> None:
        self.pairs, self.encode = pairs, encode

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return _Encoded(self.pairs[i], self.encode)
        return self.encode(self.pairs[i])


def title_data(
    cfg: Any, cache_dir: str | None = None
) -> tuple[TitlePairs, list[tuple[str, str]], CharVocab, Sequence[list[int]], Sequence[list[int]]]:
    """The CSL split, the character vocabulary and the encoded training pairs, by the recipe's
    config (its fields data, n_eval, max_source, max_title, min_count); `cache_dir` keeps the
    index when the data's folder is read-only (the run folder; None: rebuilt each run).

    Returns:
        (train, held, vocab, src, tgt): the training (abstract, title) pairs (a `TitlePairs`
        read on demand: len, indexing, iteration), the held-out test pairs 0..n_eval (of 200,
        a list), the vocabulary of truncated abstracts + titles (min_count, counted in one
        streaming pass), the truncated abstracts' ids and the truncated titles' ids with
        start/end marks (sequences encoded when indexed).
    """
    train, held = title_split(cfg.data, cfg.n_eval, fallback_cache_dir=cache_dir)
    vocab = CharVocab((a[: cfg.max_source] + t for a, t in train), cfg.min_count)
    src = _Encoded(train, lambda p: vocab.encode(p[0][: cfg.max_source]))
    tgt = _Encoded(train, lambda p: vocab.encode(p[1][: cfg.max_title], start_end=True))
    return train, list(held), vocab, src, tgt


def sample_batch(
    src: list[list[int]], tgt: list[list[int]], batch_size: int, g: torch.Generator
) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """A random batch of training pairs drawn from `g`: the indices and the padded ids."""
    idx = torch.randint(len(src), (batch_size,), generator=g).tolist()
    return idx, pad_batch([src[i] for i in idx]), pad_batch([tgt[i] for i in idx])


def clipped_step(
    acc: Any, model: nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor
) -> None:
    """One optimiser step on `loss` with the gradient norm clipped to 1."""
    opt.zero_grad()
    acc.backward(loss)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


def record_union(
    metrics: dict[str, float], key: str, point: float, intervals: list[tuple[float, float]]
) -> None:
    """Record `point` as `key` with the union of `intervals` (none: the point alone). A claim
    over titles and training seeds passes only when it clears both noises: the bootstrap over
    titles and the t-interval over seeds."""
    if not intervals:
        metrics[key] = float(point)
        return
    lo, hi = min(i[0] for i in intervals), max(i[1] for i in intervals)
    record_interval(metrics, key, point, (lo, hi))


def record_paired(
    metrics: dict[str, float], key: str, a: np.ndarray, b: np.ndarray | float = 0.0
) -> None:
    """Record mean(a − b) as `key` with `kexue.stats.seeded_paired_interval` (a, b: per-title
    values of shape (seeds, titles) or (titles,), the same titles for both arms) and, with
    ≥ 2 seeds, the extremes of the seeds' means as `key_seed_min`, `key_seed_max`."""
    d = np.atleast_2d(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    ci = seeded_paired_interval(a, b)
    record_union(metrics, key, float(d.mean()), [ci] if ci else [])
    if d.shape[0] >= 2:  # how far apart the seeds are: the usual reason for a wide interval
        metrics[f"{key}_seed_min"] = float(d.mean(1).min())
        metrics[f"{key}_seed_max"] = float(d.mean(1).max())


def record_seeds(metrics: dict[str, float], key: str, per_seed: list[float]) -> None:
    """Record the mean over training seeds as `key` with its Student-t interval (≥ 2 seeds)."""
    intervals = [seed_interval(per_seed)] if len(per_seed) >= 2 else []
    record_union(metrics, key, float(np.mean(per_seed)), intervals)
