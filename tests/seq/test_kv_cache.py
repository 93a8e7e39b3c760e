"""KV caches threaded through the step functions: the cached path returns what re-running the whole
prefix returns (same tokens, log-probabilities to 1e-5) for a GPT-2, a UniLM BERT and the seq2seq
LSTM decoder, at beams 1, 3 and 5; the beam re-indexes a transformers Cache by parent."""

from __future__ import annotations

import pytest
import torch
import transformers as hf

from kexue.bert import unilm_step
from kexue.seq import (
    END,
    Seq2Seq,
    beam_search,
    causal_lm_step,
    greedy_search,
    kv_cache,
    reorder_state,
    sample,
)

V, EOS = 40, 1


def _gpt2() -> hf.GPT2LMHeadModel:
    torch.manual_seed(0)
    cfg = hf.GPT2Config(vocab_size=V, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=0, eos_token_id=EOS, pad_token_id=0,
                        tie_word_embeddings=False)  # fmt: skip
    model = hf.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # peaked next-token distributions: few near-ties
        model.lm_head.weight.mul_(4)
    return model


def _unilm() -> hf.BertForMaskedLM:
    torch.manual_seed(0)
    cfg = hf.BertConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64,
                        tie_word_embeddings=False)  # fmt: skip
    model = hf.BertForMaskedLM(cfg).eval()
    with torch.no_grad():
        model.cls.predictions.decoder.weight.mul_(8)
    return model


def _decode(step, start: list[int], k: int, end: int, max_len: int = 12, rows=None):
    """Decode through `step` with the end token made likely after some tokens (those ≡ 0 mod 3)
    so that beams finish at different steps and the cache loses rows; `rows` logs N per call."""

    def ending(tokens, state):
        if rows is not None:
            rows.append(len(tokens))
        logp, state = step(tokens, state)
        logp = logp.clone()
        logp[:, end] += torch.where(tokens[:, -1] % 3 == 0, 1.5, -3.0)
        return logp.log_softmax(-1), state

    if k == 1:
        return greedy_search(ending, start, max_len, end, min_len=2)
    return beam_search(ending, start, k, max_len, end, min_len=2, stop="complete")


def _lost_rows(rows: list[int], k: int) -> bool:
    """Whether a full beam of k rows shrank within one decode (finished rows dropped)."""
    return any(a == k and b < k for a, b in zip(rows, rows[1:], strict=False))


def _same(a, b) -> None:
    assert (a.tokens, a.finished) == (b.tokens, b.finished)
    assert abs(a.score - b.score) < 1e-5


def test_reorder_state_reindexes_a_transformers_cache_in_place():
    cache, _ = kv_cache(_gpt2())
    keys = torch.arange(3.0)[:, None, None, None].expand(3, 2, 4, 5)
    cache.update(keys, keys + 10, 0)
    index = torch.tensor([2, 2, 0])
    assert reorder_state(cache, index) is cache
    assert cache.layers[0].keys[:, 0, 0, 0].tolist() == [2.0, 2.0, 0.0]
    assert cache.layers[0].values[:, 0, 0, 0].tolist() == [12.0, 12.0, 10.0]
    # nested: a cache inside a tuple state, as conditional steps carry it
    other = torch.arange(3)
    out = reorder_state((other, cache), torch.tensor([1, 0]))
    assert out[0].tolist() == [1, 0] and cache.layers[0].keys.shape[0] == 2


@pytest.mark.parametrize("k", [1, 3, 5])
def test_gpt2_cached_decoding_equals_rerunning_the_prefix(k):
    model = _gpt2()
    g = torch.Generator().manual_seed(k)
    lost = False
    for _ in range(3):
        prompt = torch.randint(2, V, (4,), generator=g).tolist()
        rows: list[int] = []
        a = _decode(causal_lm_step(model), prompt, k, EOS, rows=rows)
        b = _decode(causal_lm_step(model, cache=False), prompt, k, EOS)
        _same(a, b)
        lost |= _lost_rows(rows, k)
    assert k == 1 or lost  # finished rows left the cached state


def test_gpt2_cached_step_logits_match_and_sampling_agrees():
    model = _gpt2()
    tokens = torch.randint(2, V, (3, 7), generator=torch.Generator().manual_seed(0))
    step = causal_lm_step(model)
    lp, state = step(tokens[:, :4], None)
    for t in range(5, 8):
        lp, state = step(tokens[:, :t], state)
        ref, _ = causal_lm_step(model, cache=False)(tokens[:, :t], None)
        torch.testing.assert_close(lp, ref, atol=1e-5, rtol=0)
    assert state.get_seq_length() == 7
    runs = [
        sample(causal_lm_step(model, cache=c), [5, 6], 4, 8, EOS, torch.Generator().manual_seed(1))
        for c in (True, False)
    ]
    assert [h.tokens for h in runs[0]] == [h.tokens for h in runs[1]]


@pytest.mark.parametrize("k", [1, 3, 5])
def test_unilm_cached_decoding_equals_rerunning_the_prefix(k):
    model = _unilm()
    g = torch.Generator().manual_seed(10 + k)
    lost = False
    for _ in range(3):
        src = [2, *torch.randint(4, V, (5,), generator=g).tolist(), 3]  # [CLS] src [SEP]
        rows: list[int] = []
        a = _decode(unilm_step(model, len(src)), src, k, 3, rows=rows)
        b = _decode(unilm_step(model, len(src), cache=False), src, k, 3)
        _same(a, b)
        lost |= _lost_rows(rows, k)
    assert k == 1 or lost


def test_unilm_cache_accepts_a_prefix_with_targets_and_keeps_the_source_bidirectional():
    model = _unilm()
    src = [2, 7, 8, 9, 3]
    tokens = torch.tensor([src + [11, 12], src + [13, 14]])
    cached, state = unilm_step(model, len(src))(tokens, None)
    plain, _ = unilm_step(model, len(src), cache=False)(tokens, None)
    torch.testing.assert_close(cached, plain, atol=1e-5, rtol=0)
    nxt = torch.cat([tokens, torch.tensor([[15], [16]])], 1)
    cached, _ = unilm_step(model, len(src))(nxt, state)
    plain, _ = unilm_step(model, len(src), cache=False)(nxt, None)
    torch.testing.assert_close(cached, plain, atol=1e-5, rtol=0)
    # a causal model would differ: the first source token must see the last one
    other = torch.tensor([[2, 7, 8, 10, 3, 11]])
    a, _ = unilm_step(model, 5)(torch.tensor([src + [11]]), None)
    b, _ = unilm_step(model, 5)(other, None)
    assert not torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_seq2seq_lstm_state_decoding_equals_rerunning_the_decoder(k):
    torch.manual_seed(0)
    model = Seq2Seq(V, emb=16, d=16, heads=2, head_dim=8).eval()
    with torch.no_grad():  # peaked, and the end token likely enough that some beams finish
        model.head[-1].weight.mul_(4)
        model.head[-1].bias[END] += 0.75
    g = torch.Generator().manual_seed(k)
    for _ in range(3):
        x = torch.randint(4, V, (6,), generator=g).tolist()
        _same(model.generate(x, k, 10), model.generate(x, k, 10, cache=False))
