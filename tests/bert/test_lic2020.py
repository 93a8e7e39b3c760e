"""LIC2020 heads: power-trick BCE, pointer decoders, BIO decoding, LCS and the soft F1, span
decoding against brute force, the pre-final-LayerNorm branch point."""

from __future__ import annotations

import math

import torch
import transformers as hf
from hypothesis import given
from hypothesis import strategies as st

from kexue.bert import (
    RelationHeads,
    SpanExtractor,
    bio_decode,
    decode_objects,
    decode_span,
    decode_subjects,
    encode_with_pre_ln,
    event_soft_f1,
    longest_common_substring,
    mrc_char_f1,
    power_bce,
    sample_subject_span,
    set_prf,
)


def test_power_bce_matches_naive_formula(f64):
    z = torch.linspace(-6, 6, 25)
    for n in (1.0, 2.0, 4.0):
        q = torch.sigmoid(z) ** n
        for y in (0.0, 1.0):
            want = -(y * torch.log(q) + (1 - y) * torch.log(1 - q))
            assert torch.allclose(power_bce(z, torch.full_like(z, y), n), want, atol=1e-8)
    # positives get weight n: −log σ(z)ⁿ = n · (−log σ(z))
    assert torch.allclose(
        power_bce(z, torch.ones_like(z), 4.0), 4 * power_bce(z, torch.ones_like(z), 1.0)
    )


def test_decode_subjects_nearest_end():
    p = torch.zeros(8, 2)
    p[1, 0] = p[4, 0] = 0.9  # starts
    p[2, 1] = p[6, 1] = 0.9  # ends
    p[3, 1] = 0.3  # below threshold
    assert decode_subjects(p, 0.4) == [(1, 2), (4, 6)]


def test_decode_objects_first_end_same_predicate():
    p = torch.zeros(6, 3, 2)
    p[1, 2, 0] = 0.8
    p[2, 0, 1] = 0.9  # other predicate: ignored
    p[3, 2, 1] = 0.9
    p[5, 2, 1] = 0.9
    p[4, 1, 0] = 0.9  # no end for predicate 1
    assert decode_objects(p, 0.4) == [(1, 3, 2)]


def test_sample_subject_span_end_after_start():
    g = torch.Generator().manual_seed(0)
    starts, ends = [1, 5], [3, 7]
    seen = set()
    for _ in range(200):
        s, e = sample_subject_span(starts, ends, g)
        assert s in starts and e in ends and e >= s
        seen.add((s, e))
    assert seen == {(1, 3), (1, 7), (5, 7)}  # (1, 7) is the deliberate negative


def test_bio_decode():
    # O B0 I0 I0 O I1 B1 B2 I2
    labels = [0, 1, 2, 2, 0, 4, 3, 5, 6]
    assert bio_decode(labels) == [(1, 3, 0), (6, 6, 1), (7, 8, 2)]


@given(st.text("abc", max_size=7), st.text("abc", max_size=7))
def test_lcs_brute_force(a, b):
    want = max(
        [0] + [j - i for i in range(len(a)) for j in range(i + 1, len(a) + 1) if a[i:j] in b]
    )
    assert longest_common_substring(a, b) == want


def test_event_soft_f1_by_hand():
    pred = [{("e", "r1"): "北京市", ("e", "r2"): "x"}]
    gold = [{("e", "r1"): "北京"}]
    # X = 2·2/(3+2) = 0.8; Y = 2, Z = 1
    assert math.isclose(event_soft_f1(pred, gold), 2 * 0.8 / 3)
    assert event_soft_f1(gold, gold) == 1.0


def test_set_prf_and_char_f1():
    r = set_prf([{1, 2}, {3}], [{1}, {3, 4}])
    assert math.isclose(r["precision"], 2 / 3) and math.isclose(r["recall"], 2 / 3)
    assert math.isclose(mrc_char_f1("北京市", "北京"), 0.8)


@given(st.integers(0, 10_000), st.integers(1, 4))
def test_decode_span_brute_force(seed, max_len):
    g = torch.Generator().manual_seed(seed)
    ls, le = torch.randn(7, generator=g), torch.randn(7, generator=g)
    allowed = torch.rand(7, generator=g) > 0.3
    allowed[3] = True
    best, arg = -math.inf, None
    for s in range(7):
        for e in range(s, min(7, s + max_len)):
            if allowed[s] and allowed[e] and ls[s] + le[e] > best:
                best, arg = float(ls[s] + le[e]), (s, e)
    assert decode_span(ls, le, allowed, max_len) == arg


def _bert():
    cfg = hf.BertConfig(
        vocab_size=30, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=32,
    )  # fmt: skip
    return hf.BertModel(cfg, add_pooling_layer=False).eval()


def test_pre_final_ln_branch_point():
    bert = _bert()
    ids = torch.randint(5, 30, (2, 7))
    segs, mask = torch.zeros_like(ids), torch.ones_like(ids)
    h, h_pre = encode_with_pre_ln(bert, ids, segs, mask)
    ln = bert.encoder.layer[-1].output.LayerNorm
    assert torch.allclose(ln(h_pre), h, atol=1e-6)  # H = LN(H')
    assert not torch.allclose(h_pre, h)


def test_object_logits_ignore_subject_at_init_then_depend_on_it():
    heads = RelationHeads(32, 5)
    h_pre = torch.randn(1, 6, 32)
    a = heads.object_logits(h_pre, torch.tensor([[1, 2]]))
    b = heads.object_logits(h_pre, torch.tensor([[3, 5]]))
    assert a.shape == (1, 6, 5, 2) and torch.allclose(a, b)  # zero-init CLN
    with torch.no_grad():
        heads.cln.w_beta.normal_()
    assert not torch.allclose(
        heads.object_logits(h_pre, torch.tensor([[1, 2]])),
        heads.object_logits(h_pre, torch.tensor([[3, 5]])),
    )


def test_span_extractor_masks_padding_and_normalises():
    ext = SpanExtractor(8)
    logp = ext(torch.randn(2, 5, 8), torch.tensor([[1, 1, 1, 0, 0], [1] * 5]))
    assert torch.allclose(logp.exp().sum(-1), torch.ones(2, 2))
    assert torch.all(logp[0, :, 3:] == -math.inf)
