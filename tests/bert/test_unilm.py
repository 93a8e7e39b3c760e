"""UniLM / LM masks against hand-built matrices, their effect inside a BERT, the seq2seq loss,
and the decoding step function."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import transformers as hf

from kexue.bert import as_attention_mask, lm_mask, lm_step, unilm_loss, unilm_mask, unilm_step


def test_unilm_mask_by_hand():
    s = torch.tensor([[0, 0, 0, 1, 1, 1]])
    # source rows (0..2) see the source only; target row i sees the source and targets ≤ i
    want = torch.tensor(
        [
            [1, 1, 1, 0, 0, 0],
            [1, 1, 1, 0, 0, 0],
            [1, 1, 1, 0, 0, 0],
            [1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1, 0],
            [1, 1, 1, 1, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(unilm_mask(s)[0], want)


def test_padding_columns_are_never_allowed():
    s = torch.tensor([[0, 0, 1, 1, 0, 0]])  # two pads at the end (segment 0, cumsum max)
    m = torch.tensor([[1, 1, 1, 1, 0, 0]])
    allowed = unilm_mask(s, m)[0]
    assert not allowed[:, 4:].any()
    assert torch.equal(allowed[:4, :4], unilm_mask(s[:, :4])[0])


def test_lm_mask_by_hand():
    m = torch.tensor([[1, 1, 1, 0]])
    want = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 0]], dtype=torch.bool)
    assert torch.equal(lm_mask(m)[0], want)


def _bert(is_lm: bool = True):
    cfg = hf.BertConfig(
        vocab_size=30, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=32,
    )  # fmt: skip
    return hf.BertForMaskedLM(cfg).eval()


def test_target_tokens_do_not_leak_into_source_or_past():
    model = _bert()
    ids = torch.randint(5, 30, (1, 8))
    segs = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1]])
    am = as_attention_mask(unilm_mask(segs))
    h = model.bert(ids, token_type_ids=segs, attention_mask=am).last_hidden_state
    ids2 = ids.clone()
    ids2[0, 6] = (ids[0, 6] + 1 - 5) % 25 + 5  # change target position 6
    h2 = model.bert(ids2, token_type_ids=segs, attention_mask=am).last_hidden_state
    assert torch.allclose(h[0, :6], h2[0, :6], atol=1e-6)  # source and earlier targets
    assert not torch.allclose(h[0, 6:], h2[0, 6:], atol=1e-4)


def test_unilm_loss_by_hand():
    logits = torch.randn(2, 5, 7)
    ids = torch.randint(0, 7, (2, 5))
    segs = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 0, 1, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    total, n = 0.0, 0
    for b in range(2):
        for t in range(1, 5):
            if segs[b, t] and mask[b, t]:
                total += -F.log_softmax(logits[b, t - 1], -1)[ids[b, t]]
                n += 1
    assert torch.allclose(unilm_loss(logits, ids, segs, mask), total / n)


def test_lm_step_equals_running_on_the_prefix_alone():
    model = _bert()
    tokens = torch.randint(5, 30, (3, 6))
    logp, _ = lm_step(model)(tokens, None)
    for t in range(1, 6):  # causal mask ⇒ the prefix's last position does not see the future
        short, _ = lm_step(model)(tokens[:, :t], None)
        full = model(tokens, attention_mask=as_attention_mask(lm_mask(torch.ones_like(tokens))))
        assert torch.allclose(short, full.logits[:, t - 1].log_softmax(-1), atol=1e-5)
    assert logp.shape == (3, 30)


def test_unilm_step_last_position_matches_full_forward():
    model = _bert()
    src = [2, 7, 8, 9, 3]
    tokens = torch.tensor([src + [11, 12]])
    logp, _ = unilm_step(model, len(src))(tokens, None)
    segs = torch.tensor([[0] * 5 + [1, 1]])
    full = model(tokens, token_type_ids=segs, attention_mask=as_attention_mask(unilm_mask(segs)))
    assert torch.allclose(logp, full.logits[:, -1].log_softmax(-1), atol=1e-6)
