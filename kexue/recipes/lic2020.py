r"""Recipe: the three LIC2020 baselines on People's Daily proxy tasks with tiny random BERTs,
against rule baselines, with the spec's ablations of the relation and tagging heads.

Article: bert4keras在手，baseline我有：百度LIC2020 — 苏剑林, 2020-04-02 (see kexue.bert.lic2020,
         kexue.bert.crf)
Data:    kexue.data.peoples_daily, fixed train/test split, `kexue.bert.proxy_tasks` (no test
         sentence, question or paragraph occurs in training):
           relation: sentences ≤ `maxlen` chars; every (PER, LOC), (PER, ORG), (ORG, LOC) pair in
                     one clause, predicate = the type pair × whether a verb links the two
                     (6 predicates: the types alone do not fix the predicate)
           tagging:  BIO over PER/LOC/ORG on the same sentences
           reading:  context = a paragraph ≤ `maxpara` chars, question = the clause of an entity
                     with it replaced by 谁/哪里/哪个机构, answer = the entity
Run:     kexue run lic2020                 (full)
         kexue run lic2020 --budget quick  (a few minutes)
         kexue run lic2020 --budget smoke  (seconds; claims not judged)
         kexue run lic2020 --budget article --set pretrained=DIR  (the article's settings from
             a Chinese BERT/RoBERTa folder, HuggingFace or TensorFlow format; for a GPU)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors curves.png

Relation heads as the article's code (P_s = σ(·)², object branch from the last block's
pre-LayerNorm residual through a subject-conditioned LayerNorm, P_o = σ(·)⁴, start/foreign-end
negative spans, threshold 0.4) and three ablation arms trained on the same batches from the
same initial weights: powers n = 1, a zero CLN condition, no foreign-end negatives. Tagging:
CRF (lr multiplier 100), CRF (multiplier 1), per-token softmax. Rule baselines: the entity-type
rule on the CRF tagger's entities (and on gold entities), a training-entity lexicon (longest
match), and string alignment of the question around its question word.
Claims: each model beats its rule baseline; CRF ≥ softmax; multiplier 100 beats 1; the power
trick converges faster (F1 after `re_early` steps); subject conditioning matters. Measured
only: the negative-span ablation (re_negatives_gain_f1; the article says nothing about it).
One seed and a few hundred test items: every claim is judged on a 95% bootstrap interval over
test items.

Deviations:
    - proxy tasks on People's Daily instead of the LIC2020 data (none can be downloaded), with
      tiny random-init BERTs unless `pretrained` names a checkpoint; reading questions are the
      entity's clause (spec P9: its sentence) to keep sequences short.
    - labels are placed and answers sliced through the tokenizer's offsets (the article's
      `rematch`); entity boundaries inside a WordPiece token ("1998") snap to whole tokens.
Recorded: `kexue show lic2020` prints the recorded full run; docs/notes/lic2020.md has notes.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import transformers as hf

from kexue.bert import (
    PROXY_PREDICATES,
    CharTokenizer,
    EventTagger,
    RelationHeads,
    SpanExtractor,
    align_cloze,
    bio_decode,
    char_to_token_span,
    decode_objects,
    decode_span,
    decode_subjects,
    encode_with_pre_ln,
    entity_lexicon,
    event_soft_f1,
    lexicon_tag,
    load_checkpoint,
    micro_counts,
    micro_f1_interval,
    mrc_char_f1,
    proxy_tasks,
    sample_subject_span,
    set_prf,
    tiny_config,
    token_to_char_span,
    type_rule_triples,
)
from kexue.bert.backbone import VocabTokenizer
from kexue.data import peoples_daily
from kexue.recipes import _plot
from kexue.runs import Claim, RunDir, Statement, make_accelerator, seed_everything, statements_doc
from kexue.seq import pad_batch
from kexue.stats import bootstrap_interval, paired_interval, record_interval


@dataclass(frozen=True)
class Config:
    seed: int = 0
    maxlen: int = 60  # characters per relation / tagging sentence
    maxpara: int = 230  # characters per reading-comprehension paragraph
    max_question: int = 40
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    lr: float = 1e-3
    batch_size: int = 32
    re_steps: int = 1500  # each of the four relation arms
    re_early: int = 300  # step at which the power-trick arms are compared (early convergence)
    ner_steps: int = 600  # each of the three taggers
    mrc_steps: int = 1000
    crf_lr_multiplier: float = 100.0
    threshold: float = 0.4
    n_test: int = 400  # test items per task (relations: all 279 test sentences)
    # a local checkpoint folder (HuggingFace, or TensorFlow: bert_config.json + model.ckpt.*):
    # every encoder starts from it (hidden/layers/heads then come from its config) and the
    # tokenizer is its vocab.txt, simplified to the training corpus (keep_tokens)
    pretrained: str | None = None


QUICK = {"re_steps": 400, "re_early": 100, "ner_steps": 150, "mrc_steps": 200, "n_test": 300}
SMOKE = {"re_steps": 3, "re_early": 2, "ner_steps": 3, "mrc_steps": 3, "n_test": 10, "maxlen": 30,
         "maxpara": 60, "max_question": 20}  # fmt: skip
# The article's settings (bojone/lic2020_baselines ie.py / ee.py / rc.py, specs/nlp.md §5):
# Chinese RoBERTa-wwm-ext base (pass it with --set pretrained=DIR), Adam 2e-5, relation maxlen
# 256 (batch 16), event maxlen 128, reading maxlen 256 with questions ≤ 64 tokens, 20 epochs,
# threshold 0.4. One batch size serves the three tasks here (16); steps = 20 epochs of the proxy
# tasks at maxlen 256 (4,342 relation, 18,964 tagging, 14,590 reading items); all test items.
ARTICLE = {
    "hidden": 768, "layers": 12, "heads": 12, "lr": 2e-5, "batch_size": 16, "maxlen": 256,
    "maxpara": 189, "max_question": 64, "re_steps": 5430, "re_early": 272, "ner_steps": 23705,
    "mrc_steps": 18238, "n_test": 100_000,
}  # fmt: skip

CLAIMS = (
    Claim(
        "relation extraction (half-pointer half-tagging + CLN) reaches SPO F1 ≥ 0.3 "
        "(predicting no triple scores 0)",
        "re_f1",
        ">=",
        0.3,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "relation extraction beats the entity-type rule run on the CRF tagger's entities "
        "(F1 difference > 0)",
        "re_minus_type_rule_f1",
        ">",
        0.0,
        ("quick", "full"),
        kind="goal",
        interval=True,
    ),
    Claim(
        "the power trick (P_s = σ², P_o = σ⁴) converges faster: SPO F1 after `re_early` steps "
        "above the n = 1 arm's",
        "re_power_minus_n1_early_f1",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "the object head needs the subject: CLN conditioned on the subject beats a zero "
        "condition (F1 difference > 0)",
        "re_cln_minus_unconditioned_f1",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "sequence labelling extracts the arguments: the CRF tagger beats a lexicon of training "
        "entities (exact F1 difference > 0)",
        "ner_crf_minus_lexicon_f1",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "the CRF tagger's exact entity F1 is at least the softmax tagger's",
        "ner_crf_minus_softmax_f1",
        ">=",
        0.0,
        ("quick", "full"),
        kind="goal",
        interval=True,
    ),
    Claim(
        "the CRF transitions need the larger learning rate: lr multiplier 100 beats 1 (exact "
        "F1 difference > 0)",
        "ner_crf_lr_multiplier_gain_f1",
        ">",
        0.0,
        ("quick", "full"),
        kind="goal",
        interval=True,
    ),
    Claim(
        "span extraction answers the cloze questions: exact match ≥ 0.3 (random span ≈ 0)",
        "mrc_em",
        ">=",
        0.3,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "span extraction beats string alignment of the question around its question word "
        "(exact-match difference > 0)",
        "mrc_minus_alignment_em",
        ">",
        0.0,
        ("quick", "full"),
        kind="goal",
        interval=True,
    ),
)

STATEMENTS = (
    Statement(
        "reading comprehension: BERT, then two Dense + softmax heads for the answer's start and "
        "end, extracts answers",
        "claim",
        "mrc_em",
    ),
    Statement(
        "with several gold answers, one is drawn at random per epoch and one answer predicted",
        "untestable",
        "the proxy questions have a single answer; DuReader-robust cannot be downloaded",
    ),
    Statement(
        "relation extraction by the half-pointer half-tagging model extracts the SPO triples",
        "claim",
        "re_f1",
    ),
    Statement(
        "the object head is conditioned on the sampled subject (the code: CLN on [start; end])",
        "claim",
        "re_cln_minus_unconditioned_f1",
    ),
    Statement(
        "the power trick of the linked design (7161: σ(·)ⁿ) speeds up early convergence",
        "claim",
        "re_power_minus_n1_early_f1",
    ),
    Statement(
        "flattening predicate + object slot (饰演_@value, 饰演_inWork) reduces the complex "
        "objects of DuIE 2.0 to ordinary triple extraction",
        "untestable",
        "needs DuIE 2.0's multi-slot objects; the proxy predicates are already flat",
    ),
    Statement(
        "event extraction is scored on (event_type, role, argument) only, so it reduces to "
        "sequence labelling (BERT + CRF)",
        "claim",
        "ner_crf_minus_lexicon_f1",
    ),
    Statement(
        "outputs are sliced from the original text through the token → text map (rematch), "
        "never detokenised",
        "test",
        "tests/bert/test_lic2020.py::test_answers_are_sliced_from_the_original_text",
    ),
    Statement(
        "reported scores: relation F1 0.68, event F1 0.78, reading F1 0.69 on the test1 sets",
        "untestable",
        "needs the LIC2020 data (not downloadable) and a pre-trained Chinese RoBERTa",
    ),
)


Tokenizer = CharTokenizer | VocabTokenizer
Encoded = tuple[list[int], list[int], list[tuple[int, int] | None]]  # ids, segments, offsets


def backbone(cfg: Config, corpus: list[str]) -> tuple[Tokenizer, hf.BertModel | None]:
    """The tokenizer and, with `cfg.pretrained`, the checkpoint's encoder (vocabulary
    simplified to `corpus`); without it a character tokenizer (min count 2) and None: the
    encoders are then tiny random BERTs."""
    if cfg.pretrained is None:
        return CharTokenizer(corpus, min_count=2), None
    ck = load_checkpoint(
        cfg.pretrained, hf.BertModel, corpus=corpus,
        max_len=cfg.maxpara + cfg.max_question + 3,  # [CLS] question [SEP] context [SEP]
        allow_missing=[r"^pooler\."], allow_unexpected=[r"^cls\.", r"^pooler\."],
    )  # fmt: skip
    return ck.tokenizer, ck.model


def _encoder(
    cfg: Config, vocab: int, seed: int, max_position: int, base: hf.BertModel | None
) -> hf.BertModel:
    if base is not None:  # every arm starts from the same pre-trained weights
        return copy.deepcopy(base).train()
    torch.manual_seed(seed)
    conf = tiny_config("bert", vocab, hidden=cfg.hidden, layers=cfg.layers, heads=cfg.heads,
                       max_position=max_position)  # fmt: skip
    return hf.BertModel(conf, add_pooling_layer=False)


# The relation arms: the article's heads and one ablation each, same data and initial weights.
RE_ARMS = {
    "main": {},
    "n1": {"subject_power": 1.0, "object_power": 1.0},
    "nocond": {"subject_conditioned": False},
    "noneg": {},  # trained on true subject spans only (no start/foreign-end negatives)
}
TAGGERS = ("crf", "crf1", "soft")  # CRF (lr multiplier cfg.crf_lr_multiplier), CRF (1), softmax
TYPES = ("PER", "LOC", "ORG")


def _ner_labels(enc: Encoded, ents: list) -> list[int]:
    """B on an entity's first token, I on its other tokens (tokens found by offsets)."""
    ids, _, offsets = enc
    y = [0] * len(ids)
    for a, b, k in ents:
        span = char_to_token_span(offsets, a, b, first=1)
        if span is None:
            continue
        t = TYPES.index(k)
        y[span[0]] = 2 * t + 1
        for i in range(span[0] + 1, span[1] + 1):
            y[i] = 2 * t + 2
    return y


