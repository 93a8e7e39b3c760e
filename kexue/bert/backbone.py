r"""BERT-family backbones: a character tokenizer with BERT's specials, tiny random configs, and the
real weight-loading paths (local HuggingFace folders, TensorFlow-checkpoint name mapping,
`keep_tokens` vocabulary simplification).

Article:  基于Conditional Layer Normalization的条件文本生成 — 苏剑林, 2019-12-14
URL:      https://kexue.fm/archives/7124
See also: bert4keras models.py (`build_transformer_model`, `keep_tokens`) and the loaders
          described for 用ALBERT和ELECTRA之前，请确认你真的了解它们 (https://kexue.fm/archives/7846).

Key equations::

    TF kernel [in, out]  →  torch weight [out, in]  (transpose); LayerNorm gamma/beta → weight/bias
    keep_tokens:  E' = E[keep],  b'_mlm = b_mlm[keep]   (rows gathered, order = new ids)

Symbols: V vocabulary, E embedding table (V, e), keep the list of old ids kept.

Deviations from the article:
    - no pretrained checkpoint can be downloaded here: the backbones are HuggingFace models built
      from tiny random configs (`tiny_config`), and `load_pretrained` only reads *local* folders
      (`local_files_only=True`); it is tested on checkpoints the tests write themselves.
    - the tokenizer is character level (one token per character, [UNK] for unseen ones), so the
      rematch of token → text offsets is the identity shifted by the leading [CLS].
    - TF checkpoints: only the name/shape mapping is implemented (`bert_tf_to_state_dict`, fed
      with {name: ndarray}); reading the checkpoint file itself needs TensorFlow.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
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
    "bert_tf_to_state_dict",
    "keep_tokens_",
    "load_pretrained",
    "tiny_config",
]

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class CharTokenizer:
    """Characters with count ≥ min_count get ids from 5, after [PAD] [UNK] [CLS] [SEP] [MASK]."""

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

    def __len__(self) -> int:
        return len(self.itos)

    def tokens_to_ids(self, text: str) -> list[int]:
        return [self.stoi.get(ch, UNK) for ch in text]

    def encode(
        self, first: str, second: str | None = None, maxlen: int | None = None
    ) -> tuple[list[int], list[int]]:
        """[CLS] first [SEP] (second [SEP]) → (ids, segment ids 0…0 1…1).

        `maxlen` truncates the longer text first (the bert4keras rule) until the total fits.
        """
        a, b = self.tokens_to_ids(first), self.tokens_to_ids(second or "")
        if maxlen is not None:
            budget = maxlen - 2 - (1 if second is not None else 0)
            while len(a) + len(b) > budget:
                if len(a) >= len(b):
                    a.pop()
                else:
                    b.pop()
        ids = [CLS, *a, SEP]
        segs = [0] * len(ids)
        if second is not None:
            ids += [*b, SEP]
            segs += [1] * (len(b) + 1)
        return ids, segs

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.itos[i] if i >= len(SPECIALS) else "" for i in ids)


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


def load_pretrained(
    model_cls: Any, path: str | Path, *, allow_missing: Sequence[str] = (),
    allow_unexpected: Sequence[str] = (), **kwargs: Any,
) -> Any:  # fmt: skip
    """Load a model from a *local* folder written by `save_pretrained` (never the hub).

    Args:
        model_cls: a HuggingFace model class (BertModel, AlbertModel, ElectraForPreTraining, …).
        path: the folder (config.json + weights).
        allow_missing: regular expressions; the checkpoint may lack exactly the parameters that
            match one of them (new task heads, CLN projections); any other missing or unexpected
            key raises.
        allow_unexpected: regular expressions of checkpoint parameters the model may drop (an
            MLM head when fine-tuning a classifier).

    Returns:
        The model, in eval mode.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a local checkpoint folder (nothing is downloaded)")
    model, info = model_cls.from_pretrained(
        str(path), local_files_only=True, output_loading_info=True, **kwargs
    )
    missing = [k for k in info["missing_keys"] if not any(re.search(p, k) for p in allow_missing)]
    unexpected = [
        k for k in info["unexpected_keys"] if not any(re.search(p, k) for p in allow_unexpected)
    ]
    bad = missing + unexpected + list(info.get("mismatched_keys", []))
    if bad:
        raise ValueError(f"checkpoint {path} does not match {model_cls.__name__}: {bad}")
    return model.eval()


