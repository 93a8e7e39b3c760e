r"""BERT-family backbones: tokenizers (a character one for the tiny from-scratch models, a
checkpoint's vocab.txt through `transformers`' fast BERT tokenizer, both with offsets into the
original text), tiny random configs, and the weight-loading paths: local HuggingFace folders and
Google/bojone TensorFlow checkpoints (BERT, ALBERT, ELECTRA) converted on load, and bert4keras's
`keep_tokens` vocabulary simplification built from the corpus.

Article:  基于Conditional Layer Normalization的条件文本生成 — 苏剑林, 2019-12-14
URL:      https://kexue.fm/archives/7124
See also: bert4keras models.py (`build_transformer_model`, `keep_tokens`), tokenizers.py
          (`rematch`) and the checkpoints of 用ALBERT和ELECTRA之前，请确认你真的了解它们
          (https://kexue.fm/archives/7846); the TF file format in kexue.bert.tf_checkpoint.

Key equations::

    TF kernel [in, out]  →  torch weight [out, in]  (transpose); LayerNorm gamma/beta → weight/bias
    keep_tokens:  E' = E[keep],  b'_mlm = b_mlm[keep]   (rows gathered, order = new ids)
                  keep = [PAD] [UNK] [CLS] [SEP] [MASK] + the tokens the corpus uses (vocab order)
    rematch:      token i ↦ (start, end) characters of the original text; a span of tokens s..e is
                  text[start_s : end_e]

Symbols: V vocabulary, E embedding table (V, e), keep the list of old ids kept.

Deviations from the article:
    - nothing is downloaded: `load_pretrained` / `load_checkpoint` read *local* folders only;
      they are tested on tiny checkpoints the tests write (HuggingFace and TF formats).
    - the offsets come from the fast tokenizer's offset mapping instead of bert4keras's
      `rematch` (the same normalisation: lower-casing, accent stripping, control characters
      dropped); with the character tokenizer they are the identity.
    - `keep_tokens` keeps the tokens the corpus actually uses (bert4keras: every token but the
      "##" CJK / punctuation pieces); text outside the corpus may then meet more [UNK]s.
    - "gelu" in a TF config is loaded as the erf GELU (as bert4keras does), not the tanh
      approximation Google's TF code computed (≈1e-3 apart on activations).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "CLS",
    "MASK",
    "PAD",
    "SEP",
    "UNK",
    "CharTokenizer",
    "Pretrained",
    "VocabTokenizer",
    "bert_tf_to_state_dict",
    "char_to_token_span",
    "checkpoint_format",
    "keep_tokens_",
    "load_checkpoint",
    "load_pretrained",
    "tf_checkpoint_kind",
    "tf_to_state_dict",
    "tiny_config",
    "token_to_char_span",
]

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class _Encoder:
    """What the recipes call on a tokenizer: `pieces(text)` (ids and character offsets of the
    text's tokens) is the subclass's; encoding a pair with [CLS]/[SEP], truncation and the
    special ids are shared."""

    pad_id, unk_id, cls_id, sep_id, mask_id = PAD, UNK, CLS, SEP, MASK
    itos: list[str]

    def pieces(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def special_ids(self) -> tuple[int, ...]:
        return (self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id)

    def tokens_to_ids(self, text: str) -> list[int]:
        return self.pieces(text)[0]

    def encode_offsets(
        self, first: str, second: str | None = None, maxlen: int | None = None
    ) -> tuple[list[int], list[int], list[tuple[int, int] | None]]:
        """[CLS] first [SEP] (second [SEP]) → (ids, segment ids, offsets).

        offsets[i] = (start, end) of token i in the characters of *its own* text (first or
        second), None for [CLS]/[SEP]: the article's `rematch`, so that spans are sliced from the
        original text, never detokenised. `maxlen` truncates the longer text first (the
        bert4keras rule) until the total fits.
        """
        a, oa = self.pieces(first)
        b, ob = self.pieces(second or "")
        if maxlen is not None:
            budget = max(maxlen - 2 - (1 if second is not None else 0), 0)
            la, lb = len(a), len(b)
            while la + lb > budget:  # one token at a time from the longer text
                if la >= lb:
                    la -= 1
                else:
                    lb -= 1
            a, oa, b, ob = a[:la], oa[:la], b[:lb], ob[:lb]
        ids = [self.cls_id, *a, self.sep_id]
        offsets: list[tuple[int, int] | None] = [None, *oa, None]
        segs = [0] * len(ids)
        if second is not None:
            ids += [*b, self.sep_id]
            offsets += [*ob, None]
            segs += [1] * (len(b) + 1)
        return ids, segs, offsets

    def encode(
        self, first: str, second: str | None = None, maxlen: int | None = None
    ) -> tuple[list[int], list[int]]:
        """[CLS] first [SEP] (second [SEP]) → (ids, segment ids 0…0 1…1); see encode_offsets."""
        ids, segs, _ = self.encode_offsets(first, second, maxlen)
        return ids, segs


class CharTokenizer(_Encoder):
    """Characters with count ≥ min_count get ids from 5, after [PAD] [UNK] [CLS] [SEP] [MASK]
    (the tiny from-scratch backbones; token i is character i, so offsets are (i, i + 1))."""

    def __init__(self, texts: Iterable[str], min_count: int = 1) -> None:
        counts = Counter(ch for t in texts for ch in t)
        chars = sorted(
            (c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c)
        )
        self.itos = [*SPECIALS, *chars]
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def from_itos(cls, itos: Sequence[str]) -> CharTokenizer:
        """The tokenizer saved as its `itos` list (e.g. in a run folder's vocab.json)."""
        if tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"itos must start with {', '.join(SPECIALS)}")
        tok = cls([])
        tok.itos = list(itos)
        tok.stoi = {c: i for i, c in enumerate(tok.itos)}
        return tok

    def pieces(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        return [self.stoi.get(ch, UNK) for ch in text], [(i, i + 1) for i in range(len(text))]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.itos[i] if i >= len(SPECIALS) else "" for i in ids)


def _is_ascii_word(token: str) -> bool:
    return token.isascii() and token[:1].isalnum()


class VocabTokenizer(_Encoder):
    """A checkpoint's WordPiece vocabulary (vocab.txt) through `transformers`' fast BERT
    tokenizer: lower-casing and accent stripping as the checkpoint was trained, every CJK
    character its own token, offsets into the original text.

    Args:
        vocab: the vocab.txt (one token per line, id = line number; Chinese BERT:
            [PAD] = 0, [UNK] = 100, [CLS] = 101, [SEP] = 102, [MASK] = 103).
        do_lower_case: as the checkpoint's tokenizer (True for the Chinese BERTs).
        keep: bert4keras's `keep_tokens` — the old ids kept, in the order of the new ids
            (`simplified` builds it from a corpus); None keeps the whole vocabulary.
    """

    def __init__(
        self, vocab: str | Path, *, do_lower_case: bool = True, keep: Sequence[int] | None = None
    ) -> None:
        import transformers as hf

        from kexue.errors import InputError

        self.path = Path(vocab)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such vocabulary file (vocab.txt)")
        self.vocab = self.path.read_text(encoding="utf-8").splitlines()
        stoi = {t: i for i, t in enumerate(self.vocab)}
        missing = [t for t in SPECIALS if t not in stoi]
        if missing:
            raise InputError(f"{self.path}: the vocabulary lacks {', '.join(missing)}")
        self.do_lower_case = do_lower_case
        # the first positional argument is the vocabulary file in transformers 4 (vocab_file)
        # and 5 (vocab); the keyword differs between them
        self._fast = hf.BertTokenizerFast(str(self.path), do_lower_case=do_lower_case)
        self.keep = None if keep is None else [int(k) for k in keep]
        kept = self.keep if self.keep is not None else range(len(self.vocab))
        self.itos = [self.vocab[k] for k in kept]
        new = {old: i for i, old in enumerate(kept)}
        for attr, token in zip(("pad_id", "unk_id", "cls_id", "sep_id", "mask_id"), SPECIALS,
                               strict=True):  # fmt: skip
            if stoi[token] not in new:
                raise ValueError(f"keep_tokens must keep {token} (old id {stoi[token]})")
            setattr(self, attr, new[stoi[token]])
        self._old_to_new = np.full(len(self.vocab), self.unk_id, dtype=np.int64)
        self._old_to_new[list(new)] = list(new.values())

    def _old_ids(self, texts: list[str]) -> list[list[int]]:
        encs = self._fast.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
        return [e.ids for e in encs]

    def simplified(self, corpus: Iterable[str]) -> VocabTokenizer:
        """bert4keras's simplified vocabulary built from the corpus: the five specials first
        (new ids 0–4, [PAD] [UNK] [CLS] [SEP] [MASK]), then every token the corpus uses, in
        vocabulary order. Apply the same `keep` to the model with `keep_tokens_`."""
        stoi = {t: i for i, t in enumerate(self.vocab)}
        specials = [stoi[t] for t in SPECIALS]
        used: set[int] = set()
        texts = [t for t in corpus if t]
        for i in range(0, len(texts), 1024):
            for ids in self._old_ids(texts[i : i + 1024]):
                used.update(ids)
        keep = specials + sorted(used - set(specials))
        return VocabTokenizer(self.path, do_lower_case=self.do_lower_case, keep=keep)

    def pieces(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        # the `tokenizers` backend directly: the same pipeline, without the per-call overhead of
        # transformers' wrapper (recipes tokenise tens of thousands of texts one by one)
        enc = self._fast.backend_tokenizer.encode(text, add_special_tokens=False)
        ids = self._old_to_new[enc.ids].tolist() if enc.ids else []
        return ids, [tuple(o) for o in enc.offsets]

    def decode(self, ids: Sequence[int]) -> str:
        """Tokens joined as bert4keras does: "##" pieces glued to their word, a space between
        two ASCII words only (Chinese text has none); special tokens dropped."""
        out, prev = "", ""
        skip = set(self.special_ids)
        for i in ids:
            if i in skip:
                continue
            tok = self.itos[i]
            if tok.startswith("##"):
                out += tok[2:]
            else:
                out += (" " if _is_ascii_word(prev) and _is_ascii_word(tok) else "") + tok
            prev = tok
        return out


def char_to_token_span(
    offsets: Sequence[tuple[int, int] | None], start: int, end: int, first: int = 0
) -> tuple[int, int] | None:
    """Token indices (s, e), e inclusive, of the characters [start, end) of one text, from
    its tokens' offsets; `first` = the index of that text's first token (1 after [CLS]). None
    when no token overlaps the span (e.g. only spaces)."""
    hit = [
        i for i, o in enumerate(offsets)
        if i >= first and o is not None and o[0] < end and o[1] > start
    ]  # fmt: skip
    return (hit[0], hit[-1]) if hit else None


def token_to_char_span(
    offsets: Sequence[tuple[int, int] | None], s: int, e: int
) -> tuple[int, int]:
    """Characters [start, end) of the tokens s..e (inclusive) of one text: the span to slice
    from the original text (special tokens contribute nothing)."""
    spans = [o for o in offsets[s : e + 1] if o is not None]
    if not spans:
        return (0, 0)
    return spans[0][0], spans[-1][1]


def tiny_config(
    kind: Literal["bert", "albert", "electra"], vocab_size: int, *, hidden: int = 64,
    layers: int = 2, heads: int = 2, embedding_size: int | None = None, max_position: int = 256,
    is_decoder: bool = False, hidden_act: str = "gelu", dropout: float = 0.1,
) -> Any:  # fmt: skip
    """A small random-init HuggingFace config (intermediate = 4 × hidden)."""
    import transformers as hf

    common = dict(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=4 * hidden, hidden_act=hidden_act,
        max_position_embeddings=max_position, hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout, pad_token_id=PAD, is_decoder=is_decoder,
    )  # fmt: skip
    if kind == "bert":
        return hf.BertConfig(**common)
    if kind == "albert":
        return hf.AlbertConfig(embedding_size=embedding_size or hidden, **common)
    if kind == "electra":
        return hf.ElectraConfig(embedding_size=embedding_size or hidden, **common)
    raise ValueError(f"kind must be bert, albert or electra, got {kind!r}")


# ----------------------------------------------------------------------------- checkpoints
def _find_one(folder: Path, patterns: Sequence[str], what: str) -> Path | None:
    from kexue.errors import InputError

    for pattern in patterns:
        found = sorted(folder.glob(pattern))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise InputError(f"{folder}: several {what} files ({names}); keep one")
    return None


def _tf_config_file(folder: Path) -> Path | None:
    """bert_config.json, albert_config*.json, ELECTRA's *discriminator_config.json, …"""
    for name in ("bert_config.json", "albert_config.json", "electra_config.json"):
        if (folder / name).is_file():
            return folder / name
    return _find_one(folder, ["*discriminator*config*.json", "*config*.json"], "config")


def checkpoint_format(path: str | Path) -> Literal["huggingface", "tensorflow"]:
    """Which kind of checkpoint folder `path` is; InputError naming what is missing."""
    from kexue.bert.tf_checkpoint import find_tf_checkpoint
    from kexue.errors import InputError

    folder = Path(path)
    if not folder.is_dir():
        raise InputError(
            f"{folder} is not a local checkpoint folder (nothing is downloaded): give a "
            "HuggingFace folder (config.json, weights, vocab.txt) or a TensorFlow one "
            "(bert_config.json, vocab.txt, model.ckpt.*)"
        )
    if (folder / "config.json").is_file():
        return "huggingface"
    try:
        prefix = find_tf_checkpoint(folder)
    except ValueError as e:
        raise InputError(str(e)) from None
    config = _tf_config_file(folder)
    if prefix is not None and config is not None:
        return "tensorflow"
    if prefix is not None:
        raise InputError(f"{folder}: bert_config.json missing beside the TensorFlow checkpoint "
                         f"{prefix.name}")  # fmt: skip
    raise InputError(
        f"{folder}: neither config.json (a HuggingFace checkpoint) nor model.ckpt.index "
        "(a TensorFlow checkpoint) found"
    )


def _check_keys(
    model: Any, path: Path, missing: Iterable[str], unexpected: Iterable[str],
    allow_missing: Sequence[str], allow_unexpected: Sequence[str],
) -> None:  # fmt: skip
    from kexue.errors import InputError

    missing = [k for k in missing if not any(re.search(p, k) for p in allow_missing)]
    unexpected = [k for k in unexpected if not any(re.search(p, k) for p in allow_unexpected)]
    if missing or unexpected:
        raise InputError(
            f"checkpoint {path} does not match {type(model).__name__}: missing {missing}, "
            f"unexpected {unexpected}"
        )


_TF_CONFIG_KEYS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob",
    "max_position_embeddings", "type_vocab_size", "initializer_range", "embedding_size",
    "num_hidden_groups", "inner_group_num",
)  # fmt: skip


def _load_tf(
    model_cls: Any, folder: Path, allow_missing: Sequence[str], allow_unexpected: Sequence[str]
) -> Any:
    """A TF checkpoint folder → `model_cls` with its weights (converted on load, in memory)."""
    import transformers as hf

    from kexue.bert.tf_checkpoint import find_tf_checkpoint, read_tf_checkpoint
    from kexue.errors import InputError

    prefix = find_tf_checkpoint(folder)
    config_file = _tf_config_file(folder)
    assert prefix is not None and config_file is not None  # checkpoint_format said so
    try:
        arrays = read_tf_checkpoint(prefix)
    except (ValueError, FileNotFoundError) as e:
        raise InputError(str(e)) from None
    kind = tf_checkpoint_kind(arrays)
    raw = json.loads(config_file.read_text(encoding="utf-8"))
    conf = {k: raw[k] for k in _TF_CONFIG_KEYS if k in raw}
    emb = arrays[f"{'electra' if kind == 'electra' else 'bert'}/embeddings/word_embeddings"]
    conf.setdefault("vocab_size", int(emb.shape[0]))
    if kind != "bert":  # ELECTRA's released configs omit E; the embedding table has it
        conf.setdefault("embedding_size", int(emb.shape[1]))
    # "gelu" stays HF's erf GELU, as bert4keras loads these checkpoints (Google's TF code used
    # the tanh approximation; the difference is ~1e-3 on activations)
    config = {"bert": hf.BertConfig, "albert": hf.AlbertConfig, "electra": hf.ElectraConfig}[kind]
    wanted = getattr(getattr(model_cls, "config_class", None), "model_type", kind)
    if wanted != kind:
        raise InputError(f"{folder} holds a {kind.upper()} checkpoint, not one for "
                         f"{model_cls.__name__} ({wanted.upper()})")  # fmt: skip
    model = model_cls(config(**conf))
    state = tf_to_state_dict(arrays, kind)
    base = model.base_model_prefix
    if model.base_model is model:  # a bare encoder: drop the prefix, heads become unexpected
        state = {k.removeprefix(f"{base}."): v for k, v in state.items()}
    own = model.state_dict()
    shapes = [f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
              if k in own and own[k].shape != v.shape]  # fmt: skip
    if shapes:
        raise InputError(f"{folder}: shapes differ from {config_file.name}: {shapes}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    # tied parameters (MLM decoder = word embeddings, decoder bias = head bias) are loaded
    # through the tensor they share
    loaded = {own[k].data_ptr() for k in state if k in own}
    missing = [k for k in missing if own[k].data_ptr() not in loaded]
    _check_keys(model, folder, missing, unexpected, allow_missing, allow_unexpected)
    return model


def load_pretrained(
    model_cls: Any, path: str | Path, *, allow_missing: Sequence[str] = (),
    allow_unexpected: Sequence[str] = (), **kwargs: Any,
) -> Any:  # fmt: skip
    """Load a model from a *local* checkpoint folder (never the hub): a HuggingFace folder
    (config.json + weights, e.g. from `save_pretrained`) or a Google/bojone TensorFlow one
    (bert_config.json + model.ckpt.*, BERT, ALBERT or ELECTRA), converted on load.

    Args:
        model_cls: a HuggingFace model class (BertModel, AlbertModel, ElectraForPreTraining, …).
        path: the folder.
        allow_missing: regular expressions; the checkpoint may lack exactly the parameters that
            match one of them (new task heads, CLN projections); any other missing or unexpected
            key raises.
        allow_unexpected: regular expressions of checkpoint parameters the model may drop (an
            MLM head when fine-tuning a classifier).
        kwargs: passed to `from_pretrained` (HuggingFace folders).

    Returns:
        The model, in eval mode. A folder that is not a checkpoint raises InputError naming
        the missing file.
    """
    folder = Path(path)
    if checkpoint_format(folder) == "tensorflow":
        return _load_tf(model_cls, folder, allow_missing, allow_unexpected).eval()
    model, info = model_cls.from_pretrained(
        str(folder), local_files_only=True, output_loading_info=True, **kwargs
    )
    _check_keys(model, folder, info["missing_keys"], info["unexpected_keys"], allow_missing,
                allow_unexpected)  # fmt: skip
    if info.get("mismatched_keys"):
        from kexue.errors import InputError

        raise InputError(f"checkpoint {folder}: shapes differ: {info['mismatched_keys']}")
    return model.eval()


@dataclass
class Pretrained:
    """A checkpoint folder loaded: the model (vocabulary simplified when a corpus was given),
    its tokenizer, and which format the folder was in."""

    model: Any
    tokenizer: VocabTokenizer
    format: str


def load_checkpoint(
    path: str | Path, model_cls: Any, *, corpus: Iterable[str] | None = None,
    max_len: int | None = None, allow_missing: Sequence[str] = (),
    allow_unexpected: Sequence[str] = (),
) -> Pretrained:  # fmt: skip
    """`load_pretrained` plus the tokenizer built from the folder's vocab.txt; with `corpus`,
    bert4keras's `keep_tokens` simplification: the vocabulary shrinks to the specials and the
    tokens the corpus uses, and the model's embedding rows and MLM bias follow.

    The tokenizer lower-cases unless the folder's tokenizer_config.json says otherwise.
    `max_len`: the longest sequence the caller will feed (InputError if the checkpoint has
    fewer position embeddings).
    """
    from kexue.errors import InputError

    folder = Path(path)
    fmt = checkpoint_format(folder)
    vocab = _find_one(folder, ["vocab.txt", "vocab*.txt"], "vocabulary")
    if vocab is None:
        raise InputError(f"{folder}: vocab.txt missing (the checkpoint's vocabulary)")
    lower = True
    if (folder / "tokenizer_config.json").is_file():
        lower = bool(json.loads((folder / "tokenizer_config.json").read_text("utf-8"))
                     .get("do_lower_case", True))  # fmt: skip
    tok = VocabTokenizer(vocab, do_lower_case=lower)
    model = load_pretrained(model_cls, folder, allow_missing=allow_missing,
                            allow_unexpected=allow_unexpected)  # fmt: skip
    n_rows = model.get_input_embeddings().weight.shape[0]
    if n_rows < len(tok.vocab):
        raise InputError(f"{vocab}: {len(tok.vocab)} tokens but the model embeds {n_rows}")
    positions = model.config.max_position_embeddings
    if max_len is not None and positions < max_len:
        raise InputError(f"{folder}: {positions} positions, sequences here need {max_len}")
    if corpus is not None:
        tok = tok.simplified(corpus)
        keep_tokens_(model, tok.keep or [])
    return Pretrained(model, tok, fmt)


# ----------------------------------------------------------------------------- TF names
_LEAF = {"kernel": "weight", "gamma": "weight", "beta": "bias", "bias": "bias"}
# one BERT block; group 1 is the layer index in the full pattern, group 2 the sub-module
_BERT_LAYER = [
    (r"attention/self/(query|key|value)", r"attention.self.\2"),
    (r"attention/output/(dense|LayerNorm)", r"attention.output.\2"),
    (r"intermediate/dense", "intermediate.dense"),
    (r"output/(dense|LayerNorm)", r"output.\2"),
]
_ALBERT_LAYER = [  # groups: 1 layer group, 2 inner group, 3 sub-module
    (r"attention_1/self/(query|key|value)", r"attention.\3"),
    (r"attention_1/output/dense", "attention.dense"),
    (r"LayerNorm", "attention.LayerNorm"),
    (r"ffn_1/intermediate/dense", "ffn"),
    (r"ffn_1/intermediate/output/dense", "ffn_output"),
    (r"LayerNorm_1", "full_layer_layer_norm"),
]
_GROUP = r"bert/encoder/transformer/group_(\d+)/inner_group_(\d+)/"
_ALBERT_GROUP = r"albert.encoder.albert_layer_groups.\1.albert_layers.\2."
# (TF scope → HF module) for variables ending in kernel/bias/gamma/beta
_TF_SCOPES = {
    "bert": [
        (r"bert/embeddings/LayerNorm", "bert.embeddings.LayerNorm"),
        *[(r"bert/encoder/layer_(\d+)/" + a, r"bert.encoder.layer.\1." + b)
          for a, b in _BERT_LAYER],
        (r"bert/pooler/dense", "bert.pooler.dense"),
        (r"cls/predictions/transform/(dense|LayerNorm)", r"cls.predictions.transform.\1"),
    ],
    "albert": [
        (r"bert/embeddings/LayerNorm", "albert.embeddings.LayerNorm"),
        (r"bert/encoder/(embedding_hidden_mapping_in)", r"albert.encoder.\1"),
        *[(_GROUP + a, _ALBERT_GROUP + b) for a, b in _ALBERT_LAYER],
        (r"bert/pooler/dense", "albert.pooler"),
        (r"cls/predictions/transform/(dense|LayerNorm)", r"predictions.\1"),
    ],
    "electra": [
        (r"electra/embeddings/LayerNorm", "electra.embeddings.LayerNorm"),
        (r"electra/embeddings_project", "electra.embeddings_project"),
        *[(r"electra/encoder/layer_(\d+)/" + a, r"electra.encoder.layer.\1." + b)
          for a, b in _BERT_LAYER],
        (r"discriminator_predictions/dense", "discriminator_predictions.dense"),
        (r"discriminator_predictions/dense_1", "discriminator_predictions.dense_prediction"),
    ],
}  # fmt: skip
_EMB = r"embeddings/(word|position|token_type)_embeddings"
# whole variable names → keys (embedding tables, the output bias, the NSP/SOP classifier)
_TF_WHOLE = {
    "bert": [
        (r"bert/" + _EMB, r"bert.embeddings.\1_embeddings.weight"),
        (r"cls/predictions/output_bias", "cls.predictions.bias"),
        (r"cls/seq_relationship/output_(weight|bias)s?", r"cls.seq_relationship.\1"),
    ],
    "albert": [
        (r"bert/" + _EMB, r"albert.embeddings.\1_embeddings.weight"),
        (r"cls/predictions/output_bias", "predictions.bias"),
        (r"cls/seq_relationship/output_(weight|bias)s?", r"sop_classifier.classifier.\1"),
    ],
    "electra": [(r"electra/" + _EMB, r"electra.embeddings.\1_embeddings.weight")],
}  # fmt: skip
# optimizer state and counters, not weights; ELECTRA's generator is not the discriminator
_TF_SKIP = re.compile(r"(^|/)(adam_[mv]|global_step|good_steps|bad_steps|loss_scale)$"
                      r"|^generator(_predictions)?/")  # fmt: skip


def tf_checkpoint_kind(tf: Mapping[str, Any]) -> Literal["bert", "albert", "electra"]:
    """Which architecture a TF checkpoint's variable names belong to."""
    names = [n.removeprefix("module/") for n in tf]
    if any(n.startswith("electra/") for n in names):
        return "electra"
    if any(n.startswith("bert/encoder/transformer/group_") for n in names):
        return "albert"
    if any(n.startswith("bert/encoder/layer_") for n in names):
        return "bert"
    from kexue.errors import InputError

    raise InputError(
        "not a BERT, ALBERT or ELECTRA checkpoint (Google's variable names: bert/encoder/layer_0/"
        "…, bert/encoder/transformer/group_0/…, electra/…)"
    )


def tf_to_state_dict(
    tf: Mapping[str, np.ndarray], kind: Literal["bert", "albert", "electra"] = "bert"
) -> dict[str, Tensor]:
    """Map a Google TF checkpoint ({variable name: array}) to HuggingFace names, in the
    *ForPreTraining layout (`bert.…` + `cls.…`; `albert.…` + `predictions.…`; `electra.…` +
    `discriminator_predictions.…`).

    Dense kernels [in, out] are transposed to torch's [out, in]; LayerNorm gamma/beta become
    weight/bias. Optimizer slots (adam_m, adam_v), counters (global_step) and ELECTRA's generator
    are skipped; a TF-Hub `module/` prefix is dropped; any other unknown name raises KeyError.
    """
    out: dict[str, Tensor] = {}
    for name, value in tf.items():
        name = name.removeprefix("module/")
        if _TF_SKIP.search(name):
            continue
        t = torch.as_tensor(np.array(value))
        scope, _, leaf = name.rpartition("/")
        key = None
        if leaf in _LEAF:
            for pattern, repl in _TF_SCOPES[kind]:
                if re.fullmatch(pattern, scope):
                    key = re.sub(pattern, repl, scope, count=1) + "." + _LEAF[leaf]
                    t = t.T.contiguous() if leaf == "kernel" else t
                    break
        else:
            for pattern, repl in _TF_WHOLE[kind]:
                if re.fullmatch(pattern, name):
                    key = re.sub(pattern, repl, name, count=1)
                    break
        if key is None:
            raise KeyError(f"unknown {kind.upper()} TF variable {name}")
        out[key] = t
    return out


def bert_tf_to_state_dict(
    tf: Mapping[str, np.ndarray], prefix: str = "bert."
) -> dict[str, Tensor]:
    """Map a Google BERT TF checkpoint ({variable name: array}) to HuggingFace BERT names
    (`tf_to_state_dict(tf, "bert")` with the encoder's `bert.` prefix replaced by `prefix`);
    `cls/predictions/output_bias` becomes `cls.predictions.bias`."""
    state = tf_to_state_dict(tf, "bert")
    return {(prefix + k.removeprefix("bert.") if k.startswith("bert.") else k): v
            for k, v in state.items()}  # fmt: skip


def keep_tokens_(model: nn.Module, keep: Sequence[int]) -> None:
    """Simplify the vocabulary in place: word-embedding rows and MLM output bias → rows `keep`.

    New id i is old id keep[i] (bert4keras `keep_tokens`). Tied output weights follow the
    embedding because they are the same tensor; a bias shared by two modules (HF's
    `cls.predictions.bias` is the decoder's bias) stays shared.
    """
    index = torch.as_tensor(list(keep), dtype=torch.long)
    emb = model.get_input_embeddings()
    new = nn.Embedding(len(index), emb.embedding_dim, padding_idx=None)
    with torch.no_grad():
        new.weight.copy_(emb.weight[index])
    model.set_input_embeddings(new)

    def swap(old: Tensor, fresh: nn.Parameter) -> None:  # every module holding `old`
        for m in model.modules():
            for name, p in m._parameters.items():
                if p is old:
                    m._parameters[name] = fresh

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None:
        with torch.no_grad():
            if head.weight.shape[0] != len(index):  # untied head: gather its rows too
                swap(head.weight, nn.Parameter(head.weight[index].clone()))
            if getattr(head, "bias", None) is not None:
                swap(head.bias, nn.Parameter(head.bias[index].clone()))
        if getattr(model.config, "tie_word_embeddings", False):
            head.weight = new.weight
    model.config.vocab_size = len(index)
