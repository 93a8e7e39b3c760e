"""Pre-trained checkpoints (issue 14): the vocab.txt tokenizer and its offsets, keep_tokens built
from a corpus, the TF checkpoint reader against files TensorFlow wrote, and loading tiny HF and
TF checkpoints (BERT, ALBERT, ELECTRA) to the outputs of the models that wrote them; the
acceptance: both formats through `--set pretrained=` in lic2020 and conditional-ln.

The checkpoints are written here, in both formats, from one random BertForPreTraining with a
realistic Chinese vocab.txt (checkpoint_writers.py)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers as hf
from checkpoint_writers import (
    albert_tf_names,
    electra_tf_names,
    realistic_vocab,
    write_tf_folder,
    write_tiny_bert,
)

from kexue.bert import (
    VocabTokenizer,
    char_to_token_span,
    checkpoint_format,
    keep_tokens_,
    load_checkpoint,
    load_pretrained,
    tiny_config,
    token_to_char_span,
)
from kexue.bert.tf_checkpoint import (
    find_tf_checkpoint,
    read_tf_checkpoint,
    tf_checkpoint_variables,
    write_tf_checkpoint,
)
from kexue.cli import execute, main
from kexue.errors import InputError
from kexue.recipes import albert_electra, conditional_ln, lic2020, mlm_dropout
from kexue.runs import resolve_config

FIXTURE = Path(__file__).parent / "data" / "tf_bert_tiny"


def _fixture_module():
    path = Path(__file__).parent / "data" / "make_tf_fixture.py"
    spec = importlib.util.spec_from_file_location("make_tf_fixture", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def corpus_chars() -> list[str]:
    """Characters of People's Daily and the reviews used at least twice (rarer ones stay out
    of the vocabulary, so [UNK] occurs as in real text)."""
    from kexue.data import peoples_daily, reviews

    counts = Counter(ch for s in peoples_daily().split("train") for ch in s.text)
    counts.update(ch for t, _ in reviews("train") for ch in t)
    return sorted(c for c, n in counts.items() if n >= 2 and not c.isspace())


@pytest.fixture(scope="module")
def bert_checkpoints(tmp_path_factory, corpus_chars) -> dict:
    """One random BertForPreTraining (hidden 32, 2 layers) written as a HuggingFace folder and
    as a TF checkpoint folder (with optimizer slots and a global step, as real ones have)."""
    root = tmp_path_factory.mktemp("checkpoints")
    vocab = realistic_vocab(corpus_chars)
    return write_tiny_bert(root, vocab, seed=14, intermediate=128, adam=True)


# ----------------------------------------------------------------------------- tokenizer
def test_vocab_tokenizer_uses_the_checkpoints_ids_and_maps_tokens_to_text(bert_checkpoints):
    tok = VocabTokenizer(bert_checkpoints["hf"] / "vocab.txt")
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 100, 101, 102, 103)
    text = "北京 1998年THE Ａ箓。"  # space, digits (one WordPiece), upper case, full width, OOV
    ids, segs, offsets = tok.encode_offsets(text, "你好")
    assert ids[0] == 101 and ids.count(102) == 2 and segs[-3:] == [1, 1, 1]
    tokens = [tok.itos[i] for i in ids]
    # lower-cased (Ａ → ａ), one WordPiece for "1998", 箓 outside the vocabulary (the article's
    # example of a character the Chinese BERT vocabulary misses)
    assert tokens[1:8] == ["北", "京", "1998", "年", "the", "ａ", "[UNK]"]
    first = ids.index(102)
    for i in range(1, first):  # every token slices its own characters out of the text
        a, b = offsets[i]
        piece = text[a:b].lower()
        assert tokens[i] in ("[UNK]", piece), (tokens[i], piece)
    assert text[slice(*token_to_char_span(offsets, 1, first - 1))] == text.rstrip()
    assert char_to_token_span(offsets, 3, 5, first=1) == (3, 3)  # "19" of "1998": its token
    assert tok.decode(ids) == "北京1998年theａ。你好"  # decoding loses 箓 and the case: slice!
    # maxlen 8: 5 tokens of text, the longer first text is cut (bert4keras's rule)
    assert tok.encode(text, "你好", maxlen=8)[0] == [101, *ids[1:4], 102, *ids[-3:-1], 102]


def test_keep_tokens_from_the_corpus_keep_specials_first(bert_checkpoints):
    full = VocabTokenizer(bert_checkpoints["hf"] / "vocab.txt")
    tok = full.simplified(["北京欢迎你", "1998年"])
    assert tok.itos[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert sorted(tok.itos[5:]) == sorted(["北", "京", "欢", "迎", "你", "1998", "年"])
    assert [full.vocab[k] for k in tok.keep] == tok.itos
    ids = tok.encode("北京你好")[0]
    assert ids[:4] == [2, tok.itos.index("北"), tok.itos.index("京"), tok.itos.index("你")]
    assert ids[4] == 1  # 好 is in the checkpoint but not in the corpus: [UNK]


def test_bad_folders_name_the_missing_file(tmp_path, bert_checkpoints):
    with pytest.raises(InputError, match="not a local checkpoint folder"):
        load_pretrained(hf.BertModel, "bert-base-chinese")  # a hub name is never downloaded
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="config.json.*model.ckpt.index"):
        checkpoint_format(tmp_path / "empty")
    tf_only = tmp_path / "tf_only"
    tf_only.mkdir()
    for f in bert_checkpoints["tf"].glob("bert_model.ckpt.*"):
        (tf_only / f.name).write_bytes(f.read_bytes())
    with pytest.raises(InputError, match="bert_config.json missing"):
        load_pretrained(hf.BertModel, tf_only)
    (tf_only / "bert_config.json").write_text(
        (bert_checkpoints["tf"] / "bert_config.json").read_text()
    )
    with pytest.raises(InputError, match="vocab.txt missing"):
        load_checkpoint(tf_only, hf.BertModel)
    (tf_only / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n北\n")
    with pytest.raises(InputError, match=r"lacks \[MASK\]"):
        load_checkpoint(tf_only, hf.BertModel)
    with pytest.raises(InputError, match=r"not one for AlbertModel \(ALBERT\)"):
        load_pretrained(hf.AlbertModel, bert_checkpoints["tf"])


# ----------------------------------------------------------------------------- TF format
def test_reader_reads_what_tensorflow_wrote():
    # tests/bert/data/tf_bert_tiny was written by TensorFlow 2.21's Saver (make_tf_fixture.py)
    expected = _fixture_module().fixture_arrays()
    got = read_tf_checkpoint(find_tf_checkpoint(FIXTURE))
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape, name
        assert np.array_equal(got[name], value), name
    model = load_pretrained(hf.BertForPreTraining, FIXTURE)  # strict: every weight used
    emb = model.bert.embeddings.word_embeddings.weight.detach().numpy()
    assert np.array_equal(emb, expected["bert/embeddings/word_embeddings"])
    q = model.bert.encoder.layer[1].attention.self.query.weight.detach().numpy()
    assert np.array_equal(q, expected["bert/encoder/layer_1/attention/self/query/kernel"].T)


def test_writer_round_trips_dtypes_scalars_and_several_blocks(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"v/{i:03d}": rng.standard_normal((i % 3 + 1, 2)).astype(np.float32)
              for i in range(40)}  # fmt: skip
    arrays |= {"step": np.array(7, np.int64), "half": np.ones(3, np.float16),
               "flags": np.array([True, False]), "ids": np.arange(4, dtype=np.int32)}  # fmt: skip
    write_tf_checkpoint(tmp_path / "model.ckpt", arrays, entries_per_block=7)
    got = read_tf_checkpoint(tmp_path / "model.ckpt.index")  # the .index path works too
    assert set(got) == set(arrays)
    assert all(np.array_equal(got[k], v) and got[k].dtype == v.dtype for k, v in arrays.items())
    assert tf_checkpoint_variables(tmp_path / "model.ckpt")["step"].shape == ()
    index = tmp_path / "model.ckpt.index"
    data = bytearray(index.read_bytes())
    data[10] ^= 0xFF  # a flipped byte inside the first block
    index.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        read_tf_checkpoint(tmp_path / "model.ckpt")


# ----------------------------------------------------------------------------- loading
@pytest.mark.parametrize("fmt", ["hf", "tf"])
def test_checkpoint_loads_to_the_writers_outputs(bert_checkpoints, fmt):
    writer = bert_checkpoints["model"]
    loaded = load_pretrained(hf.BertForPreTraining, bert_checkpoints[fmt])
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(104, len(bert_checkpoints["vocab"]), (2, 9), generator=gen)
    with torch.no_grad():
        a, b = writer(ids), loaded(ids)
    assert torch.allclose(a.prediction_logits, b.prediction_logits, atol=1e-5)
    assert torch.allclose(a.seq_relationship_logits, b.seq_relationship_logits, atol=1e-5)
    enc = load_pretrained(hf.BertModel, bert_checkpoints[fmt], allow_unexpected=[r"^cls\."])
    with torch.no_grad():  # a bare encoder from a pre-training checkpoint: heads dropped
        h_writer = writer.bert(ids).last_hidden_state
        assert torch.allclose(enc(ids).last_hidden_state, h_writer, atol=1e-5)
    expected = {"hf": "huggingface", "tf": "tensorflow"}[fmt]
    assert checkpoint_format(bert_checkpoints[fmt]) == expected


@pytest.mark.parametrize("kind", ["albert", "electra"])
def test_albert_and_electra_tf_checkpoints(tmp_path, kind):
    torch.manual_seed(3)
    vocab = ["[PAD]", *[f"[unused{i}]" for i in range(1, 100)], "[UNK]", "[CLS]", "[SEP]",
             "[MASK]", *"北京欢迎你好"]  # fmt: skip
    conf = tiny_config(kind, len(vocab), hidden=32, embedding_size=16, dropout=0.0)
    if kind == "albert":
        writer, names, cls = hf.AlbertForPreTraining(conf), albert_tf_names, "albert_config.json"
    else:  # the Chinese ELECTRA release: base_discriminator_config.json, no embedding_size
        writer, names, cls = hf.ElectraForPreTraining(conf), electra_tf_names, "x"
    writer.eval()
    if kind == "albert":
        write_tf_folder(tmp_path / kind, names(writer), conf, vocab, cls)
    else:
        write_tf_folder(tmp_path / kind, names(writer), conf, vocab,
                        "base_discriminator_config.json")  # fmt: skip
    model_cls = hf.AlbertForPreTraining if kind == "albert" else hf.ElectraForPreTraining
    ck = load_checkpoint(tmp_path / kind, model_cls)
    ids = torch.tensor([ck.tokenizer.encode("北京欢迎你")[0]])
    with torch.no_grad():
        out_w, out_l = writer(ids), ck.model(ids)
    key = "prediction_logits" if kind == "albert" else "logits"
    assert ck.format == "tensorflow" and ids[0, 0] == 101
    assert torch.allclose(getattr(out_w, key), getattr(out_l, key), atol=1e-5)


def test_keep_tokens_keeps_a_shared_bias_shared():
    torch.manual_seed(0)
    model = hf.BertForMaskedLM(tiny_config("bert", 40, hidden=32)).eval()
    keep_tokens_(model, [0, 1, 2, 3, 4, *range(20, 40)])
    head = model.cls.predictions
    assert head.bias is head.decoder.bias and head.bias.shape == (25,)
    fresh = hf.BertForMaskedLM(tiny_config("bert", 25, hidden=32))
    fresh.load_state_dict(model.state_dict())  # a saved simplified model loads back


# ----------------------------------------------------------------------------- acceptance
def _corpus_encoding(tok, writer_vocab: list[str], text: str) -> tuple[list[int], list[int]]:
    """The same text in the simplified ids (loaded model) and the checkpoint's ids (writer)."""
    ids = tok.encode(text)[0]
    stoi = {t: i for i, t in enumerate(writer_vocab)}
    return ids, [stoi[tok.itos[i]] for i in ids]


