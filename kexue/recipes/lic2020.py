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
         kexue run lic2020 --data FOLDER [--set pretrained=DIR]  (the competition's files)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors curves.png

On the competition's files (`--data FOLDER` with any of duie/, duee/, dureader/; file names in
`kexue.data.LIC2020_FILES`: the releases' duie_train.json / duie_dev.json / duie_test2.json,
duee_train.json / duee_dev.json / duee_test1.json, DuReader-robust train.json / dev.json /
test.json, or plain train/dev/test.json): the article's three models only (relation heads with
σ², σ⁴ and CLN; BERT + CRF with lr multiplier `crf_lr_multiplier`; span extraction), trained for
re_steps / ner_steps / mrc_steps on train; dev scored as the competition (DuIE SPO P/R/F1 on
flattened-and-merged objects, DuEE argument soft F1 with the article's LCS matching, DuReader
EM and character F1 after removing punctuation); test predicted into the submission files
duie_test_pred.json ({text, spo_list}), duee_test_pred.json ({id, text, event_list:
[{event_type, arguments: [{role, argument}]}]}, arguments grouped by event type) and
dureader_pred.json ({id: answer}). A task folder that is absent is skipped (said on the
console), a missing dev or test file skips the scores or the predictions; malformed lines exit
2 naming file and line. Labels come from the training file (no schema file is read): the
flattened (predicate, slot) pairs and each predicate's types, the (event_type, role) pairs.
Sentences are cut to `maxlen` tokens, contexts to fit `maxpara` + `max_question`; the proxy
budgets' step counts apply (set re_steps/ner_steps/mrc_steps for the real data's epochs).

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
    - on the competition's files: several @value objects of one (subject, predicate) stay
      separate SPOs (the article's merge keeps one); DuEE arguments are labelled at the offset
      the data gives (the article: first occurrence); one answer per training question.
    - proxy tasks on People's Daily instead of the LIC2020 data (none can be downloaded), with
      tiny random-init BERTs unless `pretrained` names a checkpoint; reading questions are the
      entity's clause (spec P9: its sentence) to keep sequences short.
    - labels are placed and answers sliced through the tokenizer's offsets (the article's
      `rematch`); entity boundaries inside a WordPiece token ("1998") snap to whole tokens.
Recorded: `kexue show lic2020` prints the recorded full run; docs/notes/lic2020.md has notes.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    combine_relations,
    decode_objects,
    decode_span,
    decode_subjects,
    encode_with_pre_ln,
    entity_lexicon,
    event_arguments,
    event_soft_f1,
    flatten_relations,
    lexicon_tag,
    load_checkpoint,
    micro_counts,
    micro_f1_interval,
    mrc_char_f1,
    mrc_scores,
    proxy_tasks,
    sample_subject_span,
    set_prf,
    spo_key,
    tiny_config,
    token_to_char_span,
    type_rule_triples,
)
from kexue.bert.backbone import VocabTokenizer
from kexue.data import (
    LIC2020_FILES,
    SPO,
    DataFormatError,
    EventExample,
    QAExample,
    RelationExample,
    lic2020_files,
    peoples_daily,
    read_duee,
    read_duie,
    read_squad,
)
from kexue.recipes import _plot
from kexue.runs import (
    Claim,
    DataSpec,
    Reported,
    RunDir,
    Statement,
    make_accelerator,
    seed_everything,
    statements_doc,
)
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
    # a folder of the competition's files (--data; DATA below): then the article's three
    # baselines train on them instead of the proxy tasks, and predict the test files
    data: str | None = None


