"""The adversarial recipe on a BERT checkpoint and on CLUE classification data (issue 14): tiny HF
and TF checkpoints load into the classifier and give the writer's logits before training; a
smoke run from a checkpoint on a CLUE folder written in the real format (IFLYTEK's JSONL and
labels.json); a malformed line exits 2 naming file and line; the article budget resolves."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bert"))
from checkpoint_writers import realistic_vocab, write_tiny_bert  # noqa: E402

from kexue.cli import claims_for, execute, main  # noqa: E402
from kexue.data import read_clue_folder, reviews  # noqa: E402
from kexue.errors import InputError  # noqa: E402
from kexue.recipes import adversarial  # noqa: E402
from kexue.runs import resolve_config  # noqa: E402

# IFLYTEK's layout: numeric label codes with their names (label_des); three classes here
CODES = [("11", "薅羊毛"), ("23", "休闲益智"), ("7", "打车")]


def _line(text: str, k: int) -> str:
    code, name = CODES[k]
    return json.dumps({"label": code, "label_des": name, "sentence": text}, ensure_ascii=False)


@pytest.fixture(scope="module")
def clue(tmp_path_factory) -> Path:
    """train.json (60 reviews), dev.json (24), labels.json: class = a review's length bucket
    and label, so that the three classes are learnable in principle (not needed: smoke)."""
    root = tmp_path_factory.mktemp("clue") / "iflytek"
    root.mkdir()
    items = reviews("train")[:60], reviews("test")[:24]
    for name, part in zip(("train.json", "dev.json"), items, strict=True):
        lines = [_line(t, (y + (len(t) > 40)) % 3) for t, y in part]
        (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "labels.json").write_text(
        "\n".join(json.dumps({"label": c, "label_des": n}, ensure_ascii=False)
                  for c, n in reversed(CODES)) + "\n", encoding="utf-8",
    )  # fmt: skip
    return root


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, clue) -> dict:
    """One random BertForPreTraining (hidden 32, 2 layers) over the fixture's characters, as a
    HuggingFace folder and a TF checkpoint folder."""
    root = tmp_path_factory.mktemp("ckpt")
    texts = [json.loads(x)["sentence"] for f in ("train.json", "dev.json")
             for x in (clue / f).read_text(encoding="utf-8").splitlines()]  # fmt: skip
    vocab = realistic_vocab(sorted({c for t in texts for c in t if not c.isspace()}))
    return write_tiny_bert(root, vocab, seed=21, positions=64)


@pytest.mark.parametrize("fmt", ["hf", "tf"])
def test_checkpoint_classifier_gives_the_writers_logits(checkpoints, fmt):
    cfg = resolve_config(adversarial.Config, adversarial.SMOKE,
                         [f"pretrained={checkpoints[fmt]}"])  # fmt: skip
    corpus = ["这个手机很好用，1998年买的", "质量太差了"]
    tok, fresh = adversarial.bert_classifier(cfg, corpus, n_classes=3)
    model = fresh(7).eval()
    assert torch.equal(fresh(7).bert.classifier.weight, model.bert.classifier.weight)
    # E is BERT's word-embedding matrix (Embedding-Token), rows = the simplified vocabulary
    assert model.embed is model.bert.bert.embeddings.word_embeddings
    assert model.embed.weight.shape[0] == len(tok) < 30
    new = tok.encode(corpus[0], maxlen=cfg.maxlen)[0]
    stoi = {t: i for i, t in enumerate(checkpoints["vocab"])}
    old = [stoi[tok.itos[i]] for i in new]  # the same text in the checkpoint's ids
    with torch.no_grad():
        logits = model(torch.tensor([new]))
        pooled = checkpoints["model"].bert(input_ids=torch.tensor([old])).pooler_output
        expected = model.bert.classifier(pooled)  # the writer's encoder, the seeded head
    assert logits.shape == (1, 3)
    assert torch.allclose(logits, expected, atol=1e-5)


def test_smoke_from_a_checkpoint_on_a_clue_folder(checkpoints, clue, tmp_path):
    result = execute("adversarial", budget="smoke", out=tmp_path, threads=1, data=str(clue),
                     sets=[f"pretrained={checkpoints['tf']}", "maxlen=48"])  # fmt: skip
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["config"]["pretrained"] == str(checkpoints["tf"])
    m = result["metrics"]
    # keep_tokens: the specials and the texts' tokens, not [unused1..99] nor the WordPieces
    assert m["classes"] == 3.0 and m["vocab"] < len(checkpoints["vocab"]) - 100
    for arm in adversarial.ARMS:  # three arms trained and evaluated on dev.json
        assert 0.0 <= m[f"acc_{arm}"] <= 1.0 and np.isfinite(m[f"grad_norm_{arm}"])
    assert m["grad_norm_fgm"] != m["grad_norm_baseline"]  # FGM changed the trained weights
    assert abs(m["equivalence_slope"] - 2.0) < 0.3  # the identity holds on the BERT too
    assert json.loads((tmp_path / "claims.json").read_text()) == []  # smoke judges nothing


def test_clue_folder_reads_labels_in_labels_json_order(clue):
    train, dev, names = read_clue_folder(clue)
    assert names == [c for c, _ in reversed(CODES)] and len(train) == 60 and len(dev) == 24
    first = json.loads((clue / "train.json").read_text(encoding="utf-8").splitlines()[0])
    assert train[0] == (first["sentence"], names.index(first["label"]))


def test_textcnn_smoke_on_a_clue_folder(clue, tmp_path):
    result = execute("adversarial", budget="smoke", out=tmp_path, threads=1, data=str(clue))
    assert result["metrics"]["classes"] == 3.0
    claims, missing = claims_for(adversarial, str(clue))
    assert claims == adversarial.DATA_CLAIMS and missing == "unmeasured"
    assert all("article" in c.budgets for c in claims)


def test_a_malformed_line_exits_2_naming_file_and_line(clue, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("dev.json", "labels.json"):
        (bad / name).write_bytes((clue / name).read_bytes())
    lines = (clue / "train.json").read_text(encoding="utf-8").splitlines()
    lines[2] = json.dumps({"label": "11", "text": "没有 sentence 字段"}, ensure_ascii=False)
    (bad / "train.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    code = main(["run", "adversarial", "--budget", "smoke", "--data", str(bad), "--out",
                 str(out), "--quiet"])  # fmt: skip
    assert code == 2
    assert f"{bad / 'train.json'}:3: missing field 'sentence'" in capsys.readouterr().err
    assert not out.exists()  # no run folder left behind
    (bad / "train.json").write_text(_line("好", 0).replace('"11"', '"99"') + "\n", "utf-8")
    with pytest.raises(InputError, match=r"train.json: record 1: label '99' is not in"):
        read_clue_folder(bad)
    (bad / "dev.json").unlink()
    with pytest.raises(InputError, match="dev.json missing"):
        read_clue_folder(bad)


def test_article_budget_resolves():
    # the article's scale is never run in tests: its overrides name real fields and resolve
    cfg = resolve_config(adversarial.Config, adversarial.ARTICLE,
                         ["pretrained=/some/checkpoint", "data=/some/iflytek"])  # fmt: skip
    assert (cfg.hidden, cfg.layers, cfg.heads, cfg.maxlen) == (768, 12, 12, 128)
    assert (cfg.batch_size, cfg.lr, cfg.epochs, cfg.epsilon) == (32, 2e-5, 50, 0.5)
    assert cfg.model == "bert" and cfg.pretrained == "/some/checkpoint"


def test_an_interrupted_run_resumes_from_its_finished_arms(tmp_path, monkeypatch):
    """Each (seed, arm) checkpoints when it finishes: Ctrl-C after the second one, and the
    resumed run trains only the rest and gives the uninterrupted run's metrics."""
    from kexue.cli import RunInterrupted
    from kexue.runs import RunDir

    straight = execute("adversarial", budget="smoke", out=tmp_path / "straight", threads=1)
    calls = []
    real_save = RunDir.save_checkpoint

    def save_then_stop(self, step, objects):
        real_save(self, step, objects)
        calls.append(step)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunDir, "save_checkpoint", save_then_stop)
    with pytest.raises(RunInterrupted):
        execute("adversarial", budget="smoke", out=tmp_path / "run", threads=1)
    monkeypatch.setattr(RunDir, "save_checkpoint", real_save)
    trained = []
    real_step = adversarial.train_step

    def counted_step(model, opt, arm, *args):
        trained.append(arm)
        return real_step(model, opt, arm, *args)

    monkeypatch.setattr(adversarial, "train_step", counted_step)
    resumed = execute("adversarial", budget="smoke", out=tmp_path / "run", threads=1)
    assert set(trained) == {"gp"}  # baseline and fgm came from the checkpoint
    timing = ("cpu_sec", "time_ratio", "wall_time")
    assert {k: v for k, v in resumed["metrics"].items() if not k.startswith(timing)} == {
        k: v for k, v in straight["metrics"].items() if not k.startswith(timing)
    }
