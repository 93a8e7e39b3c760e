"""LIC2020 heads: power-trick BCE, pointer decoders, BIO decoding, LCS and the soft F1, span
decoding against brute force, the pre-final-LayerNorm branch point; the proxy tasks (no
train/test overlap, predicates not fixed by entity types), the rule baselines and the
bootstrap of micro F1."""

from __future__ import annotations

import math

import torch
import transformers as hf
from hypothesis import given
from hypothesis import strategies as st

from kexue.bert import (
    PROXY_PREDICATES,
    CharTokenizer,
    RelationHeads,
    SpanExtractor,
    align_cloze,
    bio_decode,
    decode_objects,
    decode_span,
    decode_subjects,
    encode_with_pre_ln,
    entity_lexicon,
    event_soft_f1,
    lexicon_tag,
    longest_common_substring,
    micro_counts,
    micro_f1,
    micro_f1_interval,
    mrc_char_f1,
    power_bce,
    proxy_tasks,
    sample_subject_span,
    set_prf,
    type_rule_triples,
)
from kexue.data import parse_tagged_line, peoples_daily


def test_power_bce_matches_naive_formula(f64):
    z = torch.linspace(-6, 6, 25)
    for n in (1.0, 2.0, 4.0):
        q = torch.sigmoid(z) ** n
        for y in (0.0, 1.0):
            want = -(y * torch.log(q) + (1 - y) * torch.log(1 - q))
            assert torch.allclose(power_bce(z, torch.full_like(z, y), n), want, atol=1e-8)
    # positives get weight n: −log σ(z)ⁿ = n · (−log σ(z))
    assert torch.allclose(
        power_bce(z, torch.ones_like(z), 4.0), 4 * power_bce(z, torch.ones_like(z), 1.0)
    )


def test_decode_subjects_nearest_end():
    p = torch.zeros(8, 2)
    p[1, 0] = p[4, 0] = 0.9  # starts
    p[2, 1] = p[6, 1] = 0.9  # ends
    p[3, 1] = 0.3  # below threshold
    assert decode_subjects(p, 0.4) == [(1, 2), (4, 6)]


def test_decode_objects_first_end_same_predicate():
    p = torch.zeros(6, 3, 2)
    p[1, 2, 0] = 0.8
    p[2, 0, 1] = 0.9  # other predicate: ignored
    p[3, 2, 1] = 0.9
    p[5, 2, 1] = 0.9
    p[4, 1, 0] = 0.9  # no end for predicate 1
    assert decode_objects(p, 0.4) == [(1, 3, 2)]


def test_sample_subject_span_end_after_start():
    g = torch.Generator().manual_seed(0)
    starts, ends = [1, 5], [3, 7]
    seen = set()
    for _ in range(200):
        s, e = sample_subject_span(starts, ends, g)
        assert s in starts and e in ends and e >= s
        seen.add((s, e))
    assert seen == {(1, 3), (1, 7), (5, 7)}  # (1, 7) is the deliberate negative


def test_bio_decode():
    # O B0 I0 I0 O I1 B1 B2 I2
    labels = [0, 1, 2, 2, 0, 4, 3, 5, 6]
    assert bio_decode(labels) == [(1, 3, 0), (6, 6, 1), (7, 8, 2)]


@given(st.text("abc", max_size=7), st.text("abc", max_size=7))
def test_lcs_brute_force(a, b):
    want = max(
        [0] + [j - i for i in range(len(a)) for j in range(i + 1, len(a) + 1) if a[i:j] in b]
    )
    assert longest_common_substring(a, b) == want


def test_event_soft_f1_by_hand():
    pred = [{("e", "r1"): "北京市", ("e", "r2"): "x"}]
    gold = [{("e", "r1"): "北京"}]
    # X = 2·2/(3+2) = 0.8; Y = 2, Z = 1
    assert math.isclose(event_soft_f1(pred, gold), 2 * 0.8 / 3)
    assert event_soft_f1(gold, gold) == 1.0


def test_set_prf_and_char_f1():
    r = set_prf([{1, 2}, {3}], [{1}, {3, 4}])
    assert math.isclose(r["precision"], 2 / 3) and math.isclose(r["recall"], 2 / 3)
    assert math.isclose(mrc_char_f1("北京市", "北京"), 0.8)


@given(st.integers(0, 10_000), st.integers(1, 4))
def test_decode_span_brute_force(seed, max_len):
    g = torch.Generator().manual_seed(seed)
    ls, le = torch.randn(7, generator=g), torch.randn(7, generator=g)
    allowed = torch.rand(7, generator=g) > 0.3
    allowed[3] = True
    best, arg = -math.inf, None
    for s in range(7):
        for e in range(s, min(7, s + max_len)):
            if allowed[s] and allowed[e] and ls[s] + le[e] > best:
                best, arg = float(ls[s] + le[e]), (s, e)
    assert decode_span(ls, le, allowed, max_len) == arg