DATA = DataSpec(
    "data",
    "a folder with any of duie/ (DuIE 2.0 JSONL: duie_train.json, duie_dev.json, "
    "duie_test2.json or duie_test1.json), duee/ (DuEE 1.0 JSONL: duee_train.json, "
    "duee_dev.json, duee_test2.json or duee_test1.json), dureader/ (DuReader-robust "
    "SQuAD-style JSON: train.json, dev.json, test.json or test1.json); train.json / dev.json / "
    "test.json are accepted in each. Each task present trains on train, is scored on dev "
    "(DuIE SPO F1, DuEE argument soft F1, DuReader EM / character F1) and predicts test into "
    "duie_test_pred.json, duee_test_pred.json, dureader_pred.json",
    "none: without --data the recipe runs its People's Daily proxy tasks",
)
# On the competition's files the run records the dev scores; no claim is judged there (the
# article's numbers need its pre-trained RoBERTa and 20 epochs; see STATEMENTS).
DATA_CLAIMS: tuple[Claim, ...] = ()

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

# The article's numbers (specs/nlp.md §5; its own settings above, the competition's test sets)
_OURS = "kexue: tiny BERT from scratch, proxy task cut from People's Daily"
REPORTED = (
    Reported("relation extraction, SPO F1", 0.68,
             "article: RoBERTa-wwm-ext base, DuIE 2.0, first-phase test", "re_f1", _OURS),
    Reported("event extraction, argument F1 (the official LCS-credited metric)", 0.78,
             "article: RoBERTa-wwm-ext base, DuEE 1.0, test1", "ner_crf_soft_f1", _OURS),
    Reported("reading comprehension, F1", 0.69,
             "article: RoBERTa-wwm-ext base, DuReader-robust, test1", "mrc_f1", _OURS),
)  # fmt: skip

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
        "the proxy questions have a single answer; DuReader-robust cannot be downloaded (with "
        "--data the first answer is used: its training set has one per question)",
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
        "test",
        "tests/bert/test_lic2020_data.py::test_relation_extraction_fits_its_file_and_round_trips",
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


def _ner_labels(enc: Encoded, ents: list, types: Sequence = TYPES) -> list[int]:
    """B on an entity's first token, I on its other tokens (tokens found by offsets); an
    entity's type is its index in `types`."""
    ids, _, offsets = enc
    y = [0] * len(ids)
    for a, b, k in ents:
        span = char_to_token_span(offsets, a, b, first=1)
        if span is None:
            continue
        t = types.index(k)
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


def _re_batch(
    items: Sequence, encs: Sequence[Encoded], idx: list[int], tok: Tokenizer, n_p: int,
    g: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, tuple]]:  # fmt: skip
    """One relation batch: ids, mask, subject targets (B, L, 2) and, for the article's sampled
    span ("article": start/foreign-end negatives) and a true subject ("true"), the chosen spans
    and their object targets (B, L, n_p, 2). Items are (text, [(s0, s1, p, o0, o1)]) in chars."""
    ids = pad_batch([encs[i][0] for i in idx])
    mask = (ids != tok.pad_id).long()
    L = ids.shape[1]
    y_s = torch.zeros(len(idx), L, 2)
    spans: dict[str, list] = {"article": [], "true": []}
    tspan = {}  # (i, char start, char end) → token (start, end inclusive)
    for i in idx:
        for a, b, _, c, d_ in items[i][1]:
            for u, v in ((a, b), (c, d_)):
                tspan[i, u, v] = char_to_token_span(encs[i][2], u, v, first=1)
    for r, i in enumerate(idx):
        subs = sorted({tspan[i, a, b] for a, b, *_ in items[i][1]} - {None})
        for s, e in subs:
            y_s[r, s, 0] = y_s[r, e, 1] = 1
        starts, ends = [s for s, _ in subs], [e for _, e in subs]
        if not subs:  # every subject truncated away (competition data): an all-zero example
            starts = ends = [0]
        spans["article"].append(sample_subject_span(starts, ends, g))
        spans["true"].append(sample_subject_span(starts, ends, g, negatives=False))
    y_o = {}
    for kind, chosen in spans.items():
        y = torch.zeros(len(idx), L, n_p, 2)
        for r, i in enumerate(idx):
            for a, b, p, c, d_ in items[i][1]:
                obj = tspan[i, c, d_]
                if tspan[i, a, b] == chosen[r] and obj is not None:
                    y[r, obj[0], p, 0] = y[r, obj[1], p, 1] = 1
        y_o[kind] = (torch.tensor(chosen), y)
    return ids, mask, y_s, y_o


