"""MEP-II merge criterion, cohesion pipeline, unigram segmenter and the SIGHAN scorer."""

from __future__ import annotations

import importlib
import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kexue.text import (
    CohesionLexicon,
    MinEntropyLexicon,
    UnigramSegmenter,
    bits_per_char,
    bits_per_char_counts,
    branching_autonomy,
    cohesion_lexicon,
    cohesive_grams,
    count_ngrams,
    count_ngrams_table,
    cws_scores,
    discover_words,
    join_chunks,
    lexicon_scores,
    link_segment,
    mep_lexicon,
    merge_gain,
    merge_gain_approx,
    merge_gain_k,
    refine_lexicon,
    segment,
)


# ----------------------------------------------------------------------------- the criterion
def _merged_delta(counts, lengths, parts, n_w):
    """L' − L in nats per char after merging n_w occurrences of the distinct units `parts`."""
    before = bits_per_char_counts(counts, lengths) * math.log(2)
    new = dict(counts)
    for p in parts:
        new[p] -= n_w
    new["w"] = n_w
    new_len = dict(lengths, w=sum(lengths[p] for p in parts))
    return bits_per_char_counts(new, new_len) * math.log(2) - before


@pytest.mark.parametrize("k", [2, 3])
def test_merge_identity_exact(k):
    rng = np.random.default_rng(k)
    counts = {i: int(c) for i, c in enumerate(rng.integers(50, 500, size=20))}
    lengths = {i: int(x) for i, x in enumerate(rng.integers(1, 4, size=20))}
    parts, n_w = list(range(k)), 40
    n = sum(counts.values())
    mean_len = sum(counts[u] * lengths[u] for u in counts) / n
    f = merge_gain_k(n_w / n, [counts[p] / n for p in parts])
    assert _merged_delta(counts, lengths, parts, n_w) == pytest.approx(-f / mean_len, rel=1e-10)


@given(st.floats(1e-4, 0.2), st.floats(0.01, 0.9), st.floats(0.01, 0.9))
def test_approx_gain_is_a_lower_bound(frac, p_a, p_b):
    p_ab = frac * min(p_a, p_b)
    if p_a + p_b - p_ab > 1:
        return
    assert merge_gain_approx(p_ab, p_a, p_b) <= merge_gain(p_ab, p_a, p_b) + 1e-15


# ----------------------------------------------------------------------------- cohesion
def test_cohesion_matches_brute_force():
    texts = ["中华人民共和国成立了", "人民的共和国", "和平共处", "我和你和他", "国家和人民"] * 7
    table = count_ngrams_table(texts, 3)
    counts = count_ngrams(texts, 3)
    total = sum(v for g, v in counts.items() if len(g) == 1)
    theta = [0, 0, 1.0, 2.0]
    kept = set()
    for g, c in counts.items():
        if len(g) >= 2:
            coh = min(total * c / (counts[g[:j]] * counts[g[j:]]) for j in range(1, len(g)))
            if math.log(coh) >= theta[len(g)]:
                kept.add(g)
    grams = cohesive_grams(table, theta)
    got = {s for k, keys in grams.items() for s in table.decode(k, keys)}
    assert got == kept


def test_longest_linkage_chains_overlaps_not_touching():
    texts = ["各项目标准", "ABCD"]
    table = count_ngrams_table(texts, 2)
    keys, _ = table.encode(["各项", "项目", "AB", "CD"])
    linked = {2: np.sort(keys)}
    # 各项 + 项目 overlap → one piece; AB and CD only touch → two pieces
    assert link_segment(join_chunks(texts), table, linked) == ["各项目", "标", "准", "AB", "CD"]


def test_cohesion_keeps_gonghe_guo_and_backtracks():
    # 和 is frequent alone, so the pair 和|国 has low PMI, but 共和国 is cohesive everywhere
    texts = ["共和国"] * 30 + ["我和你"] * 300 + ["国家"] * 300 + ["共同"] * 30
    texts += ["各项", "项目"] * 30 + ["各项目"] * 5 + ["各自", "目标"] * 100
    lex = discover_words(texts, min_count=4, thresholds=(0, 0, 1.0, 1.5, 2.0))
    assert "共和国" in lex
    # 各项目 is a pre-segmentation piece (各项, 项目 linked) but fails the backtrack
    assert "各项目" not in lex and "各项" in lex and "项目" in lex
    mep = mep_lexicon(texts, min_count=4, min_pmi=1.0)[0]
    assert "共和国" not in mep  # the pairwise criterion cuts 和|国 (the article's failure case)


