r"""Recipe: synchronous bidirectional decoding against left-to-right and right-to-left seq2seq on
title generation: accuracy at the two ends of the output, ROUGE/BLEU, the leakage symptom.

Article: seq2seq之双向解码 (see kexue.seq.bidirectional, kexue.seq.decoding)
Data:    kexue.data.csl_titles, split as in the seq2seq-title recipe (train: dev + test 200–999,
         evaluate: test 0–n_eval)
Run:     kexue run bidirectional-decoding                 (full)
         kexue run bidirectional-decoding --budget quick  (about 30 s)
         kexue run bidirectional-decoding --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         curves.png (training CE) ends.png (first-4 / last-4 accuracy per model)
         samples.txt (gold and the three decodings)

Three models see the same batches for the same number of steps: L2R (seq2seq with the prior),
R2L (the same model on reversed titles; outputs reversed back) and Bi (two decoders attending to
each other, trained on both CEs). L2R and R2L decode with beam search (k = 3, 'complete'), Bi with
the joint bidirectional beam search (k = 3). First-4 accuracy aligns a decoded title with the gold
from the start, last-4 from the end. Leakage (the article's caveat): under teacher forcing each
direction of Bi sees the other's future tokens, so teacher-forced CEs are never compared as
quality measures, only decoded outputs.
Claims: L2R is better at the start and R2L at the end; Bi balances the two ends and beats L2R
on ROUGE-L; the leakage shows as Bi's CE_l + CE_r falling below the L2R model's CE.
Recorded: `kexue show bidirectional-decoding` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from kexue.recipes import _plot, _titles
from kexue.runs import Claim, RunDir, make_accelerator, param, prepare_arms, seed_everything
from kexue.seq import BiSeq2Seq, Seq2Seq, bleu, pad_batch, position_accuracy, rouge_l


@dataclass(frozen=True)
class Config:
    seed: int = 0
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
    n_eval: int = param(40, min=1, max=200)  # held-out test pairs 0..199 decoded
    data: str | None = None


DATA = _titles.DATA  # a CSL title folder (dev.tsv, test.tsv)

QUICK = {"steps": 30, "n_eval": 6, "max_source": 60}
SMOKE = {"steps": 2, "n_eval": 2, "d": 16, "emb": 16, "heads": 2, "head_dim": 8, "max_source": 40,
         "max_title": 12}  # fmt: skip

CLAIMS = (
    Claim(
        "L2R decoding is more accurate on the first 4 characters than on the last 4",
        "l2r_first_minus_last",
        ">",
        0.0,
        ("quick", "full"),
    ),
    Claim(
        "R2L decoding is more accurate on the last 4 characters than on the first 4",
        "r2l_last_minus_first",
        ">",
        0.0,
        ("quick", "full"),
    ),
    Claim(
        "bidirectional decoding balances the two ends (|first − last| below both one-way models')",
        "bi_balance_margin",
        ">",
        0.0,
        ("quick", "full"),
    ),
    Claim(
        "bidirectional decoding improves generation over L2R (char ROUGE-L F)",
        "bi_minus_l2r_rouge_l",
        ">",
        0.0,
        ("quick", "full"),
    ),
    Claim(
        "leakage: the Bi model's CE_l + CE_r falls below the L2R model's CE under teacher forcing",
        "bi_ce_sum_minus_l2r_ce",
        "<",
        0.0,
        ("quick", "full"),
    ),
)


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    train, held, vocab, src, tgt = _titles.title_data(cfg)  # held: test pairs 0..n_eval
    tgt_rev = [vocab.encode(t[: cfg.max_title][::-1], start_end=True) for _, t in train]
    v, hp = len(vocab), {"emb": cfg.emb, "d": cfg.d, "heads": cfg.heads, "head_dim": cfg.head_dim}
    models = {"l2r": Seq2Seq(v, **hp), "r2l": Seq2Seq(v, **hp), "bi": BiSeq2Seq(v, **hp)}
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in models.items()}
    state, start = prepare_arms(acc, models, opts, g, out)

    for step in out.progress(range(start, cfg.steps), "training"):
        idx, x, y = _titles.sample_batch(src, tgt, cfg.batch_size, g)
        y_rev = pad_batch([tgt_rev[i] for i in idx])
        row = {}
        for k, m in models.items():
            m.train()
            if k == "bi":
                ce_l, ce_r = m.losses(x, y)
                loss = (ce_l + ce_r) / 2
                row.update(ce_bi_l=ce_l.item(), ce_bi_r=ce_r.item())
            else:
                loss = m.loss(x, y if k == "l2r" else y_rev)
                row[f"ce_{k}"] = loss.item()
            _titles.clipped_step(acc, m, opts[k], loss)
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(cfg.steps, state)

    # ---- decode the held-out abstracts
    net = {k: acc.unwrap_model(m).eval() for k, m in models.items()}
    outs: dict[str, list[str]] = {"l2r": [], "r2l": [], "bi": []}
    seconds = {k: 0.0 for k in outs}
    winners = []
    for a, _ in out.progress(held, "decoding", total=len(held)):
        x = vocab.encode(a[: cfg.max_source])
        t0 = time.perf_counter()
        outs["l2r"].append(
            vocab.decode(net["l2r"].generate(x, cfg.beam_size, cfg.max_title).tokens)
        )
        t1 = time.perf_counter()
        outs["r2l"].append(
            vocab.decode(net["r2l"].generate(x, cfg.beam_size, cfg.max_title).tokens)[::-1]
        )
        t2 = time.perf_counter()
        h, winner = net["bi"].generate_bidirectional(x, cfg.beam_size, cfg.max_title)
        seconds["bi"] += time.perf_counter() - t2
        seconds["l2r"] += t1 - t0
        seconds["r2l"] += t2 - t1
        outs["bi"].append(vocab.decode(h.tokens))
        winners.append(winner == "l2r")
    refs = [t for _, t in held]
    metrics: dict[str, float] = {}
    for k, cands in outs.items():
        ends = np.array(
            [position_accuracy(list(c), list(r), 4) for c, r in zip(cands, refs, strict=True)]
        )
        metrics[f"{k}_first4_acc"], metrics[f"{k}_last4_acc"] = (
            float(ends[:, 0].mean()),
            float(ends[:, 1].mean()),
        )
        metrics[f"{k}_rouge_l"] = float(
            np.mean([rouge_l(list(c), list(r)) for c, r in zip(cands, refs, strict=True)])
        )
        metrics[f"{k}_bleu"] = float(
            np.mean([bleu(list(c), list(r)) for c, r in zip(cands, refs, strict=True)])
        )
        metrics[f"{k}_decode_s_per_title"] = seconds[k] / max(len(held), 1)
    gap = {k: metrics[f"{k}_first4_acc"] - metrics[f"{k}_last4_acc"] for k in outs}
    metrics["l2r_first_minus_last"] = gap["l2r"]
    metrics["r2l_last_minus_first"] = -gap["r2l"]
    metrics["bi_balance_margin"] = min(abs(gap["l2r"]), abs(gap["r2l"])) - abs(gap["bi"])
    metrics["bi_minus_l2r_rouge_l"] = metrics["bi_rouge_l"] - metrics["l2r_rouge_l"]
    metrics["bi_l2r_wins_fraction"] = float(np.mean(winners))
    metrics["bi_decode_cost_ratio"] = seconds["bi"] / max(seconds["l2r"], 1e-9)
    tail = out.history[-max(1, min(100, len(out.history))) :]
    last = lambda k: float(np.mean([r[k] for r in tail if k in r]))  # noqa: E731
    metrics["l2r_final_train_ce"] = last("ce_l2r")
    metrics["bi_final_train_ce_sum"] = last("ce_bi_l") + last("ce_bi_r")
    metrics["bi_ce_sum_minus_l2r_ce"] = (
        metrics["bi_final_train_ce_sum"] - metrics["l2r_final_train_ce"]
    )

    if out.is_main:
        fig = _plot.curves(out.history, ["ce_l2r", "ce_r2l", "ce_bi_l", "ce_bi_r"], "training CE")
        out.save_figure(fig, "curves.png")
        groups = {k: [metrics[f"{k}_first4_acc"], metrics[f"{k}_last4_acc"]] for k in outs}
        out.save_figure(
            _plot.bars(groups, ["first 4", "last 4"], "accuracy at the ends", "accuracy"),
            "ends.png",
        )
        lines = [
            f"gold: {r}\n  l2r: {outs['l2r'][i]}\n  r2l: {outs['r2l'][i]}\n  bi:  {outs['bi'][i]}"
            for i, r in enumerate(refs[:40])
        ]
        out.write_text("samples.txt", "\n".join(lines) + "\n")
    return metrics
