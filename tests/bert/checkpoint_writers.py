"""Writers of tiny pre-trained checkpoints for the bert tests: Google's TF variable names of
BERT, ALBERT and ELECTRA enumerated by hand from the published layouts (dense kernels [in, out]),
a checkpoint folder in the TF format, and a realistic Chinese vocab.txt ([PAD] 0, [unused1..99],
[UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103, then tokens)."""

from __future__ import annotations

import json

import numpy as np
import transformers as hf

from kexue.bert.tf_checkpoint import write_tf_checkpoint


def realistic_vocab(chars: list[str]) -> list[str]:
    """The Chinese BERT layout: specials at 0 and 100–103, then tokens (ids from 104)."""
    pieces = ["1998", "19", "##98", "##9", "the", "##s", "ab", "##c"]
    return ["[PAD]", *[f"[unused{i}]" for i in range(1, 100)], "[UNK]", "[CLS]", "[SEP]",
            "[MASK]", *pieces, *chars]  # fmt: skip


def _layer_names(prefix_tf: str, prefix_hf: str, sd: dict) -> dict[str, np.ndarray]:
    """One Google BERT block: dense kernels are [in, out] (torch weights transposed)."""
    out = {}
    for tf_sub, hf_sub in [
        ("attention/self/query", "attention.self.query"),
        ("attention/self/key", "attention.self.key"),
        ("attention/self/value", "attention.self.value"),
        ("attention/output/dense", "attention.output.dense"),
        ("intermediate/dense", "intermediate.dense"),
        ("output/dense", "output.dense"),
    ]:
        out[f"{prefix_tf}{tf_sub}/kernel"] = sd[f"{prefix_hf}{hf_sub}.weight"].T
        out[f"{prefix_tf}{tf_sub}/bias"] = sd[f"{prefix_hf}{hf_sub}.bias"]
    for tf_sub, hf_sub in [
        ("attention/output/LayerNorm", "attention.output.LayerNorm"),
        ("output/LayerNorm", "output.LayerNorm"),
    ]:
        out[f"{prefix_tf}{tf_sub}/gamma"] = sd[f"{prefix_hf}{hf_sub}.weight"]
        out[f"{prefix_tf}{tf_sub}/beta"] = sd[f"{prefix_hf}{hf_sub}.bias"]
    return out


def _embeddings(prefix_tf: str, prefix_hf: str, sd: dict) -> dict[str, np.ndarray]:
    out = {
        f"{prefix_tf}embeddings/{k}_embeddings": sd[f"{prefix_hf}embeddings.{k}_embeddings.weight"]
        for k in ("word", "position", "token_type")
    }
    out[f"{prefix_tf}embeddings/LayerNorm/gamma"] = sd[f"{prefix_hf}embeddings.LayerNorm.weight"]
    out[f"{prefix_tf}embeddings/LayerNorm/beta"] = sd[f"{prefix_hf}embeddings.LayerNorm.bias"]
    return out


def bert_tf_names(model: hf.BertForPreTraining, adam: bool = False) -> dict[str, np.ndarray]:
    """Google's BERT checkpoint of `model`, enumerated by hand from the published names."""
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    tf = _embeddings("bert/", "bert.", sd)
    for i in range(model.config.num_hidden_layers):
        tf |= _layer_names(f"bert/encoder/layer_{i}/", f"bert.encoder.layer.{i}.", sd)
    tf |= {
        "bert/pooler/dense/kernel": sd["bert.pooler.dense.weight"].T,
        "bert/pooler/dense/bias": sd["bert.pooler.dense.bias"],
        "cls/predictions/transform/dense/kernel": sd["cls.predictions.transform.dense.weight"].T,
        "cls/predictions/transform/dense/bias": sd["cls.predictions.transform.dense.bias"],
        "cls/predictions/transform/LayerNorm/gamma": sd[
            "cls.predictions.transform.LayerNorm.weight"
        ],
        "cls/predictions/transform/LayerNorm/beta": sd["cls.predictions.transform.LayerNorm.bias"],
        "cls/predictions/output_bias": sd["cls.predictions.bias"],
        "cls/seq_relationship/output_weights": sd["cls.seq_relationship.weight"],
        "cls/seq_relationship/output_bias": sd["cls.seq_relationship.bias"],
        "global_step": np.array(0, dtype=np.int64),
    }
    if adam:  # optimizer slots, as in checkpoints saved during pre-training
        tf |= {f"{k}/adam_m": np.zeros_like(v) for k, v in list(tf.items()) if "kernel" in k}
    return tf


