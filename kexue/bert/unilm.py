r"""UniLM-style attention masks for BERT (seq2seq and LM applications), the seq2seq loss, step
functions that plug a masked BERT into `kexue.seq.decoding`, and `UniLMSeq2Seq`: a BERT masked
LM used as a whole seq2seq model (batches, loss, generation, run-folder files).

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
    - `unilm_step` and `lm_step` keep a key/value cache (the article's bert4keras decoder
      re-runs the whole prefix): under either mask no position attends to a later one (the
      source sees the source, target i the source and targets ≤ i; LM row i the rows ≤ i), so
      the keys and values of the prefix never change and each step runs the new token only.
    - `UniLMSeq2Seq` keeps the tokens of the training corpus (`keep_tokens` from the corpus, see
      kexue.bert.backbone); bert4keras keeps every token but the "##" CJK pieces. Its beam
      search is `kexue.seq.decoding.beam_search` ('complete' stop policy by default; the
      article's decoder stops at the first best finished hypothesis, `stop="first_best"`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.bert.backbone import CharTokenizer, VocabTokenizer, load_checkpoint, tiny_config
from kexue.nn.conditional_ln import conditioned
from kexue.seq.decoding import Hypothesis, beam_search, greedy_search, kv_cache, sample
from kexue.seq.seq2seq import pad_batch

__all__ = [
    "UniLMSeq2Seq",
    "as_attention_mask",
    "lm_mask",
    "lm_step",
    "unilm_loss",
    "unilm_mask",
    "unilm_step",
]


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


def lm_step(model: nn.Module, *, conditional: bool = False, cache: bool = True) -> StepFn:
    """A step function for `kexue.seq.decoding`: the LM application of a masked-LM BERT.

    tokens (N, t) are whole sequences ([CLS] + generated so far); the model (a HuggingFace
    *ForMaskedLM / *LMHeadModel) runs on them under the LM mask and the last position's
    log-probabilities are returned. With `conditional=True` the decoder state starts as the
    condition (N, d_c) fed to the model's ConditionalLayerNorms; the decoder re-indexes it by
    beam (or sample).

    cache=True: a transformers `DynamicCache` of every layer's keys and values rides in the
    state (the state is the cache, or (condition, cache) when conditional; start from None or
    the condition); the first call runs the prefix, later calls the new positions only, as rows
    `past:` of the LM mask (as `unilm_step`; a CLN is position-wise, so the condition applies
    to the new rows alone: a per-position condition (N, t, d_c) needs cache=False).
    cache=False re-runs the whole prefix and passes the state through.
    """
    keyword = kv_cache(model)[1] if cache else ""

    def run(cond: Tensor | None, **inputs: Any) -> Tensor:
        if conditional:
            with conditioned(model, cond):
                return model(**inputs).logits
        return model(**inputs).logits

    @torch.no_grad()
    def step(tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        am = as_attention_mask(lm_mask(torch.ones_like(tokens)))
        if not cache:
            logits = run(state, input_ids=tokens, attention_mask=am)
            return logits[:, -1].log_softmax(-1), state
        if conditional:
            cond, past_kv = state if isinstance(state, tuple) else (state, None)
        else:
            cond, past_kv = None, state
        if past_kv is None:
            past_kv = kv_cache(model)[0]
        past, n = past_kv.get_seq_length(), tokens.shape[1]
        positions = torch.arange(past, n, device=tokens.device).expand(len(tokens), -1)
        logits = run(
            cond, input_ids=tokens[:, past:], position_ids=positions,
            attention_mask=am[:, :, past:], **{keyword: past_kv},
        )  # fmt: skip
        _check_filled(model, past_kv, n)
        return logits[:, -1].log_softmax(-1), (cond, past_kv) if conditional else past_kv

    return step


def _check_filled(model: nn.Module, cache: Any, n: int) -> None:
    if cache.get_seq_length() != n:
        raise RuntimeError(
            f"{type(model).__name__} did not fill the key/value cache it was given "
            "(transformers too old?): pass cache=False to the step function"
        )


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
        _check_filled(model, state, n)
        return logits[:, -1].log_softmax(-1), state

    return step


# ----------------------------------------------------------------------------- seq2seq model
_Tokenizer = CharTokenizer | VocabTokenizer
# the files `save` writes into a run folder and `load` reads back (nothing else is needed)
_WEIGHTS, _CONFIG, _VOCAB, _VOCAB_TXT = (
    "generator.safetensors", "generator_config.json", "vocab.json", "vocab.txt",
)  # fmt: skip


class UniLMSeq2Seq(nn.Module):
    """A HuggingFace `BertForMaskedLM` as a seq2seq model under the UniLM mask (spec §10).

    Input [CLS] src [SEP] tgt [SEP] with segment ids 0 on [CLS] src [SEP], 1 on tgt [SEP]; the
    loss is `unilm_loss` on the MLM head's logits; generation starts from [CLS] src [SEP] and
    ends at [SEP] through `unilm_step` (KV cache) and the shared decoder.

    Build it with `from_scratch` (a tiny random BERT over a tokenizer) or `from_checkpoint` (a
    local HuggingFace or TensorFlow BERT folder, vocabulary simplified to a corpus); `save`
    writes what `load` needs into a run folder.

    Args:
        mlm: the masked LM (its `config.max_position_embeddings` bounds source + output).
        tokenizer: ids of the model's vocabulary (specials [PAD] [UNK] [CLS] [SEP] [MASK]).
    """

    def __init__(self, mlm: nn.Module, tokenizer: _Tokenizer) -> None:
        super().__init__()
        self.mlm = mlm
        self.tokenizer = tokenizer

    @classmethod
    def from_scratch(
        cls, tokenizer: _Tokenizer, *, hidden: int = 64, layers: int = 2, heads: int = 2,
        max_len: int = 256, dropout: float = 0.1,
    ) -> UniLMSeq2Seq:  # fmt: skip
        """A random-init BERT (`tiny_config`) with `max_len` positions over `tokenizer`."""
        import transformers as hf

        conf = tiny_config("bert", len(tokenizer), hidden=hidden, layers=layers, heads=heads,
                           max_position=max_len, dropout=dropout)  # fmt: skip
        return cls(hf.BertForMaskedLM(conf), tokenizer)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, corpus: Iterable[str], *, max_len: int | None = None
    ) -> UniLMSeq2Seq:
        """A local BERT checkpoint folder (HuggingFace or TensorFlow, `load_checkpoint`) with
        its MLM head; the vocabulary is simplified to the tokens `corpus` uses (keep_tokens).
        `max_len`: the longest [CLS] src [SEP] tgt [SEP] the caller will feed (InputError if the
        checkpoint has fewer positions). The pooler and the NSP head are dropped."""
        import transformers as hf

        ck = load_checkpoint(
            path, hf.BertForMaskedLM, corpus=corpus, max_len=max_len,
            allow_unexpected=[r"^cls\.seq_relationship\.", r"^bert\.pooler\."],
        )  # fmt: skip
        return cls(ck.model, ck.tokenizer)

    # -- batches and loss
    @property
    def max_len(self) -> int:
        """Positions of the model: the longest input plus output it can take."""
        return int(self.mlm.config.max_position_embeddings)

    def encode(self, source: str, target: str | None = None) -> tuple[list[int], list[int]]:
        """[CLS] source [SEP] (target [SEP]) → (ids, segment ids); truncate the texts first."""
        return self.tokenizer.encode(source, target)

    def collate(self, pairs: Sequence[tuple[list[int], list[int]]]) -> tuple[Tensor, ...]:
        """Encoded pairs → padded (ids, segment ids, mask), each (B, L)."""
        ids = pad_batch([p[0] for p in pairs], self.tokenizer.pad_id)
        segs = pad_batch([p[1] for p in pairs], 0)
        return ids, segs, (ids != self.tokenizer.pad_id).long()

    def forward(self, ids: Tensor, segs: Tensor, mask: Tensor) -> Tensor:
        """MLM logits (B, L, V) under the UniLM mask."""
        am = as_attention_mask(unilm_mask(segs, mask))
        return self.mlm(input_ids=ids, token_type_ids=segs, attention_mask=am).logits

    def loss(self, ids: Tensor, segs: Tensor, mask: Tensor) -> Tensor:
        """Token-mean CE of the target tokens and the closing [SEP] (`unilm_loss`)."""
        return unilm_loss(self(ids, segs, mask), ids, segs, mask)

    # -- generation
    @torch.no_grad()
    def generate(
        self, source: str, *, beam_size: int = 3, max_len: int = 32, top_k: int | None = None,
        top_p: float | None = None, generator: torch.Generator | None = None,
        stop: str = "complete", cache: bool = True,
    ) -> Hypothesis:  # fmt: skip
        """One output for `source`: beam search (beam_size 1 = greedy), or with `top_k` /
        `top_p` one random sample drawn from `generator`. At most `max_len` tokens, the closing
        [SEP] included; [PAD] [UNK] [CLS] [MASK] are never emitted. A source longer than the
        model's positions allow (with `max_len` output tokens) keeps its first tokens."""
        tok = self.tokenizer
        start, _ = self.encode(source)
        room = self.max_len - max_len
        if room < 2:
            raise ValueError(f"max_len {max_len} leaves no room for a source in {self.max_len}")
        if len(start) > room:  # bert4keras: max_c_len = maxlen − output maxlen
            start = [*start[: room - 1], tok.sep_id]
        step = unilm_step(self.mlm, len(start), cache=cache)
        banned = (tok.pad_id, tok.unk_id, tok.cls_id, tok.mask_id)
        if top_k is not None or top_p is not None:
            g = generator if generator is not None else torch.Generator().manual_seed(0)
            (hyp,) = sample(step, start, 1, max_len, tok.sep_id, g, top_k=top_k, top_p=top_p,
                            banned=banned)  # fmt: skip
            return hyp
        if beam_size == 1:
            return greedy_search(step, start, max_len, tok.sep_id, banned=banned)
        return beam_search(step, start, beam_size, max_len, tok.sep_id, banned=banned, stop=stop)

    def decode(self, tokens: Sequence[int]) -> str:
        """Generated ids → text (special tokens dropped)."""
        return self.tokenizer.decode(tokens)

    # -- run folders
    def save(self, out: Any) -> None:
        """Write the weights, the BERT config and the vocabulary through `out` (a
        `kexue.runs.RunDir`: atomic writes): generator.safetensors, generator_config.json,
        vocab.json and, for a checkpoint's WordPiece vocabulary, its vocab.txt."""
        out.write_weights(_WEIGHTS, self.mlm.state_dict())
        out.write_json(_CONFIG, self.mlm.config.to_dict())
        tok = self.tokenizer
        if isinstance(tok, VocabTokenizer):  # the file itself: the fast tokenizer reads it
            out.write_bytes(_VOCAB_TXT, tok.path.read_bytes())
            out.write_json(_VOCAB, {"kind": "wordpiece", "itos": tok.itos, "keep": tok.keep,
                                   "do_lower_case": tok.do_lower_case})  # fmt: skip
        else:
            out.write_json(_VOCAB, {"kind": "char", "itos": tok.itos})

    @classmethod
    def load(cls, folder: str | Path) -> UniLMSeq2Seq:
        """The model `save` wrote into `folder`, in eval mode; InputError names a missing file."""
        import transformers as hf
        from safetensors.torch import load_file

        from kexue.errors import InputError

        folder = Path(folder)
        missing = [n for n in (_WEIGHTS, _CONFIG, _VOCAB) if not (folder / n).is_file()]
        if missing:
            raise InputError(f"{folder}: {', '.join(missing)} missing (not a UniLM run folder?)")
        vocab = json.loads((folder / _VOCAB).read_text(encoding="utf-8"))
        tok: _Tokenizer
        if vocab.get("kind") == "wordpiece":
            tok = VocabTokenizer(folder / _VOCAB_TXT, do_lower_case=vocab["do_lower_case"],
                                 keep=vocab["keep"])  # fmt: skip
        else:
            tok = CharTokenizer.from_itos(vocab["itos"])
        conf = hf.BertConfig.from_dict(json.loads((folder / _CONFIG).read_text(encoding="utf-8")))
        mlm = hf.BertForMaskedLM(conf)
        mlm.load_state_dict(load_file(str(folder / _WEIGHTS)))
        return cls(mlm.eval(), tok).eval()