def test_mep_lexicon_smoke_counts_consistent():
    texts = ["我们是学生", "我们是老师", "学生和老师"] * 10
    lex, info = mep_lexicon(texts, min_count=3, min_pmi=0.5)
    # the de-redundancy sweep only moves counts: total characters are preserved
    assert sum(len(w) * c for w, c in lex.items()) == info["n_chars"]


# ----------------------------------------------------------------------------- autonomy (nVBE)
def _planted_corpus(seed=0):
    """Sentences of words drawn from a planted vocabulary of 1–3 characters, no spaces."""
    rnd = random.Random(seed)
    chars = [chr(0x4E00 + i) for i in range(40)]
    vocab = sorted({"".join(rnd.sample(chars, rnd.choice((1, 2, 2, 3)))) for _ in range(40)})
    gold = [[rnd.choice(vocab) for _ in range(rnd.randint(3, 8))] for _ in range(400)]
    return vocab, gold


def test_autonomy_is_standardised_per_length():
    _, gold = _planted_corpus()
    a = branching_autonomy(["".join(s) for s in gold], max_len=3, min_count=1)
    for k in (1, 2, 3):
        z = np.array([v for x, v in a.items() if len(x) == k])
        assert abs(z.mean()) < 1e-9  # both z-scores have mean 0 over the k-gram types


def test_autonomy_recovers_planted_words():
    vocab, gold = _planted_corpus()
    texts = ["".join(s) for s in gold]
    a = branching_autonomy(texts, max_len=3, min_count=1)
    others = [v for x, v in a.items() if x not in vocab]
    assert np.mean([a[w] for w in vocab]) > np.mean(others) + 3
    # every n-gram equally likely: only the bonus a(w)|w| (max-sum decoding) tells words apart
    grams = dict.fromkeys(a, 1)
    plain = UnigramSegmenter().fit(grams).transform(texts)
    seg = UnigramSegmenter(word_bonus={w: a[w] * len(w) for w in grams}).fit(grams)
    assert cws_scores(seg.transform(texts), gold)["f1"] > 0.85
    assert cws_scores(plain, gold)["f1"] < 0.5


def test_autonomy_rejects_a_bad_length():
    with pytest.raises(ValueError, match="max_len"):
        branching_autonomy(["中华人民"], max_len=0)


# ----------------------------------------------------------------------------- segmentation
def _score(words, lex):
    total = sum(lex.values())
    return sum(math.log(lex.get(w, 1)) - math.log(total) for w in words)


@given(st.text(alphabet="abcde", min_size=1, max_size=8), st.integers(0, 10**6))
def test_viterbi_is_optimal(text, seed):
    rnd = random.Random(seed)
    vocab = {"".join(rnd.choice("abcde") for _ in range(rnd.randint(1, 3))) for _ in range(12)}
    lex = {w: rnd.randint(1, 50) for w in vocab} | {c: rnd.randint(1, 50) for c in "abcde"}
    best = max(
        _score([text[i:j] for i, j in itertools.pairwise((0, *cut, len(text)))], lex)
        for r in range(len(text))
        for cut in itertools.combinations(range(1, len(text)), r)
        if all(text[i:j] in lex for i, j in itertools.pairwise((0, *cut, len(text))))
    )
    got = UnigramSegmenter(combine_alnum=False).fit(lex).segment(text)
    assert "".join(got) == text
    assert _score(got, lex) == pytest.approx(best)


def test_segment_front_door_and_punctuation():
    lex = {"我们": 10, "学生": 8, "是": 5, "我": 3, "们": 1}
    assert segment("我们是学生。Ab12", lex) == ["我们", "是", "学生", "。", "Ab12"]


def test_equals_jieba_without_hmm(tmp_path):
    jieba = importlib.import_module("jieba")
    from kexue.data import peoples_daily

    texts = peoples_daily().texts[:1000]
    lex = discover_words(texts, min_count=2)
    path = tmp_path / "dict.txt"
    path.write_text("".join(f"{w} {c}\n" for w, c in lex.items()), encoding="utf-8")
    tok = jieba.Tokenizer(dictionary=str(path))
    ours = UnigramSegmenter().fit(lex)
    chunks = [c for c in join_chunks(texts).split("\0") if not any(ch.isascii() for ch in c)]
    assert len(chunks) > 1000
    diff = [c for c in chunks if ours.segment(c) != list(tok.cut(c, HMM=False))]
    assert diff == []