_TF_LAYER = {
    "attention/self/query": "attention.self.query",
    "attention/self/key": "attention.self.key",
    "attention/self/value": "attention.self.value",
    "attention/output/dense": "attention.output.dense",
    "attention/output/LayerNorm": "attention.output.LayerNorm",
    "intermediate/dense": "intermediate.dense",
    "output/dense": "output.dense",
    "output/LayerNorm": "output.LayerNorm",
}


def bert_tf_to_state_dict(
    tf: Mapping[str, np.ndarray], prefix: str = "bert."
) -> dict[str, Tensor]:
    """Map a Google BERT TF checkpoint ({variable name: array}) to HuggingFace BERT names.

    Dense kernels [in, out] are transposed to torch's [out, in]; LayerNorm gamma/beta become
    weight/bias; `cls/predictions/output_bias` becomes `cls.predictions.bias`. Optimizer slots
    (adam_m, adam_v) and `global_step` are skipped.
    """
    out: dict[str, Tensor] = {}
    for name, value in tf.items():
        if name.endswith(("adam_m", "adam_v")) or name == "global_step":
            continue
        parts = name.split("/")
        leaf = parts[-1]
        t = torch.as_tensor(np.asarray(value))
        if leaf == "kernel":
            t, leaf = t.T.contiguous(), "weight"
        elif leaf == "gamma":
            leaf = "weight"
        elif leaf == "beta":
            leaf = "bias"
        if name.startswith("bert/embeddings/"):
            sub = parts[2]
            key = f"{prefix}embeddings.{sub}" + ("" if sub.endswith("_embeddings") else f".{leaf}")
            key = f"{key}.weight" if sub.endswith("_embeddings") else key
        elif name.startswith("bert/encoder/layer_"):
            i = int(parts[2].removeprefix("layer_"))
            body = "/".join(parts[3:-1])
            if body not in _TF_LAYER:
                raise KeyError(f"unknown TF variable {name}")
            key = f"{prefix}encoder.layer.{i}.{_TF_LAYER[body]}.{leaf}"
        elif name.startswith("bert/pooler/dense/"):
            key = f"{prefix}pooler.dense.{leaf}"
        elif name.startswith("cls/predictions/transform/"):
            key = "cls.predictions.transform." + ".".join(parts[3:-1]) + f".{leaf}"
        elif name == "cls/predictions/output_bias":
            key = "cls.predictions.bias"
        elif name.startswith("cls/seq_relationship/"):
            key = "cls.seq_relationship." + ("weight" if leaf == "output_weights" else "bias")
        else:
            raise KeyError(f"unknown TF variable {name}")
        out[key] = t
    return out


def keep_tokens_(model: nn.Module, keep: Sequence[int]) -> None:
    """Simplify the vocabulary in place: word-embedding rows and MLM output bias → rows `keep`.

    New id i is old id keep[i] (bert4keras `keep_tokens`). Tied output weights follow the
    embedding because they are the same tensor.
    """
    index = torch.as_tensor(list(keep), dtype=torch.long)
    emb = model.get_input_embeddings()
    new = nn.Embedding(len(index), emb.embedding_dim, padding_idx=None)
    with torch.no_grad():
        new.weight.copy_(emb.weight[index])
    model.set_input_embeddings(new)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None:
        with torch.no_grad():
            if head.weight.shape[0] != len(index):  # untied head: gather its rows too
                head.weight = nn.Parameter(head.weight[index].clone())
            if getattr(head, "bias", None) is not None:
                head.bias = nn.Parameter(head.bias[index].clone())
        if getattr(model.config, "tie_word_embeddings", False):
            head.weight = new.weight
    model.config.vocab_size = len(index)
