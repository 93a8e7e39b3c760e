"""Writes tests/bert/data/tf_bert_tiny/ with TensorFlow itself: a tiny Google-layout BERT
checkpoint (tf.compat.v1.train.Saver, the writer of Google's and bojone's releases), its
bert_config.json and a vocab.txt with the Chinese BERT special ids ([PAD] 0, [UNK] 100,
[CLS] 101, [SEP] 102, [MASK] 103).

Not run by the tests (TensorFlow is not a kexue dependency): they import `fixture_arrays` from
here and check that kexue's reader returns exactly these arrays from the files TF wrote.
Regenerate with TensorFlow installed outside the project's venv, e.g.

    pip install --target /tmp/tfenv tensorflow-cpu
    PYTHONPATH=/tmp/tfenv python tests/bert/data/make_tf_fixture.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "tf_bert_tiny"
CONFIG = {
    "attention_probs_dropout_prob": 0.1, "directionality": "bidi", "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 16, "initializer_range": 0.02,
    "intermediate_size": 64, "max_position_embeddings": 32, "num_attention_heads": 2,
    "num_hidden_layers": 2, "type_vocab_size": 2,
}  # fmt: skip


def fixture_vocab() -> list[str]:
    """[PAD], [unused1..99], [UNK], [CLS], [SEP], [MASK], then characters, digits, WordPieces."""
    words = list("，。的一是在不了有和人这中大为上个国我以要他北京欢迎你好年月日学生")
    words += list("0123456789") + ["1998", "19", "##98", "##9", "a", "b", "ab", "##c", "the"]
    return ["[PAD]", *[f"[unused{i}]" for i in range(1, 100)], "[UNK]", "[CLS]", "[SEP]",
            "[MASK]", *words]  # fmt: skip


def fixture_arrays() -> dict[str, np.ndarray]:
    """Google's variable names and shapes (kernels [in, out]), values from a seeded RNG."""
    rng = np.random.default_rng(20200402)
    h, inter, n = CONFIG["hidden_size"], CONFIG["intermediate_size"], CONFIG["num_hidden_layers"]
    v = len(fixture_vocab())

    def w(*shape: int) -> np.ndarray:
        return (0.5 * rng.standard_normal(shape)).astype(np.float32)

    out = {
        "bert/embeddings/word_embeddings": w(v, h),
        "bert/embeddings/position_embeddings": w(CONFIG["max_position_embeddings"], h),
        "bert/embeddings/token_type_embeddings": w(CONFIG["type_vocab_size"], h),
        "bert/embeddings/LayerNorm/gamma": 1 + w(h),
        "bert/embeddings/LayerNorm/beta": w(h),
    }
    for i in range(n):
        p = f"bert/encoder/layer_{i}/"
        shapes = {"attention/self/query": (h, h), "attention/self/key": (h, h),
                  "attention/self/value": (h, h), "attention/output/dense": (h, h),
                  "intermediate/dense": (h, inter), "output/dense": (inter, h)}  # fmt: skip
        for name, (a, b) in shapes.items():
            out[p + name + "/kernel"], out[p + name + "/bias"] = w(a, b), w(b)
        for name in ("attention/output/LayerNorm", "output/LayerNorm"):
            out[p + name + "/gamma"], out[p + name + "/beta"] = 1 + w(h), w(h)
    out |= {
        "bert/pooler/dense/kernel": w(h, h), "bert/pooler/dense/bias": w(h),
        "cls/predictions/transform/dense/kernel": w(h, h),
        "cls/predictions/transform/dense/bias": w(h),
        "cls/predictions/transform/LayerNorm/gamma": 1 + w(h),
        "cls/predictions/transform/LayerNorm/beta": w(h),
        "cls/predictions/output_bias": w(v),
        "cls/seq_relationship/output_weights": w(2, h),
        "cls/seq_relationship/output_bias": w(2),
        "global_step": np.array(1000, dtype=np.int64),
    }  # fmt: skip
    return out


def main() -> None:
    import tensorflow as tf

    HERE.mkdir(parents=True, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        for name, value in fixture_arrays().items():
            tf.compat.v1.get_variable(name, initializer=tf.constant(value))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, str(HERE / "bert_model.ckpt"), write_meta_graph=False,
                       write_state=False)  # fmt: skip
    config = dict(CONFIG, vocab_size=len(fixture_vocab()))
    (HERE / "bert_config.json").write_text(json.dumps(config, indent=2) + "\n", "utf-8")
    (HERE / "vocab.txt").write_text("\n".join(fixture_vocab()) + "\n", "utf-8")
    print(f"wrote {HERE} with TensorFlow {tf.__version__}")


if __name__ == "__main__":
    main()
