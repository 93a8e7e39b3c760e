r"""A couplet bot as sequence labelling: a gated residual CNN maps each character of the first
line to the character at the same position of the second line.

Article:  基于CNN和序列标注的对联机器人 — 苏剑林, 2019-01-14
URL:      https://kexue.fm/archives/6270
Original: bojone/seq2seq (couplet_by_seq_tagging.py)

Key equations::

    [g ; h] = Conv1d_{d→2d, k=3, same}(x)
    GatedResidualConv1d(x) = x ⊙ σ(g) + h ⊙ (1 − σ(g))          (convex gate, no activation on h)
    model:   ids → Embedding(V, d) → Dropout(0.25) → 6 × GatedResidualConv1d → Dense(V) → softmax
    loss:    per-position cross-entropy;   receptive field 1 + 2·6 = 13 characters (±6)
    decode:  ŷ_i = argmax_{v ≥ 1, v ≠ x_i} p(v | x, i)            (one pass, never repeat x_i at i)

Symbols: x (B, L) first-line ids, y (B, L) second-line ids, d channels, V vocabulary size.
The blocks work channels-first (B, d, L), the layout nn.Conv1d takes, so the trunk transposes
once in and once out instead of twice per block.

Deviations from the article:
    - `constrained_decode(..., exempt=ids)` lets chosen ids (punctuation) repeat at a position;
      off by default (the article's rule). In the offline couplet data a comma faces a comma,
      so the article's rule forces an error at every punctuation position.
    - id 0 is unk and never predicted (as in the article); a pad id is not needed because
      batches are length-homogeneous.
    - `BiLSTMTagger` is the comparison the article mentions (a BiLSTM, "worse and slower").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.data.streaming import check_couplet_split, couplet_bucket

__all__ = [
    "BiLSTMTagger",
    "CoupletCNN",
    "GatedResidualConv1d",
    "constrained_decode",
    "split_couplets",
    "tagging_loss",
]


class GatedResidualConv1d(nn.Module):
    """x ⊙ σ(g) + h ⊙ (1 − σ(g)), [g; h] = Conv1d(x); x (B, d, L), channels first as Conv1d
    takes them, so a stack of blocks needs no transposes (copies) between blocks."""

    def __init__(self, d: int, *, kernel_size: int = 3, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv1d(d, 2 * d, kernel_size, padding="same", dilation=dilation)

    def forward(self, x: Tensor) -> Tensor:
        g, h = self.conv(x).chunk(2, dim=1)
        gate = torch.sigmoid(g)
        return x * gate + h * (1 - gate)


class CoupletCNN(nn.Module):
    """Embedding → dropout → n_blocks gated residual convolutions → per-position logits."""

    def __init__(self, vocab_size: int, *, d: int = 128, n_blocks: int = 6, kernel_size: int = 3,
                 dropout: float = 0.25) -> None:  # fmt: skip
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.Sequential(
            *(GatedResidualConv1d(d, kernel_size=kernel_size) for _ in range(n_blocks))
        )
        self.out = nn.Linear(d, vocab_size)

    def trunk(self, e: Tensor) -> Tensor:
        """(B, L, d) embeddings → (B, L, d) features (one transpose each way)."""
        return self.blocks(e.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.trunk(self.dropout(self.embed(x))))


class BiLSTMTagger(nn.Module):
    """Embedding → dropout → BiLSTM → per-position logits (the article's slower baseline)."""

    def __init__(self, vocab_size: int, *, d: int = 128, hidden: int = 64, layers: int = 1,
                 dropout: float = 0.25) -> None:  # fmt: skip
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d)
        self.dropout = nn.Dropout(dropout)
        self.rnn = nn.LSTM(d, hidden, layers, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, vocab_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.rnn(self.dropout(self.embed(x)))[0])


def tagging_loss(logits: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def constrained_decode(
    logits: Tensor, x: Tensor, unk_id: int = 0, exempt: Tensor | None = None
) -> Tensor:
    """argmax per position over ids ≠ unk_id and ≠ x_i (the couplet prior); same shape as x.

    `exempt` (ids, e.g. punctuation) may repeat at the same position: in real couplet data a
    comma in the first line faces a comma in the second, which the article's rule forbids.
    """
    z = logits.clone()
    z[..., unk_id] = -torch.inf
    banned = x if exempt is None else torch.where(torch.isin(x, exempt), unk_id, x)
    z.scatter_(-1, banned[..., None], -torch.inf)
    return z.argmax(-1)


def split_couplets(
    pairs: list[tuple[str, str]],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Fixed train / validation / test split (80/10/10) by a CRC-32 hash of the first line.

    The split depends on each pair's content only (not on its order or on a seed), and pairs that
    share a first line land in the same part.

    Raises:
        DataFormatError: a part would be empty (too few distinct first lines).
    """
    bucket = [couplet_bucket(a) for a, _ in pairs]
    train = [p for p, b in zip(pairs, bucket, strict=True) if b >= 2]
    valid = [p for p, b in zip(pairs, bucket, strict=True) if b == 1]
    test = [p for p, b in zip(pairs, bucket, strict=True) if b == 0]
    check_couplet_split(len(pairs), [len(train), len(valid), len(test)])
    return train, valid, test
