"""Autonomous n-grams as lexicon candidates, and the scored-lexicon file of a bonus model."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kexue.errors import InputError
from kexue.text import (
    UnigramSegmenter,
    autonomous_candidates,
    branching_autonomy,
    branching_statistics,
    cohesion_lexicon,
    count_ngrams,
    cws_scores,
    format_scored_lexicon,
    function_characters,
    function_edge_penalty,
    read_scored_lexicon,
)


def _planted(seed=0, n_sentences=400):
    """Sentences of words from a planted vocabulary of 1–4 characters (no spaces)."""
    rnd = random.Random(seed)
    chars = [chr(0x4E00 + i) for i in range(40)]
    vocab = sorted({"".join(rnd.sample(chars, rnd.choice((1, 2, 2, 3, 4)))) for _ in range(40)})
    gold = [[rnd.choice(vocab) for _ in range(rnd.randint(3, 8))] for _ in range(n_sentences)]
    return vocab, gold


# ----------------------------------------------------------------------------- statistics
def test_statistics_counts_are_exact_and_autonomy_unchanged():
    _, gold = _planted()
    texts = ["".join(s) for s in gold]
    a, counts = branching_statistics(texts, max_len=3, min_count=2)
    exact = count_ngrams(texts, 3, 2)
    assert counts == exact  # the same n-grams (count ≥ 2) with their exact counts
    assert set(a) == set(counts)
    assert branching_autonomy(texts, max_len=3, min_count=2) == a


def test_candidates_select_by_threshold_and_scale_counts():
    a = {"甲": 5.0, "甲乙": 3.0, "乙丙": 1.0, "甲乙丙": 2.5, "丁戊": 9.0}
    counts = {"甲": 40, "甲乙": 10, "乙丙": 8, "甲乙丙": 4}  # 丁戊 has no count: skipped
    assert autonomous_candidates(a, counts, 2.0) == {"甲乙": 5.0, "甲乙丙": 2.0}
    assert autonomous_candidates(a, counts, 2.0, weight=1.0, exclude={"甲乙"}) == {"甲乙丙": 4}
    assert autonomous_candidates(a, counts, 0.0, min_len=1)["甲"] == 20.0
    with pytest.raises(ValueError, match="weight"):
        autonomous_candidates(a, counts, 2.0, weight=0.0)


def test_candidates_restore_words_the_backtrack_drops():
    vocab, gold = _planted()
    texts = ["".join(s) for s in gold]
    # strict 3-/4-gram thresholds: the cohesion lexicon keeps (almost) no long word
    lex, _ = cohesion_lexicon(texts, 4, 2, (0, 0, 1.0, 50.0, 50.0))
    a, counts = branching_statistics(texts, max_len=4)
    bonus = {w: 0.75 * a[w] * len(w) for w in lex if w in a}
    extra = autonomous_candidates(a, counts, 2.0, exclude=lex)
    long_words = [w for w in vocab if len(w) >= 3]
    assert long_words and sum(w in extra for w in long_words) >= 0.8 * len(long_words)
    base = UnigramSegmenter(word_bonus=bonus).fit(lex).transform(texts)
    more = UnigramSegmenter(word_bonus=bonus).fit({**lex, **extra}).transform(texts)
    f_base, f_more = cws_scores(base, gold)["f1"], cws_scores(more, gold)["f1"]
    assert f_more > f_base + 0.05, (f_base, f_more)


# ----------------------------------------------------------------------------- function chars
def test_function_characters_are_the_frequent_free_standing_ones():
    rnd = random.Random(2)
    chars = [chr(0x4E00 + i) for i in range(60)]
    function = ["的", "了", "和"]
    content = sorted({"".join(rnd.sample(chars, rnd.choice((2, 3)))) for _ in range(50)})
    texts = []
    for _ in range(600):
        words = []
        for _ in range(rnd.randint(3, 7)):
            words.append(rnd.choice(content))
            if rnd.random() < 0.5:
                words.append(rnd.choice(function))  # between any two words: high branching
        texts.append("".join(words))
    a, counts = branching_statistics(texts, max_len=3)
    assert sorted(function_characters(a, counts, k=3)) == sorted(function)
    assert function_characters(a, counts, k=3, min_freq=1.0) == []  # nothing that frequent
    with pytest.raises(ValueError, match="k must be"):
        function_characters(a, counts, k=-1)


def test_edge_penalty_splits_a_glued_function_character():
    lex = {"这是": 30, "这": 20, "是": 40, "我们": 25, "是非": 3}
    pen = function_edge_penalty(lex, ["是"], 4.0)
    assert pen == {"这是": -4.0, "是非": -4.0}  # either edge; single characters never
    assert UnigramSegmenter().fit(lex).segment("这是我们") == ["这是", "我们"]
    assert UnigramSegmenter(word_bonus=pen).fit(lex).segment("这是我们") == ["这", "是", "我们"]
    assert function_edge_penalty(lex, [], 4.0) == {}


# ----------------------------------------------------------------------------- model file
def test_scored_lexicon_file_reproduces_the_bonus_model(tmp_path):
    _, gold = _planted(seed=1)
    texts = ["".join(s) for s in gold]
    a, lex = branching_statistics(texts, max_len=4)  # every n-gram, with its count
    bonus = {w: 0.7 * a[w] * len(w) for w in lex}
    path = tmp_path / "model.txt"
    path.write_text(format_scored_lexicon(lex, bonus), encoding="utf-8")
    lex2, bonus2 = read_scored_lexicon(path)
    assert lex2 == lex and bonus2 == {w: b for w, b in bonus.items() if b}
    with_bonus = UnigramSegmenter(word_bonus=bonus).fit(lex).transform(texts)
    assert UnigramSegmenter(word_bonus=bonus2).fit(lex2).transform(texts) == with_bonus
    # the bonus matters here (without it the file would lose information)
    assert UnigramSegmenter().fit(lex).transform(texts) != with_bonus


words = st.text(alphabet="甲乙丙丁", min_size=1, max_size=3)


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(words, st.floats(1e-3, 1e6), min_size=1, max_size=12),
    st.dictionaries(words, st.floats(-50, 50), max_size=12),
)
def test_scored_lexicon_round_trips_exactly(tmp_path_factory, lexicon, bonus):
    path = tmp_path_factory.mktemp("lex") / "model.txt"
    path.write_text(format_scored_lexicon(lexicon, bonus), encoding="utf-8")
    lex2, bonus2 = read_scored_lexicon(path)
    assert lex2 == lexicon
    assert bonus2 == {w: b for w, b in bonus.items() if w in lexicon and b}


def test_a_plain_lexicon_file_is_a_scored_lexicon(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("我们 10\n\n学生 8\n", encoding="utf-8")
    assert read_scored_lexicon(path) == ({"我们": 10.0, "学生": 8.0}, {})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("我们 10 0.5\n学生 x\n", r"model.txt:2: count and bonus of '学生'"),
        ("我们 0 1\n", r"model.txt:1: '我们' needs a finite count > 0"),
        ("我们 3 inf\n", r"model.txt:1: '我们' needs a finite count > 0 and a finite bonus"),
        ("我们\n", r"model.txt:1: expected `word count \[bonus\]`"),
        ("\n", r"model.txt: no word"),
    ],
)
def test_bad_scored_lexicon_lines_are_named(tmp_path, text, match):
    path = tmp_path / "model.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=match):
        read_scored_lexicon(path)
    with pytest.raises(ValueError, match="whitespace"):
        format_scored_lexicon({"我 们": 1}, {})
