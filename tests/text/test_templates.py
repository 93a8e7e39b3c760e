"""Template mining (DAG paths, DP path counts, path cap) and the nested template parser."""

from __future__ import annotations

import itertools
import random

import pytest

from kexue.text import (
    TemplateFinder,
    TemplateParser,
    count_paths,
    match,
    piece_templates,
    render,
)

DEMO = {(None, "呢"): 10, (None, "可以", None, "吗"): 9, ("我", None): 8,
        (None, "的", None, "是", None): 7, (None, "的", None, "是", None, "呢"): 7,
        (None, "的", None): 12, (None, "和", None): 12}  # fmt: skip


def show(t):
    return " ".join(x or "X" for x in t)


def test_article_dag_templates():
    words = ["计算机", "和", "鼠标", "的", "价格", "有", "什么", "比较", "的", "区别", "呢"]
    strong = {("计算机", "鼠标"), ("的", "有"), ("有", "什么"), ("什么", "的"), ("的", "呢"),
              ("什么", "呢")}  # fmt: skip
    got = {show(t) for t, _ in piece_templates(words, strong, window=4)}
    expected = {"计算机 X 鼠标 X", "X 的 X 有 什么 X 的 X 呢", "X 的 X 有 什么 X 呢", "X 比较 X"}
    assert expected <= got
    # the rest are isolated words: trivial templates
    assert got - expected == {"X 和 X", "X 价格 X", "X 区别 X"}
    assert count_paths(words, strong, 4) == len(got)


def brute_paths(n, edges):
    has_in = {j for i in range(n) for j in edges[i]}
    total = 0
    for i in range(n):
        if i in has_in:
            continue
        stack = [i]
        while stack:
            v = stack.pop()
            if not edges[v]:
                total += 1
            stack += edges[v]
    return total


@pytest.mark.parametrize("seed", range(5))
def test_dp_path_count_equals_enumeration(seed):
    rnd = random.Random(seed)
    words = [f"w{i}" for i in range(14)]
    strong = {(a, b) for a, b in itertools.permutations(words, 2) if rnd.random() < 0.35}
    edges = [
        [j for j in range(i + 1, min(14, i + 4)) if (words[i], words[j]) in strong]
        for i in range(14)
    ]
    n_paths = count_paths(words, strong, 3)
    assert n_paths == brute_paths(14, edges)
    assert len(piece_templates(words, strong, 3, max_paths=10**6)) == n_paths
    assert piece_templates(words, strong, 3, max_paths=n_paths - 1) is None


def test_path_cap_on_a_dense_piece():
    words = [f"w{i}" for i in range(60)]
    strong = set(itertools.permutations(words, 2))
    assert count_paths(words, strong, 3) > 10**12  # enumeration would never finish
    assert piece_templates(words, strong, 3, max_paths=1000) is None


def test_strict_matching():
    assert match(("我", None), ["你", "我", "好"]) == []  # no leading X: must start at 0
    assert match((None, "和", None), ["a", "和", "b", "和", "c"]) == [(1,), (3,)]
    assert match((None, "吗"), ["吗"]) == []  # a placeholder absorbs ≥ 1 word


def test_parser_reproduces_the_article():
    parser = TemplateParser().fit(DEMO)
    assert render(parser.parse("鸡蛋 可以 吃 吗".split())) == "(鸡蛋)可以(吃)吗"
    tree = parser.parse("雪梨 和 苹果 和 香蕉 的 颜色 是 什么 呢".split())
    assert tree[0] == (None, "的", None, "是", None, "呢")
    assert render(tree, depth=1) == "(雪梨和苹果和香蕉)的(颜色)是(什么)呢"
    assert render(tree, depth=2) == "((雪梨和苹果)和(香蕉))的(颜色)是(什么)呢"
    assert render(parser.parse("苹果 的 颜色 是 什么 呢".split())) == "(苹果)的(颜色)是(什么)呢"


def test_finder_counts_and_fillers():
    pieces = [["我", "想", "吃", "苹果", "吗"], ["我", "想", "喝", "水", "吗"]] * 10 + [
        ["你", "好"]
    ] * 5
    finder = TemplateFinder(window=3, min_count=3, min_pmi=0.1).fit(pieces)
    assert finder.n_skipped_ == 0
    assert sum(finder.templates_.values()) > 0
    for t, spans in finder.fillers_.items():
        assert len(spans) == finder.templates_[t]
        assert all(len(s) == t.count(None) for s in spans)
