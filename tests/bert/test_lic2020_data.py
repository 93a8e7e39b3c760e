"""`kexue run lic2020 --data FOLDER` on the competition's file formats (tiny hand-written DuIE
2.0, DuEE 1.0 and DuReader-robust fixtures in tests/bert/data/lic2020): the three submission
files in the competition's shapes, relation extraction end to end (it fits its training file and
its predictions read back through `read_duie`), skipped tasks, and malformed lines exiting 2
with file and line."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from kexue.cli import main
from kexue.data import SPO, read_duee, read_duie, read_squad

FIXTURE = Path(__file__).parent / "data" / "lic2020"


def _run(data: Path, out: Path, *sets: str) -> int:
    torch.set_num_threads(1)
    args = ["run", "lic2020", "--budget", "smoke", "--data", str(data), "--out", str(out)]
    return main([*args, *(a for s in sets for a in ("--set", s))])


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_smoke_run_writes_the_three_submission_files(tmp_path):
    out = tmp_path / "run"
    assert _run(FIXTURE, out) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("duie_dev_f1", "duee_dev_f1", "dureader_dev_em", "dureader_dev_f1"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["duie_test_sentences"] == 2 and metrics["dureader_dev_questions"] == 2
    assert json.loads((out / "claims.json").read_text()) == []  # DATA_CLAIMS judge nothing

    # DuIE: {text, spo_list} per test line, readable by the library's own reader
    duie = _jsonl(out / "duie_test_pred.json")
    test = read_duie(FIXTURE / "duie" / "duie_test2.json")
    assert [line["text"] for line in duie] == [ex.text for ex in test]
    assert all(set(line) == {"text", "spo_list"} for line in duie)
    assert [ex.text for ex in read_duie(out / "duie_test_pred.json")] == [ex.text for ex in test]
    # DuEE: {id, text, event_list: [{event_type, arguments: [{role, argument}]}]}
    duee = _jsonl(out / "duee_test_pred.json")
    assert [line["id"] for line in duee] == ["x1", "x2"]
    for line in duee:
        for event in line["event_list"]:
            assert set(event) == {"event_type", "arguments"} and event["arguments"]
            for arg in event["arguments"]:
                assert set(arg) == {"role", "argument"} and arg["argument"] in line["text"]
    # DuReader: {question id: answer text}, the answer sliced from the context
    answers = json.loads((out / "dureader_pred.json").read_text(encoding="utf-8"))
    (question,) = read_squad(FIXTURE / "dureader" / "test.json")
    assert list(answers) == [question.id] and answers[question.id] in question.context


def test_relation_extraction_fits_its_file_and_round_trips(tmp_path):
    """Train = dev = test: the relation arm must recover every SPO, multi-slot objects (饰演's
    @value and inWork) and types included, and its submission must read back as the gold."""
    data = tmp_path / "data" / "duie"
    data.mkdir(parents=True)
    for name in ("duie_train.json", "duie_dev.json", "duie_test2.json"):
        shutil.copy(FIXTURE / "duie" / "duie_train.json", data / name)
    out = tmp_path / "run"
    assert _run(data.parent, out, "re_steps=400", "batch_size=8", "lr=3e-3") == 0
    assert json.loads((out / "metrics.json").read_text())["duie_dev_f1"] == 1.0
    gold = read_duie(FIXTURE / "duie" / "duie_train.json")
    pred = read_duie(out / "duie_test_pred.json")

    def spos(examples):
        return [sorted(ex.relations, key=repr) for ex in examples]

    assert spos(pred) == spos(gold)
    assert SPO("刘诗诗", "饰演", (("@value", "马尔泰·若曦"), ("inWork", "步步惊心")), "娱乐人物",
               (("@value", "角色"), ("inWork", "影视作品"))) in pred[2].relations  # fmt: skip
    assert not (out / "duee_test_pred.json").exists()  # no duee/ folder: that task is skipped


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("duee/duee_train.json", '"id": "t2",', '"id": "t2" ', r"duee_train\.json:2: not JSON"),
        (
            "duie/duie_dev.json",
            '"object": {"@value": "罗贯中"}',
            '"objet": {"@value": "罗贯中"}',
            r"duie_dev\.json:1: spo_list\[0\]: missing field 'object'",
        ),
        (
            "duee/duee_dev.json",
            '"argument_start_index": 0, "role": "裁员方"',
            '"argument_start_index": 1, "role": "裁员方"',
            r"duee_dev\.json:2: event_list\[0\]\.arguments\[0\]: argument '谷歌' is not at "
            r"offset 1",
        ),
        (  # one JSON document: the line is that of the question's id
            "dureader/train.json",
            '"answer_start": 0',
            '"answer_start": 1',
            r"train\.json:10: data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers\[0\]: '北京' is not",
        ),
    ],
)
def test_a_malformed_line_exits_2_naming_file_and_line(tmp_path, capsys, file, old, new, message):
    data = Path(shutil.copytree(FIXTURE, tmp_path / "data"))
    path = data / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    out = tmp_path / "run"
    assert _run(data, out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err
    assert re.search(message, err), err
    assert not out.exists()  # nothing left behind: the same command works once mended


def test_folders_without_a_task_or_its_training_file_are_named(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(empty, tmp_path / "r1") == 2
    assert "none of the task folders duie/, duee/, dureader/" in capsys.readouterr().err
    (empty / "duee").mkdir()
    (empty / "duee" / "duee_dev.json").write_text("")
    assert _run(empty, tmp_path / "r2") == 2
    assert "no training file (looked for duee_train.json or train.json)" in (
        capsys.readouterr().err
    )
    (empty / "duee" / "train.json").write_text("\n")
    assert _run(empty, tmp_path / "r3") == 2
    assert "train.json: no texts" in capsys.readouterr().err


def test_show_lic2020_prints_the_data_format(capsys):
    assert main(["show", "lic2020"]) == 0
    shown = capsys.readouterr().out
    assert "Data (--data PATH): a folder with any of duie/" in shown
    assert "duie_test_pred.json" in shown and "dureader_pred.json" in shown


def test_readers_parse_the_fixtures():
    train = read_duie(FIXTURE / "duie" / "duie_train.json")
    assert len(train) == 5 and train[1].spo[1] == ("周杰伦", "出生日期", "1979年1月18日")
    assert train[2].relations[0].object_type == (("@value", "角色"), ("inWork", "影视作品"))
    (event,) = read_duee(FIXTURE / "duee" / "duee_train.json")[0].events
    assert event.trigger_start == 4 and event.arguments[1] == ("发布产品", "新款手机Mate30", 6)
    assert [ex.id for ex in read_duee(FIXTURE / "duee" / "duee_test1.json")] == ["x1", "x2"]
    qs = read_squad(FIXTURE / "dureader" / "train.json")
    assert [q.id for q in qs] == ["r1", "r2", "r3", "r4"]
    assert all(q.context[s : s + len(t)] == t for q in qs for t, s in q.answers)
    assert read_squad(FIXTURE / "dureader" / "test.json")[0].answers == ()