# ----------------------------------------------------------------------------- scorer
def test_cws_scores_hand_case():
    gold = [["我们", "是", "学生"], ["你", "好"]]
    pred = [["我", "们", "是", "学生"], ["你好"]]
    s = cws_scores(pred, gold)
    assert (s["n_correct"], s["n_pred"], s["n_gold"]) == (2, 5, 5)
    assert s["precision"] == pytest.approx(0.4) and s["recall"] == pytest.approx(0.4)
    s = cws_scores(pred, gold, train_words=["我们", "是"])
    assert s["iv_recall"] == pytest.approx(0.5) and s["oov_recall"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="differ"):
        cws_scores([["我们"]], [["我"]])


def test_perfect_and_char_level_scores():
    gold = [["中华", "人民", "共和国"]]
    assert cws_scores(gold, gold)["f1"] == 1.0
    chars = [list("中华人民共和国")]
    s = cws_scores(chars, gold)
    assert s["n_correct"] == 0 and s["precision"] == 0.0


def test_bits_per_char_and_lexicon_scores():
    # tokens a, a, bb: H = h(1/3) bits per token, l = 4/3
    h = -(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3)
    assert bits_per_char([["a", "a", "bb"]]) == pytest.approx(h / (4 / 3))
    s = lexicon_scores({"我们": 5, "学": 1}, [["我们", "学生"]], ks=(1,))
    assert s["type_precision"] == 0.5 and s["type_recall"] == 0.5 and s["precision_at_1"] == 1.0


def test_number_masking_round_trip_and_repeats():
    from kexue.text import NUMBER, mask_numbers, unmask_numbers

    text = "1997年增长12.5%，达到3亿——"
    masked, numbers = mask_numbers(text)
    assert masked == f"{NUMBER}年增长{NUMBER}，达到{NUMBER}亿——" and numbers == [
        "1997",
        "12.5%",
        "3",
    ]
    lex = {f"{NUMBER}年": 5, "增长": 4, "达到": 3, "亿": 2, NUMBER: 3}
    tokens = unmask_numbers(segment(masked, lex), numbers)
    assert tokens == ["1997年", "增长", "12.5%", "，", "达到", "3", "亿", "——"]


# ----------------------------------------------------------------------------- corpus input
_ENTRY_POINTS = [
    lambda t: discover_words(t),
    lambda t: discover_words(t, method="mep"),
    lambda t: cohesion_lexicon(t),
    lambda t: mep_lexicon(t),
    lambda t: refine_lexicon(t, {"中": 1}),
    lambda t: branching_autonomy(t),
    lambda t: CohesionLexicon().fit(t),
    lambda t: MinEntropyLexicon().fit(t),
]


@pytest.mark.parametrize("entry", _ENTRY_POINTS)
def test_a_bare_str_is_a_type_error(entry):
    text = "中华人民共和国\n中华人民共和国成立了\n"  # would be read character by character
    with pytest.raises(TypeError, match=r"list of lines, e\.g\. text\.splitlines\(\)"):
        entry(text)


@pytest.mark.parametrize("entry", _ENTRY_POINTS)
@pytest.mark.parametrize("corpus", [[], [""], ["  ,，。!?  "]])
def test_an_empty_corpus_is_named(entry, corpus):
    with pytest.raises(ValueError, match="empty corpus"):
        entry(corpus)


def test_lines_from_splitlines_and_generators_still_work():
    text = "中华人民共和国成立了\n" * 6 + "人民共和国在中华\n" * 3
    want = discover_words(text.splitlines(), min_count=2)
    assert want  # the round trip found something
    assert discover_words((line for line in text.splitlines()), min_count=2) == want


def test_streamed_cohesion_lexicon_equals_the_in_memory_one():
    from kexue.data import peoples_daily

    texts = ["".join(s.words) for s in peoples_daily().sentences[:1500]]
    whole, _ = cohesion_lexicon(texts, min_count=3)
    streamed, _ = cohesion_lexicon(lambda: iter(texts), min_count=3, shard_chars=10_000)
    assert streamed == whole and len(whole) > 100
