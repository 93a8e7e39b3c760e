r"""UniLM-style attention masks for BERT (seq2seq and LM applications), the seq2seq loss, and step
functions that plug a masked BERT into `kexue.seq.decoding`.

Article:  从语言模型到Seq2Seq：Transformer如戏，全靠Mask — 苏剑林, 2019-09-18
URL:      https://kexue.fm/archives/6933
Used by:  基于Conditional Layer Normalization的条件文本生成 (https://kexue.fm/archives/7124),
          whose conditional LM is the 'lm' application below.

Key equations::

    input  [CLS] src [SEP] tgt [SEP],  segment ids s = 0 on [CLS] src [SEP], 1 on tgt [SEP]
    c_j = Σ_{t≤j} s_t                                 (cumulative segment id)
    UniLM:  allowed(i → j)  ⇔  c_j ≤ c_i  and  j is not padding
    LM:     allowed(i → j)  ⇔  j ≤ i      and  j is not padding
    loss  = Σ_t s_{t+1} m_{t+1} CE(ids_{t+1}, logits_t) / Σ_t s_{t+1} m_{t+1}   (token mean)

Symbols: B batch, L length, s (B, L) segment ids, m (B, L) 1 on real tokens; `allowed` is a
boolean (B, L, L) matrix, True = row i may attend to column j. HuggingFace BERT takes it as a
4-D (B, 1, L, L) boolean attention mask (`as_attention_mask`), the only place it is converted.

Deviations from the article:
    - none in the masks; pads have s = 0 but the maximal c, so the key-padding mask is always
      AND-ed in (bert4keras relies on the padding mask applied elsewhere).
    - `unilm_step` keeps a key/value cache (the article's bert4keras decoder re-runs the whole
      prefix): under the UniLM mask no position attends to a later one (the source sees the
      source, target i the source and targets ≤ i), so the keys and values of the prefix never
      change and each step runs the new token only. `lm_step` still re-runs the prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.nn.conditional_ln import conditioned
from kexue.seq.decoding import kv_cache

__all__ = ["as_attention_mask", "lm_mask", "lm_step", "unilm_loss", "unilm_mask", "unilm_step"]


def unilm_mask(segment_ids: Tensor, mask: Tensor | None = None) -> Tensor:
    """allowed(i → j) ⇔ cumsum(s)_j ≤ cumsum(s)_i, AND key j is not padding.

    Args:
        segment_ids: (B, L) monotone 0…0 1…1 (then padding).
        mask: (B, L) 1/True on real tokens; None = no padding.

    Returns:
        (B, L, L) bool.
    """
    c = segment_ids.long().cumsum(dim=1)  # (B, L)
    allowed = c[:, None, :] <= c[:, :, None]  # [b, i, j] = c_j ≤ c_i
    if mask is not None:
        allowed = allowed & mask.bool()[:, None, :]
    return allowed


def lm_mask(mask: Tensor) -> Tensor:
    """allowed(i → j) ⇔ j ≤ i, AND key j is not padding. mask (B, L) → (B, L, L) bool."""
    n = mask.shape[1]
    causal = torch.ones(n, n, dtype=torch.bool, device=mask.device).tril()
    return causal[None] & mask.bool()[:, None, :]


def as_attention_mask(allowed: Tensor) -> Tensor:
    """(B, L, L) bool → (B, 1, L, L) bool, the form HuggingFace BERT accepts as-is."""
    return allowed[:, None]


def unilm_loss(logits: Tensor, ids: Tensor, segment_ids: Tensor, mask: Tensor) -> Tensor:
    """Token-mean cross-entropy of ids[:, 1:] under logits[:, :-1], only where s = 1 (targets).

    Args:
        logits: (B, L, V); ids, segment_ids, mask: (B, L).
    """
    weight = (segment_ids[:, 1:] * mask[:, 1:]).float()  # (B, L-1)
    ce = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
    return (ce * weight).sum() / weight.sum().clamp_min(1.0)


StepFn = Callable[[Tensor, Any], tuple[Tensor, Any]]


def lm_step(model: nn.Module, *, conditional: bool = False) -> StepFn:
    """A step function for `kexue.seq.decoding`: the LM application of a masked-LM BERT.

    tokens (N, t) are whole sequences ([CLS] + generated so far); the model (a HuggingFace
    *ForMaskedLM / *LMHeadModel) runs on them under the LM mask and the last position's
    log-probabilities are returned. With `conditional=True` the decoder state is the condition
    (N, d_c) fed to the model's ConditionalLayerNorms; the decoder re-indexes it by beam.
    """

    @torch.no_grad()
    def step(tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        mask = torch.ones_like(tokens)
        am = as_attention_mask(lm_mask(mask))
        if conditional:
            with conditioned(model, state):
                logits = model(input_ids=tokens, attention_mask=am).logits
        else:
            logits = model(input_ids=tokens, attention_mask=am).logits
        return logits[:, -1].log_softmax(-1), state

    return step


def unilm_step(model: nn.Module, source_len: int, *, cache: bool = True) -> StepFn:
    """A step function for seq2seq generation with the UniLM mask.

    Decode with `start = [CLS] src [SEP]` (the `source_len` first tokens, segment 0); the
    generated tokens get segment 1, so they see the whole source and their own past only.

    cache=True: the state is a transformers `DynamicCache` of every layer's keys and values
    (start from state None; the decoder re-indexes it by beam). The first call encodes the
    prefix once; later calls run only the new positions, as rows `past:` of the UniLM mask
    over all keys. The cache is passed to the BERT encoder directly (a non-decoder BERT fills a
    cache it is given), not through `is_decoder=True`, which would turn the model's own mask
    causal over the source and warn on a masked LM. cache=False re-runs the whole prefix.
    """
    keyword = kv_cache(model)[1] if cache else ""

    @torch.no_grad()
    def step(tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        segs = torch.ones_like(tokens)
        segs[:, :source_len] = 0
        am = as_attention_mask(unilm_mask(segs, torch.ones_like(tokens)))
        if not cache:
            logits = model(input_ids=tokens, token_type_ids=segs, attention_mask=am).logits
            return logits[:, -1].log_softmax(-1), state
        if state is None:
            state = kv_cache(model)[0]
        past, n = state.get_seq_length(), tokens.shape[1]
        positions = torch.arange(past, n, device=tokens.device).expand(len(tokens), -1)
        logits = model(
            input_ids=tokens[:, past:], token_type_ids=segs[:, past:], position_ids=positions,
            attention_mask=am[:, :, past:], **{keyword: state},
        ).logits  # fmt: skip
        if state.get_seq_length() != n:
            raise RuntimeError(
                f"{type(model).__name__} did not fill the key/value cache it was given "
                "(transformers too old?): use unilm_step(..., cache=False)"
            )
        return logits[:, -1].log_softmax(-1), state

    return step
