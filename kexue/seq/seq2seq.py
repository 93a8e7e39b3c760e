r"""Character-level seq2seq with attention and the output-vocabulary prior, for title generation.

Article:  玩转Keras之seq2seq自动生成标题 — 苏剑林, 2018-09-01
URL:      https://kexue.fm/archives/5861
Original: bojone/seq2seq (seq2seq.py; the 2019 revision = "architecture B", used here)

Key equations::

    encoder   h = mask ⊙ BiLSTM(LN(BiLSTM(LN(E x))))        (pads never enter the backward pass)
    x_max     = max_i h_i over valid positions                (pads filled with −inf)
    SMLN      SMLN(s, c) = LN₀(s) ⊙ (1 + γ(c)) + β(c),  γ, β: c → Dense(d/4, relu) → Dense(d)
    decoder   s = SMLN(LSTM(SMLN(LSTM(SMLN(E y, x_max)), x_max)), x_max)
    attention a = MHA(q = s, k = v = h, key-pad mask), no bias, no output projection
    prior     χ_v = 1 iff v occurs in the source;  ŷ = e^{log_scale} ⊙ χ + t   (0-initialised)
    output    p = softmax((W₂ LeakyReLU_{0.2}(W₁ [s; a]) + ŷ) / 2)
    loss      Σ_t mask_t · −log p(y_{t+1} | y_{≤t}, x) / Σ_t mask_t   (token mean over the batch)

Symbols: x (B, L) source ids, y (B, T) target ids [start, …, end], V vocabulary size,
d hidden size; ids 0 pad, 1 unk, 2 start, 3 end, characters from 4.

Deviations from the article:
    - the encoder/decoder are the 2019 revision of the author's code (LayerNorm, self-modulated
      LayerNorm, multi-head attention) rather than the 2018 "interact" layer; smaller sizes.
    - decoding encodes the source once and carries the decoder's LSTM states as the beam
      state, so each step runs the new token only (the article re-runs everything; the
      attention has no self-attention, so nothing else depends on the prefix); beams use
      `kexue.seq.decoding.beam_search` (best finished hypothesis).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from kexue.seq.decoding import Hypothesis, beam_search, greedy_search

__all__ = [
    "END",
    "PAD",
    "START",
    "UNK",
    "CharVocab",
    "Decoder",
    "Encoder",
    "MultiHeadAttention",
    "SMLN",
    "Seq2Seq",
    "VocabPrior",
    "masked_max",
    "pad_batch",
    "seq_cross_entropy",
    "source_bag",
]

PAD, UNK, START, END = 0, 1, 2, 3


class CharVocab:
    """Characters with count ≥ min_count get ids from 4; the rest map to unk."""

    def __init__(self, texts: Iterable[str], min_count: int = 1) -> None:
        counts = Counter(ch for t in texts for ch in t)
        chars = sorted(
            (c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c)
        )
        self.itos = ["<pad>", "<unk>", "<s>", "</s>", *chars]
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def from_itos(cls, itos: Sequence[str]) -> CharVocab:
        """The vocabulary saved as its `itos` list (e.g. in a run folder's vocab.json)."""
        if list(itos[:4]) != ["<pad>", "<unk>", "<s>", "</s>"]:
            raise ValueError("itos must start with <pad>, <unk>, <s>, </s>")
        vocab = cls([])
        vocab.itos = list(itos)
        vocab.stoi = {c: i for i, c in enumerate(vocab.itos)}
        return vocab

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, start_end: bool = False) -> list[int]:
        ids = [self.stoi.get(ch, UNK) for ch in text]
        return [START, *ids, END] if start_end else ids

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.itos[i] if i >= 4 else "" for i in ids)


def pad_batch(seqs: Sequence[Sequence[int]], pad: int = PAD) -> Tensor:
    n = max(len(s) for s in seqs)
    return torch.tensor([list(s) + [pad] * (n - len(s)) for s in seqs], dtype=torch.long)


def masked_max(h: Tensor, mask: Tensor) -> Tensor:
    """Max over the valid positions of h (B, L, d); mask (B, L) bool."""
    return h.masked_fill(~mask[..., None], -torch.inf).amax(1)


