"""UniLM / LM masks against hand-built matrices, their effect inside a BERT, the seq2seq loss,
the decoding step functions (the LM step's KV cache against re-running the prefix), and the
UniLM seq2seq model: padded batches, generation, the run-folder round trip. Loading it from
HuggingFace and TensorFlow checkpoints: tests/recipes/test_seq2seq_unilm.py."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import transformers as hf

from kexue.bert import (
    CharTokenizer,
    UniLMSeq2Seq,
    as_attention_mask,
    lm_mask,
    lm_step,
    tiny_config,
    unilm_loss,
    unilm_mask,
    unilm_step,
)
from kexue.nn import make_conditional
from kexue.runs import RunDir
from kexue.seq import beam_search, greedy_search, sample


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


@pytest.mark.parametrize("conditional", [False, True])
def test_lm_step_cache_decodes_what_rerunning_the_prefix_decodes(conditional):
    torch.manual_seed(0)
    model = hf.BertForMaskedLM(tiny_config("bert", 30, hidden=32, dropout=0.0)).eval()
    state = None
    with torch.no_grad():
        model.cls.predictions.bias.normal_(0, 2)  # peaked: few near-ties between beams
        if conditional:  # CLN with W_γ, W_β away from zero: the condition changes the output
            make_conditional(model, cond_dim=4)
            for name, p in model.named_parameters():
                if name.endswith(("w_gamma", "w_beta")):
                    p.normal_(0, 0.5)
            state = torch.randn(1, 4)
    steps = {c: lm_step(model, conditional=conditional, cache=c) for c in (True, False)}
    for k in (1, 3, 5):
        a, b = (
            greedy_search(steps[c], [2], 12, 3, state=state) if k == 1
            else beam_search(steps[c], [2], k, 12, 3, state=state, stop="complete")
            for c in (True, False)
        )  # fmt: skip
        assert (a.tokens, a.finished) == (b.tokens, b.finished) and abs(a.score - b.score) < 1e-5
    drawn = [
        sample(steps[c], [2], 6, 12, 3, torch.Generator().manual_seed(7), state=state, top_p=0.9)
        for c in (True, False)
    ]
    assert [h.tokens for h in drawn[0]] == [h.tokens for h in drawn[1]]
    assert len({tuple(h.tokens) for h in drawn[0]}) > 1  # the samples differ: a real test
    # the state carries the cache (with the condition): one new position per later call
    tokens = torch.randint(5, 30, (2, 6))
    cond = None if state is None else state.expand(2, -1)
    _, carried = steps[True](tokens[:, :4], cond)
    cached, _ = steps[True](tokens, carried)
    plain, _ = steps[False](tokens, cond)
    torch.testing.assert_close(cached, plain, atol=1e-5, rtol=0)


def test_unilm_step_last_position_matches_full_forward():
    model = _bert()
    src = [2, 7, 8, 9, 3]
    tokens = torch.tensor([src + [11, 12]])
    logp, _ = unilm_step(model, len(src))(tokens, None)
    segs = torch.tensor([[0] * 5 + [1, 1]])
    full = model(tokens, token_type_ids=segs, attention_mask=as_attention_mask(unilm_mask(segs)))
    assert torch.allclose(logp, full.logits[:, -1].log_softmax(-1), atol=1e-6)


# ----------------------------------------------------------------------------- UniLMSeq2Seq
TEXTS = ["基于深度学习的图像识别研究", "图像识别", "一种新的数据压缩方法", "数据分析方法研究"]


def _seq2seq(max_len: int = 40) -> UniLMSeq2Seq:
    torch.manual_seed(0)
    model = UniLMSeq2Seq.from_scratch(CharTokenizer(TEXTS), hidden=32, heads=2, max_len=max_len)
    with torch.no_grad():  # peaked next-token distributions: few near-ties between beams
        model.mlm.cls.predictions.bias.normal_(0, 2)
    return model.eval()


def test_batch_loss_is_the_token_mean_of_the_unpadded_pairs():
    model = _seq2seq()
    pairs = [model.encode(TEXTS[0], TEXTS[1]), model.encode(TEXTS[2][:3], TEXTS[3])]
    ids, segs, mask = model.collate(pairs)
    assert ids.shape == (2, len(pairs[0][0])) and mask[1].sum() == len(pairs[1][0])
    assert segs[0].tolist() == pairs[0][1] and set(segs[1, mask[1] == 0].tolist()) == {0}
    total, count = 0.0, 0
    for p in pairs:  # one pair at a time, no padding: CE summed over its target tokens
        one = [torch.tensor([x]) for x in p]
        n = sum(p[1][1:])  # targets predicted: tgt and its [SEP]
        total += model.loss(one[0], one[1], torch.ones_like(one[0])).item() * n
        count += n
    assert abs(model.loss(ids, segs, mask).item() - total / count) < 1e-5  # pads change nothing


def test_generate_beam_greedy_sample_and_a_long_source():
    model = _seq2seq()
    tok = model.tokenizer
    banned = {tok.pad_id, tok.unk_id, tok.cls_id, tok.mask_id}
    greedy = model.generate(TEXTS[0], beam_size=1, max_len=6)
    beam = model.generate(TEXTS[0], beam_size=4, max_len=6)
    assert beam.score >= greedy.score - 1e-6 and len(beam.tokens) <= 6
    for h in (greedy, beam):
        assert not banned & set(h.tokens) and tok.sep_id not in h.tokens
    a = model.generate(TEXTS[0], top_k=3, max_len=6, generator=torch.Generator().manual_seed(1))
    b = model.generate(TEXTS[0], top_k=3, max_len=6, generator=torch.Generator().manual_seed(1))
    assert a == b and not banned & set(a.tokens)
    # 60 source characters do not fit 40 positions: the first ones are kept, [SEP] closes them
    long = model.generate(TEXTS[0] * 5, beam_size=2, max_len=6)
    assert long == model.generate((TEXTS[0] * 5)[: 40 - 6 - 2], beam_size=2, max_len=6)
    with pytest.raises(ValueError, match="no room"):
        model.generate(TEXTS[0], max_len=39)


def test_run_folder_round_trip_gives_the_same_model(tmp_path):
    model = _seq2seq()
    model.save(RunDir(tmp_path))
    back = UniLMSeq2Seq.load(tmp_path)
    assert back.tokenizer.itos == model.tokenizer.itos and not back.training
    ids, segs, mask = model.collate([model.encode(TEXTS[0], TEXTS[1])])
    with torch.no_grad():
        torch.testing.assert_close(back(ids, segs, mask), model(ids, segs, mask))
    assert back.generate(TEXTS[2], beam_size=3, max_len=8) == model.generate(
        TEXTS[2], beam_size=3, max_len=8
    )
