"""Seq2seq: shapes, masking (pads never matter), the prior, the loss, generation."""

from __future__ import annotations

import math

import pytest
import torch

from kexue.seq import (
    END,
    PAD,
    START,
    CharVocab,
    Seq2Seq,
    masked_max,
    pad_batch,
    seq_cross_entropy,
    source_bag,
)


def model(prior=True, v=20):
    torch.manual_seed(0)
    return Seq2Seq(v, emb=16, d=16, heads=2, head_dim=8, prior=prior).eval()


def test_vocab_round_trip_and_specials():
    voc = CharVocab(["abca", "bd"], min_count=2)
    assert voc.itos[:4] == ["<pad>", "<unk>", "<s>", "</s>"]
    ids = voc.encode("abcd", start_end=True)
    assert ids[0] == START and ids[-1] == END and ids.count(1) == 2  # c, d are rare → unk
    assert voc.decode(voc.encode("abab")) == "abab"


def test_masked_max_ignores_pads_even_when_they_are_larger():
    h = torch.tensor([[[1.0], [-2.0], [9.0]]])
    assert masked_max(h, torch.tensor([[True, True, False]])).item() == 1.0


def test_source_bag_is_the_set_of_source_ids():
    chi = source_bag(torch.tensor([[5, 6, 5, 0]]), 8)
    assert chi.tolist() == [[0, 0, 0, 0, 0, 1, 1, 0]]


def test_padding_the_source_does_not_change_the_output():
    m = model()
    x = torch.tensor([[5, 6, 7, 8]])
    y = torch.tensor([[START, 9, 10, END]])
    a = m(x, y)
    b = m(torch.tensor([[5, 6, 7, 8, PAD, PAD, PAD]]), y)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_batch_rows_are_independent():
    m = model()
    xs = [[5, 6, 7, 8, 9], [10, 11]]
    ys = [[START, 9, 10, 11, END], [START, 12, END]]
    out = m(pad_batch(xs), pad_batch(ys))
    for i in range(2):
        alone = m(torch.tensor([xs[i]]), torch.tensor([ys[i]]))
        torch.testing.assert_close(out[i : i + 1, : len(ys[i])], alone, atol=1e-5, rtol=1e-5)


def test_decoder_is_causal():
    m = model()
    x = torch.tensor([[5, 6, 7]])
    a = m(x, torch.tensor([[START, 9, 10, 11]]))
    b = m(x, torch.tensor([[START, 9, 12, 13]]))
    torch.testing.assert_close(a[:, :2], b[:, :2])
    assert not torch.allclose(a[:, 2], b[:, 2])


def test_prior_is_chi_at_init_and_averaged_with_the_logits():
    m = model(prior=True)
    x = torch.tensor([[5, 6]])
    chi = source_bag(x, 20)
    assert torch.equal(m.prior(chi), chi)
    y = torch.tensor([[START, 5]])
    h, mask, xm, _ = m.encode(x)
    s = m.decoder(m.embed(y), xm)
    z = m.head(torch.cat([s, m.attn(s, h, key_mask=mask)], -1))
    torch.testing.assert_close(m(x, y), ((z + chi[:, None]) / 2).log_softmax(-1))


def test_loss_is_a_token_mean_not_a_mean_of_sequence_means():
    logp = torch.log_softmax(torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(0)), -1)
    y = torch.tensor([[START, 4, 5, END], [START, END, PAD, PAD]])
    nll = [-logp[0, 0, 4], -logp[0, 1, 5], -logp[0, 2, END], -logp[1, 0, END]]
    assert seq_cross_entropy(logp, y).item() == pytest.approx(float(sum(nll) / 4), rel=1e-6)


def test_generation_never_emits_specials_and_beam_scores_at_least_greedy():
    m = model()
    x = [5, 6, 7, 8]
    g = m.generate(x, beam_size=1, max_len=6)
    b = m.generate(x, beam_size=4, max_len=6)
    for h in (g, b):
        assert all(t >= 4 for t in h.tokens) and len(h.tokens) <= 6
    # re-score the beam output with teacher forcing: the reported score is its log-probability
    y = torch.tensor([[START, *b.tokens] + ([END] if b.finished else [])])
    logp = m(torch.tensor([x]), y)[0, :-1].gather(1, y[0, 1:, None]).sum()
    assert float(logp.detach()) == pytest.approx(b.score, abs=1e-4)
    assert math.isfinite(g.score)


def test_encoder_and_decoder_share_one_embedding():
    # the article: source and target are the same language, so one embedding serves both
    m = model()
    assert sum(isinstance(mod, torch.nn.Embedding) for mod in m.modules()) == 1
    x, y = torch.tensor([[5, 5, 5]]), torch.tensor([[START, 6, 6, END]])
    m.loss(x, y).backward()
    grad = m.embed.weight.grad
    assert grad[5].abs().sum() > 0 and grad[6].abs().sum() > 0  # a source id and a target id