def source_bag(src: Tensor, vocab_size: int) -> Tensor:
    """χ (B, V): 1 where the id occurs among the non-pad source ids."""
    chi = torch.zeros(src.shape[0], vocab_size, device=src.device)
    chi.scatter_(1, src, 1.0)
    chi[:, PAD] = 0.0
    return chi


def seq_cross_entropy(logp: Tensor, y: Tensor) -> Tensor:
    """Token-mean CE of y[:, 1:] under logp[:, :-1] (B, T, V), pads excluded."""
    target, mask = y[:, 1:], (y[:, 1:] != PAD).float()
    nll = -logp[:, :-1].gather(2, target[..., None])[..., 0]
    return (nll * mask).sum() / mask.sum()


class VocabPrior(nn.Module):
    """ŷ = e^{log_scale} ⊙ χ + t, zero-initialised (ŷ = χ at init)."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(vocab_size))
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, chi: Tensor) -> Tensor:
        return self.log_scale.exp() * chi + self.bias


class SMLN(nn.Module):
    """Self-modulated LayerNorm: LN₀(s)(1 + γ(c)) + β(c)."""

    def __init__(self, d: int, c_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d, elementwise_affine=False)
        self.gamma = nn.Sequential(nn.Linear(c_dim, d // 4), nn.ReLU(), nn.Linear(d // 4, d))
        self.beta = nn.Sequential(nn.Linear(c_dim, d // 4), nn.ReLU(), nn.Linear(d // 4, d))

    def forward(self, s: Tensor, c: Tensor) -> Tensor:
        c = c[:, None, :]
        return self.norm(s) * (1 + self.gamma(c)) + self.beta(c)


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention, no biases, no output projection (the author's 8 × 16)."""

    def __init__(self, d_q: int, d_kv: int, *, heads: int, head_dim: int) -> None:
        super().__init__()
        self.h, self.dh = heads, head_dim
        self.q = nn.Linear(d_q, heads * head_dim, bias=False)
        self.k = nn.Linear(d_kv, heads * head_dim, bias=False)
        self.v = nn.Linear(d_kv, heads * head_dim, bias=False)

    def forward(self, q: Tensor, kv: Tensor, key_mask: Tensor | None = None,
                attn_mask: Tensor | None = None) -> Tensor:  # fmt: skip
        """key_mask (B, L) and attn_mask (T, L): True = may attend."""
        b, t, _ = q.shape
        split = lambda x: x.reshape(b, x.shape[1], self.h, self.dh).transpose(1, 2)  # noqa: E731
        qh, kh, vh = split(self.q(q)), split(self.k(kv)), split(self.v(kv))
        allowed = None
        if key_mask is not None:
            allowed = key_mask[:, None, None, :]
        if attn_mask is not None:
            allowed = attn_mask if allowed is None else allowed & attn_mask
        o = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=allowed)
        return o.transpose(1, 2).reshape(b, t, self.h * self.dh)