def _bert():
    cfg = hf.BertConfig(
        vocab_size=30, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=32,
    )  # fmt: skip
    return hf.BertModel(cfg, add_pooling_layer=False).eval()


def test_pre_final_ln_branch_point():
    bert = _bert()
    ids = torch.randint(5, 30, (2, 7))
    segs, mask = torch.zeros_like(ids), torch.ones_like(ids)
    h, h_pre = encode_with_pre_ln(bert, ids, segs, mask)
    ln = bert.encoder.layer[-1].output.LayerNorm
    assert torch.allclose(ln(h_pre), h, atol=1e-6)  # H = LN(H')
    assert not torch.allclose(h_pre, h)


def test_object_logits_ignore_subject_at_init_then_depend_on_it():
    heads = RelationHeads(32, 5)
    h_pre = torch.randn(1, 6, 32)
    a = heads.object_logits(h_pre, torch.tensor([[1, 2]]))
    b = heads.object_logits(h_pre, torch.tensor([[3, 5]]))
    assert a.shape == (1, 6, 5, 2) and torch.allclose(a, b)  # zero-init CLN
    with torch.no_grad():
        heads.cln.w_beta.normal_()
    assert not torch.allclose(
        heads.object_logits(h_pre, torch.tensor([[1, 2]])),
        heads.object_logits(h_pre, torch.tensor([[3, 5]])),
    )


def test_span_extractor_masks_padding_and_normalises():
    ext = SpanExtractor(8)
    logp = ext(torch.randn(2, 5, 8), torch.tensor([[1, 1, 1, 0, 0], [1] * 5]))
    assert torch.allclose(logp.exp().sum(-1), torch.ones(2, 2))
    assert torch.all(logp[0, :, 3:] == -math.inf)


def test_sample_subject_span_without_negatives_keeps_a_subject_whole():
    g = torch.Generator().manual_seed(0)
    seen = {sample_subject_span([1, 5], [3, 7], g, negatives=False) for _ in range(100)}
    assert seen == {(1, 3), (5, 7)}


def test_unconditioned_object_head_ignores_the_subject():
    heads = RelationHeads(32, 5, subject_conditioned=False)
    with torch.no_grad():
        heads.cln.w_beta.normal_()
        heads.cln.w_gamma.normal_()
    h_pre = torch.randn(1, 6, 32)
    a = heads.object_logits(h_pre, torch.tensor([[1, 2]]))
    assert torch.allclose(a, heads.object_logits(h_pre, torch.tensor([[3, 5]])))


def test_micro_f1_interval_matches_set_prf_and_pairs_items():
    pred = [{1, 2}, {3}, set(), {4, 5}]
    gold = [{1}, {3, 6}, {7}, {4, 5}]
    counts = micro_counts(pred, gold)
    assert micro_f1(counts) == set_prf(pred, gold)["f1"]
    point, (lo, hi) = micro_f1_interval(counts)
    assert point == micro_f1(counts) and lo <= point <= hi
    # a system against itself: every resample gives 0
    assert micro_f1_interval(counts, counts) == (0.0, (0.0, 0.0))


_LINES = [
    "江/nr 泽民/nr 访问/v 北京/ns ，/w 新华社/nt 北京/ns 记者/n 报道/v 。/w",
    "李/nr 鹏/nr 、/w 上海/ns 和/c 北京大学/nt 的/u 学生/n 。/w",
    "新华社/nt 北京/ns １月/t １日/t 电/n 。/w",
]


def test_proxy_tasks_drop_test_text_seen_in_training():
    train = [parse_tagged_line(x, i) for i, x in enumerate(_LINES)]
    test = [parse_tagged_line(x, 9) for x in (_LINES[2], "张/nr 三/nr 在/p 天津/ns 工作/v 。/w")]
    tasks = proxy_tasks(train, test, maxlen=60, maxpara=230, max_question=40)
    assert [t for t, _ in tasks.ner_test] == ["张三在天津工作。"]  # the dateline is dropped
    assert all(c != _LINES[2] for _, c, *_ in tasks.mrc_test)
    # 江泽民 →(verb 访问) 北京: the verbal PER-LOC predicate; 李鹏 … 上海 without a verb
    (text, triples), (text2, triples2) = tasks.re_train[:2]
    spo = {(text[a:b], PROXY_PREDICATES[p], text[c:d]) for a, b, p, c, d in triples}
    assert ("江泽民", ("PER", "LOC", True), "北京") in spo
    assert ("新华社", ("ORG", "LOC", False), "北京") in spo
    assert ("江泽民", ("PER", "ORG", True), "新华社") not in spo  # another clause
    spo2 = {(text2[a:b], PROXY_PREDICATES[p]) for a, b, p, c, d in triples2}
    assert ("李鹏", ("PER", "LOC", False)) in spo2


