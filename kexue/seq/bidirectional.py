r"""Synchronous bidirectional seq2seq: an L2R and an R2L decoder that attend to each other, and
the joint bidirectional beam search.

Article:  seq2seq之双向解码 — 苏剑林, 2019-08-09
URL:      https://kexue.fm/archives/6877
Original: bojone/seq2seq (seq2seq_bidecoder.py); paper: Zhou, Zhang, Zong, Synchronous
          Bidirectional Neural Machine Translation (TACL 2019)

Key equations (index = decoding step n, the same for both directions)::

    Y_l = [2, y_1 … y_m, 3],  Y_r = [3, y_m … y_1, 2]
    H^l = Dec_l(Y_l, x_max),  H^r = Dec_r(Y_r, x_max)               (separate weights)
    A^l_n = MHA(H^l_n, H^r_{≤n}),  A^r_n = MHA(H^r_n, H^l_{≤n})     ("alignment", causal by step)
    X^l = MHA(H^l, enc, enc)                                         ("retrieval", key-pad mask)
    p_l = softmax((W LeakyReLU(D_l [H^l; A^l; X^l]) + ŷ) / 2)        (W, ŷ shared by directions)
    loss = ½ (CE_l + CE_r);   decoding: `kexue.seq.decoding.bidirectional_beam_search`

Symbols as in kexue.seq.seq2seq; ids 2 = L2R start / R2L end, 3 = L2R end / R2L start.

Deviations from the article:
    - sizes are scaled down; the encoder, SMLN, prior and attention are those of kexue.seq.seq2seq.
    - decoding uses explicit per-direction vocabularies (L2R never emits 2, R2L never emits 3)
      and a finished pool (the reference relabels R2L's terminator, spec §2.5).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from kexue.seq.decoding import Hypothesis, bidirectional_beam_search
from kexue.seq.seq2seq import (
    END,
    PAD,
    START,
    UNK,
    Decoder,
    MultiHeadAttention,
    Seq2Seq,
    seq_cross_entropy,
)

__all__ = ["BiSeq2Seq", "reverse_targets"]


def reverse_targets(y: Tensor) -> Tensor:
    """[2, y_1..y_m, 3, pad…] → [3, y_m..y_1, 2, pad…] row by row (pads stay at the end)."""
    out = y.clone()
    for b, n in enumerate((y != PAD).sum(1).tolist()):
        out[b, :n] = y[b, :n].flip(0)
    return out


class BiSeq2Seq(Seq2Seq):
    """Seq2Seq plus an R2L decoder; the L2R path reuses the parent's decoder and attention."""

    def __init__(self, vocab_size: int, *, emb: int = 64, d: int = 64, heads: int = 4,
                 head_dim: int = 16, prior: bool = True) -> None:  # fmt: skip
        super().__init__(vocab_size, emb=emb, d=d, heads=heads, head_dim=head_dim, prior=prior)
        self.decoder_r = Decoder(emb, d)
        self.attn_r = MultiHeadAttention(d, d, heads=heads, head_dim=head_dim)
        self.align_l = MultiHeadAttention(d, d, heads=heads, head_dim=head_dim)
        self.align_r = MultiHeadAttention(d, d, heads=heads, head_dim=head_dim)
        hd = heads * head_dim
        self.mix_l = nn.Sequential(nn.Linear(d + 2 * hd, d), nn.LeakyReLU(0.2))
        self.mix_r = nn.Sequential(nn.Linear(d + 2 * hd, d), nn.LeakyReLU(0.2))
        self.classifier = nn.Linear(d, vocab_size)  # shared by the two directions

    def _out(self, f: Tensor, chi: Tensor) -> Tensor:
        z = self.classifier(f)
        if self.prior is not None:
            z = (z + self.prior(chi)[:, None, :]) / 2
        return z.log_softmax(-1)

    def decode_both(
        self, memory: tuple[Tensor, Tensor, Tensor, Tensor], yl: Tensor, yr: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Log-probabilities (B, T, V) of both directions; yl, yr (B, T) of equal length."""
        h, mask, x_max, chi = memory
        sl = self.decoder(self.embed(yl), x_max)
        sr = self.decoder_r(self.embed(yr), x_max)
        t = yl.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=yl.device).tril()
        al, ar = self.align_l(sl, sr, attn_mask=causal), self.align_r(sr, sl, attn_mask=causal)
        xl, xr = self.attn(sl, h, key_mask=mask), self.attn_r(sr, h, key_mask=mask)
        fl = self.mix_l(torch.cat([sl, al, xl], -1))
        fr = self.mix_r(torch.cat([sr, ar, xr], -1))
        return self._out(fl, chi), self._out(fr, chi)

    def losses(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(CE_l, CE_r) under teacher forcing; y are L2R targets [2, …, 3]."""
        yr = reverse_targets(y)
        lp_l, lp_r = self.decode_both(self.encode(x), y, yr)
        return seq_cross_entropy(lp_l, y), seq_cross_entropy(lp_r, yr)

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        ce_l, ce_r = self.losses(x, y)
        return (ce_l + ce_r) / 2

    @torch.no_grad()
    def generate_bidirectional(
        self, x: Sequence[int], beam_size: int = 3, max_len: int = 32
    ) -> tuple[Hypothesis, str]:
        """Joint bidirectional beam search; returns (hypothesis in reading order, winner)."""
        memory = self.encode(torch.tensor([list(x)]))

        def step(yl: Tensor, yr: Tensor) -> tuple[Tensor, Tensor]:
            n = yl.shape[0]
            mem = tuple(m.expand(n, *m.shape[1:]) for m in memory)
            lp_l, lp_r = self.decode_both(mem, yl, yr)
            return lp_l[:, -1], lp_r[:, -1]

        return bidirectional_beam_search(
            step, beam_size, max_len, l2r=(START, END), r2l=(END, START),
            banned_l2r=(PAD, UNK, START), banned_r2l=(PAD, UNK, END),
        )  # fmt: skip