def _slice(text: str, offsets: Sequence[tuple[int, int] | None], s: int, e: int) -> str:
    """The original characters under tokens s..e (the article's rematch, never decode)."""
    a, b = token_to_char_span(offsets, s, e)
    return text[a:b]


def _ctx_char(
    offsets: Sequence[tuple[int, int] | None], first: int, i: int, n_ctx: int, end: int
) -> int:
    """Context character at token i's start (end = 0) or end (1): question tokens clamp to
    the context's start, the final [SEP] to its end (the unconstrained-decoding baseline)."""
    if i < first:
        return 0
    o = offsets[i]
    return n_ctx if o is None else o[end]


@torch.no_grad()
def _decode_re(
    enc: hf.BertModel, head: RelationHeads, items: list, tok: Tokenizer, threshold: float
) -> list[set]:
    """SPO sets (subject string, predicate, object string) predicted for each sentence."""
    was = enc.training
    enc.eval()
    pred = []
    for text, _ in items:
        ids_l, _, offsets = tok.encode_offsets(text)
        ids = torch.tensor([ids_l])
        mask = torch.ones_like(ids)
        h, h_pre = encode_with_pre_ln(enc, ids, torch.zeros_like(ids), mask)
        p_s = torch.sigmoid(head.subject_logits(h))[0] ** head.subject_power
        found = set()
        for s, e in decode_subjects(p_s, threshold):
            p_o = torch.sigmoid(head.object_logits(h_pre, torch.tensor([[s, e]])))[0]
            for c, d, p in decode_objects(p_o**head.object_power, threshold):
                found.add((_slice(text, offsets, s, e), p, _slice(text, offsets, c, d)))
        pred.append(found)
    enc.train(was)
    return pred