@pytest.mark.parametrize("fmt", ["hf", "tf"])
def test_lic2020_pretrained_encoder_gives_the_writers_outputs(bert_checkpoints, fmt):
    cfg = resolve_config(lic2020.Config, lic2020.SMOKE, [f"pretrained={bert_checkpoints[fmt]}"])
    corpus = ["江泽民在北京会见了美国总统。", "新华社北京1998年1月1日电"]
    tok, enc = lic2020.backbone(cfg, corpus)
    assert (tok.pad_id, tok.cls_id, tok.sep_id) == (0, 2, 3) and len(tok) < 40
    new, old = _corpus_encoding(tok, bert_checkpoints["vocab"], corpus[1])
    assert "1998" in tok.itos  # one WordPiece token for four characters
    with torch.no_grad():
        h_loaded = enc(input_ids=torch.tensor([new])).last_hidden_state
        h_writer = bert_checkpoints["model"].bert(input_ids=torch.tensor([old])).last_hidden_state
    assert torch.allclose(h_loaded, h_writer, atol=1e-5)


@pytest.mark.parametrize("fmt", ["hf", "tf"])
def test_conditional_ln_pretrained_lm_gives_the_writers_outputs(bert_checkpoints, fmt):
    cfg = resolve_config(
        conditional_ln.Config, conditional_ln.SMOKE, [f"pretrained={bert_checkpoints[fmt]}"]
    )
    corpus = ["这个手机很好用", "质量太差了"]
    tok, lm = conditional_ln.backbone(cfg, corpus)
    new, old = _corpus_encoding(tok, bert_checkpoints["vocab"], corpus[0])
    keep = torch.tensor(tok.keep)
    with torch.no_grad():
        z_loaded = lm(input_ids=torch.tensor([new])).logits
        z_writer = bert_checkpoints["model"](input_ids=torch.tensor([old])).prediction_logits
    assert torch.allclose(z_loaded, z_writer[..., keep], atol=1e-5)


