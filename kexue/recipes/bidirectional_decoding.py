r"""Recipe: synchronous bidirectional decoding against left-to-right and right-to-left seq2seq on
title generation: accuracy at the two ends of the output, ROUGE-L, the leakage symptom.

Article: seq2seq之双向解码, 2019-08-09, https://kexue.fm/archives/6877
         A^l_n = Attention(h^l_n, H^r), A^r_n = Attention(h^r_n, H^l); loss = (CE_l + CE_r)/2
         (see kexue.seq.bidirectional, kexue.seq.decoding)
Data:    kexue.data.csl_titles, split as in the seq2seq-title recipe (train: dev + test 200–999,
         evaluate: test 0–n_eval, 200 at full)
Run:     kexue run bidirectional-decoding                 (full: 3 seeds, about 20 min)
         kexue run bidirectional-decoding --budget quick  (about 2 min)
         kexue run bidirectional-decoding --budget smoke  (a few seconds; claims not judged)
         kexue run bidirectional-decoding --budget article  (the article's code: 100 k steps of
             64, one seed; for a GPU)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         curves.png (training CE, mean over seeds) ends.png (first-4 / last-4 accuracy per model)
         samples.txt (seed 0: gold and the three decodings)

Per seed, three models see the same batches for the same number of steps: L2R (seq2seq with
the prior), R2L (the same model on reversed titles; outputs reversed back) and Bi (two decoders
attending to each other, trained on both CEs). L2R and R2L decode with beam search (k = 3,
'complete'), Bi with the joint bidirectional beam search (k = 3). First-4 accuracy aligns a
decoded title with the gold from the start, last-4 from the end. A decoding claim is judged on
the union of two 95 % intervals: the bootstrap over the titles (seed-averaged; paired, as every
model decodes the same titles) and the t-interval over the seeds; the leakage claim on the
t-interval over the seeds. Teacher-forced CEs are never compared as quality measures (each
direction of Bi sees the other's future tokens).
Claims: L2R is better at the start and R2L at the end; Bi balances the two ends and beats L2R
on ROUGE-L; the leakage shows as Bi's CE_l + CE_r falling below the L2R model's CE.
Numbers and why claims fail: docs/notes/bidirectional-decoding.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from kexue.recipes import _plot, _titles
from kexue.runs import (
    Claim,
    RunDir,
    Statement,
    make_accelerator,
    param,
    prepare_arms,
    seed_everything,
    statements_doc,
)
from kexue.seq import BiSeq2Seq, Seq2Seq, bleu, pad_batch, position_accuracy, rouge_l
from kexue.stats import bootstrap_interval, seed_interval


@dataclass(frozen=True)
class Config:
    seed: int = 0
    seeds: int = param(3, min=1, max=10)  # training replicates (all drawn from `seed`)
    emb: int = 64
    d: int = 64
    heads: int = 4
    head_dim: int = 16
    min_count: int = 2
    max_source: int = 100
    max_title: int = 40
    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    beam_size: int = 3
    n_eval: int = param(200, min=1, max=200)  # held-out test pairs 0..199 decoded
    data: str | None = None


DATA = _titles.DATA  # a CSL title folder (dev.tsv, test.tsv)

QUICK = {"steps": 30, "n_eval": 20, "max_source": 60}
SMOKE = {"steps": 2, "seeds": 1, "n_eval": 2, "d": 16, "emb": 16, "heads": 2, "head_dim": 8,
         "max_source": 40, "max_title": 12}  # fmt: skip
# The article's settings are its code's (bojone/seq2seq seq2seq_bidecoder.py; the text gives none
# of its own): min_count 32, maxlen 400 characters of content, char_size 128, z_dim 128 (BiLSTM
# 64 per direction, decoder LSTMs 128), attention 8 heads × 16, batch 64, Adam 1e-3, 100 epochs
# of 1000 steps, bidirectional beam search topk 3 over at most 64 characters (gen_sent maxlen =
# 64; here max_title also truncates the training titles, which the code cuts at 398). One
# model: one seed.
ARTICLE = {
    "seeds": 1, "emb": 128, "d": 128, "heads": 8, "head_dim": 16, "min_count": 32,
    "max_source": 400, "max_title": 64, "batch_size": 64, "lr": 1e-3, "steps": 100_000,
    "beam_size": 3,
}  # fmt: skip

ARMS = ("l2r", "r2l", "bi")

CLAIMS = (
    Claim(
        "L2R decoding is more accurate on the first 4 characters than on the last 4",
        "l2r_first_minus_last",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "R2L decoding is more accurate on the last 4 characters than on the first 4",
        "r2l_last_minus_first",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "bidirectional decoding balances the two ends (|first − last| below both one-way models')",
        "bi_balance_margin",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "bidirectional decoding improves generation over L2R (char ROUGE-L F)",
        "bi_minus_l2r_rouge_l",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "leakage: the Bi model's CE_l + CE_r falls below the L2R model's CE under teacher forcing",
        "bi_ce_sum_minus_l2r_ce",
        "<",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
)

STATEMENTS = (
    Statement(
        "L2R decoding is more accurate on the first tokens than on the last (40.21 vs 35.10 %)",
        "claim",
        "l2r_first_minus_last",
    ),
    Statement(
        "R2L decoding is more accurate on the last tokens than on the first (39.47 vs 35.67 %)",
        "claim",
        "r2l_last_minus_first",
    ),
    Statement(
        "bidirectional decoding removes the asymmetry between the two ends",
        "claim",
        "bi_balance_margin",
    ),
    Statement(
        "bidirectional decoding raises the quality of the generated text",
        "claim",
        "bi_minus_l2r_rouge_l",
    ),
    Statement(
        "leakage: late in training CE_l + CE_r of the Bi model falls below a one-way model's CE",
        "claim",
        "bi_ce_sum_minus_l2r_ce",
    ),
    Statement(
        "each direction attends only to the other's already-decoded steps",
        "test",
        "tests/seq/test_bidirectional.py::test_alignment_is_causal_by_step",
    ),
    Statement(
        "the loss is the mean of the two directions' token cross-entropies",
        "test",
        "tests/seq/test_bidirectional.py::test_losses_are_the_two_directional_cross_entropies",
    ),
    Statement(
        "R2L uses the L2R end token as its start and the start token as its end",
        "test",
        "tests/seq/test_bidirectional.py::test_reverse_targets_swaps_the_terminators_and_keeps_pads",
    ),
    Statement(
        "bidirectional beam search averages each direction's scores over the other's k paths",
        "test",
        "tests/seq/test_decoding.py::test_bidirectional_l2r_probability_is_the_mean_over_r2l_paths",
    ),
    Statement(
        "the paper's BLEU gains over one-way models on machine translation (figure)",
        "untestable",
        "machine-translation corpora (NIST Zh-En, WMT) are not available offline",
    ),
    Statement(
        "retraining on the model's own pseudo-labels reduces the leakage (the paper's remedy)",
        "untestable",
        "described, not implemented by the article's code; not reproduced here",
    ),
)


def _balance(gaps: dict[str, np.ndarray], idx: np.ndarray) -> float:
    """min(|gap_l2r|, |gap_r2l|) − |gap_bi| on the titles `idx` (gap = first-4 − last-4 acc)."""
    m = {k: abs(float(v[idx].mean())) for k, v in gaps.items()}
    return min(m["l2r"], m["r2l"]) - m["bi"]


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    # held: test pairs 0..n_eval; a read-only corpus keeps its line index in the run folder
    train, held, vocab, src, tgt = _titles.title_data(cfg, str(out.path / "data-cache"))
    tgt_rev = [vocab.encode(t[: cfg.max_title][::-1], start_end=True) for _, t in train]
    v, hp = len(vocab), {"emb": cfg.emb, "d": cfg.d, "heads": cfg.heads, "head_dim": cfg.head_dim}
    seeds = range(cfg.seeds)
    build = {"l2r": Seq2Seq, "r2l": Seq2Seq, "bi": BiSeq2Seq}
    models = {f"{k}{s}": build[k](v, **hp) for s in seeds for k in ARMS}
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in models.items()}
    state, start = prepare_arms(acc, models, opts, g, out)

    for step in out.progress(range(start, cfg.steps), "training"):
        row = {}
        for s in seeds:  # the three models of a seed share every batch
            idx, x, y = _titles.sample_batch(src, tgt, cfg.batch_size, g)
            y_rev = pad_batch([tgt_rev[i] for i in idx])
            for k in ARMS:
                m = models[f"{k}{s}"]
                m.train()
                if k == "bi":
                    ce_l, ce_r = m.losses(x, y)
                    loss = (ce_l + ce_r) / 2
                    row.update({f"ce_bi_l{s}": ce_l.item(), f"ce_bi_r{s}": ce_r.item()})
                else:
                    loss = m.loss(x, y if k == "l2r" else y_rev)
                    row[f"ce_{k}{s}"] = loss.item()
                _titles.clipped_step(acc, m, opts[f"{k}{s}"], loss)
        for k in ("l2r", "r2l", "bi_l", "bi_r"):  # the mean over seeds, for the figure
            row[f"ce_{k}"] = float(np.mean([row[f"ce_{k}{s}"] for s in seeds]))
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(cfg.steps, state)

    if out.is_main:  # what `kexue generate RUN_DIR` needs: seed 0's bidirectional model, vocab
        out.write_weights("generator.safetensors", acc.unwrap_model(models["bi0"]).state_dict())
        out.write_json("vocab.json", {"itos": vocab.itos})

    # ---- decode the held-out abstracts with every seed's three models
    refs = [t for _, t in held]
    n = len(held)
    first, last, rl, bl = (np.zeros((len(ARMS), cfg.seeds, n)) for _ in range(4))
    seconds = dict.fromkeys(ARMS, 0.0)
    winners, samples = [], []
    for s in seeds:
        net = {k: acc.unwrap_model(models[f"{k}{s}"]).eval() for k in ARMS}
        outs: dict[str, list[str]] = {k: [] for k in ARMS}
        for a, _ in out.progress(held, f"decoding (seed {s})", total=n):
            x = vocab.encode(a[: cfg.max_source])
            t0 = time.process_time()  # per-process CPU time: robust to other jobs
            h = net["l2r"].generate(x, cfg.beam_size, cfg.max_title)
            outs["l2r"].append(vocab.decode(h.tokens))
            t1 = time.process_time()
            h = net["r2l"].generate(x, cfg.beam_size, cfg.max_title)
            outs["r2l"].append(vocab.decode(h.tokens)[::-1])
            t2 = time.process_time()
            h, winner = net["bi"].generate_bidirectional(x, cfg.beam_size, cfg.max_title)
            outs["bi"].append(vocab.decode(h.tokens))
            seconds["bi"] += time.process_time() - t2
            seconds["l2r"] += t1 - t0
            seconds["r2l"] += t2 - t1
            winners.append(winner == "l2r")
        for j, k in enumerate(ARMS):
            pairs = list(zip(outs[k], refs, strict=True))
            ends = np.array([position_accuracy(list(c), list(r), 4) for c, r in pairs])
            first[j, s], last[j, s] = ends[:, 0], ends[:, 1]
            rl[j, s] = [rouge_l(list(c), list(r)) for c, r in pairs]
            bl[j, s] = [bleu(list(c), list(r)) for c, r in pairs]
        if s == 0:
            samples = [
                f"gold: {r}\n  l2r: {outs['l2r'][i]}\n  r2l: {outs['r2l'][i]}\n"
                f"  bi:  {outs['bi'][i]}"
                for i, r in enumerate(refs[:40])
            ]

    # per-title values averaged over the seeds: (n,) per model
    f, la, r = ({k: a[j].mean(0) for j, k in enumerate(ARMS)} for a in (first, last, rl))
    metrics: dict[str, float] = {}
    for j, k in enumerate(ARMS):
        metrics[f"{k}_first4_acc"] = float(f[k].mean())
        metrics[f"{k}_last4_acc"] = float(la[k].mean())
        metrics[f"{k}_rouge_l"] = float(r[k].mean())
        metrics[f"{k}_bleu"] = float(bl[j].mean())
        metrics[f"{k}_decode_s_per_title"] = seconds[k] / max(n * cfg.seeds, 1)
    ix = {k: ARMS.index(k) for k in ARMS}  # (seeds, titles) arrays: first[ix[k]], …
    _titles.record_paired(metrics, "l2r_first_minus_last", first[ix["l2r"]], last[ix["l2r"]])
    _titles.record_paired(metrics, "r2l_last_minus_first", last[ix["r2l"]], first[ix["r2l"]])
    gaps = {k: f[k] - la[k] for k in ARMS}
    intervals = []
    if n >= 2:  # bootstrap over titles: resample title indices, recompute the margin
        intervals.append(bootstrap_interval(np.arange(n), lambda i: _balance(gaps, i.astype(int))))
    if cfg.seeds >= 2:  # and the t-interval over the seeds' margins
        per_seed = [
            _balance({k: first[ix[k], s] - last[ix[k], s] for k in ARMS}, np.arange(n))
            for s in seeds
        ]
        intervals.append(seed_interval(per_seed))
    _titles.record_union(metrics, "bi_balance_margin", _balance(gaps, np.arange(n)), intervals)
    _titles.record_paired(metrics, "bi_minus_l2r_rouge_l", rl[ix["bi"]], rl[ix["l2r"]])
    metrics["bi_l2r_wins_fraction"] = float(np.mean(winners))
    metrics["bi_decode_cost_ratio"] = seconds["bi"] / max(seconds["l2r"], 1e-9)
    tail = out.history[-max(1, min(100, len(out.history))) :]
    last_ce = lambda k: float(np.mean([row[k] for row in tail if k in row]))  # noqa: E731
    metrics["l2r_final_train_ce"] = last_ce("ce_l2r")
    metrics["bi_final_train_ce_sum"] = last_ce("ce_bi_l") + last_ce("ce_bi_r")
    _titles.record_seeds(
        metrics,
        "bi_ce_sum_minus_l2r_ce",
        [last_ce(f"ce_bi_l{s}") + last_ce(f"ce_bi_r{s}") - last_ce(f"ce_l2r{s}") for s in seeds],
    )
    metrics["n_eval"] = float(n)

    if out.is_main:
        fig = _plot.curves(out.history, ["ce_l2r", "ce_r2l", "ce_bi_l", "ce_bi_r"], "training CE")
        out.save_figure(fig, "curves.png")
        groups = {k: [metrics[f"{k}_first4_acc"], metrics[f"{k}_last4_acc"]] for k in ARMS}
        out.save_figure(
            _plot.bars(groups, ["first 4", "last 4"], "accuracy at the ends", "accuracy"),
            "ends.png",
        )
        out.write_text("samples.txt", "\n".join(samples) + "\n")
    return metrics


__doc__ = statements_doc(__doc__, STATEMENTS)
