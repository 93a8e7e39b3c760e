"""ALBERT/ELECTRA checks: shared parameters counted once, equal FLOPs at equal (L, H), the
unshared load is exact then diverges, local-folder loading, ELECTRA's replaced-token labels, the
RTD AUC, a tiny discriminator that must detect a trivially detectable corruption, and the
no-MLM-head guard."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers as hf

from kexue.bert import (
    count_parameters,
    electra_loss,
    flops_per_token,
    load_pretrained,
    masked_lm_logits,
    replace_tokens,
    require_mlm_head,
    rtd_auc,
    tiny_config,
    unshare_albert,
)


def test_albert_parameters_shared_once_and_unshared_counts_per_layer():
    albert = hf.AlbertModel(tiny_config("albert", 100, hidden=32, layers=4, embedding_size=16))
    bert = hf.BertModel(tiny_config("bert", 100, hidden=32, layers=4))
    n_albert = count_parameters(albert)
    assert n_albert < count_parameters(bert)
    group = sum(p.numel() for p in albert.encoder.albert_layer_groups.parameters())
    unshared = unshare_albert(albert)
    assert count_parameters(unshared) == n_albert + 3 * group
    assert count_parameters(albert, per_use=True) == count_parameters(unshared)


def test_albert_has_at_most_half_of_berts_parameters_at_the_recipes_config():
    # config arithmetic (V1): one shared block instead of L, embeddings (V + P + T)·E plus the
    # E → H projection instead of (V + P + T)·H; at the recipe's (L, H, E) = (4, 128, 32)
    kw = dict(hidden=128, layers=4, heads=4, dropout=0.0)
    for vocab in (1000, 3541, 8000):  # 3541: the recipe's People's Daily vocabulary
        cb = tiny_config("bert", vocab, **kw)
        bert = hf.BertModel(cb, add_pooling_layer=False)
        albert = hf.AlbertModel(
            tiny_config("albert", vocab, embedding_size=32, **kw), add_pooling_layer=False
        )
        n_bert, n_albert = count_parameters(bert), count_parameters(albert)
        block = sum(p.numel() for p in bert.encoder.layer[0].parameters())
        rows = cb.vocab_size + cb.max_position_embeddings + cb.type_vocab_size
        assert n_albert == n_bert - 3 * block - (rows + 2) * (128 - 32) + 32 * 128 + 128
        assert n_albert / n_bert <= 0.5


def test_flops_equal_at_equal_layers_and_hidden():
    a = tiny_config("albert", 100, hidden=32, layers=4, embedding_size=32)
    b = tiny_config("bert", 100, hidden=32, layers=4)
    assert flops_per_token(a, 64) == flops_per_token(b, 64)
    a_small_e = tiny_config("albert", 100, hidden=32, layers=4, embedding_size=16)
    assert flops_per_token(a_small_e, 64) > flops_per_token(b, 64)  # + the E→H projection
    # by hand: 2·(4H² + 2HI) + 4nH per layer
    assert flops_per_token(b, 64) == 4 * (2 * (4 * 32 * 32 + 2 * 32 * 128) + 4 * 64 * 32)


def test_unshared_albert_is_exact_at_load_then_diverges():
    torch.manual_seed(0)
    albert = hf.AlbertModel(tiny_config("albert", 50, hidden=32, layers=3, embedding_size=16))
    albert.eval()
    unshared = unshare_albert(albert).eval()
    ids = torch.randint(5, 50, (2, 7))
    h1, h2 = albert(ids).last_hidden_state, unshared(ids).last_hidden_state
    assert torch.allclose(h1, h2, atol=1e-6)
    groups = unshared.encoder.albert_layer_groups
    w0 = groups[0].albert_layers[0].ffn.weight
    w2 = groups[2].albert_layers[0].ffn.weight
    assert torch.equal(w0, w2) and w0 is not w2
    opt = torch.optim.Adam(unshared.parameters(), lr=1e-2)
    (unshared(ids).last_hidden_state * torch.randn(2, 7, 32)).sum().backward()
    assert all(gr.albert_layers[0].ffn.weight.grad.abs().sum() > 0 for gr in groups)  # all used
    opt.step()
    assert (w0 - w2).abs().max() > 1e-3  # independent layers, different gradients


def test_albert_and_electra_local_round_trip(tmp_path):
    ids = torch.randint(5, 50, (2, 6))
    for cls, kind in ((hf.AlbertModel, "albert"), (hf.ElectraForPreTraining, "electra")):
        model = cls(tiny_config(kind, 50, hidden=32, embedding_size=16)).eval()
        model.save_pretrained(tmp_path / kind)
        loaded = load_pretrained(cls, tmp_path / kind)
        out_a, out_b = model(ids), loaded(ids)
        a = out_a.logits if kind == "electra" else out_a.last_hidden_state
        b = out_b.logits if kind == "electra" else out_b.last_hidden_state
        assert torch.allclose(a, b, atol=1e-6)


def test_discriminator_has_no_mlm_head():
    cfg = tiny_config("electra", 50, hidden=32, embedding_size=16)
    with pytest.raises(ValueError, match="no MLM head"):
        require_mlm_head(hf.ElectraForPreTraining(cfg))
    require_mlm_head(hf.ElectraForMaskedLM(cfg))
    require_mlm_head(hf.BertForMaskedLM(tiny_config("bert", 50, hidden=32)))


def test_replaced_labels_count_sampled_originals_as_original():
    ids = torch.tensor([[5, 6, 7, 8]])
    masked = torch.tensor([[False, True, True, False]])
    logits = torch.full((1, 4, 10), -1e4)
    logits[0, 1, 6] = 0.0  # the generator surely samples the original token at position 1
    logits[0, 2, 9] = 0.0  # and surely replaces position 2 by 9
    g = torch.Generator().manual_seed(0)
    corrupted, replaced = replace_tokens(ids, masked, logits, g)
    assert corrupted.tolist() == [[5, 6, 9, 8]]
    assert replaced.tolist() == [[False, False, True, False]]
    disc = torch.zeros(1, 4)
    total, l_mlm, l_rtd = electra_loss(logits, ids, masked, disc, replaced, torch.ones(1, 4))
    assert torch.allclose(l_rtd, torch.log(torch.tensor(2.0)))  # BCE at logit 0
    assert torch.allclose(total, l_mlm + 50 * l_rtd)


def test_rtd_auc_rank_formula_and_ties():
    assert rtd_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert rtd_auc(np.zeros(4), np.array([0, 1, 0, 1])) == 0.5  # all tied: chance
    assert np.isnan(rtd_auc(np.ones(3), np.zeros(3)))
    with pytest.raises(ValueError, match="same shape"):
        rtd_auc(np.ones(3), np.ones(4))


def test_tiny_discriminator_detects_trivially_detectable_replacements():
    # originals use ids 5..29, the "generator" samples only 30..49: token identity alone
    # separates them, so a working pipeline (labels, positions, loss, AUC) must score far
    # above chance within a few dozen steps; swapped labels or misaligned scores would not.
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    V, B, L = 50, 16, 12
    disc = hf.ElectraForPreTraining(tiny_config("electra", V, hidden=32, layers=1, dropout=0.0))
    opt = torch.optim.Adam(disc.parameters(), lr=3e-3)
    gen_logits = torch.full((B, L, V), -1e4)
    gen_logits[..., 30:] = 0.0

    def batch():
        ids = torch.randint(5, 30, (B, L), generator=g)
        masked = torch.rand(B, L, generator=g) < 0.15
        corrupted, replaced = replace_tokens(ids, masked, gen_logits, g)
        return ids, masked, corrupted, replaced

    for _ in range(40):
        ids, masked, corrupted, replaced = batch()
        loss, _, _ = electra_loss(
            gen_logits, ids, masked, disc(corrupted).logits, replaced, torch.ones(B, L)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    disc.eval()
    ids, masked, corrupted, replaced = batch()
    with torch.no_grad():
        scores = disc(corrupted).logits
    assert torch.equal(replaced, masked)  # 30..49 never equals an original
    assert rtd_auc(scores.numpy().ravel(), replaced.numpy().ravel()) > 0.95


def test_masked_lm_logits_equal_the_full_heads_at_the_selected_positions():
    torch.manual_seed(0)
    ids = torch.randint(5, 40, (2, 7))
    mask = torch.ones_like(ids)
    selected = torch.zeros_like(ids, dtype=torch.bool)
    selected[0, 2], selected[1, 5] = True, True
    for model in (
        hf.BertForMaskedLM(tiny_config("bert", 40, hidden=16)).eval(),
        hf.AlbertForMaskedLM(tiny_config("albert", 40, hidden=16, embedding_size=8)).eval(),
    ):
        full = model(input_ids=ids, attention_mask=mask).logits[selected]
        got = masked_lm_logits(model, ids, mask, selected)
        assert got.shape == (2, 40)
        assert torch.allclose(got, full, atol=1e-5)