def _mrc_batch(
    items: Sequence[tuple[str, str, int, int]], encs: Sequence[Encoded], idx: list[int],
    tok: Tokenizer,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """One reading batch: ids, segments, mask and the answer's start and end tokens among the
    context's (0, i.e. [CLS], when the answer was truncated away)."""
    pairs = [encs[i] for i in idx]
    ids, segs = pad_batch([p[0] for p in pairs]), pad_batch([p[1] for p in pairs])
    mask = (ids != tok.pad_id).long()
    answers = [  # the answer's tokens among the context's ([CLS] q [SEP] come first)
        char_to_token_span(p[2], items[i][2], items[i][3], first=len(p[1]) - sum(p[1]))
        for p, i in zip(pairs, idx, strict=True)
    ]
    starts = torch.tensor([sp[0] if sp else 0 for sp in answers])
    ends = torch.tensor([sp[1] if sp else 0 for sp in answers])
    return ids, segs, mask, starts, ends


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


@torch.no_grad()
def _tag(
    enc: hf.BertModel, head: EventTagger, tok: Tokenizer, texts: list[str], types: Sequence,
    maxlen: int | None = None, chunk: int | None = None,
) -> tuple[list[list], list[list[int]]]:  # fmt: skip
    """Tagged spans (char start, end exclusive, type) and label paths of each text (in chunks
    of `chunk` texts; None: one batch)."""
    spans: list[list] = []
    paths: list[list[int]] = []
    step = chunk or max(len(texts), 1)
    for lo in range(0, len(texts), step):
        encs = [tok.encode_offsets(t, maxlen=maxlen) for t in texts[lo : lo + step]]
        ids = pad_batch([e[0] for e in encs]).to(_device(enc))
        mask = (ids != tok.pad_id).long()
        h = enc(input_ids=ids, attention_mask=mask).last_hidden_state
        found = head.decode(h, mask)
        spans += [
            [(*token_to_char_span(e[2], a, b), types[k]) for a, b, k in bio_decode(p)]
            for p, e in zip(found, encs, strict=True)
        ]
        paths += found
    return spans, paths


@torch.no_grad()
def _mrc_logp(
    enc: hf.BertModel, head: SpanExtractor, tok: Tokenizer, q: str, ctx: str,
    maxlen: int | None = None,
) -> tuple[torch.Tensor, Encoded]:  # fmt: skip
    """Start and end log-probabilities (2, L) over [CLS] q [SEP] ctx [SEP], and its encoding."""
    e = tok.encode_offsets(q, ctx, maxlen=maxlen)
    ids, segs = torch.tensor([e[0]]), torch.tensor([e[1]])
    ids, segs = ids.to(_device(enc)), segs.to(_device(enc))
    ones = torch.ones_like(ids)
    h = enc(input_ids=ids, token_type_ids=segs, attention_mask=ones)
    return head(h.last_hidden_state, ones)[0].cpu(), e


def _answer(logp: torch.Tensor, e: Encoded, ctx: str) -> str:
    """The article's decoding: the best span inside the context (not the final [SEP]), sliced
    from the original text."""
    allowed = torch.tensor(e[1], dtype=torch.bool)
    allowed[-1] = False  # the final [SEP]
    s, t = decode_span(logp[0], logp[1], allowed)
    return _slice(ctx, e[2], s, t)


@torch.no_grad()
def _decode_re(
    enc: hf.BertModel, head: RelationHeads, items: list, tok: Tokenizer, threshold: float,
    maxlen: int | None = None,
) -> list[set]:  # fmt: skip
    """SPO sets (subject string, predicate index, object string) predicted for each sentence."""
    was = enc.training
    enc.eval()
    pred = []
    for text, _ in items:
        ids_l, _, offsets = tok.encode_offsets(text, maxlen=maxlen)
        ids = torch.tensor([ids_l], device=_device(enc))
        mask = torch.ones_like(ids)
        h, h_pre = encode_with_pre_ln(enc, ids, torch.zeros_like(ids), mask)
        p_s = torch.sigmoid(head.subject_logits(h))[0] ** head.subject_power
        found = set()
        for s, e in decode_subjects(p_s, threshold):
            p_o = torch.sigmoid(
                head.object_logits(h_pre, torch.tensor([[s, e]], device=ids.device))
            )[0]
            for c, d, p in decode_objects(p_o**head.object_power, threshold):
                found.add((_slice(text, offsets, s, e), p, _slice(text, offsets, c, d)))
        pred.append(found)
    enc.train(was)
    return pred


def _spo(text: str, triples: list[tuple[int, int, int, int, int]]) -> set:
    return {(text[a:b], p, text[c:d]) for a, b, p, c, d in triples}


_Modules = dict[str, Any]


def _prepare_tasks(
    acc: Any, out: RunDir, enc: _Modules, heads: _Modules, lr: float, extra: dict[str, Any]
) -> tuple[list[str], _Modules, _Modules, _Modules, dict[str, Any], int]:
    """One Adam per task (encoder + head), all prepared for the accelerator, and the run's
    state `{enc_n, head_n, opt_n} | extra` restored from the checkpoint.

    Returns (names, encoders, heads, optimisers, the state to checkpoint, the step to resume
    from)."""
    names = list(enc)
    opts = {n: torch.optim.Adam([*enc[n].parameters(), *heads[n].parameters()], lr=lr)
            for n in names}  # fmt: skip
    k = len(names)
    prepared = acc.prepare(*enc.values(), *heads.values(), *opts.values())
    enc = dict(zip(names, prepared[:k], strict=True))
    heads = dict(zip(names, prepared[k : 2 * k], strict=True))
    opts = dict(zip(names, prepared[2 * k :], strict=True))
    state = {f"enc_{n}": enc[n] for n in names} | {f"head_{n}": heads[n] for n in names}
    state |= {f"opt_{n}": opts[n] for n in names} | extra
    return names, enc, heads, opts, state, out.restore(state)


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    if cfg.data is not None:
        return run_competition(cfg, out)
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
    early: dict[str, torch.Tensor] = {}  # per-sentence SPO counts of two arms at step re_early
    names, enc, heads, opts, state, start = _prepare_tasks(
        acc, out, enc, heads, cfg.lr, {"rng": g, "early": early}
    )

    gold_re = [_spo(t, tr) for t, tr in re_test]
    total = cfg.re_steps + cfg.ner_steps + cfg.mrc_steps
    for step in out.progress(range(start, total), "re (4 arms), ner (3), mrc"):
        row = {}
        if step < cfg.re_steps:  # ---- relation extraction: four arms, one batch
            idx = torch.randint(len(re_train), (cfg.batch_size,), generator=g).tolist()
            ids, mask, y_s, y_o = _re_batch(re_train, re_enc, idx, tok, len(PROXY_PREDICATES), g)
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
            ids, segs, mask, starts, ends = _mrc_batch(mrc_train, mrc_enc, idx, tok)
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
            return _tag(enc[name], heads[name], tok, texts, TYPES)

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
            logp, e_ = _mrc_logp(enc["mrc"], heads["mrc"], tok, q, ctx)
            ids_l, segs_l, offsets = e_
            allowed = torch.tensor(segs_l, dtype=torch.bool)
            off = len(segs_l) - sum(segs_l)  # index of the first context token
            answer, gold = _answer(logp, e_, ctx), ctx[a:b]  # from the original text
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


# ----------------------------------------------------------------------------- competition files
def _located(text: str, span: str) -> tuple[int, int] | None:
    """The article's labelling: a DuIE subject or object at its first occurrence."""
    at = text.find(span)
    return None if at < 0 else (at, at + len(span))


def _duie_items(
    examples: Sequence[RelationExample], predicates: list[tuple[str, str]]
) -> list[tuple[str, list[tuple[int, int, int, int, int]]]]:
    """(text, [(s0, s1, flattened predicate index, o0, o1)]) in characters."""
    items = []
    for ex in examples:
        triples = []
        for subj, pk, value in flatten_relations(ex.relations):
            s_at, o_at = _located(ex.text, subj), _located(ex.text, value)
            if pk in predicates and s_at and o_at:
                triples.append((*s_at, predicates.index(pk), *o_at))
        items.append((ex.text, triples))
    return items


def _duee_items(
    examples: Sequence[EventExample], pairs: list[tuple[str, str]]
) -> list[tuple[str, list[tuple[int, int, tuple[str, str]]]]]:
    """(text, [(a0, a1, (event_type, role))]): the article's collapse (an argument keeps its
    last (event_type, role)), placed at the offset the data gives."""
    items = []
    for ex in examples:
        spans: dict[str, tuple[int, int, tuple[str, str]]] = {}
        for ev in ex.events:
            for role, arg, start in ev.arguments:
                if (ev.event_type, role) in pairs:
                    spans[arg] = (start, start + len(arg), (ev.event_type, role))
        items.append((ex.text, list(spans.values())))
    return items


def _read_split(reader: Any, what: str, path: Path, required: bool) -> list:
    """The records of one file; an empty training file is an error naming it."""
    data = reader(path)
    if required and not data:
        raise DataFormatError(f"{path}: no {what}")
    return data


def run_competition(cfg: Config, out: RunDir) -> dict[str, float]:
    """The article's three baselines on the competition's files (`--data FOLDER`): the main
    relation arm, the CRF tagger (lr multiplier `crf_lr_multiplier`) and the span extractor,
    each on the tasks present; dev scores as metrics, test predictions as submission files."""
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    files = lic2020_files(cfg.data)
    say = out.say if out.say is not None else (lambda _m: None)
    for task in LIC2020_FILES:
        if task not in files:
            say(f"lic2020: no {task}/ in {cfg.data}; skipping that task")
        else:
            for split, what in (("dev", "dev scores"), ("test", "test predictions")):
                if split not in files[task]:
                    say(f"lic2020: {task}/ has no {split} file; no {task} {what}")
    readers = {
        "duie": (read_duie, "sentences"),
        "duee": (read_duee, "texts"),
        "dureader": (read_squad, "questions"),
    }
    data = {
        task: {
            split: _read_split(*readers[task], path, split == "train")
            for split, path in splits.items()
        }
        for task, splits in files.items()
    }
    corpus = [ex.text for task in ("duie", "duee") if task in data for ex in data[task]["train"]]
    if "dureader" in data:
        corpus += [q.context for q in data["dureader"]["train"]]
        corpus += [q.question for q in data["dureader"]["train"]]
    tok, base = backbone(cfg, corpus)
    V = len(tok)
    short, long_ = cfg.maxlen + 2, cfg.maxpara + cfg.max_question + 3  # token budgets
    metrics: dict[str, float] = {}
    enc: dict[str, hf.BertModel] = {}
    heads: dict[str, torch.nn.Module] = {}
    steps: dict[str, int] = {}

    if "duie" in data:
        train = data["duie"]["train"]
        predicates = sorted({pk for ex in train for _, pk, _ in flatten_relations(ex.relations)})
        types: dict[str, tuple[str, dict[str, str]]] = {}
        for ex in train:
            for r in ex.relations:
                o_types = types.setdefault(r.predicate, (r.subject_type, {}))[1]
                for k, v in r.object_type:
                    o_types.setdefault(k, v)
        re_items = [it for it in _duie_items(train, predicates) if it[1]]  # locatable only
        if not re_items:
            raise DataFormatError(
                f"{files['duie']['train']}: no subject and object found in their text"
            )
        re_enc = [tok.encode_offsets(t, maxlen=short) for t, _ in re_items]
        enc["re"] = _encoder(cfg, V, cfg.seed, short + 8, base)
        torch.manual_seed(cfg.seed)
        heads["re"] = RelationHeads(enc["re"].config.hidden_size, len(predicates))
        steps["re"] = cfg.re_steps
        metrics |= {
            "duie_train_sentences": float(len(re_items)),
            "duie_predicates": float(len(predicates)),
        }
    if "duee" in data:
        train = data["duee"]["train"]
        pairs = sorted(
            {(ev.event_type, r) for ex in train for ev in ex.events for r, _, _ in ev.arguments}
        )
        ee_items = _duee_items(train, pairs)
        ee_enc = [tok.encode_offsets(t, maxlen=short) for t, _ in ee_items]
        enc["ee"] = _encoder(cfg, V, cfg.seed + 1, short + 8, base)
        torch.manual_seed(cfg.seed + 1)
        heads["ee"] = EventTagger(
            enc["ee"].config.hidden_size, 2 * len(pairs) + 1, lr_multiplier=cfg.crf_lr_multiplier
        )
        steps["ee"] = cfg.ner_steps
        metrics |= {"duee_train_texts": float(len(ee_items)), "duee_labels": float(len(pairs))}
    if "dureader" in data:
        mrc_items = [  # one answer per question (DuReader-robust's training set has one)
            (
                q.question[: cfg.max_question],
                q.context,
                q.answers[0][1],
                q.answers[0][1] + len(q.answers[0][0]),
            )
            for q in data["dureader"]["train"]
            if q.answers
        ]
        if not mrc_items:
            raise DataFormatError(f"{files['dureader']['train']}: no answered question")
        mrc_enc = [tok.encode_offsets(q, c, maxlen=long_) for q, c, *_ in mrc_items]
        enc["mrc"] = _encoder(cfg, V, cfg.seed + 2, long_ + 8, base)
        torch.manual_seed(cfg.seed + 2)
        heads["mrc"] = SpanExtractor(enc["mrc"].config.hidden_size)
        steps["mrc"] = cfg.mrc_steps
        metrics["dureader_train_questions"] = float(len(mrc_items))

    names, enc, heads, opts, state, start = _prepare_tasks(
        acc, out, enc, heads, cfg.lr, {"rng": g}
    )
    phases = [(n, sum(steps[m] for m in names[: i + 1])) for i, n in enumerate(names)]
    total = phases[-1][1]
    for step in out.progress(range(start, total), " then ".join(names)):
        name = next(n for n, end in phases if step < end)
        if name == "re":
            idx = torch.randint(len(re_items), (cfg.batch_size,), generator=g).tolist()
            ids, mask, y_s, y_o = _re_batch(re_items, re_enc, idx, tok, len(predicates), g)
            ids, mask, y_s, sp, y = _to(acc.device, ids, mask, y_s, *y_o["article"])
            h, h_pre = encode_with_pre_ln(enc["re"], ids, torch.zeros_like(ids), mask)
            l_s, l_o = heads["re"].loss(
                heads["re"].subject_logits(h), heads["re"].object_logits(h_pre, sp), y_s, y, mask
            )
            loss = l_s + l_o
        elif name == "ee":
            idx = torch.randint(len(ee_items), (cfg.batch_size,), generator=g).tolist()
            ids = pad_batch([ee_enc[i][0] for i in idx])
            labels = pad_batch([_ner_labels(ee_enc[i], ee_items[i][1], pairs) for i in idx])
            ids, labels = _to(acc.device, ids, labels)
            mask = (ids != tok.pad_id).long()
            h = enc["ee"](input_ids=ids, attention_mask=mask).last_hidden_state
            loss = heads["ee"].loss(h, labels, mask)
        else:
            idx = torch.randint(len(mrc_items), (cfg.batch_size,), generator=g).tolist()
            batch = _to(acc.device, *_mrc_batch(mrc_items, mrc_enc, idx, tok))
            ids, segs, mask, starts, ends = batch
            h = enc["mrc"](input_ids=ids, token_type_ids=segs, attention_mask=mask)
            loss = heads["mrc"].loss(heads["mrc"](h.last_hidden_state, mask), starts, ends)
        opts[name].zero_grad()
        acc.backward(loss)
        opts[name].step()
        out.log(step, **{f"loss_{name}": loss.item()})
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(total, state)

    for m in [*enc.values(), *heads.values()]:
        m.eval()
    with torch.no_grad():
        if "duie" in data:

            def relations(examples: list[RelationExample]) -> list[list[SPO]]:
                found = _decode_re(
                    enc["re"],
                    heads["re"],
                    [(ex.text, None) for ex in examples],
                    tok,
                    cfg.threshold,
                    maxlen=short,
                )
                return [
                    combine_relations([(s, predicates[p], o) for s, p, o in sorted(f)], types)
                    for f in found
                ]

            if "dev" in data["duie"]:
                dev = data["duie"]["dev"]
                pred = [{spo_key(r) for r in rs} for rs in relations(dev)]
                gold = [{spo_key(r) for r in ex.relations} for ex in dev]
                prf = set_prf(pred, gold)
                metrics |= {f"duie_dev_{k}": v for k, v in prf.items()}
                metrics["duie_dev_sentences"] = float(len(dev))
            if "test" in data["duie"]:
                test = data["duie"]["test"]
                lines = [
                    {"text": ex.text, "spo_list": [r.to_json() for r in rs]}
                    for ex, rs in zip(test, relations(test), strict=True)
                ]
                out.write_text("duie_test_pred.json", _jsonl(lines))
                metrics["duie_test_sentences"] = float(len(test))
        if "duee" in data:

            def arguments(examples: list[EventExample]) -> list[dict[str, tuple[str, str]]]:
                texts = [ex.text for ex in examples]
                spans, _ = _tag(enc["ee"], heads["ee"], tok, texts, pairs, maxlen=short, chunk=64)
                return [
                    {t[a:b]: pair for a, b, pair in ss} for t, ss in zip(texts, spans, strict=True)
                ]

            if "dev" in data["duee"]:
                dev = data["duee"]["dev"]
                inv = [{v: a for a, v in d.items()} for d in arguments(dev)]
                gold = [{v: a for a, v in event_arguments(ex.events).items()} for ex in dev]
                metrics["duee_dev_f1"] = event_soft_f1(inv, gold)
                metrics["duee_dev_texts"] = float(len(dev))
            if "test" in data["duee"]:
                test = data["duee"]["test"]
                lines = []
                for ex, args in zip(test, arguments(test), strict=True):
                    by_type: dict[str, list[dict[str, str]]] = {}
                    for arg, (event_type, role) in args.items():
                        by_type.setdefault(event_type, []).append({"role": role, "argument": arg})
                    lines.append(
                        {
                            "id": ex.id,
                            "text": ex.text,
                            "event_list": [
                                {"event_type": t, "arguments": a} for t, a in by_type.items()
                            ],
                        }
                    )
                out.write_text("duee_test_pred.json", _jsonl(lines))
                metrics["duee_test_texts"] = float(len(test))
        if "dureader" in data:

            def answer(q: QAExample) -> str:
                logp, e = _mrc_logp(
                    enc["mrc"],
                    heads["mrc"],
                    tok,
                    q.question[: cfg.max_question],
                    q.context,
                    maxlen=long_,
                )
                return _answer(logp, e, q.context)

            if "dev" in data["dureader"]:
                dev = [q for q in data["dureader"]["dev"] if q.answers]
                scores = np.array([mrc_scores(answer(q), [t for t, _ in q.answers]) for q in dev])
                scores = scores.reshape(-1, 2)
                metrics |= {
                    "dureader_dev_em": float(scores[:, 0].mean()) if len(dev) else 0.0,
                    "dureader_dev_f1": float(scores[:, 1].mean()) if len(dev) else 0.0,
                    "dureader_dev_questions": float(len(dev)),
                }
            if "test" in data["dureader"]:
                test = data["dureader"]["test"]
                preds = {q.id: answer(q) for q in test}
                out.write_text(
                    "dureader_pred.json", json.dumps(preds, ensure_ascii=False, indent=1)
                )
                metrics["dureader_test_questions"] = float(len(test))

    if out.is_main:
        keys = [f"loss_{n}" for n in names]
        out.save_figure(_plot.curves(out.history, keys, "LIC2020: training losses"), "curves.png")
    return metrics


def _to(device: torch.device, *tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.to(device) for t in tensors]


def _jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


__doc__ = statements_doc(__doc__, STATEMENTS)
