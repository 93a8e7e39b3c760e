r"""The three LIC2020 baselines on a BERT encoder: relation extraction by "half-pointer,
half-tagging" with a subject-conditioned LayerNorm, event extraction by sequence labelling +
CRF, and reading comprehension by span extraction; with their decoders and metrics.

Article:  bert4keras在手，baseline我有：百度LIC2020 — 苏剑林, 2020-04-02
URL:      https://kexue.fm/archives/7321
See also: 用bert4keras做三元组抽取 (https://kexue.fm/archives/7161) for the power trick.

Key equations::

    relation:  P_s = σ(H W_s + b_s)^2                          (B, L, 2)   subject start / end
               u   = [H'_start ; H'_end]                         (B, 2d)     H' = last block's
               G   = CLN(H', c = u)                                          residual sum before
               P_o = σ(G W_o + b_o)^4 → (B, L, n_p, 2)                       its final LayerNorm
               power trick: BCE on pⁿ, i.e. −n log p for positives, −log(1 − pⁿ) for negatives
    event:     emissions = H W + b (K = 2·|pairs| + 1 labels: 0 = O, 2k+1 = B-k, 2k+2 = I-k) → CRF
    MRC:       (p_start, p_end) = softmax over L of H W (2 logits per token, padding masked)
               answer = argmax_{s ≤ e < s + max_len, s, e ∈ context} p_start(s) · p_end(e)
    metrics:   SPO P/R/F1 on sets; event soft F1 = 2X/(Y + Z), X = Σ 2·LCS(p, g)/(|p| + |g|)
               (LCS = longest common substring); MRC exact match and character F1

Symbols: H (B, L, d) encoder output, n_p predicates, thresholds act on pⁿ (0.4 by default).

On the competition's files (kexue.data.read_duie / read_duee / read_squad): the article's
flattening of DuIE 2.0's multi-slot objects (`flatten_relations`, predicate' = (predicate,
slot)) and its merge back into submission SPOs (`combine_relations`), the SPO comparison of the
scorer (`spo_key`), DuEE's collapse of arguments to (event_type, role) labels
(`event_arguments`), and DuReader's EM / character F1 over several gold answers (`mrc_scores`).

Also here: the People's Daily proxy tasks (`proxy_tasks`, specs/nlp.md P7–P9, without
train/test overlap), the rule baselines a model must beat (`type_rule_triples`,
`lexicon_tag`, `align_cloze`) and micro F1 with a bootstrap interval over items
(`micro_f1_interval`).

Deviations from the article:
    - the encoder is any HuggingFace BERT (tiny random configs, or a local checkpoint through
      kexue.bert.backbone.load_checkpoint); H' is read with a forward pre-hook on the last
      block's output LayerNorm (`encode_with_pre_ln`), where bert4keras takes
      `model.layers[-2]`.
    - the article's `rematch` is the tokenizer's offset mapping (kexue.bert.backbone:
      `encode_offsets`, `char_to_token_span`, `token_to_char_span`); with the character
      tokenizer token i + 1 is character i.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.bert.crf import CRF
from kexue.data.nlp_formats import SPO, Event
from kexue.nn.conditional_ln import ConditionalLayerNorm
from kexue.stats.intervals import bootstrap_interval

__all__ = [
    "PROXY_PREDICATES",
    "combine_relations",
    "event_arguments",
    "flatten_relations",
    "mrc_scores",
    "spo_key",
    "ProxyTasks",
    "align_cloze",
    "entity_lexicon",
    "lexicon_tag",
    "micro_counts",
    "micro_f1",
    "micro_f1_interval",
    "proxy_tasks",
    "type_rule_triples",
    "EventTagger",
    "RelationHeads",
    "SpanExtractor",
    "bio_decode",
    "decode_objects",
    "decode_span",
    "decode_subjects",
    "encode_with_pre_ln",
    "event_soft_f1",
    "longest_common_substring",
    "mrc_char_f1",
    "power_bce",
    "sample_subject_span",
    "set_prf",
]


# ----------------------------------------------------------------------------- encoder
def encode_with_pre_ln(
    bert: nn.Module, input_ids: Tensor, token_type_ids: Tensor, attention_mask: Tensor
) -> tuple[Tensor, Tensor]:
    """(H, H') of a HuggingFace BertModel: H the output, H' the last block's residual sum
    before its final LayerNorm (the input of `encoder.layer[-1].output.LayerNorm`)."""
    captured: list[Tensor] = []
    ln = bert.encoder.layer[-1].output.LayerNorm
    handle = ln.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
    try:
        h = bert(
            input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask
        ).last_hidden_state
    finally:
        handle.remove()
    return h, captured[-1]


# ----------------------------------------------------------------------------- relation extraction
def power_bce(logits: Tensor, targets: Tensor, n: float) -> Tensor:
    r"""Element-wise BCE on q = σ(z)ⁿ (the power trick), computed in log space.

    −[y log q + (1 − y) log(1 − q)] with log q = n log σ(z), log(1 − q) = log(−expm1(log q)).
    """
    log_q = n * F.logsigmoid(logits)
    log_1mq = torch.log(-torch.expm1(log_q.clamp(max=-1e-7)))  # clamp: q = 1 would give −inf
    return -(targets * log_q + (1 - targets) * log_1mq)


def _gather_span(h: Tensor, spans: Tensor) -> Tensor:
    """u = [h_start ; h_end]. h (B, L, d), spans (B, 2) token indices → (B, 2d)."""
    idx = spans[:, :, None].expand(-1, -1, h.shape[-1])  # (B, 2, d)
    return h.gather(1, idx).flatten(1)


class RelationHeads(nn.Module):
    """Subject pointer head and subject-conditioned object pointer head.

    Args:
        d: hidden size of the encoder.
        n_predicates: n_p.
        subject_power, object_power: n of the power trick (2 and 4 in the article).
        subject_conditioned: False feeds the CLN a zero condition (an ablation: the object head
            then cannot tell which subject it is asked about).
    """

    def __init__(
        self, d: int, n_predicates: int, *, subject_power: float = 2.0, object_power: float = 4.0,
        subject_conditioned: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.n_predicates = n_predicates
        self.subject_conditioned = subject_conditioned
        self.subject_power, self.object_power = subject_power, object_power
        self.subject = nn.Linear(d, 2)
        self.cln = ConditionalLayerNorm(d, 2 * d)  # γ₀ = 1, β₀ = 0, zero W_γ, W_β
        self.object = nn.Linear(d, 2 * n_predicates)

    def subject_logits(self, h: Tensor) -> Tensor:
        """(B, L, d) → (B, L, 2) logits z_s (P_s = σ(z_s)^subject_power)."""
        return self.subject(h)

    def object_logits(self, h_pre: Tensor, spans: Tensor) -> Tensor:
        """H' (B, L, d) and subject spans (B, 2) → (B, L, n_p, 2) logits."""
        u = _gather_span(h_pre, spans)  # (B, 2d)
        if not self.subject_conditioned:
            u = torch.zeros_like(u)  # CLN with a zero condition is a plain learned LayerNorm
        g = self.cln(h_pre, u)
        return self.object(g).view(*g.shape[:2], self.n_predicates, 2)

    def loss(
        self, z_s: Tensor, z_o: Tensor, y_s: Tensor, y_o: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """(L_s, L_o): token-masked means of mean-over-{start,end} BCE (objects: Σ over p)."""
        m = mask.float()
        l_s = power_bce(z_s, y_s, self.subject_power).mean(-1)  # (B, L)
        l_o = power_bce(z_o, y_o, self.object_power).mean(-1).sum(-1)  # (B, L)
        return (l_s * m).sum() / m.sum(), (l_o * m).sum() / m.sum()


def sample_subject_span(
    starts: Sequence[int],
    ends: Sequence[int],
    generator: torch.Generator,
    *,
    negatives: bool = True,
) -> tuple[int, int]:
    """The article's training span: start uniform among subject starts, end uniform among subject
    ends ≥ start (may pair a start with another subject's end: a deliberate negative).

    `negatives=False` (an ablation) draws one subject uniformly and keeps its own end; `starts`
    and `ends` are then the subjects' paired starts and ends.
    """
    i = int(torch.randint(len(starts), (1,), generator=generator))
    if not negatives:
        return starts[i], ends[i]
    s = starts[i]
    later = [e for e in ends if e >= s]
    if not later:  # cannot happen when every start has its own end; keep the subject's own
        return s, s
    return s, later[int(torch.randint(len(later), (1,), generator=generator))]


def decode_subjects(p_s: Tensor, threshold: float = 0.4) -> list[tuple[int, int]]:
    """Spans from P_s (L, 2): each start > threshold paired with the nearest end ≥ it."""
    starts = torch.nonzero(p_s[:, 0] > threshold).flatten().tolist()
    ends = torch.nonzero(p_s[:, 1] > threshold).flatten().tolist()
    spans = []
    for i in starts:
        later = [j for j in ends if j >= i]
        if later:
            spans.append((i, later[0]))
    return spans


def decode_objects(p_o: Tensor, threshold: float = 0.4) -> list[tuple[int, int, int]]:
    """(start, end, predicate) from P_o (L, n_p, 2): each (i, p) with start > threshold paired
    with the first j ≥ i whose end prob for the same p is > threshold."""
    out = []
    starts = torch.nonzero(p_o[:, :, 0] > threshold).tolist()
    end_ok = p_o[:, :, 1] > threshold
    for i, p in starts:
        js = torch.nonzero(end_ok[i:, p]).flatten()
        if len(js):
            out.append((i, i + int(js[0]), p))
    return out


def set_prf(pred: Iterable[set], gold: Iterable[set]) -> dict[str, float]:
    """Micro precision, recall, F1 over per-example sets (e.g. of SPO triples)."""
    tp = n_pred = n_gold = 0
    for p, g in zip(pred, gold, strict=True):
        tp += len(set(p) & set(g))
        n_pred += len(p)
        n_gold += len(g)
    prec = tp / n_pred if n_pred else 0.0
    rec = tp / n_gold if n_gold else 0.0
    f1 = 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0
    return {"precision": prec, "recall": rec, "f1": f1}


# ----------------------------------------------------------------------------- event extraction
class EventTagger(nn.Module):
    """Emissions Dense(K) over H, then a CRF (or plain per-token softmax when `crf=False`)."""

    def __init__(
        self, d: int, n_labels: int, *, crf: bool = True, lr_multiplier: float = 100.0
    ) -> None:
        super().__init__()
        self.emit = nn.Linear(d, n_labels)
        self.crf = CRF(n_labels, lr_multiplier=lr_multiplier) if crf else None

    def loss(self, h: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        e = self.emit(h)
        if self.crf is not None:
            return self.crf.nll(e, labels, mask)
        ce = F.cross_entropy(e.transpose(1, 2), labels, reduction="none")
        return (ce * mask).sum() / mask.sum()

    @torch.no_grad()
    def decode(self, h: Tensor, mask: Tensor) -> list[list[int]]:
        e = self.emit(h)
        if self.crf is not None:
            return self.crf.viterbi(e, mask, force_first=0)  # [CLS] is O
        lengths = mask.long().sum(1).tolist()
        best = e.argmax(-1)
        return [best[b, : lengths[b]].tolist() for b in range(len(lengths))]


def bio_decode(labels: Sequence[int]) -> list[tuple[int, int, int]]:
    """Spans (start, end inclusive, pair k) from labels 0 = O, 2k+1 = B-k, 2k+2 = I-k.

    As the article: a span starts at an odd label and extends over the following even labels
    (no check that the I matches the B's pair); an I after O is dropped.
    """
    spans: list[tuple[int, int, int]] = []
    cur: list[int] | None = None
    for t, y in enumerate(labels):
        if y % 2 == 1:
            if cur:
                spans.append((cur[0], cur[1], cur[2]))
            cur = [t, t, (y - 1) // 2]
        elif y > 0 and cur is not None:
            cur[1] = t
        else:
            if cur:
                spans.append((cur[0], cur[1], cur[2]))
            cur = None
    if cur:
        spans.append((cur[0], cur[1], cur[2]))
    return spans


def longest_common_substring(a: str, b: str) -> int:
    """Length of the longest common *substring* (contiguous) of a and b."""
    best, prev = 0, [0] * (len(b) + 1)
    for ca in a:
        cur = [0] * (len(b) + 1)
        for j, cb in enumerate(b, start=1):
            if ca == cb:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def event_soft_f1(pred: Sequence[dict], gold: Sequence[dict]) -> float:
    """DuEE-style soft F1: per text, dicts key → argument; X = Σ over shared keys of
    2·LCS(p, g)/(|p| + |g|); F1 = 2X / (Y + Z) with Y, Z the numbers of predicted, gold keys."""
    x = y = z = 0.0
    for p, g in zip(pred, gold, strict=True):
        y += len(p)
        z += len(g)
        for k in set(p) & set(g):
            x += 2 * longest_common_substring(p[k], g[k]) / (len(p[k]) + len(g[k]))
    return 2 * x / (y + z) if y + z else 0.0


# ----------------------------------------------------------------------------- reading compr.
class SpanExtractor(nn.Module):
    """Dense(2) over H; softmax over the sequence axis (only padding masked) for start and end."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d, 2)

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        """(B, L, d), mask (B, L) → log-probabilities (B, 2, L)."""
        z = self.proj(h).transpose(1, 2)  # (B, 2, L)
        z = z.masked_fill(~mask.bool()[:, None, :], -torch.inf)
        return z.log_softmax(-1)

    def loss(self, logp: Tensor, starts: Tensor, ends: Tensor) -> Tensor:
        """Mean of the start and end cross-entropies."""
        return (
            -(logp[:, 0].gather(1, starts[:, None]) + logp[:, 1].gather(1, ends[:, None])).mean()
            / 2
        )


def decode_span(
    log_p_start: Tensor, log_p_end: Tensor, allowed: Tensor, max_len: int = 16
) -> tuple[int, int]:
    """argmax over s ≤ e < s + max_len, s and e allowed, of p_start(s) · p_end(e). Inputs (L,)."""
    n = log_p_start.shape[0]
    score = log_p_start[:, None] + log_p_end[None, :]  # (L, L): [s, e]
    s_idx = torch.arange(n)[:, None]
    e_idx = torch.arange(n)[None, :]
    ok = (e_idx >= s_idx) & (e_idx < s_idx + max_len) & allowed[:, None] & allowed[None, :]
    score = score.masked_fill(~ok, -torch.inf)
    flat = int(score.flatten().argmax())
    return flat // n, flat % n


def mrc_char_f1(pred: str, gold: str) -> float:
    """Character-overlap F1 (the DuReader / CMRC evaluation on Chinese)."""
    from collections import Counter

    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    p, r = common / len(pred), common / len(gold)
    return 2 * p * r / (p + r)


# ----------------------------------------------------------------------------- scores, intervals
def micro_counts(pred: Iterable[set], gold: Iterable[set]) -> np.ndarray:
    """Per-item (true positives, predicted, gold) of sets, shape (n, 3): the rows add up to the
    counts behind `set_prf`, and resampling rows bootstraps the micro F1."""
    rows = [(len(set(p) & set(g)), len(p), len(g)) for p, g in zip(pred, gold, strict=True)]
    return np.asarray(rows, dtype=float).reshape(-1, 3)


def micro_f1(counts: np.ndarray) -> float:
    """Micro F1 = 2 Σ tp / (Σ predicted + Σ gold) of `micro_counts` rows (0 when both are 0)."""
    tp, n_pred, n_gold = np.asarray(counts, dtype=float).sum(0)
    return float(2 * tp / (n_pred + n_gold)) if n_pred + n_gold else 0.0


def micro_f1_interval(
    a: np.ndarray, b: np.ndarray | None = None, *, seed: int = 0
) -> tuple[float, tuple[float, float]]:
    """Micro F1 of the counts `a`, or F1(a) − F1(b) of two systems scored on the same items,
    with a 95% percentile bootstrap interval resampling items (jointly for a and b)."""
    a = np.asarray(a, dtype=float)
    if b is not None and np.shape(b) != a.shape:
        raise ValueError(f"paired systems need the same items, got {a.shape} and {np.shape(b)}")

    def stat(idx: np.ndarray) -> float:
        i = idx.astype(int)
        return micro_f1(a[i]) - (micro_f1(np.asarray(b)[i]) if b is not None else 0.0)

    items = np.arange(len(a))
    return stat(items), bootstrap_interval(items, stat, seed=seed)


# ----------------------------------------------------------------------------- competition files
def flatten_relations(relations: Iterable[SPO]) -> list[tuple[str, tuple[str, str], str]]:
    """The article's flattening of DuIE 2.0: one (subject, (predicate, slot), value) per object
    slot, so that 饰演's @value and inWork are two predicates of ordinary triple extraction."""
    return [(r.subject, (r.predicate, slot), v) for r in relations for slot, v in r.object]


def combine_relations(
    triples: Iterable[tuple[str, tuple[str, str], str]],
    types: dict[str, tuple[str, dict[str, str]]],
) -> list[SPO]:
    """Flattened (subject, (predicate, slot), value) back into DuIE 2.0 SPOs.

    The article merges all triples of one (subject, predicate) into one object dict, which keeps
    only the last of several @value objects (a film's two actors); here each @value object is
    its own SPO and the predicate's other slots (inWork, onDate, …) of that subject join every
    one of them. Slots without an @value object are dropped (the scorer needs @value). Types
    come from `types[predicate] = (subject_type, {slot: object type})`.
    """
    values: dict[tuple[str, str], list[str]] = {}
    extra: dict[tuple[str, str], dict[str, str]] = {}
    for s, (p, slot), v in triples:
        if slot == "@value":
            values.setdefault((s, p), [])
            if v not in values[s, p]:
                values[s, p].append(v)
        else:
            extra.setdefault((s, p), {}).setdefault(slot, v)  # the first of a slot's values
    out = []
    for (s, p), objs in values.items():
        s_type, o_types = types.get(p, ("", {}))
        for v in objs:
            obj = (("@value", v), *sorted(extra.get((s, p), {}).items()))
            out.append(SPO(s, p, obj, s_type, tuple((k, o_types.get(k, "")) for k, _ in obj)))
    return out


def _norm(text: str) -> str:
    return "".join(text.lower().split())


def spo_key(spo: SPO) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """What the scorer compares: subject, predicate and the object's sorted (slot, value)
    pairs, case- and whitespace-insensitive (the article compares tokenised forms)."""
    obj = tuple(sorted((k, _norm(v)) for k, v in spo.object))
    return _norm(spo.subject), spo.predicate, obj


def event_arguments(events: Iterable[Event]) -> dict[str, tuple[str, str]]:
    """The article's DuEE labels: argument text → (event_type, role); an argument playing roles
    in several events keeps the last (the multi-event collapse of specs/nlp.md 5.5)."""
    return {arg: (ev.event_type, role) for ev in events for role, arg, _ in ev.arguments}


_PUNCT = re.compile(r"[\s\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
                    r"!-/:-@\[-`{-~·、—…‘’“”《》]")  # fmt: skip


def mrc_scores(pred: str, golds: Sequence[str]) -> tuple[float, float]:
    """DuReader's (EM, F1) of one answer: after removing punctuation and spaces and lowering
    case, exact match against any gold answer and the best character F1 (`mrc_char_f1`)."""
    p = _PUNCT.sub("", pred.lower())
    gs = [_PUNCT.sub("", g.lower()) for g in golds]
    if not gs:
        return 0.0, 0.0
    em = float(any(p == g for g in gs))
    f1 = max(mrc_char_f1(p, g) if p and g else float(p == g) for g in gs)
    return em, f1


# ----------------------------------------------------------------------------- proxy tasks
class _Line(Protocol):
    """A tagged corpus line (kexue.data.TaggedSentence)."""

    words: tuple[str, ...]
    tags: tuple[str, ...]

    @property
    def text(self) -> str: ...

    @property
    def entities(self) -> list[tuple[int, int, str]]: ...


#: Flattened predicates (subject type, object type, a verb between the two in the clause), the
#: way the article flattens 饰演_@value / 饰演_inWork: the entity types fix a pair's predicate
#: only up to whether the clause links the two through a verb (gold POS tag v*), which the model
#: must read off the characters.
PROXY_PREDICATES = (
    ("PER", "LOC", True), ("PER", "LOC", False), ("PER", "ORG", True),
    ("PER", "ORG", False), ("ORG", "LOC", True), ("ORG", "LOC", False),
)  # fmt: skip
_WH = {"PER": "谁", "LOC": "哪里", "ORG": "哪个机构"}


@dataclass(frozen=True)
class ProxyTasks:
    """The three proxy tasks (specs/nlp.md P7–P9), no test text in the training data.

    Attributes:
        ner_train, ner_test: (sentence, entities (start, end exclusive, type)).
        re_train, re_test: (sentence, triples (s_start, s_end, predicate, o_start, o_end)),
            char spans with exclusive ends, predicate an index into PROXY_PREDICATES.
        mrc_train, mrc_test: (question, paragraph, answer start, answer end exclusive).
    """

    ner_train: list[tuple[str, list[tuple[int, int, str]]]]
    ner_test: list[tuple[str, list[tuple[int, int, str]]]]
    re_train: list[tuple[str, list[tuple[int, int, int, int, int]]]]
    re_test: list[tuple[str, list[tuple[int, int, int, int, int]]]]
    mrc_train: list[tuple[str, str, int, int]]
    mrc_test: list[tuple[str, str, int, int]]


def _clauses(text: str) -> np.ndarray:
    """Clause id of each character (clauses end at ，；)."""
    return np.cumsum([0] + [ch in "，；" for ch in text])[:-1]


def _proxy_triples(
    text: str, ents: list[tuple[int, int, str]], verbs: list[tuple[int, int]]
) -> list[tuple[int, int, int, int, int]]:
    clause, out = _clauses(text), []
    for a in ents:
        for b in ents:
            if (a[2], b[2], True) not in PROXY_PREDICATES or clause[a[0]] != clause[b[0]]:
                continue
            lo, hi = (a[1], b[0]) if a[0] < b[0] else (b[1], a[0])
            via = any(lo <= s and e <= hi for s, e in verbs)
            out.append((a[0], a[1], PROXY_PREDICATES.index((a[2], b[2], via)), b[0], b[1]))
    return out


def _pieces(line: _Line, maxlen: int) -> list[tuple[str, list, list[tuple[int, int]]]]:
    """Sentences (8..maxlen chars, ≥ 1 entity) of a line with their entities and verb spans."""
    text, ents, verbs, pos = line.text, line.entities, [], 0
    for word, tag in zip(line.words, line.tags, strict=True):
        if tag.startswith("v"):
            verbs.append((pos, pos + len(word)))
        pos += len(word)
    out, start = [], 0
    for m in re.finditer(r"[。！？；]", text + "。"):
        end = min(m.end(), len(text))
        inner = [(a - start, b - start, k) for a, b, k in ents if a >= start and b <= end]
        if 8 <= end - start <= maxlen and inner:
            vs = [(a - start, b - start) for a, b in verbs if a >= start and b <= end]
            out.append((text[start:end], inner, vs))
        start = end
    return out


def _cloze(line: _Line, maxpara: int, max_question: int) -> list[tuple[str, str, int, int]]:
    """One question per sentence of a paragraph ≤ maxpara chars: the clause of its first entity
    with the entity replaced by 谁/哪里/哪个机构; the answer is the entity's first occurrence."""
    text = line.text
    if len(text) > maxpara:
        return []
    out, done = [], set()
    for a, b, k in line.entities:
        sent = len(re.findall(r"[。！？；]", text[:a]))  # sentence index of the entity
        if sent in done:
            continue
        done.add(sent)
        lo = max([i + 1 for i, ch in enumerate(text[:a]) if ch in "，；。！？"], default=0)
        stops = [i for i, ch in enumerate(text) if ch in "，；。！？" and i >= b]
        hi = min(stops, default=len(text))
        question = text[lo:a] + _WH[k] + text[b:hi]
        if len(question) <= max_question:
            first = text.find(text[a:b])
            out.append((question, text, first, first + b - a))
    return out


def proxy_tasks(
    train: Sequence[_Line],
    test: Sequence[_Line],
    *,
    maxlen: int = 60,
    maxpara: int = 230,
    max_question: int = 40,
) -> ProxyTasks:
    """Build P7 (relations), P8 (tagging), P9 (cloze reading) from tagged corpus lines.

    Tagging and relations use sentences of ≤ maxlen characters, reading uses whole paragraphs
    (lines) of ≤ maxpara characters as contexts. A test sentence whose text occurs among the
    training sentences, and a test question whose question or paragraph occurs in training,
    is dropped (the corpus repeats datelines and headlines).
    """
    sents = {
        name: [p for line in lines for p in _pieces(line, maxlen)]
        for name, lines in (("train", train), ("test", test))
    }
    seen = {t for t, _, _ in sents["train"]}
    sents["test"] = [s for s in sents["test"] if s[0] not in seen]
    ner = {k: [(t, e) for t, e, _ in v] for k, v in sents.items()}
    rel = {k: [(t, _proxy_triples(t, e, vs)) for t, e, vs in v] for k, v in sents.items()}
    rel = {k: [(t, tr) for t, tr in v if tr] for k, v in rel.items()}
    mrc_train = [q for line in train for q in _cloze(line, maxpara, max_question)]
    q_seen, c_seen = {q for q, *_ in mrc_train}, {c for _, c, *_ in mrc_train}
    mrc_test = [
        item
        for line in test
        for item in _cloze(line, maxpara, max_question)
        if item[0] not in q_seen and item[1] not in c_seen
    ]
    return ProxyTasks(ner["train"], ner["test"], rel["train"], rel["test"], mrc_train, mrc_test)


# ----------------------------------------------------------------------------- rule baselines
def type_rule_triples(
    text: str, ents: Iterable[tuple[int, int, str]], majority: dict[tuple[str, str], int]
) -> list[tuple[int, int, int, int, int]]:
    """The entity-type rule: every ordered pair of entities in one clause whose types have a
    predicate gets the type pair's most frequent training predicate `majority[(ts, to)]`."""
    clause, ents = _clauses(text), list(ents)
    return [
        (a[0], a[1], majority[(a[2], b[2])], b[0], b[1])
        for a in ents
        for b in ents
        if (a[2], b[2]) in majority and clause[a[0]] == clause[b[0]]
    ]


def align_cloze(
    question: str, context: str, wh_words: Sequence[str] = ("哪个机构", "哪里", "谁"),
    max_len: int = 16,
) -> str:  # fmt: skip
    """The string-alignment rule for cloze questions: find the question's text left and right
    of its question word in the context and answer what lies between ("" if nothing aligns)."""
    hits = [(question.find(w), w) for w in wh_words if w in question]
    if not hits:
        return ""
    i, wh = min(hits)
    left, right = question[:i], question[i + len(wh) :]
    starts = [m.end() for m in re.finditer(re.escape(left), context)] if left else []
    for s in starts:
        e = context.find(right, s + 1) if right else s + 1
        if right and 0 < e - s <= max_len:
            return context[s:e]
        if not right:  # the entity ends its clause: answer up to the next punctuation
            stop = re.search(r"[，；。！？、]", context[s:])
            e = s + (stop.start() if stop else len(context) - s)
            return context[s : min(e, s + max_len)]
    if right:  # the entity opens its clause: answer back to the previous punctuation
        e = context.find(right)
        if e > 0:
            stops = [j + 1 for j, ch in enumerate(context[:e]) if ch in "，；。！？、"]
            lo = max(stops, default=0)
            return context[max(lo, e - max_len) : e]
    return ""


def lexicon_tag(
    text: str, lexicon: dict[str, str], max_len: int = 10
) -> list[tuple[int, int, str]]:
    """The lexicon rule for tagging: greedy longest match, left to right, of strings seen as
    entities in training (`lexicon` maps each to its most frequent type); spans end exclusive."""
    out, i = [], 0
    while i < len(text):
        for n in range(min(max_len, len(text) - i), 1, -1):
            if text[i : i + n] in lexicon:
                out.append((i, i + n, lexicon[text[i : i + n]]))
                i += n
                break
        else:
            i += 1
    return out


def entity_lexicon(items: Iterable[tuple[str, Iterable[tuple[int, int, str]]]]) -> dict[str, str]:
    """String → most frequent type over the (text, entities) training items (≥ 2 chars)."""
    counts: dict[str, Counter] = {}
    for text, ents in items:
        for a, b, k in ents:
            if b - a >= 2:
                counts.setdefault(text[a:b], Counter())[k] += 1
    return {w: c.most_common(1)[0][0] for w, c in counts.items()}
