"""Backbone utilities: tokenizer, local-folder loading round trip (checkpoints written here),
the TF-name mapping fed a hand-enumerated synthetic checkpoint, keep_tokens."""

from __future__ import annotations

import pytest
import torch
import transformers as hf
from checkpoint_writers import bert_tf_names

from kexue.bert import (
    CharTokenizer,
    bert_tf_to_state_dict,
    keep_tokens_,
    load_pretrained,
    tiny_config,
)
from kexue.errors import InputError


def test_tokenizer_segments_and_truncation():
    tok = CharTokenizer(["北京欢迎你", "你好"])
    ids, segs = tok.encode("你好", "北京")
    assert ids[0] == 2 and ids[3] == 3 and ids[-1] == 3 and segs == [0, 0, 0, 0, 1, 1, 1]
    assert tok.decode(ids) == "你好北京"
    ids, segs = tok.encode("北京欢迎你", "你好", maxlen=7)
    assert len(ids) == 7 and tok.decode(ids) == "北京你好"  # longer text truncated first
    assert tok.tokens_to_ids("龘") == [1]


def test_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = hf.BertForMaskedLM(tiny_config("bert", 40, hidden=32)).eval()
    model.save_pretrained(tmp_path / "ckpt")
    loaded = load_pretrained(hf.BertForMaskedLM, tmp_path / "ckpt")
    ids = torch.randint(5, 40, (2, 6))
    assert torch.allclose(model(ids).logits, loaded(ids).logits, atol=1e-6)


def test_missing_keys_need_an_allow_list(tmp_path):
    hf.BertModel(tiny_config("bert", 40, hidden=32)).save_pretrained(tmp_path / "ckpt")
    with pytest.raises(ValueError, match="classifier"):
        load_pretrained(hf.BertForSequenceClassification, tmp_path / "ckpt")
    model = load_pretrained(
        hf.BertForSequenceClassification, tmp_path / "ckpt", allow_missing=[r"^classifier\."]
    )
    assert model.classifier.out_features == 2
    hf.BertForMaskedLM(tiny_config("bert", 40, hidden=32)).save_pretrained(tmp_path / "mlm")
    with pytest.raises(ValueError, match="cls.predictions"):
        load_pretrained(hf.BertModel, tmp_path / "mlm")
    load_pretrained(
        hf.BertModel, tmp_path / "mlm", allow_unexpected=[r"^cls\."], allow_missing=["pooler"]
    )
    with pytest.raises(InputError, match="not a local checkpoint folder"):
        load_pretrained(hf.BertModel, "bert-base-chinese")  # a hub name is never downloaded


def test_tf_mapping_loads_strictly_and_reproduces_outputs():
    torch.manual_seed(0)
    cfg = tiny_config("bert", 40, hidden=32)
    src = hf.BertForPreTraining(cfg).eval()
    torch.manual_seed(1)
    dst = hf.BertForPreTraining(cfg).eval()
    state = bert_tf_to_state_dict(bert_tf_names(src, adam=True))
    missing, unexpected = dst.load_state_dict(state, strict=False)
    assert not unexpected
    assert all("decoder" in k for k in missing)  # the tied output layer, filled by tying
    dst.tie_weights()
    ids = torch.randint(5, 40, (2, 6))
    assert torch.allclose(src(ids).prediction_logits, dst(ids).prediction_logits, atol=1e-6)


def test_keep_tokens_gathers_rows():
    torch.manual_seed(0)
    model = hf.BertForMaskedLM(tiny_config("bert", 40, hidden=32)).eval()
    ids = torch.randint(5, 40, (2, 6))
    keep = [0, 1, 2, 3, 4, *range(20, 40)]
    old = model(ids.clamp(min=20)).logits[..., keep]
    keep_tokens_(model, keep)
    new_ids = ids.clamp(min=20) - 15  # old id 20 + j → new id 5 + j
    assert model.get_input_embeddings().weight.shape[0] == len(keep)
    assert torch.allclose(model(new_ids).logits, old, atol=1e-5)


def _post_ln_bert(model, ids, mask):
    """BERT's forward written out: embeddings + LN, then per layer softmax(QKᵀ/√d + mask)V,
    output projection, residual + LN, GELU FFN, residual + LN (post-LN, as in the paper)."""
    emb, (b, t) = model.embeddings, ids.shape
    h = emb.LayerNorm(
        emb.word_embeddings(ids)
        + emb.position_embeddings(torch.arange(t))
        + emb.token_type_embeddings(torch.zeros_like(ids))
    )
    n, d = model.config.num_attention_heads, model.config.hidden_size
    bias = (1.0 - mask[:, None, None, :].float()) * -1e9  # keys at padding get no weight

    def split(x):
        return x.view(b, t, n, d // n).transpose(1, 2)

    for layer in model.encoder.layer:
        sa = layer.attention.self
        q, k, v = split(sa.query(h)), split(sa.key(h)), split(sa.value(h))
        p = (q @ k.transpose(-1, -2) / (d // n) ** 0.5 + bias).softmax(-1)  # over keys
        ctx = (p @ v).transpose(1, 2).reshape(b, t, d)
        h = layer.attention.output.LayerNorm(layer.attention.output.dense(ctx) + h)
        ffn = layer.output.dense(torch.nn.functional.gelu(layer.intermediate.dense(h)))
        h = layer.output.LayerNorm(ffn + h)
    return h


def test_tiny_electra_encoder_is_a_bert_encoder():
    # the tiny ELECTRA discriminator's encoder (tiny_config, E = H) with BERT's weights computes
    # BERT's function, and both match the written-out post-LN forward: positions added, padding
    # masked, softmax over keys; a broken backbone would show up here, not as a training mystery
    torch.manual_seed(0)
    bert = hf.BertModel(tiny_config("bert", 40, hidden=32, dropout=0.0), add_pooling_layer=False)
    electra = hf.ElectraModel(tiny_config("electra", 40, hidden=32, dropout=0.0))
    electra.load_state_dict(bert.state_dict())  # strict: identical parameter names and shapes
    ids = torch.randint(5, 40, (2, 7))
    mask = torch.ones_like(ids)
    mask[0, 4:] = 0
    with torch.no_grad():
        ref = _post_ln_bert(bert.eval(), ids, mask)
        for model in (bert, electra.eval()):
            out = model(input_ids=ids, attention_mask=mask).last_hidden_state
            assert torch.allclose(out[mask.bool()], ref[mask.bool()], atol=1e-5)
        same = bert(input_ids=torch.full((1, 7), 9)).last_hidden_state[0]
    assert (same[0] - same[5]).abs().max() > 0.1  # position embeddings are added