def _spo(text: str, triples: list[tuple[int, int, int, int, int]]) -> set:
    return {(text[a:b], p, text[c:d]) for a, b, p, c, d in triples}


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    pd = peoples_daily()
    tasks = proxy_tasks(pd.split("train"), pd.split("test"), maxlen=cfg.maxlen,
                        maxpara=cfg.maxpara, max_question=cfg.max_question)  # fmt: skip
    train = tasks.ner_train
    tok, base = backbone(cfg, [t for t, _ in train] + [c for _, c, *_ in tasks.mrc_train])
    V = len(tok)
    re_train, re_test = tasks.re_train, tasks.re_test[: cfg.n_test]
    ner_test = tasks.ner_test[: cfg.n_test]
    mrc_train, mrc_test = tasks.mrc_train, tasks.mrc_test[: cfg.n_test]
    # tokenised once: ids, segments and each token's character offsets (rematch)
    re_enc = [tok.encode_offsets(t) for t, _ in re_train]
    ner_enc = [tok.encode_offsets(t) for t, _ in train]
    mrc_enc = [tok.encode_offsets(q, c) for q, c, *_ in mrc_train]

    short = 2 * cfg.maxlen + 8
    enc = {f"re_{a}": _encoder(cfg, V, cfg.seed, short, base) for a in RE_ARMS}
    enc |= {t: _encoder(cfg, V, cfg.seed + 1, short, base) for t in TAGGERS}
    enc["mrc"] = _encoder(cfg, V, cfg.seed + 2, cfg.maxpara + cfg.max_question + 8, base)
    d = enc["mrc"].config.hidden_size
    heads: dict[str, torch.nn.Module] = {}
    for a, kw in RE_ARMS.items():
        torch.manual_seed(cfg.seed)
        heads[f"re_{a}"] = RelationHeads(d, len(PROXY_PREDICATES), **kw)
    for t in TAGGERS:
        torch.manual_seed(cfg.seed + 1)
        mult = {"crf": cfg.crf_lr_multiplier, "crf1": 1.0}.get(t, 1.0)
        heads[t] = EventTagger(d, 2 * len(TYPES) + 1, crf=t != "soft", lr_multiplier=mult)
    heads["mrc"] = SpanExtractor(d)
    names = list(enc)
    opts = {
        n: torch.optim.Adam([*enc[n].parameters(), *heads[n].parameters()], lr=cfg.lr)
        for n in names
    }
    k = len(names)
    prepared = acc.prepare(*enc.values(), *heads.values(), *opts.values())
    enc = dict(zip(names, prepared[:k], strict=True))
    heads = dict(zip(names, prepared[k : 2 * k], strict=True))
    opts = dict(zip(names, prepared[2 * k :], strict=True))
    early: dict[str, torch.Tensor] = {}  # per-sentence SPO counts of two arms at step re_early
    state = {f"enc_{n}": enc[n] for n in names} | {f"head_{n}": heads[n] for n in names}
    state |= {f"opt_{n}": opts[n] for n in names} | {"rng": g, "early": early}
    start = out.restore(state)

    gold_re = [_spo(t, tr) for t, tr in re_test]
    total = cfg.re_steps + cfg.ner_steps + cfg.mrc_steps
    for step in out.progress(range(start, total), "re (4 arms), ner (3), mrc"):
        row = {}
        if step < cfg.re_steps:  # ---- relation extraction: four arms, one batch
            idx = torch.randint(len(re_train), (cfg.batch_size,), generator=g).tolist()
            ids = pad_batch([re_enc[i][0] for i in idx])
            mask = (ids != tok.pad_id).long()
            L = ids.shape[1]
            y_s = torch.zeros(len(idx), L, 2)
            spans = {"article": [], "true": []}
            tspan = {}  # (i, char start, char end) → token (start, end inclusive)
            for i in idx:
                for a, b, _, c, d_ in re_train[i][1]:
                    for u, v in ((a, b), (c, d_)):
                        tspan[i, u, v] = char_to_token_span(re_enc[i][2], u, v, first=1)
            for r, i in enumerate(idx):
                subs = sorted({tspan[i, a, b] for a, b, *_ in re_train[i][1]} - {None})
                for s, e in subs:
                    y_s[r, s, 0] = y_s[r, e, 1] = 1
                starts, ends = [s for s, _ in subs], [e for _, e in subs]
                spans["article"].append(sample_subject_span(starts, ends, g))
                spans["true"].append(sample_subject_span(starts, ends, g, negatives=False))
            y_o = {}
            for kind, chosen in spans.items():
                y = torch.zeros(len(idx), L, len(PROXY_PREDICATES), 2)
                for r, i in enumerate(idx):
                    for a, b, p, c, d_ in re_train[i][1]:
                        obj = tspan[i, c, d_]
                        if tspan[i, a, b] == chosen[r] and obj is not None:
                            y[r, obj[0], p, 0] = y[r, obj[1], p, 1] = 1
                y_o[kind] = (torch.tensor(chosen), y)
            for arm in RE_ARMS:
                name = f"re_{arm}"
                sp, y = y_o["true" if arm == "noneg" else "article"]
                h, h_pre = encode_with_pre_ln(enc[name], ids, torch.zeros_like(ids), mask)
                z_s = heads[name].subject_logits(h)
                z_o = heads[name].object_logits(h_pre, sp)
                l_s, l_o = heads[name].loss(z_s, z_o, y_s, y, mask)
                opts[name].zero_grad()
                acc.backward(l_s + l_o)
                opts[name].step()
                row[f"loss_{name}"] = (l_s + l_o).item()
            if step + 1 == cfg.re_early:  # early convergence of the power trick vs n = 1
                for arm in ("main", "n1"):
                    pred = _decode_re(enc[f"re_{arm}"], heads[f"re_{arm}"], re_test, tok,
                                      cfg.threshold)  # fmt: skip
                    early[arm] = torch.tensor(micro_counts(pred, gold_re))
        elif step < cfg.re_steps + cfg.ner_steps:  # ---- tagging: three taggers, one batch
            idx = torch.randint(len(train), (cfg.batch_size,), generator=g).tolist()
            ids = pad_batch([ner_enc[i][0] for i in idx])
            labels = pad_batch([_ner_labels(ner_enc[i], train[i][1]) for i in idx])
            mask = (ids != tok.pad_id).long()
            for name in TAGGERS:
                h = enc[name](input_ids=ids, attention_mask=mask).last_hidden_state
                loss = heads[name].loss(h, labels, mask)
                opts[name].zero_grad()
                acc.backward(loss)
                opts[name].step()
                row[f"loss_{name}"] = loss.item()
        else:  # ---- reading comprehension
            idx = torch.randint(len(mrc_train), (cfg.batch_size,), generator=g).tolist()
            pairs = [mrc_enc[i] for i in idx]
            ids, segs = pad_batch([p[0] for p in pairs]), pad_batch([p[1] for p in pairs])
            mask = (ids != tok.pad_id).long()
            answers = [  # the answer's tokens among the context's ([CLS] q [SEP] come first)
                char_to_token_span(
                    p[2], mrc_train[i][2], mrc_train[i][3], first=len(p[1]) - sum(p[1])
                )  # fmt: skip
                for p, i in zip(pairs, idx, strict=True)
            ]
            starts = torch.tensor([sp[0] if sp else 0 for sp in answers])
            ends = torch.tensor([sp[1] if sp else 0 for sp in answers])
            h = enc["mrc"](input_ids=ids, token_type_ids=segs, attention_mask=mask)
            loss = heads["mrc"].loss(heads["mrc"](h.last_hidden_state, mask), starts, ends)
            opts["mrc"].zero_grad()
            acc.backward(loss)
            opts["mrc"].step()
            row["loss_mrc"] = loss.item()
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(total, state)

    for m in [*enc.values(), *heads.values()]:
        m.eval()
    metrics: dict[str, float] = {"re_test_sentences": float(len(re_test))}
    with torch.no_grad():
        # ---- tagging: exact entity F1 (with intervals), soft F1, invalid transitions
        def tag(name: str, texts: list[str]) -> tuple[list[list], list[list[int]]]:
            encs = [tok.encode_offsets(t) for t in texts]
            ids = pad_batch([e[0] for e in encs])
            mask = (ids != tok.pad_id).long()
            h = enc[name](input_ids=ids, attention_mask=mask).last_hidden_state
            paths = heads[name].decode(h, mask)
            spans = [
                [(*token_to_char_span(e[2], a, b), TYPES[k]) for a, b, k in bio_decode(p)]
                for p, e in zip(paths, encs, strict=True)
            ]
            return spans, paths

        lexicon = entity_lexicon(train)
        gold_ner = [set(e) for _, e in ner_test]
        counts = {"lexicon": micro_counts([set(lexicon_tag(t, lexicon)) for t, _ in ner_test],
                                          gold_ner)}  # fmt: skip
        for name in TAGGERS:
            spans, paths = tag(name, [t for t, _ in ner_test])
            counts[name] = micro_counts([set(s) for s in spans], gold_ner)
            metrics[f"ner_{name}_f1"] = set_prf([set(s) for s in spans], gold_ner)["f1"]
            by_type = [[{k: t[a:b] for a, b, k in sorted(s)} for s, (t, _) in
                        zip(ss, ner_test, strict=True)] for ss in (spans, gold_ner)]  # fmt: skip
            metrics[f"ner_{name}_soft_f1"] = event_soft_f1(*by_type)
            metrics[f"ner_{name}_invalid_transitions"] = float(sum(
                1 for p in paths for prev, y in zip(p[:-1], p[1:], strict=False)
                if y > 0 and y % 2 == 0 and prev not in (y - 1, y)
            ))  # fmt: skip
        metrics["ner_lexicon_f1"] = micro_f1_interval(counts["lexicon"])[0]
        for key, a, b in (
            ("ner_crf_minus_lexicon_f1", "crf", "lexicon"),
            ("ner_crf_minus_softmax_f1", "crf", "soft"),
            ("ner_crf_lr_multiplier_gain_f1", "crf", "crf1"),  # multiplier 100 − multiplier 1
        ):
            record_interval(metrics, key, *micro_f1_interval(counts[a], counts[b]))

        # ---- relation extraction: four arms and the entity-type rule
        re_counts = {}
        for arm in RE_ARMS:
            pred = _decode_re(enc[f"re_{arm}"], heads[f"re_{arm}"], re_test, tok, cfg.threshold)
            re_counts[arm] = micro_counts(pred, gold_re)
            prf = set_prf(pred, gold_re)
            prefix = "re" if arm == "main" else f"re_{arm}"
            metrics.update({f"{prefix}_precision": prf["precision"], f"{prefix}_recall":
                            prf["recall"], f"{prefix}_f1": prf["f1"]})  # fmt: skip
        record_interval(metrics, "re_f1", *micro_f1_interval(re_counts["main"]))
        freq = Counter(p for _, tr in re_train for *_, p, _, _ in tr)
        majority = {}
        for p in sorted(freq, key=lambda q: -freq[q]):  # each type pair's most frequent predicate
            majority.setdefault(PROXY_PREDICATES[p][:2], p)
        tagged, _ = tag("crf", [t for t, _ in re_test])
        rule = [
            _spo(t, type_rule_triples(t, e, majority))
            for (t, _), e in zip(re_test, tagged, strict=True)
        ]
        oracle_ents = dict(tasks.ner_test)
        oracle = [_spo(t, type_rule_triples(t, oracle_ents[t], majority)) for t, _ in re_test]
        metrics["re_type_rule_f1"] = set_prf(rule, gold_re)["f1"]
        metrics["re_type_rule_gold_entities_f1"] = set_prf(oracle, gold_re)["f1"]
        rule_counts = micro_counts(rule, gold_re)
        for key, a, b in (
            ("re_minus_type_rule_f1", re_counts["main"], rule_counts),
            ("re_cln_minus_unconditioned_f1", re_counts["main"], re_counts["nocond"]),
            ("re_power_minus_n1_f1", re_counts["main"], re_counts["n1"]),
            ("re_negatives_gain_f1", re_counts["main"], re_counts["noneg"]),
        ):
            record_interval(metrics, key, *micro_f1_interval(a, b))
        if early:
            e_main, e_n1 = early["main"].numpy(), early["n1"].numpy()
            record_interval(
                metrics, "re_power_minus_n1_early_f1", *micro_f1_interval(e_main, e_n1)
            )
            metrics["re_early_f1"] = micro_f1_interval(e_main)[0]
            metrics["re_n1_early_f1"] = micro_f1_interval(e_n1)[0]

        # ---- reading comprehension against string alignment and a random span
        rng = np.random.default_rng(cfg.seed)
        mean_len = int(round(np.mean([b - a for _, _, a, b in mrc_train])))
        em, f1, em_free, em_rand, em_align = [], [], [], [], []
        for q, ctx, a, b in out.progress(mrc_test, "decoding mrc", len(mrc_test)):
            ids_l, segs_l, offsets = tok.encode_offsets(q, ctx)
            ids, segs = torch.tensor([ids_l]), torch.tensor([segs_l])
            off = len(segs_l) - sum(segs_l)  # index of the first context token

            ones = torch.ones_like(ids)
            h = enc["mrc"](input_ids=ids, token_type_ids=segs, attention_mask=ones)
            logp = heads["mrc"](h.last_hidden_state, ones)[0]
            allowed = torch.tensor(segs_l, dtype=torch.bool)
            allowed[-1] = False  # the final [SEP]
            s, e = decode_span(logp[0], logp[1], allowed)
            answer, gold = _slice(ctx, offsets, s, e), ctx[a:b]  # from the original text
            em.append(answer == gold)
            f1.append(mrc_char_f1(answer, gold))
            s2, e2 = decode_span(logp[0], logp[1], torch.ones_like(allowed), max_len=len(ids_l))
            lo, hi = (_ctx_char(offsets, off, i, len(ctx), end) for i, end in ((s2, 0), (e2, 1)))
            em_free.append(ctx[lo:hi] == gold)
            rs = int(rng.integers(0, len(ctx)))
            em_rand.append(ctx[rs : rs + mean_len] == gold)
            em_align.append(align_cloze(q, ctx) == gold)
        em, em_align = np.array(em, float), np.array(em_align, float)
        record_interval(metrics, "mrc_em", em.mean(), bootstrap_interval(em))
        record_interval(metrics, "mrc_minus_alignment_em", (em - em_align).mean(),
                        paired_interval(em, em_align))  # fmt: skip
        metrics.update(
            mrc_f1=float(np.mean(f1)),
            mrc_em_unconstrained=float(np.mean(em_free)),
            mrc_em_random_span=float(np.mean(em_rand)),
            mrc_alignment_em=float(em_align.mean()),
            mrc_test_questions=float(len(mrc_test)),
        )

    if out.is_main:
        keys = [f"loss_{n}" for n in names]
        out.save_figure(
            _plot.curves(out.history, keys, "LIC2020 proxy tasks: training losses"), "curves.png"
        )
    return metrics


__doc__ = statements_doc(__doc__, STATEMENTS)
