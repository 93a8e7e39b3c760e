"""MLM as dropout: the correction's coefficients, untying, BERT masking rates, DropToken ==
attention-column masking, and weight vs model averaging for column dropout."""

from __future__ import annotations

import copy

import torch
import transformers as hf

from kexue.bert import (
    column_dropout_attention,
    correct_mlm_embeddings_,
    drop_tokens,
    lm_mask,
    mask_tokens,
    mlm_classifier,
    mlm_consistent_embeddings,
    model_average_states,
    tiny_config,
)


def test_default_coefficients_0865_012_0015(f64):
    emb = torch.randn(6, 3)
    got = mlm_consistent_embeddings(emb, mask_id=4)
    want = 0.865 * emb + 0.12 * emb[4] + 0.015 * emb.mean(0)
    assert torch.allclose(got, want, atol=1e-12)
    # coefficients sum to 1: a constant table is a fixed point
    const = torch.ones(6, 3) * 2.5
    assert torch.allclose(mlm_consistent_embeddings(const, 4), const)


def test_frequency_mean(f64):
    emb, w = torch.randn(4, 2), torch.tensor([1.0, 0.0, 0.0, 3.0])
    got = mlm_consistent_embeddings(
        emb, 0, select=1.0, p_mask=0.0, p_keep=0.0, p_rand=1.0, weights=w
    )
    assert torch.allclose(got, (emb[0] + 3 * emb[3]).expand(4, 2) / 4)


def test_correction_in_model_unties_the_mlm_head():
    model = hf.BertForMaskedLM(tiny_config("bert", 30, hidden=16)).eval()
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    before = model.get_input_embeddings().weight.detach().clone()
    correct_mlm_embeddings_(model, mask_id=4)
    assert torch.equal(model.get_output_embeddings().weight, before)
    assert torch.allclose(
        model.get_input_embeddings().weight, mlm_consistent_embeddings(before, 4)
    )


def test_mask_tokens_rates():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 100, (200, 100), generator=g)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = True
    inputs, sel = mask_tokens(ids, special, vocab_size=100, mask_id=4, generator=g)
    assert not sel[:, 0].any()
    n = sel.sum().item()
    assert abs(n / (200 * 99) - 0.15) < 0.01
    assert abs((inputs[sel] == 4).float().mean().item() - 0.8) < 0.02
    assert torch.equal(inputs[~sel], ids[~sel])


def test_drop_token_equals_attention_column_masking():
    torch.manual_seed(0)
    bert = hf.BertModel(tiny_config("bert", 40, hidden=32), add_pooling_layer=False).eval()
    ids = torch.randint(5, 40, (2, 9))
    ids[:, 0], ids[:, -1] = 2, 3
    segs, mask = torch.zeros_like(ids), torch.ones_like(ids)
    special = (ids == 2) | (ids == 3)
    g = torch.Generator().manual_seed(0)
    d_ids, d_segs, d_pos, d_mask = drop_tokens(ids, segs, mask, 0.4, g, special=special)
    assert d_ids.shape[1] == 9 - 3 and d_ids[:, 0].eq(2).all()
    h_drop = bert(d_ids, token_type_ids=d_segs, position_ids=d_pos, attention_mask=d_mask)
    for b in range(2):
        keep = torch.zeros(9, dtype=torch.long)
        keep[d_pos[b]] = 1
        h_full = bert(ids[b : b + 1], attention_mask=keep[None]).last_hidden_state
        assert torch.allclose(h_drop.last_hidden_state[b], h_full[0, d_pos[b]], atol=1e-5)


def test_column_dropout_weight_vs_model_averaging(f64):
    g = torch.Generator().manual_seed(0)
    a = torch.rand(5, 5, generator=g).softmax(-1)
    p = 0.6
    # weight averaging: Norm(A ⊗ E[M]) = Norm(p A) = A exactly
    assert torch.allclose(column_dropout_attention(a, torch.full((1, 5), p)), a)
    # model averaging: E[Norm(A ⊗ M)] ≠ A (Monte Carlo, columns kept w.p. p, one always kept)
    keep = (torch.rand(20000, 1, 5, generator=g) < p).double()
    keep[..., 0] = 1.0
    avg = column_dropout_attention(a, keep).mean(0)
    assert (avg - a).abs().max() > 0.02
    assert torch.allclose(avg.sum(-1), torch.ones(5))


def test_lm_mask_is_independent_of_drop():  # DropToken keeps working with causal masks
    m = torch.ones(1, 4)
    assert lm_mask(m).sum() == 10
    _ = copy.copy(m)


def test_correction_is_the_weight_average_of_bert_corruption(f64):
    # the article's dropout view: for a model linear in the embeddings (here the lookup itself)
    # the model average over BERT's 15% × 80/10/10 corruption equals weight averaging, i.e. the
    # corrected table E'; the random replacements are drawn from the normal ids (≥ 5), so Ē is
    # their mean
    g = torch.Generator().manual_seed(0)
    V, d = 12, 3
    emb = torch.randn(V, d, generator=g, dtype=torch.float64)
    ids = torch.arange(5, V).repeat(20000, 1)  # 20000 rows × 2 draws per position
    special = torch.zeros_like(ids, dtype=torch.bool)

    def corrupt(x):
        return mask_tokens(x, special, vocab_size=V, mask_id=4, generator=g)[0]

    avg = model_average_states(lambda x: emb[x], ids, corrupt, 2).mean(0)  # (V − 5, d)
    normal = torch.tensor([0.0] * 5 + [1.0] * (V - 5), dtype=torch.float64)
    want = mlm_consistent_embeddings(emb, 4, weights=normal)[5:]
    assert (avg - want).abs().max() < 0.02
    assert (avg - emb[5:]).abs().max() > 0.1  # the uncorrected x_i is not the average


def test_recipe_corrected_arm_starts_from_the_corrected_embeddings_only(tmp_path):
    # the mechanism the equivalence claim rests on: the corrected arm differs from the plain
    # arm in the word embeddings (E → E') and nowhere else, new head initialised alike
    torch.manual_seed(0)
    mlm = hf.BertForMaskedLM(tiny_config("bert", 30, hidden=16))
    mlm.save_pretrained(tmp_path)
    plain = mlm_classifier(tmp_path, 4, corrected=False, head_seed=1)
    corrected = mlm_classifier(tmp_path, 4, corrected=True, head_seed=1)
    e = mlm.get_input_embeddings().weight.detach()
    pe = plain.get_input_embeddings().weight.detach()
    ce = corrected.get_input_embeddings().weight.detach()
    assert torch.equal(pe, e)
    assert torch.allclose(ce, mlm_consistent_embeddings(e, 4), atol=1e-6)
    assert (ce - pe).abs().max() > 1e-3
    ps, cs = plain.state_dict(), corrected.state_dict()
    key = "bert.embeddings.word_embeddings.weight"
    assert all(torch.equal(ps[k], cs[k]) for k in ps if k != key)
