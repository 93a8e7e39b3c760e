"""The competitions' formats: tiny fixtures in each format, and bad lines named by file:line."""

from __future__ import annotations

import json

import pytest

from kexue.data import (
    DataFormatError,
    read_clue_classification,
    read_duee,
    read_duie,
    read_squad,
    read_title_text,
)

DUIE = [
    {
        "text": "《步步惊心》是桐华创作的小说",
        "spo_list": [
            {
                "predicate": "作者",
                "object_type": {"@value": "人物"},
                "subject_type": "图书作品",
                "object": {"@value": "桐华"},
                "subject": "步步惊心",
            }
        ],
    },
    {
        "text": "周杰伦出生于台湾",
        "spo_list": [{"predicate": "出生地", "object": "台湾", "subject": "周杰伦"}],
    },  # DuIE 1.0 style
    {"text": "没有关系的一句话"},  # a test-set line: no spo_list
]
DUEE = [
    {
        "text": "华为今日发布新款手机",
        "id": "e1",
        "event_list": [
            {
                "event_type": "产品行为-发布",
                "trigger": "发布",
                "trigger_start_index": 4,
                "class": "产品行为",
                "arguments": [
                    {"argument_start_index": 0, "role": "发布方", "argument": "华为", "alias": []},
                    {"argument_start_index": 6, "role": "发布产品", "argument": "新款手机"},
                ],
            }
        ],
    }
]
SQUAD = {
    "version": "v1",
    "data": [
        {
            "paragraphs": [
                {
                    "context": "北京是中国的首都。",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "中国的首都是哪里？",
                            "answers": [{"text": "北京", "answer_start": 0}],
                        },
                        {"id": "q2", "question": "无答案的问题", "answers": []},
                    ],
                }
            ]
        }
    ],
}


def _jsonl(path, records):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    return path


def test_duie_2_and_1(tmp_path):
    data = read_duie(_jsonl(tmp_path / "duie.json", DUIE))
    assert data[0].spo == (("步步惊心", "作者", "桐华"),)
    assert data[1].spo == (("周杰伦", "出生地", "台湾"),) and data[2].spo == ()


def test_duee_offsets(tmp_path):
    (ex,) = read_duee(_jsonl(tmp_path / "duee.json", DUEE))
    (ev,) = ex.events
    assert ev.trigger == "发布" and ev.arguments == (
        ("发布方", "华为", 0),
        ("发布产品", "新款手机", 6),
    )
    bad = json.loads(json.dumps(DUEE))
    bad[0]["event_list"][0]["arguments"][1]["argument_start_index"] = 5
    with pytest.raises(DataFormatError, match=r"duee_bad\.json:1: .*arguments\[1\].*offset 5"):
        read_duee(_jsonl(tmp_path / "duee_bad.json", bad))


def test_squad_answers_point_into_the_context(tmp_path):
    path = tmp_path / "dureader.json"
    path.write_text(json.dumps(SQUAD, ensure_ascii=False))
    q1, q2 = read_squad(path)
    assert q1.answers == (("北京", 0),) and q1.context[0:2] == "北京" and q2.answers == ()
    SQUAD["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 3
    path.write_text(json.dumps(SQUAD, ensure_ascii=False))
    with pytest.raises(DataFormatError, match=r"qas\[0\]\.answers\[0\]: '北京' is not at"):
        read_squad(path)


def test_clue_classification(tmp_path):
    rows = [
        {"label": "11", "label_des": "休闲益智", "sentence": "一款好玩的游戏"},
        {"label": "102", "label_desc": "news_entertainment", "sentence": "新闻", "keywords": ""},
    ]
    assert read_clue_classification(_jsonl(tmp_path / "c.json", rows)) == [
        ("一款好玩的游戏", "11"),
        ("新闻", "102"),
    ]


def test_title_text_tsv_and_jsonl(tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_text("正文一\t标题一\nts\t摘要二\t标题二\n")
    assert read_title_text(tsv) == [("正文一", "标题一"), ("摘要二", "标题二")]
    js = _jsonl(tmp_path / "t.jsonl", [{"title": "标题", "content": "正文"}])
    assert read_title_text(js) == [("正文", "标题")]
    tsv.write_text("只有一列\n")
    with pytest.raises(DataFormatError, match=r"t\.tsv:1: expected 2"):
        read_title_text(tsv)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "好"}\n{"text": \n', r"bad\.json:2: not JSON"),
        ('{"spo_list": []}\n', r"bad\.json:1: missing field 'text'"),
        ('{"text": 3}\n', r"bad\.json:1: field 'text' should be str, got int"),
        (
            '{"text": "a", "spo_list": [{"subject": "a", "predicate": "p"}]}\n',
            r"bad\.json:1: spo_list\[0\]: missing field 'object'",
        ),
        ("[1, 2]\n", r"bad\.json:1: expected a JSON object"),
    ],
)
def test_bad_lines_are_named(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=message):
        read_duie(path)


def test_duie_2_keeps_every_object_slot_and_the_types(tmp_path):
    from kexue.data import SPO

    line = {
        "text": "刘诗诗在《步步惊心》中饰演若曦",
        "spo_list": [
            {
                "predicate": "饰演",
                "subject": "刘诗诗",
                "subject_type": "娱乐人物",
                "object": {"inWork": "步步惊心", "@value": "若曦"},
                "object_type": {"inWork": "影视作品", "@value": "角色"},
            }
        ],
    }
    (ex,) = read_duie(_jsonl(tmp_path / "d.json", [line]))
    assert ex.spo == (("刘诗诗", "饰演", "若曦"),)
    (spo,) = ex.relations
    assert spo == SPO("刘诗诗", "饰演", (("@value", "若曦"), ("inWork", "步步惊心")), "娱乐人物",
                      (("@value", "角色"), ("inWork", "影视作品")))  # fmt: skip
    assert spo.to_json() == line["spo_list"][0]  # the submission format, written back
    line["spo_list"][0]["object"] = {"inWork": "步步惊心"}
    with pytest.raises(DataFormatError, match=r"d2\.json:1: spo_list\[0\]: .*@value"):
        read_duie(_jsonl(tmp_path / "d2.json", [line]))


def test_lic2020_folder_official_and_plain_names(tmp_path):
    from kexue.data import lic2020_files

    for rel in ("duie/duie_train.json", "duie/duie_test2.json", "duee/train.json",
                "duee/dev.json", "dureader/train.json", "dureader/test1.json"):  # fmt: skip
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_text("")
    found = lic2020_files(tmp_path)
    assert {t: {s: p.name for s, p in f.items()} for t, f in found.items()} == {
        "duie": {"train": "duie_train.json", "test": "duie_test2.json"},
        "duee": {"train": "train.json", "dev": "dev.json"},
        "dureader": {"train": "train.json", "test": "test1.json"},
    }
    (tmp_path / "duee" / "train.json").unlink()
    with pytest.raises(DataFormatError, match=r"duee: no training file"):
        lic2020_files(tmp_path)
    with pytest.raises(DataFormatError, match="none of the task folders"):
        lic2020_files(tmp_path / "duie")
