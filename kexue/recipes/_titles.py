"""Data and training plumbing shared by the CSL title recipes (seq2seq-title,
bidirectional-decoding); no math lives here."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from kexue.data import csl_split
from kexue.runs import DataSpec
from kexue.seq import CharVocab, pad_batch

DATA = DataSpec(  # what --data takes (both recipes)
    "data",
    "a CSL title folder: dev.tsv and test.tsv, columns task<TAB>abstract<TAB>title",
    "../shared/data/csl_ts beside the checkout, or $KEXUE_DATA/csl_ts",
)


def title_data(
    cfg: Any,
) -> tuple[
    list[tuple[str, str]], list[tuple[str, str]], CharVocab, list[list[int]], list[list[int]]
]:
    """The CSL split, the character vocabulary and the encoded training pairs, by the recipe's
    config (its fields data, n_eval, max_source, max_title, min_count).

    Returns:
        (train, held, vocab, src, tgt): the training (abstract, title) pairs, the held-out test
        pairs 0..n_eval (of 200), the vocabulary of truncated abstracts + titles (min_count),
        the truncated abstracts' ids and the truncated titles' ids with start/end marks.
    """
    train, held = csl_split(cfg.data, cfg.n_eval)
    vocab = CharVocab([a[: cfg.max_source] + t for a, t in train], cfg.min_count)
    src = [vocab.encode(a[: cfg.max_source]) for a, _ in train]
    tgt = [vocab.encode(t[: cfg.max_title], start_end=True) for _, t in train]
    return train, held, vocab, src, tgt


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
