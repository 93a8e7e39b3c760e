r"""Recipe: the three LIC2020 baselines on People's Daily proxy tasks with tiny random BERTs.

Article: bert4keras在手，baseline我有：百度LIC2020 (see kexue.bert.lic2020, kexue.bert.crf)
Data:    kexue.data.peoples_daily, fixed train/test split, paragraphs cut into sentences of at
         most `maxlen` characters, three proxy tasks:
           relation: triples (PER, 人物-地点, LOC), (PER, 人物-机构, ORG), (ORG, 机构-地点, LOC)
                     for every such entity pair inside one clause (split on ，；)
           tagging:  BIO over PER/LOC/ORG, CRF (lr multiplier 100) vs per-token softmax
           reading:  question = the clause holding an entity with it replaced by
                     谁/哪里/哪个机构, context = the sentence, answer = the entity
Run:     kexue run lic2020                 (full)
         kexue run lic2020 --budget quick  (about 30 s)
         kexue run lic2020 --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors curves.png

Relation extraction uses the article's heads exactly: P_s = σ(·)², the object branch from the
last block's pre-LayerNorm residual through a subject-conditioned LayerNorm, P_o = σ(·)⁴, the
deliberate start/foreign-end negative spans, threshold 0.4. Reading comprehension decodes the
best span inside the context with length < 16.
Claims: relation extraction reaches a useful SPO F1 (predicting nothing scores 0); the CRF
tagger is at least as good as the softmax one; span extraction answers the cloze questions.

Deviations:
    - proxy tasks on People's Daily instead of the LIC2020 data (none can be downloaded), with
      tiny random-init BERTs instead of a pre-trained one.
Recorded: `kexue show lic2020` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
import transformers as hf

from kexue.bert import (
    CharTokenizer,
    EventTagger,
    RelationHeads,
    SpanExtractor,
    bio_decode,
    decode_objects,
    decode_span,
    decode_subjects,
    encode_with_pre_ln,
    event_soft_f1,
    mrc_char_f1,
    sample_subject_span,
    set_prf,
    tiny_config,
)
from kexue.bert.backbone import PAD
from kexue.data import peoples_daily
from kexue.recipes import _plot
from kexue.runs import Claim, RunDir, make_accelerator, seed_everything
from kexue.seq import pad_batch


@dataclass(frozen=True)
class Config:
    seed: int = 0
    maxlen: int = 60  # characters per sentence
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    lr: float = 1e-3
    batch_size: int = 32
    re_steps: int = 1000
    ner_steps: int = 500  # each of the CRF and softmax taggers
    mrc_steps: int = 800
    crf_lr_multiplier: float = 100.0
    threshold: float = 0.4
    n_test: int = 400  # test examples per task


QUICK = {"re_steps": 200, "ner_steps": 120, "mrc_steps": 150, "n_test": 150}
SMOKE = {"re_steps": 3, "ner_steps": 3, "mrc_steps": 3, "n_test": 10, "maxlen": 30}

CLAIMS = (
    Claim(
        "relation extraction (half-pointer half-tagging + CLN) reaches SPO F1 ≥ 0.3 "
        "(predicting no triple scores 0)",
        "re_f1",
        ">=",
        0.3,
        ("quick", "full"),
    ),
    Claim(
        "the CRF tagger's exact entity F1 is at least the softmax tagger's",
        "ner_crf_minus_softmax_f1",
        ">=",
        0.0,
        ("quick", "full"),
    ),
    Claim(
        "span extraction answers the cloze questions: exact match ≥ 0.3 (random span ≈ 0)",
        "mrc_em",
        ">=",
        0.3,
        ("quick", "full"),
    ),
)

PREDICATES = {("PER", "LOC"): 0, ("PER", "ORG"): 1, ("ORG", "LOC"): 2}
TYPES = ("PER", "LOC", "ORG")
WH = {"PER": "谁", "LOC": "哪里", "ORG": "哪个机构"}


def _sentences(split: str, maxlen: int) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """Sentences (≤ maxlen chars, ≥ 1 entity) with their entity spans."""
    out = []
    for s in peoples_daily().split(split):
        text, ents = s.text, s.entities
        start = 0
        for m in re.finditer(r"[。！？；]", text + "。"):
            end = min(m.end(), len(text))
            piece = text[start:end]
            inner = [(a - start, b - start, k) for a, b, k in ents if a >= start and b <= end]
            if 8 <= len(piece) <= maxlen and inner:
                out.append((piece, inner))
            start = end
    return out


def _triples(text: str, ents: list[tuple[int, int, str]]) -> list[tuple]:
    clause = np.cumsum([0] + [ch in "，；" for ch in text])  # clause id of each char
    out = []
    for a in ents:
        for b in ents:
            p = PREDICATES.get((a[2], b[2]))
            if p is not None and clause[a[0]] == clause[b[0]]:
                out.append((a[0], a[1], p, b[0], b[1]))  # char spans, end exclusive
    return out


def _encoder(cfg: Config, vocab: int, seed: int) -> hf.BertModel:
    torch.manual_seed(seed)
    conf = tiny_config("bert", vocab, hidden=cfg.hidden, layers=cfg.layers, heads=cfg.heads,
                       max_position=2 * cfg.maxlen + 8)  # fmt: skip
    return hf.BertModel(conf, add_pooling_layer=False)


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    train, test = _sentences("train", cfg.maxlen), _sentences("test", cfg.maxlen)
    tok = CharTokenizer([t for t, _ in train], min_count=2)
    V = len(tok)

    # relation data: sentences with ≥ 1 triple
    re_train = [(t, _triples(t, e)) for t, e in train]
    re_train = [(t, tr) for t, tr in re_train if tr]
    re_test = [(t, tr) for t, tr in ((t, _triples(t, e)) for t, e in test) if tr][: cfg.n_test]

    # MRC data: the first entity of each sentence
    def cloze(text: str, ents: list) -> tuple[str, str, int, int]:
        a, b, k = ents[0]
        lo = max([i + 1 for i, ch in enumerate(text[:a]) if ch in "，；"], default=0)
        hi = min([i for i, ch in enumerate(text) if ch in "，；。" and i >= b], default=len(text))
        question = text[lo:a] + WH[k] + text[b:hi]
        return question, text, a, b

    mrc_train = [cloze(t, e) for t, e in train]
    mrc_test = [cloze(t, e) for t, e in test][: cfg.n_test]
    ner_test = test[: cfg.n_test]

    enc = {
        name: _encoder(cfg, V, cfg.seed + i) for i, name in enumerate(("re", "crf", "soft", "mrc"))
    }
    heads = {
        "re": RelationHeads(cfg.hidden, len(PREDICATES)),
        "crf": EventTagger(
            cfg.hidden, 2 * len(TYPES) + 1, crf=True, lr_multiplier=cfg.crf_lr_multiplier
        ),
        "soft": EventTagger(cfg.hidden, 2 * len(TYPES) + 1, crf=False),
        "mrc": SpanExtractor(cfg.hidden),
    }
    names = list(enc)
    opts = {
        n: torch.optim.Adam([*enc[n].parameters(), *heads[n].parameters()], lr=cfg.lr)
        for n in names
    }
    prepared = acc.prepare(*enc.values(), *heads.values(), *opts.values())
    enc = dict(zip(names, prepared[:4], strict=True))
    heads = dict(zip(names, prepared[4:8], strict=True))
    opts = dict(zip(names, prepared[8:], strict=True))
    state = {f"enc_{n}": enc[n] for n in names} | {f"head_{n}": heads[n] for n in names}
    state |= {f"opt_{n}": opts[n] for n in names} | {"rng": g}
    start = out.restore(state)

    def ner_labels(text: str, ents: list) -> list[int]:
        y = [0] * (len(text) + 2)
        for a, b, k in ents:
            t = TYPES.index(k)
            y[a + 1] = 2 * t + 1
            for i in range(a + 2, b + 1):
                y[i] = 2 * t + 2
        return y

    total = cfg.re_steps + cfg.ner_steps + cfg.mrc_steps
    for step in out.progress(range(start, total), "re, ner, mrc"):
        if step < cfg.re_steps:  # ---- relation extraction
            idx = torch.randint(len(re_train), (cfg.batch_size,), generator=g).tolist()
            texts = [re_train[i][0] for i in idx]
            ids = pad_batch([tok.encode(t)[0] for t in texts])
            mask = (ids != PAD).long()
            L = ids.shape[1]
            y_s = torch.zeros(len(idx), L, 2)
            y_o = torch.zeros(len(idx), L, len(PREDICATES), 2)
            spans = torch.zeros(len(idx), 2, dtype=torch.long)
            for r, i in enumerate(idx):
                triples = re_train[i][1]
                subs = sorted({(a + 1, b) for a, b, *_ in triples})  # token indices (end incl.)
                for s, e in subs:
                    y_s[r, s, 0] = y_s[r, e, 1] = 1
                s, e = sample_subject_span([s for s, _ in subs], [e for _, e in subs], g)
                spans[r] = torch.tensor([s, e])
                for a, b, p, c, d in triples:
                    if (a + 1, b) == (s, e):
                        y_o[r, c + 1, p, 0] = y_o[r, d, p, 1] = 1
            h, h_pre = encode_with_pre_ln(enc["re"], ids, torch.zeros_like(ids), mask)
            z_s = heads["re"].subject_logits(h)
            z_o = heads["re"].object_logits(h_pre, spans)
            l_s, l_o = heads["re"].loss(z_s, z_o, y_s, y_o, mask)
            loss, name, row = l_s + l_o, "re", {"re_loss_s": l_s.item(), "re_loss_o": l_o.item()}
            opts[name].zero_grad()
            acc.backward(loss)
            opts[name].step()
        elif step < cfg.re_steps + cfg.ner_steps:  # ---- tagging: CRF and softmax
            idx = torch.randint(len(train), (cfg.batch_size,), generator=g).tolist()
            ids = pad_batch([tok.encode(train[i][0])[0] for i in idx])
            labels = pad_batch([ner_labels(*train[i]) for i in idx])
            mask = (ids != PAD).long()
            row = {}
            for name in ("crf", "soft"):
                h = enc[name](input_ids=ids, attention_mask=mask).last_hidden_state
                loss = heads[name].loss(h, labels, mask)
                opts[name].zero_grad()
                acc.backward(loss)
                opts[name].step()
                row[f"ner_loss_{name}"] = loss.item()
        else:  # ---- reading comprehension
            idx = torch.randint(len(mrc_train), (cfg.batch_size,), generator=g).tolist()
            enc_pairs = [tok.encode(mrc_train[i][0], mrc_train[i][1]) for i in idx]
            ids = pad_batch([p[0] for p in enc_pairs])
            segs = pad_batch([p[1] for p in enc_pairs])
            mask = (ids != PAD).long()
            off = torch.tensor([len(p[1]) - sum(p[1]) for p in enc_pairs])  # [CLS] q [SEP]
            starts = off + torch.tensor([mrc_train[i][2] for i in idx])
            ends = off + torch.tensor([mrc_train[i][3] - 1 for i in idx])
            h = enc["mrc"](
                input_ids=ids, token_type_ids=segs, attention_mask=mask
            ).last_hidden_state
            loss = heads["mrc"].loss(heads["mrc"](h, mask), starts, ends)
            opts["mrc"].zero_grad()
            acc.backward(loss)
            opts["mrc"].step()
            row = {"mrc_loss": loss.item()}
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(total, state)

    for m in [*enc.values(), *heads.values()]:
        m.eval()
    metrics: dict[str, float] = {}
    with torch.no_grad():
        # ---- relation extraction: SPO sets compared as strings
        pred, gold = [], []
        for text, triples in out.progress(re_test, "decoding re", len(re_test)):
            ids = torch.tensor([tok.encode(text)[0]])
            mask = torch.ones_like(ids)
            h, h_pre = encode_with_pre_ln(enc["re"], ids, torch.zeros_like(ids), mask)
            p_s = torch.sigmoid(heads["re"].subject_logits(h))[0] ** heads["re"].subject_power
            found = set()
            for s, e in decode_subjects(p_s, cfg.threshold):
                z_o = heads["re"].object_logits(h_pre, torch.tensor([[s, e]]))
                p_o = torch.sigmoid(z_o)[0] ** heads["re"].object_power
                for c, d, p in decode_objects(p_o, cfg.threshold):
                    found.add((text[s - 1 : e], p, text[c - 1 : d]))
            pred.append(found)
            gold.append({(text[a:b], p, text[c:d]) for a, b, p, c, d in triples})
        r = set_prf(pred, gold)
        metrics.update(re_precision=r["precision"], re_recall=r["recall"], re_f1=r["f1"])
        metrics["re_test_sentences"] = float(len(re_test))

        # ---- tagging: exact entity F1, soft F1 (keyed by type), invalid transitions
        ids = pad_batch([tok.encode(t)[0] for t, _ in ner_test])
        mask = (ids != PAD).long()
        gold_spans = [{(a + 1, b, TYPES.index(k)) for a, b, k in e} for _, e in ner_test]
        for name in ("crf", "soft"):
            h = enc[name](input_ids=ids, attention_mask=mask).last_hidden_state
            paths = heads[name].decode(h, mask)
            pred_spans = [set(bio_decode(p)) for p in paths]
            metrics[f"ner_{name}_f1"] = set_prf(pred_spans, gold_spans)["f1"]
            pd_ = [
                {TYPES[k]: t[a - 1 : b] for a, b, k in sorted(s)}
                for s, (t, _) in zip(pred_spans, ner_test, strict=False)
            ]
            gd_ = [
                {TYPES[k]: t[a - 1 : b] for a, b, k in sorted(s)}
                for s, (t, _) in zip(gold_spans, ner_test, strict=False)
            ]
            metrics[f"ner_{name}_soft_f1"] = event_soft_f1(pd_, gd_)
            bad = sum(
                1
                for p in paths
                for prev, y in zip(p[:-1], p[1:], strict=False)
                if y > 0 and y % 2 == 0 and prev not in (y - 1, y)
            )
            metrics[f"ner_{name}_invalid_transitions"] = float(bad)
        metrics["ner_crf_minus_softmax_f1"] = metrics["ner_crf_f1"] - metrics["ner_soft_f1"]

        # ---- reading comprehension
        rng = np.random.default_rng(cfg.seed)
        mean_len = np.mean([b - a for _, _, a, b in mrc_train])
        em = f1 = em_free = em_rand = 0.0
        for q, ctx, a, b in out.progress(mrc_test, "decoding mrc", len(mrc_test)):
            ids_l, segs_l = tok.encode(q, ctx)
            ids, segs = torch.tensor([ids_l]), torch.tensor([segs_l])
            off = len(segs_l) - sum(segs_l)
            h = enc["mrc"](
                input_ids=ids, token_type_ids=segs, attention_mask=torch.ones_like(ids)
            ).last_hidden_state
            logp = heads["mrc"](h, torch.ones_like(ids))[0]
            allowed = torch.tensor(segs_l, dtype=torch.bool)
            allowed[-1] = False  # the final [SEP]
            s, e = decode_span(logp[0], logp[1], allowed)
            answer, gold_answer = ctx[s - off : e - off + 1], ctx[a:b]
            em += answer == gold_answer
            f1 += mrc_char_f1(answer, gold_answer)
            s2, e2 = decode_span(logp[0], logp[1], torch.ones_like(allowed), max_len=len(ids_l))
            em_free += (s2 - off, e2 - off + 1) == (a, b)
            rs = int(rng.integers(0, len(ctx)))
            em_rand += ctx[rs : rs + int(round(mean_len))] == gold_answer
        n = len(mrc_test)
        metrics.update(
            mrc_em=em / n,
            mrc_f1=f1 / n,
            mrc_em_unconstrained=em_free / n,
            mrc_em_random_span=em_rand / n,
        )

    if out.is_main:
        keys = ["re_loss_s", "re_loss_o", "ner_loss_crf", "ner_loss_soft", "mrc_loss"]
        out.save_figure(
            _plot.curves(out.history, keys, "LIC2020 proxy tasks: training losses"), "curves.png"
        )
    return metrics
