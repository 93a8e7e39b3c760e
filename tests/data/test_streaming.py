"""Streamed datasets (kexue.data.streaming): the index reads back exactly what the list loaders
read, its cache is reused and rebuilt when the file changes, bad input names file and line, and
the couplet and title recipes run on streamed data."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from kexue.cli import execute, main
from kexue.data import (
    CoupletPairs,
    DataFormatError,
    char_counts,
    couplet_pairs,
    couplets,
    csl_split,
    line_index,
    read_title_text,
    shared_data_dir,
    title_pairs,
    title_split,
)
from kexue.errors import InputError
from kexue.recipes import couplet
from kexue.runs import resolve_config
from kexue.seq import split_couplets

CHARS = "春风得意海阔天空山高水长花好月圆江河湖雨雪云霞松竹梅兰菊晨夕星辰日夜南北东西"
needs_shared = pytest.mark.skipif(shared_data_dir() is None, reason="../shared/data is absent")


def _couplet_folder(folder: Path, n: int = 300, seed: int = 0) -> Path:
    """n couplets of 2..24 characters, spaced as wb14123's files are, with a blank pair, CRLF
    line ends, an ideographic space and no line feed after the last line."""
    rng = np.random.default_rng(seed)
    firsts, seconds = [], []
    for i in range(n):
        k = int(rng.integers(2, 25))
        firsts.append(" ".join(rng.choice(list(CHARS), k)) + " ")
        seconds.append(" ".join(rng.choice(list(CHARS), k)) + ("\r" if i % 7 == 0 else ""))
    firsts[5], seconds[5] = "", " "  # blank in both files: no couplet
    firsts[9] = firsts[9].replace(" ", "\u3000", 1)  # whitespace too
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "in.txt").write_text("\n".join(firsts), encoding="utf-8")
    (folder / "out.txt").write_text("\n".join(seconds), encoding="utf-8")
    return folder


def _titles(n: int = 260, seed: int = 0) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    draw = lambda lo, hi: "".join(rng.choice(list(CHARS), int(rng.integers(lo, hi))))  # noqa: E731
    return [(draw(20, 60), draw(4, 12)) for _ in range(n)]


def _tsv(path: Path, rows: list[tuple[str, str]], csl: bool = False) -> Path:
    lines = [("to title\t" if csl else "") + f"{a}\t{t}" for a, t in rows]
    path.write_text("\n".join(lines[:3] + [""] + lines[3:]) + "\n", encoding="utf-8")  # a blank
    return path


def _jsonl(path: Path, rows: list[tuple[str, str]]) -> Path:
    keys = ("content", "text", "abstract")
    lines = [json.dumps({"title": t, keys[i % 3]: a}, ensure_ascii=False)
             for i, (a, t) in enumerate(rows)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- round trips
def test_couplet_index_reads_back_the_list_loader_record_for_record(tmp_path):
    folder = _couplet_folder(tmp_path / "c")
    want = couplets(folder)
    ds = couplet_pairs(folder)
    assert len(ds) == len(want) == 299
    assert list(ds) == want  # sequential pass
    order = np.random.default_rng(1).permutation(len(ds))
    assert [ds[int(i)] for i in order] == [want[i] for i in order]  # by seek, any order
    assert ds[-1] == want[-1] and list(ds[10:13]) == want[10:13]
    assert list(ds.lengths) == [len(a) for a, _ in want]
    assert list(ds.lines[4:6]) == [5, 7]  # line 6 was the blank pair
    for part, ref in zip(ds.split(), split_couplets(want), strict=True):
        assert list(part) == ref  # the same split, in the same order
    assert char_counts(ds) == char_counts(want)
    view = pickle.loads(pickle.dumps(ds.split()[2]))  # what a DataLoader worker receives
    assert isinstance(view, CoupletPairs) and list(view) == split_couplets(want)[2]


@needs_shared
def test_the_built_in_couplets_and_csl_read_back_identically():
    assert list(couplet_pairs()) == couplets()
    train, held = title_split(n_eval=150)
    ref_train, ref_held = csl_split(n_eval=150)
    assert list(train) == ref_train and list(held) == ref_held
    assert [train[i] for i in range(0, len(train), 97)] == ref_train[::97]


@pytest.mark.parametrize("fmt", ["tsv", "csl-tsv", "jsonl"])
def test_title_file_reads_back_as_read_title_text(tmp_path, fmt):
    rows = _titles()
    path = (_jsonl(tmp_path / "t.jsonl", rows) if fmt == "jsonl"
            else _tsv(tmp_path / "t.tsv", rows, csl=fmt == "csl-tsv"))  # fmt: skip
    ds = title_pairs(path)
    assert list(ds) == read_title_text(path) == rows
    assert list(ds.text_lengths) == [len(a) for a, _ in rows]
    # one file: the first n_eval pairs are held out, training starts after the first 200
    train, held = title_split(path, n_eval=30)
    assert list(held) == rows[:30] and list(train) == rows[200:]
    assert train[5] == rows[205]


def test_title_split_of_a_csl_folder_is_csl_split(tmp_path):
    rows = _titles(500)
    _tsv(tmp_path / "dev.tsv", rows[:240], csl=True)
    _tsv(tmp_path / "test.tsv", rows[240:], csl=True)
    ds = title_pairs(tmp_path)
    assert len(ds.part(0)) == 240 and list(ds.part(1)) == rows[240:]
    (tmp_path / "dev.tsv").write_text((tmp_path / "dev.tsv").read_text().replace("\n\n", "\n"))
    (tmp_path / "test.tsv").write_text((tmp_path / "test.tsv").read_text().replace("\n\n", "\n"))
    train, held = title_split(tmp_path, n_eval=120)
    ref_train, ref_held = csl_split(tmp_path, n_eval=120)  # csl_titles takes no blank line
    assert list(train) == ref_train and list(held) == ref_held == rows[240:360]
    with pytest.raises(ValueError, match="n_eval = 300 exceeds the 200"):
        title_split(tmp_path, n_eval=300)


# ----------------------------------------------------------------------------- the cache
def test_the_cache_is_reused_and_rebuilt_when_the_file_changes(tmp_path):
    folder = _couplet_folder(tmp_path / "c")
    file = folder / "in.txt"
    cache = folder / ".kexue-cache"
    first = line_index(file, "couplet", cache_dir=cache, min_bytes=0)
    assert not first.loaded and first.cache is not None and first.cache.parent == cache
    again = line_index(file, "couplet", cache_dir=cache, min_bytes=0)
    assert again.loaded and again.cache == first.cache
    for name in first.arrays:
        assert np.array_equal(first.arrays[name], again.arrays[name]), name
    with file.open("a", encoding="utf-8") as f:  # the file grows: a new line
        f.write("\n海 阔")
    grown = line_index(file, "couplet", cache_dir=cache, min_bytes=0)
    assert not grown.loaded and len(grown) == len(first) + 1
    assert line_index(file, "couplet", cache_dir=cache, min_bytes=0).loaded
    st = file.stat()  # same size, another modification time: rebuilt
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not line_index(file, "couplet", cache_dir=cache, min_bytes=0).loaded
    grown.cache.write_bytes(b"not a zip file")  # a damaged cache is rebuilt, not an error
    assert not line_index(file, "couplet", cache_dir=cache, min_bytes=0).loaded
    assert line_index(file, "couplet", cache_dir=cache, min_bytes=0).loaded
    assert len(list(cache.iterdir())) == 1  # replaced in place, no temporary file left


def test_datasets_cache_beside_the_data_or_in_the_fallback(tmp_path):
    folder = _couplet_folder(tmp_path / "c")
    ds = couplet_pairs(folder, min_bytes=0)
    assert sorted(p.name.split(".")[0] for p in (folder / ".kexue-cache").iterdir()) == [
        "in",
        "out",
    ]
    assert list(couplet_pairs(folder, min_bytes=0)) == list(ds)
    # a folder that cannot hold the cache (here: a file stands where the cache folder would)
    other = _couplet_folder(tmp_path / "ro", seed=1)
    (other / ".kexue-cache").write_text("")
    fallback = tmp_path / "run" / "data-cache"
    assert list(couplet_pairs(other, fallback_cache_dir=fallback, min_bytes=0)) == couplets(other)
    assert len(list(fallback.iterdir())) == 2
    # small files (the default threshold) are indexed in memory and leave nothing behind
    small = _couplet_folder(tmp_path / "small", seed=2)
    couplet_pairs(small)
    assert not (small / ".kexue-cache").exists()


# ----------------------------------------------------------------------------- bad input
def _write(folder: Path, name: str, data: bytes | str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data, encoding="utf-8")


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (
            "春 风\n花 开\n海 阔\n",
            "秋 雨\n鸟 鸣\n",
            r"in\.txt, line 3: no partner line \(in\.txt has 3",
        ),
        ("春 风\n", "秋 雨\n鸟 鸣\n", r"out\.txt, line 2: no partner line"),
        (
            "春 风\n花 开 了\n",
            "秋 雨\n鸟 鸣\n",
            r"out\.txt, line 2: 2 characters, but the first line has 3",
        ),
        (
            "春 风\n花\x00开\n",
            "秋 雨\n鸟 鸣\n",
            r"in\.txt:2: a NUL byte: this looks like a binary",
        ),
        ("春 风\n", b"\xe7\xa7\x8b\xff\n", r"out\.txt:1: not UTF-8 text \(byte 4 of the line\)"),
    ],
    ids=["in-longer", "out-longer", "lengths", "binary", "not-utf8"],
)
def test_bad_couplet_files_name_file_and_line(tmp_path, first, second, message):
    _write(tmp_path, "in.txt", first)
    _write(tmp_path, "out.txt", second)
    with pytest.raises(InputError, match=message):  # DataFormatError is one
        couplet_pairs(tmp_path)
    if "NUL" not in message and "UTF-8" not in message:  # the list loader says the same
        with pytest.raises(DataFormatError, match=message):
            couplets(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t.jsonl", '{"title": "标题", "text": "正文"}\n{"title": \n', r"t\.jsonl:2: not JSON"),
        ("t.jsonl", '{"title": "标题"}\n', r"t\.jsonl:1: missing field 'content'"),
        ("t.jsonl", '["正文", "标题"]\n', r"t\.jsonl:1: expected a JSON object per line"),
        ("t.jsonl", '{"title": 3, "text": "正文"}\n', r"t\.jsonl:1: field 'title' should be str"),
        ("t.tsv", "正文\t标题\n\n只有一列\n", r"t\.tsv:3: expected 2 \(text, title\) or 3"),
        ("t.tsv", b"\x1f\x8b\x08\x00\x00\x00", r"t\.tsv:1: a NUL byte"),  # a gzip file
    ],
)
def test_bad_title_lines_name_file_and_line(tmp_path, name, content, message):
    _write(tmp_path, name, content)
    with pytest.raises(InputError, match=message):
        title_pairs(tmp_path / name)


def test_a_binary_couplet_folder_is_one_line_and_exit_2(tmp_path, capsys):
    _write(tmp_path / "bin", "in.txt", bytes(range(256)) * 4)
    _write(tmp_path / "bin", "out.txt", bytes(range(256)) * 4)
    code = main(["run", "couplet", "--budget", "smoke", "--data", str(tmp_path / "bin"),
                 "--out", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "in.txt:1: a NUL byte" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- the recipes
def test_couplet_article_budget_on_a_streamed_folder(tmp_path):
    cfg = resolve_config(couplet.Config, couplet.ARTICLE)
    assert (cfg.d, cfg.n_blocks, cfg.dropout, cfg.batch_size, cfg.min_count) == (
        128, 6, 0.25, 64, 2)  # fmt: skip
    assert (cfg.max_len, cfg.steps, cfg.eval_every, cfg.valid_pairs) == (16, 100_000, 1000, 6400)
    folder = _couplet_folder(tmp_path / "c", n=400)
    sets = ["steps=4", "d=16", "n_blocks=1", "eval_every=2", "warmup_steps=1", "valid_pairs=7",
            "batch_size=8"]  # fmt: skip
    result = execute("couplet", budget="article", out=tmp_path / "run", data=str(folder),
                     sets=sets, threads=1)  # fmt: skip
    kept = [(a, b) for a, b in couplets(folder) if len(a) <= 16]  # the article's maxlen
    assert result["metrics"]["n_test"] == len(split_couplets(kept)[2])
    samples = (tmp_path / "run" / "samples.txt").read_text(encoding="utf-8").splitlines()[1:]
    assert samples and all(len(line.split("\t")[0]) <= 16 for line in samples)


def test_a_title_recipe_trains_on_a_jsonl_file(tmp_path):
    path = _jsonl(tmp_path / "titles.jsonl", _titles(240))
    result = execute("seq2seq-title", budget="smoke", out=tmp_path / "run", data=str(path),
                     threads=1)  # fmt: skip
    assert result["metrics"] and (tmp_path / "run" / "metrics.json").is_file()
