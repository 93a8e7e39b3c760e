r"""MLM and MAE seen as dropout: BERT's token masking, the dropout-consistent embedding correction,
attention-column dropout (MAE's equivalent) and the DropToken regulariser.

Article:  Dropout视角下的MLM和MAE：一些新的启发 — 苏剑林, 2021-11-29
URL:      https://kexue.fm/archives/8770

Key equations (p = keep probability, the article's convention)::

    dropout:   train f(x ε / p), ε ~ Bernoulli(p)
               "dropout off" = weight averaging f(x E[ε]/p) = f(x)
    MLM:       x_i → ε x_i + (1 − ε) m  ⇒  weight averaging feeds p x_i + (1 − p) m, not x_i
    fix (BERT: select s = 0.15; of those 80% [MASK], 10% kept, 10% random):
        E'[i] = (1 − s) E[i] + s (0.8 E[m] + 0.1 E[i] + 0.1 Ē) = 0.865 E[i] + 0.12 E[m] + 0.015 Ē
        Ē = mean of all embedding rows (uniform) or frequency-weighted
    MAE ≡ attention-column dropout:  Norm(A ⊗ M̃_1 ⊗ … ⊗ M̃_n), M̃_i = 1 w.p. p, else column i zeroed
        E[M̃_1 ⊗ … ⊗ M̃_n] = p·1  and  Norm(pA) = A  ⇒ "dropout off" is the original model exactly
    DropToken: delete a fraction r of the tokens, keep the survivors' original position ids

Symbols: E (V, d) token embeddings, m the [MASK] id, A (n, n) row-stochastic attention,
Norm(X) = X / X.sum(-1) (row renormalisation), r the DropToken rate.

Deviations from the article:
    - `correct_mlm_embeddings_` unties the MLM output layer first (`untie=True`, default), so the
      correction touches only the input embeddings; the article's bert4keras snippet edits the
      shared matrix, which also changes the MLM head.
    - DropToken keeps a per-sequence count of round(r · n_droppable) deletions ([CLS]/[SEP] kept)
      and right-pads the survivors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

__all__ = [
    "column_dropout_attention",
    "correct_mlm_embeddings_",
    "drop_tokens",
    "mask_tokens",
    "mlm_classifier",
    "mlm_consistent_embeddings",
    "model_average_states",
]


def mask_tokens(
    ids: Tensor, special: Tensor, *, vocab_size: int, mask_id: int, generator: torch.Generator,
    select: float = 0.15, p_mask: float = 0.8, p_rand: float = 0.1, first_normal_id: int = 5,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """BERT's corruption: select each non-special token w.p. `select`; of those, [MASK] w.p.
    `p_mask`, a random normal token w.p. `p_rand`, unchanged otherwise.

    Args:
        ids: (B, L); special: (B, L) bool, never selected (pads, [CLS], [SEP]).

    Returns:
        inputs (B, L) and selected (B, L) bool (the positions the MLM loss is taken on).
    """
    u = torch.rand(ids.shape, generator=generator)
    selected = (u < select) & ~special
    v = torch.rand(ids.shape, generator=generator)
    rand_ids = torch.randint(first_normal_id, vocab_size, ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[selected & (v < p_mask)] = mask_id
    use_rand = selected & (v >= p_mask) & (v < p_mask + p_rand)
    inputs[use_rand] = rand_ids[use_rand]
    return inputs, selected


def mlm_consistent_embeddings(
    emb: Tensor, mask_id: int, *, select: float = 0.15, p_mask: float = 0.8,
    p_keep: float = 0.1, p_rand: float = 0.1, weights: Tensor | None = None,
) -> Tensor:  # fmt: skip
    r"""E' = (1 − s) E + s (p_mask E[m] + p_keep E + p_rand Ē).

    Args:
        emb: (V, d) the embedding table E.
        weights: (V,) token frequencies for Ē; None = the plain mean of all rows (the article).

    Returns:
        (V, d) the corrected table (E itself is not modified).
    """
    if abs(p_mask + p_keep + p_rand - 1.0) > 1e-9:
        raise ValueError("p_mask + p_keep + p_rand must be 1")
    if weights is None:
        mean = emb.mean(0)
    else:
        w = weights.to(emb.dtype)
        mean = (w[:, None] * emb).sum(0) / w.sum()
    return (1 - select) * emb + select * (p_mask * emb[mask_id] + p_keep * emb + p_rand * mean)


@torch.no_grad()
def correct_mlm_embeddings_(
    model: nn.Module, mask_id: int, *, select: float = 0.15, p_mask: float = 0.8,
    p_keep: float = 0.1, p_rand: float = 0.1, weights: Tensor | None = None,
    mean: Literal["uniform", "frequency"] = "uniform", untie: bool = True,
) -> None:  # fmt: skip
    """Apply the correction in place to a HuggingFace model's input embeddings.

    With `untie=True` a tied MLM output layer first gets its own copy of the old matrix, so
    the MLM head is unchanged.
    """
    if mean == "frequency" and weights is None:
        raise ValueError("mean='frequency' needs token frequencies in `weights`")
    emb = model.get_input_embeddings()
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if untie and head is not None and head.weight is emb.weight:
        head.weight = nn.Parameter(emb.weight.detach().clone())
        model.config.tie_word_embeddings = False
    new = mlm_consistent_embeddings(
        emb.weight, mask_id, select=select, p_mask=p_mask, p_keep=p_keep, p_rand=p_rand,
        weights=weights if mean == "frequency" else None,
    )  # fmt: skip
    emb.weight.copy_(new)


@torch.no_grad()
def model_average_states(
    forward: Callable[[Tensor], Tensor], ids: Tensor, corrupt: Callable[[Tensor], Tensor],
    n_samples: int,
) -> Tensor:  # fmt: skip
    """Model averaging E_ε[f(x̃)] by Monte Carlo: the mean of `forward(corrupt(ids))` over
    `n_samples` corruptions — the target that weight averaging f(E[x̃]) approximates to first
    order (the article's dropout view of MLM; the corrected embeddings are E[x̃]).

    Args:
        forward: ids (B, L) → states (B, L, d); corrupt: ids → corrupted ids (fresh draw per call).
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    total = forward(corrupt(ids))
    for _ in range(n_samples - 1):
        total = total + forward(corrupt(ids))
    return total / n_samples


def mlm_classifier(
    folder: str | Path, mask_id: int, *, corrected: bool = False, head_seed: int = 0
) -> Any:
    """A saved BertForMaskedLM as a BertForSequenceClassification, pooler and classifier newly
    initialised from `head_seed` (N(0, 0.02²) weights, zero biases: the same in every arm);
    `corrected` applies `correct_mlm_embeddings_` before the MLM head is dropped, so the
    corrected and plain classifiers differ in the word embeddings only."""
    import transformers as hf

    from kexue.bert.backbone import load_pretrained

    if corrected:
        mlm = load_pretrained(hf.BertForMaskedLM, folder)
        correct_mlm_embeddings_(mlm, mask_id)
        clf = hf.BertForSequenceClassification(mlm.config)
        missing, _ = clf.load_state_dict(mlm.state_dict(), strict=False)
        if not all(k.startswith(("classifier.", "bert.pooler.")) for k in missing):
            raise ValueError(f"{folder}: not a BERT MLM checkpoint (missing {missing})")
    else:
        clf = load_pretrained(
            hf.BertForSequenceClassification,
            folder,
            allow_missing=[r"^classifier\.", r"^bert\.pooler\."],
            allow_unexpected=[r"^cls\.predictions\."],
        )
    gi = torch.Generator().manual_seed(head_seed)
    with torch.no_grad():
        for lin in (clf.bert.pooler.dense, clf.classifier):
            lin.weight.copy_(0.02 * torch.randn(lin.weight.shape, generator=gi))
            lin.bias.zero_()
    return clf


def column_dropout_attention(attn: Tensor, keep: Tensor) -> Tensor:
    """Norm(A ⊗ M): zero the attention columns of dropped tokens, renormalise rows.

    Args:
        attn: (..., n, n) row-stochastic; keep: broadcastable to (..., 1, n), 1 = kept column.
    """
    masked = attn * keep
    return masked / masked.sum(-1, keepdim=True)


def drop_tokens(
    ids: Tensor, segment_ids: Tensor, mask: Tensor, rate: float, generator: torch.Generator,
    *, special: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    """DropToken: delete round(rate · n) of each sequence's droppable tokens, keep positions.

    Args:
        ids, segment_ids, mask: (B, L); special: (B, L) bool tokens never dropped ([CLS],
            [SEP]); None = none.

    Returns:
        (ids, segment_ids, position_ids, mask) of the survivors, right-padded to the longest.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    b, n = ids.shape
    special = special if special is not None else torch.zeros_like(mask, dtype=torch.bool)
    rows = []
    for i in range(b):
        real = torch.nonzero(mask[i].bool()).flatten()
        cand = real[~special[i, real]]
        n_drop = int(round(rate * len(cand)))
        perm = torch.randperm(len(cand), generator=generator)[:n_drop]
        drop = torch.zeros(n, dtype=torch.bool)
        drop[cand[perm]] = True
        rows.append(real[~drop[real]])  # survivors' original positions, in order
    width = max(len(r) for r in rows)
    out = [torch.zeros(b, width, dtype=torch.long) for _ in range(4)]
    for i, pos in enumerate(rows):
        k = len(pos)
        out[0][i, :k] = ids[i, pos]
        out[1][i, :k] = segment_ids[i, pos]
        out[2][i, :k] = pos
        out[3][i, :k] = 1
    return out[0], out[1], out[2], out[3]