def albert_tf_names(model: hf.AlbertForPreTraining) -> dict[str, np.ndarray]:
    """Google's ALBERT checkpoint layout (one shared group: transformer/group_0/inner_group_0)."""
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    g = "bert/encoder/transformer/group_0/inner_group_0/"
    a = "albert.encoder.albert_layer_groups.0.albert_layers.0."
    tf = _embeddings("bert/", "albert.", sd)
    tf |= {
        "bert/encoder/embedding_hidden_mapping_in/kernel": sd[
            "albert.encoder.embedding_hidden_mapping_in.weight"
        ].T,
        "bert/encoder/embedding_hidden_mapping_in/bias": sd[
            "albert.encoder.embedding_hidden_mapping_in.bias"
        ],
    }
    for tf_sub, hf_sub in [
        ("attention_1/self/query", "attention.query"),
        ("attention_1/self/key", "attention.key"),
        ("attention_1/self/value", "attention.value"),
        ("attention_1/output/dense", "attention.dense"),
        ("ffn_1/intermediate/dense", "ffn"),
        ("ffn_1/intermediate/output/dense", "ffn_output"),
    ]:
        tf[f"{g}{tf_sub}/kernel"] = sd[f"{a}{hf_sub}.weight"].T
        tf[f"{g}{tf_sub}/bias"] = sd[f"{a}{hf_sub}.bias"]
    for tf_sub, hf_sub in [("LayerNorm", "attention.LayerNorm"),
                           ("LayerNorm_1", "full_layer_layer_norm")]:  # fmt: skip
        tf[f"{g}{tf_sub}/gamma"] = sd[f"{a}{hf_sub}.weight"]
        tf[f"{g}{tf_sub}/beta"] = sd[f"{a}{hf_sub}.bias"]
    tf |= {
        "bert/pooler/dense/kernel": sd["albert.pooler.weight"].T,
        "bert/pooler/dense/bias": sd["albert.pooler.bias"],
        "cls/predictions/transform/dense/kernel": sd["predictions.dense.weight"].T,
        "cls/predictions/transform/dense/bias": sd["predictions.dense.bias"],
        "cls/predictions/transform/LayerNorm/gamma": sd["predictions.LayerNorm.weight"],
        "cls/predictions/transform/LayerNorm/beta": sd["predictions.LayerNorm.bias"],
        "cls/predictions/output_bias": sd["predictions.bias"],
        "cls/seq_relationship/output_weights": sd["sop_classifier.classifier.weight"],
        "cls/seq_relationship/output_bias": sd["sop_classifier.classifier.bias"],
    }
    return tf


def electra_tf_names(model: hf.ElectraForPreTraining) -> dict[str, np.ndarray]:
    """google-research/electra's discriminator layout, plus generator variables (skipped)."""
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    tf = _embeddings("electra/", "electra.", sd)
    tf |= {
        "electra/embeddings_project/kernel": sd["electra.embeddings_project.weight"].T,
        "electra/embeddings_project/bias": sd["electra.embeddings_project.bias"],
    }
    for i in range(model.config.num_hidden_layers):
        tf |= _layer_names(f"electra/encoder/layer_{i}/", f"electra.encoder.layer.{i}.", sd)
    tf |= {
        "discriminator_predictions/dense/kernel": sd["discriminator_predictions.dense.weight"].T,
        "discriminator_predictions/dense/bias": sd["discriminator_predictions.dense.bias"],
        "discriminator_predictions/dense_1/kernel": sd[
            "discriminator_predictions.dense_prediction.weight"
        ].T,
        "discriminator_predictions/dense_1/bias": sd[
            "discriminator_predictions.dense_prediction.bias"
        ],
        "generator_predictions/output_bias": np.zeros(model.config.vocab_size, np.float32),
        "generator/encoder/layer_0/output/dense/kernel": np.zeros((4, 4), np.float32),
    }
    return tf


GOOGLE_CONFIG_KEYS = ("attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob",
                      "hidden_size", "initializer_range", "intermediate_size",
                      "max_position_embeddings", "num_attention_heads", "num_hidden_layers",
                      "type_vocab_size", "vocab_size")  # fmt: skip


def write_tf_folder(folder, names: dict, config, vocab: list[str], config_name: str) -> None:
    folder.mkdir(parents=True)
    write_tf_checkpoint(folder / "bert_model.ckpt", names)
    conf = {k: getattr(config, k) for k in GOOGLE_CONFIG_KEYS}
    if config_name.startswith("albert"):
        conf["embedding_size"] = config.embedding_size
    conf["directionality"] = "bidi"  # a key of the Chinese release HF does not know
    (folder / config_name).write_text(json.dumps(conf), encoding="utf-8")
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")


def write_tiny_bert(root, vocab: list[str], *, seed: int, intermediate: int = 64,
                    positions: int = 128, adam: bool = False) -> dict:  # fmt: skip
    """One random BertForPreTraining (hidden 32, 2 layers, 2 heads) written as a HuggingFace
    folder (`root/hf`) and as a TF checkpoint folder (`root/tf`; `adam`: with optimizer slots
    and a global step, as real ones have); returns {"hf", "tf", "model", "vocab"}."""
    import torch

    config = hf.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=intermediate,
                           max_position_embeddings=positions)  # fmt: skip
    torch.manual_seed(seed)
    model = hf.BertForPreTraining(config).eval()
    with torch.no_grad():  # HF initialises biases and LayerNorms to 0/1: make them count
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(root / "hf")
    (root / "hf" / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    write_tf_folder(root / "tf", bert_tf_names(model, adam=adam), config, vocab,
                    "bert_config.json")  # fmt: skip
    return {"hf": root / "hf", "tf": root / "tf", "model": model, "vocab": vocab}