@pytest.mark.parametrize(("slug", "fmt"), [("lic2020", "hf"), ("conditional-ln", "tf")])
def test_smoke_run_from_a_checkpoint(bert_checkpoints, tmp_path, capsys, slug, fmt):
    result = execute(slug, budget="smoke", out=tmp_path, threads=1,
                     sets=[f"pretrained={bert_checkpoints[fmt]}"])  # fmt: skip
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["config"]["pretrained"] == str(bert_checkpoints[fmt])
    assert result["metrics"] and any(np.isfinite(v) for v in result["metrics"].values())
    if slug == "conditional-ln":  # `kexue generate` rebuilds the checkpoint's architecture
        assert main(["generate", str(tmp_path), "--input", "1", "--format", "jsonl"]) == 0
        assert isinstance(json.loads(capsys.readouterr().out)["output"], str)


def test_mlm_dropout_smoke_from_a_checkpoint_without_pre_training(bert_checkpoints, tmp_path):
    sets = [f"pretrained={bert_checkpoints['tf']}", "pretrain_steps=0"]
    result = execute("mlm-dropout", budget="smoke", out=tmp_path, threads=1, sets=sets)
    saved = hf.BertForMaskedLM.from_pretrained(tmp_path / "pretrained")  # the loaded MLM, kept
    assert saved.config.hidden_size == 32 and saved.config.vocab_size < 5000
    assert np.isfinite(result["metrics"]["plain_acc"])


