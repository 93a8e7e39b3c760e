"""seq2seq-title's UniLM arm (issue 14): smoke runs from scratch and from tiny HuggingFace and
TensorFlow BERT checkpoints (the loaded model gives the writer's outputs before training),
`kexue generate` on their run folders, `pretrained` refused for the LSTM, the article budgets
of seq2seq-title and bidirectional-decoding.

The checkpoints are one random BertForPreTraining written in both formats with a realistic
Chinese vocab.txt over the CSL characters (tests/bert/checkpoint_writers.py)."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bert"))
from checkpoint_writers import realistic_vocab, write_tiny_bert  # noqa: E402

from kexue.bert import UniLMSeq2Seq, as_attention_mask, unilm_mask  # noqa: E402
from kexue.cli import execute, main  # noqa: E402
from kexue.data import csl_split  # noqa: E402
from kexue.errors import InputError  # noqa: E402
from kexue.recipes import bidirectional_decoding, seq2seq_title  # noqa: E402
from kexue.runs import resolve_config  # noqa: E402

# smoke, and smaller: one step, two titles (the loading is what is tested, not the training)
TINY = ["model=unilm", "steps=1", "n_eval=2"]


@pytest.fixture(scope="module")
def pairs() -> list[tuple[str, str]]:
    """The training pairs at the smoke budget's truncation (what the recipe feeds the model)."""
    cfg = resolve_config(seq2seq_title.Config, seq2seq_title.SMOKE, [])
    train, _ = csl_split(None, cfg.n_eval)
    return [(a[: cfg.max_source], t[: cfg.max_title]) for a, t in train]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, pairs) -> dict:
    """One random BertForPreTraining (hidden 32, 2 layers, 128 positions) written as a
    HuggingFace folder and as a TF checkpoint folder; its vocabulary: the CSL characters."""
    root = tmp_path_factory.mktemp("bert")
    counts = Counter(ch for a, t in pairs for ch in a + t if not ch.isspace())
    vocab = realistic_vocab(sorted(c for c, n in counts.items() if n >= 2))
    return write_tiny_bert(root, vocab, seed=14, adam=True)


def _titles(run: Path, capsys, lines: list[str]) -> list[dict]:
    """`kexue generate RUN FILE --format jsonl` on `lines`: one record per line."""
    path = run.parent / f"{run.name}-abstracts.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["generate", str(run), str(path), "--format", "jsonl"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_unilm_smoke_run_from_scratch_and_generate(tmp_path, capsys, pairs):
    run = tmp_path / "run"
    result = execute("seq2seq-title", budget="smoke", out=run, threads=1, sets=["model=unilm"])
    m = result["metrics"]
    assert math.isfinite(m["beam_rouge_l"]) and math.isfinite(m["unilm_mean_train_loss"])
    assert "prior_mean_train_loss" not in m and m["n_eval"] == 3
    assert (run / "generator_config.json").is_file() and not (run / "vocab.txt").exists()
    records = _titles(run, capsys, [a for a, _ in pairs[:3]])
    assert [r["input"] for r in records] == [a for a, _ in pairs[:3]]
    assert all(isinstance(r["output"], str) for r in records)
    # the run folder's model decodes as the recipe did (beam, seed 0)
    model = UniLMSeq2Seq.load(run)
    cfg = json.loads((run / "config.json").read_text())["config"]
    best = model.generate(pairs[0][0], beam_size=cfg["beam_size"], max_len=cfg["max_title"])
    assert records[0]["output"] == model.decode(best.tokens)
    sampled = main(["generate", str(run), "--input", pairs[1][0], "--top-p", "0.9"])
    assert sampled == 0 and len(capsys.readouterr().out.splitlines()) == 1


@pytest.mark.parametrize("fmt", ["hf", "tf"])
def test_checkpoint_loads_to_the_writers_outputs_and_trains(
    checkpoints, pairs, tmp_path, capsys, fmt
):
    corpus = [a for a, _ in pairs] + [t for _, t in pairs]
    model = UniLMSeq2Seq.from_checkpoint(checkpoints[fmt], corpus, max_len=55).eval()
    tok = model.tokenizer
    assert (tok.pad_id, tok.cls_id, tok.sep_id) == (0, 2, 3)
    assert len(tok) < len(checkpoints["vocab"])  # keep_tokens: the corpus's tokens only
    ids, segs = model.encode(*pairs[0])
    stoi = {t: i for i, t in enumerate(checkpoints["vocab"])}
    old = torch.tensor([[stoi[tok.itos[i]] for i in ids]])
    ids, segs = torch.tensor([ids]), torch.tensor([segs])
    with torch.no_grad():  # the UniLM mask and segments in both; the writer's ids kept
        loaded = model(ids, segs, torch.ones_like(ids))
        am = as_attention_mask(unilm_mask(segs))
        writer = checkpoints["model"](old, token_type_ids=segs, attention_mask=am)
    torch.testing.assert_close(loaded, writer.prediction_logits[..., tok.keep], atol=1e-5, rtol=0)

    run = tmp_path / "run"
    sets = [*TINY, f"pretrained={checkpoints[fmt]}"]
    result = execute("seq2seq-title", budget="smoke", out=run, threads=1, sets=sets)
    assert json.loads((run / "config.json").read_text())["config"]["pretrained"] == str(
        checkpoints[fmt]
    )
    assert math.isfinite(result["metrics"]["beam_rouge_l"])
    assert result["metrics"]["vocab_size"] == len(tok)  # the same simplified vocabulary
    assert (run / "vocab.txt").read_bytes() == (checkpoints[fmt] / "vocab.txt").read_bytes()
    records = _titles(run, capsys, ["基于深度学习的图像识别方法研究", "一种新的数据压缩算法"])
    assert len(records) == 2 and all(isinstance(r["output"], str) for r in records)


def test_pretrained_is_refused_for_the_lstm(tmp_path, capsys):
    with pytest.raises(InputError, match="model=unilm"):
        resolve_config(seq2seq_title.Config, {}, ["pretrained=/some/checkpoint"])
    out = tmp_path / "run"
    argv = ["run", "seq2seq-title", "--budget", "smoke", "--out", str(out), "--set",
            "pretrained=/some/checkpoint"]  # fmt: skip
    assert main(argv) == 2
    assert "model=unilm" in capsys.readouterr().err and not out.exists()


def test_article_budgets_resolve():
    # the article's scale is never run in tests: its overrides name real fields and resolve
    cfg = resolve_config(seq2seq_title.Config, seq2seq_title.ARTICLE, [])
    assert (cfg.model, cfg.d, cfg.batch_size, cfg.steps, cfg.min_count) == ("lstm", 128, 64,
                                                                           50_000, 32)  # fmt: skip
    unilm = ["model=unilm", "pretrained=/some/checkpoint", "batch_size=16", "lr=1e-5",
             "max_source=221", "max_title=32", "steps=1000"]  # fmt: skip
    cfg = resolve_config(seq2seq_title.Config, seq2seq_title.ARTICLE, unilm)
    assert cfg.pretrained == "/some/checkpoint" and cfg.max_source + cfg.max_title + 3 == 256
    assert "--set model=unilm --set pretrained=DIR" in seq2seq_title.__doc__
    cfg = resolve_config(bidirectional_decoding.Config, bidirectional_decoding.ARTICLE, [])
    assert (cfg.d, cfg.heads, cfg.batch_size, cfg.steps) == (128, 8, 64, 100_000)
    assert "--budget article" in bidirectional_decoding.__doc__