class Encoder(nn.Module):
    """LN → masked BiLSTM → LN → masked BiLSTM → × mask (packed: reverse by length)."""

    def __init__(self, emb: int, d: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(emb), nn.LayerNorm(d)
        self.rnn1 = nn.LSTM(emb, d // 2, batch_first=True, bidirectional=True)
        self.rnn2 = nn.LSTM(d, d // 2, batch_first=True, bidirectional=True)

    @staticmethod
    def _run(rnn: nn.LSTM, x: Tensor, lengths: Tensor) -> Tensor:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=x.shape[1])[0]

    def forward(self, e: Tensor, mask: Tensor) -> Tensor:
        lengths = mask.sum(1).clamp(min=1)
        h = self._run(self.rnn1, self.ln1(e), lengths)
        h = self._run(self.rnn2, self.ln2(h), lengths)
        return h * mask[..., None]


class Decoder(nn.Module):
    """SMLN → LSTM → SMLN → LSTM → SMLN, conditioned on c = x_max."""

    def __init__(self, emb: int, d: int) -> None:
        super().__init__()
        self.n0, self.n1, self.n2 = SMLN(emb, d), SMLN(d, d), SMLN(d, d)
        self.rnn1 = nn.LSTM(emb, d, batch_first=True)
        self.rnn2 = nn.LSTM(d, d, batch_first=True)

    def forward(self, e: Tensor, c: Tensor) -> Tensor:
        return self.step(e, c, None)[0]

    def step(
        self, e: Tensor, c: Tensor, state: tuple[Tensor, ...] | None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Run positions e (B, t, emb) on from `state` = the two LSTMs' (h, c), each (B, d)
        (batch first, so the beam search can re-index it); None = the start."""
        h1 = None if state is None else (state[0][None], state[1][None])
        h2 = None if state is None else (state[2][None], state[3][None])
        s, (a1, b1) = self.rnn1(self.n0(e, c), h1)
        s, (a2, b2) = self.rnn2(self.n1(s, c), h2)
        return self.n2(s, c), (a1[0], b1[0], a2[0], b2[0])


class Seq2Seq(nn.Module):
    """Encoder, decoder, attention, prior; one embedding shared by source and target."""

    def __init__(self, vocab_size: int, *, emb: int = 64, d: int = 64, heads: int = 4,
                 head_dim: int = 16, prior: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, emb)
        self.encoder = Encoder(emb, d)
        self.decoder = Decoder(emb, d)
        self.attn = MultiHeadAttention(d, d, heads=heads, head_dim=head_dim)
        self.head = nn.Sequential(
            nn.Linear(d + heads * head_dim, d), nn.LeakyReLU(0.2), nn.Linear(d, vocab_size)
        )
        self.prior = VocabPrior(vocab_size) if prior else None

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(h (B, L, d), mask (B, L), x_max (B, d), χ (B, V))."""
        mask = x != PAD
        h = self.encoder(self.embed(x), mask)
        return h, mask, masked_max(h, mask), source_bag(x, self.vocab_size)

    def output(self, s: Tensor, feats: Tensor, chi: Tensor) -> Tensor:
        """Log-probabilities from the decoder state and extra features, averaged with the prior."""
        z = self.head(torch.cat([s, feats], -1))
        if self.prior is not None:
            z = (z + self.prior(chi)[:, None, :]) / 2
        return z.log_softmax(-1)

    def decode(self, memory: tuple[Tensor, Tensor, Tensor, Tensor], y: Tensor) -> Tensor:
        return self.decode_step(memory, y, None)[0]

    def decode_step(
        self, memory: tuple[Tensor, Tensor, Tensor, Tensor], y: Tensor,
        state: tuple[Tensor, ...] | None,
    ) -> tuple[Tensor, tuple[Tensor, ...]]:  # fmt: skip
        """Log-probabilities (B, t, V) of positions y (B, t) continuing from the decoder state;
        returns the state after them (see `Decoder.step`)."""
        h, mask, x_max, chi = memory
        s, state = self.decoder.step(self.embed(y), x_max, state)
        return self.output(s, self.attn(s, h, key_mask=mask), chi), state

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.decode(self.encode(x), y)

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        return seq_cross_entropy(self(x, y), y)

    @torch.no_grad()
    def generate(
        self, x: Sequence[int], beam_size: int = 3, max_len: int = 32, stop: str = "complete",
        cache: bool = True,
    ) -> Hypothesis:  # fmt: skip
        """Beam search (beam_size 1 = greedy) for one source; pad, unk, start are never emitted.
        cache=True carries the decoder's LSTM states (one new token per step); False re-runs
        the decoder on the whole prefix."""
        memory = self.encode(torch.tensor([list(x)]))

        def step(tokens: Tensor, state: tuple[Tensor, ...] | None) -> tuple[Tensor, Any]:
            n = tokens.shape[0]
            mem = tuple(m.expand(n, *m.shape[1:]) for m in memory)
            if not cache:
                return self.decode(mem, tokens)[:, -1], None
            new = tokens if state is None else tokens[:, -1:]
            logp, state = self.decode_step(mem, new, state)
            return logp[:, -1], state

        banned = (PAD, UNK, START)
        if beam_size == 1:
            return greedy_search(step, [START], max_len, END, banned=banned)
        return beam_search(step, [START], beam_size, max_len, END, banned=banned, stop=stop)