def test_albert_electra_fine_tunes_both_checkpoints(bert_checkpoints, tmp_path):
    vocab = bert_checkpoints["vocab"]
    torch.manual_seed(5)
    albert = hf.AlbertModel(tiny_config("albert", len(vocab), hidden=32, embedding_size=16))
    albert.save_pretrained(tmp_path / "albert")
    (tmp_path / "albert" / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    cfg = resolve_config(albert_electra.Config, albert_electra.SMOKE,
                         [f"pretrained={tmp_path / 'albert'}",
                          f"pretrained_bert={bert_checkpoints['tf']}"])  # fmt: skip
    arms = albert_electra.finetune_backbones(cfg, ["这个手机很好用"], None, None, None)
    tok, enc = arms["unshared"]
    new, old = _corpus_encoding(tok, vocab, "这个手机很好用")
    with torch.no_grad():
        h = albert.eval()(torch.tensor([old])).last_hidden_state
        for k in ("albert", "unshared"):
            out = arms[k][1].eval()(torch.tensor([new])).last_hidden_state
            assert torch.allclose(out, h, atol=1e-5), k
        ref = bert_checkpoints["model"].bert(torch.tensor([old])).last_hidden_state
        assert torch.allclose(arms["bert"][1].eval()(torch.tensor([new])).last_hidden_state,
                              ref, atol=1e-5)  # fmt: skip
    one = resolve_config(albert_electra.Config, {}, [f"pretrained={tmp_path / 'albert'}"])
    with pytest.raises(InputError, match="pretrained_bert"):
        albert_electra.finetune_backbones(one, ["好"], None, None, None)


@pytest.mark.parametrize("recipe", [lic2020, conditional_ln, mlm_dropout, albert_electra])
def test_article_budgets_resolve(recipe):
    # the article's scale is never run in tests: its overrides name real fields and resolve
    cfg = resolve_config(recipe.Config, recipe.ARTICLE, ["pretrained=/some/checkpoint"])
    assert cfg.pretrained == "/some/checkpoint" and cfg.hidden == 768