def test_proxy_tasks_on_the_corpus_have_no_train_test_overlap():
    pd = peoples_daily()
    tasks = proxy_tasks(pd.split("train"), pd.split("test"))
    train_sents = {t for t, _ in tasks.ner_train}
    assert tasks.ner_test and not {t for t, _ in tasks.ner_test} & train_sents
    assert not {t for t, _ in tasks.re_test} & train_sents
    assert not {q for q, *_ in tasks.mrc_test} & {q for q, *_ in tasks.mrc_train}
    assert not {c for _, c, *_ in tasks.mrc_test} & {c for _, c, *_ in tasks.mrc_train}
    assert max(len(c) for _, c, *_ in tasks.mrc_train) <= 230
    # the types alone do not fix the predicate: every type pair occurs with both predicates
    used = {PROXY_PREDICATES[p] for _, tr in tasks.re_train for *_, p, _, _ in tr}
    assert used == set(PROXY_PREDICATES)
    for q, c, a, b in tasks.mrc_test[:50]:
        assert c.find(c[a:b]) == a and c[a:b] not in q  # first occurrence, hidden in q


def test_rule_baselines():
    text = "江泽民访问北京，李鹏在上海。"
    ents = [(0, 3, "PER"), (5, 7, "LOC"), (8, 10, "PER"), (11, 13, "LOC")]
    majority = {("PER", "LOC"): 1}
    assert type_rule_triples(text, ents, majority) == [(0, 3, 1, 5, 7), (8, 10, 1, 11, 13)]
    ctx = "昨天，江泽民访问北京。李鹏在上海会见了客人。"
    assert align_cloze("谁访问北京", ctx) == "江泽民"
    assert align_cloze("李鹏在哪里会见了客人", ctx) == "上海"
    assert align_cloze("江泽民访问哪里", ctx) == "北京"
    assert align_cloze("没有问题词", ctx) == ""
    lexicon = entity_lexicon([(text, ents)])
    assert lexicon == {"江泽民": "PER", "北京": "LOC", "李鹏": "PER", "上海": "LOC"}
    assert lexicon_tag("北京的江泽民", lexicon) == [(0, 2, "LOC"), (3, 6, "PER")]


def test_answers_are_sliced_from_the_original_text():
    """The article's rematch point: a character outside the vocabulary (箓) survives when the
    answer is sliced from the text by the token → char map (token i + 1 is character i), and
    is lost when the tokens are decoded."""
    tok = CharTokenizer(["北京大学"], min_count=1)
    text = "箓北京"
    ids, _ = tok.encode(text)
    s, e = 1, 3  # token span of the whole text, [CLS] at 0
    assert text[s - 1 : e] == "箓北京"
    assert tok.decode(ids[s : e + 1]) == "北京"


# ----------------------------------------------------------------------------- competition files
def test_flatten_and_combine_relations_invert_each_other():
    from kexue.bert import combine_relations, flatten_relations
    from kexue.data import SPO

    play = SPO("刘诗诗", "饰演", (("@value", "若曦"), ("inWork", "步步惊心")), "娱乐人物",
               (("@value", "角色"), ("inWork", "影视作品")))  # fmt: skip
    cast = [SPO("步步惊心", "主演", (("@value", a),), "影视作品", (("@value", "人物"),))
            for a in ("刘诗诗", "吴奇隆")]  # fmt: skip
    flat = flatten_relations([play, *cast])
    assert flat[:2] == [
        ("刘诗诗", ("饰演", "@value"), "若曦"),
        ("刘诗诗", ("饰演", "inWork"), "步步惊心"),
    ]
    types = {"饰演": ("娱乐人物", {"@value": "角色", "inWork": "影视作品"}),
             "主演": ("影视作品", {"@value": "人物"})}  # fmt: skip
    # both actors survive (the article's merge by (subject, predicate) would keep only one)
    assert combine_relations(reversed(flat), types) == [*reversed(cast), play]
    # a slot without an @value object is dropped: the scorer needs @value
    assert combine_relations([("刘诗诗", ("饰演", "inWork"), "步步惊心")], types) == []


def test_spo_key_ignores_case_space_and_slot_order():
    from kexue.bert import spo_key
    from kexue.data import SPO

    a = SPO("Jay Chou", "饰演", (("@value", "X"), ("inWork", "Y")))
    b = SPO("jaychou", "饰演", (("inWork", "y"), ("@value", "x")), "人物")
    assert spo_key(a) == spo_key(b) and spo_key(a) != spo_key(
        SPO("jaychou", "饰演", (("@value", "x"),))
    )


def test_event_arguments_collapse_and_mrc_scores():
    from kexue.bert import event_arguments, mrc_scores
    from kexue.data import Event

    events = [Event("发布", "发布", 2, (("发布方", "华为", 0),)),
              Event("裁员", "裁员", 9, (("裁员方", "华为", 0), ("人数", "7%", 11)))]  # fmt: skip
    assert event_arguments(events) == {"华为": ("裁员", "裁员方"), "7%": ("裁员", "人数")}
    assert mrc_scores("北京。", ["上海", "北京"]) == (1.0, 1.0)
    assert mrc_scores("北", ["北京"]) == (0.0, 2 / 3) and mrc_scores("x", []) == (0.0, 0.0)
