"""Conditional LayerNorm: the formula by hand, zero-init equivalence with the plain model,
gradients at init, broadcasting, and the condition context."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
import transformers as hf

from kexue.nn import ConditionalLayerNorm, conditional_layer_norm, conditioned, make_conditional


def test_formula_by_hand(f64):
    h, c = torch.randn(2, 3, 4), torch.randn(2, 5)
    w, b = torch.randn(4), torch.randn(4)
    wg, wb = torch.randn(5, 4), torch.randn(5, 4)
    out = conditional_layer_norm(h, c, w, b, wg, wb, eps=1e-12)
    for i in range(2):
        for t in range(3):
            x = h[i, t]
            mu = sum(x) / 4
            var = sum((x - mu) ** 2) / 4
            gamma = [w[k] + sum(c[i, j] * wg[j, k] for j in range(5)) for k in range(4)]
            beta = [b[k] + sum(c[i, j] * wb[j, k] for j in range(5)) for k in range(4)]
            want = torch.stack(
                [gamma[k] * (x[k] - mu) / (var + 1e-12).sqrt() + beta[k] for k in range(4)]
            )
            assert torch.allclose(out[i, t], want, atol=1e-10)


def test_no_condition_is_layer_norm(f64):
    h, w, b = torch.randn(3, 7, 6), torch.randn(6), torch.randn(6)
    want = F.layer_norm(h, (6,), w, b, eps=1e-12)
    assert torch.allclose(conditional_layer_norm(h, None, w, b), want, atol=1e-10)


def test_broadcast_2d_equals_per_token_condition(f64):
    layer = ConditionalLayerNorm(6, 3, hidden_dim=4, hidden_act="swish")
    with torch.no_grad():
        layer.w_gamma.normal_()
        layer.w_beta.normal_()
    h, c = torch.randn(2, 5, 6), torch.randn(2, 3)
    assert torch.allclose(layer(h, c), layer(h, c[:, None].expand(2, 5, 3)), atol=1e-12)


def test_gradients_at_init_reach_w_gamma_and_w_beta_only():
    layer = ConditionalLayerNorm(6, 3, hidden_dim=4)
    h, c = torch.randn(2, 5, 6), torch.randn(2, 3)
    (layer(h, c) * torch.randn(2, 5, 6)).sum().backward()
    assert layer.w_gamma.grad.abs().sum() > 0 and layer.w_beta.grad.abs().sum() > 0
    # the hidden projection sits behind the zero W_γ, W_β: no gradient at init (the article's
    # warning against stacking two zero-initialised layers)
    assert torch.all(layer.hidden.weight.grad == 0)


def _tiny_lm():
    cfg = hf.BertConfig(
        vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=32, is_decoder=True,
    )  # fmt: skip
    return hf.BertLMHeadModel(cfg).eval()


def test_zero_init_model_equals_unconditional_model():
    plain = _tiny_lm()
    cond = copy.deepcopy(plain)
    layers = make_conditional(cond, cond_dim=8)
    # embedding LN, 2 per block, the MLM-head LN
    assert len(layers) == 1 + 2 * 2 + 1
    ids = torch.randint(5, 40, (3, 9))
    want = plain(ids).logits
    for c in (torch.randn(3, 8), 100 * torch.randn(3, 8)):
        with conditioned(cond, c):
            got = cond(ids).logits
        assert torch.allclose(got, want, atol=1e-5)


def test_condition_changes_output_once_projections_move_and_is_cleared():
    model = _tiny_lm()
    layers = make_conditional(model, cond_dim=4)
    with torch.no_grad():
        layers[-1].w_gamma.normal_()
    ids = torch.randint(5, 40, (2, 6))
    c1, c2 = torch.randn(2, 4), torch.randn(2, 4)
    with conditioned(model, c1):
        a = model(ids).logits
    with conditioned(model, c2):
        b = model(ids).logits
    assert not torch.allclose(a, b)
    with pytest.raises(RuntimeError), conditioned(model, c1):
        raise RuntimeError("boom")
    assert all(m._cond is None for m in layers)


def test_gradients_reach_every_projection_in_the_model():
    model = _tiny_lm().train()
    layers = make_conditional(model, cond_dim=4)
    ids = torch.randint(5, 40, (2, 6))
    with conditioned(model, torch.randn(2, 4)):
        model(ids, labels=ids).loss.backward()
    for m in layers:
        assert m.w_gamma.grad.abs().sum() > 0 and m.w_beta.grad.abs().sum() > 0


def test_hidden_projection_by_hand(f64):
    """The article's layer_norm_cond_hidden_size / _act: c' = act(c W_h) first, then γ, β."""
    layer = ConditionalLayerNorm(6, 3, hidden_dim=4, hidden_act="tanh").double()
    with torch.no_grad():
        layer.w_gamma.normal_()
        layer.w_beta.normal_()
    h, c = torch.randn(2, 5, 6), torch.randn(2, 3)
    c_h = torch.tanh(c @ layer.hidden.weight.T)
    want = conditional_layer_norm(
        h, c_h, layer.weight, layer.bias, layer.w_gamma, layer.w_beta, eps=layer.eps
    )
    assert torch.allclose(layer(h, c), want, atol=1e-10)
    assert layer.hidden.bias is None
