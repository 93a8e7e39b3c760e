r"""Recipe: sentence templates on 199801 — mining, slot POS purity, nested parses.

Article: 最小熵原理（三）：“飞象过河”之句模版和语言结构 (see kexue.text.templates)
Data:    kexue.data.peoples_daily() with the gold segmentation as tokenizer; pieces = runs of
         words between punctuation (gold tag w), so templates never cross punctuation
Run:     kexue run templates                 (full corpus)
         kexue run templates --budget quick  (6,000 lines, ~30 s)
         kexue run templates --budget smoke  (800 lines; claims not judged)
Writes:  config.json metrics.json claims.json templates.txt (top non-trivial templates)
         parses.txt (bracketed parses of sample pieces) purity.png (slot vs random purity)

The article has no quantitative evaluation; we test its "equivalence class" claim (fillers of a
template slot share a syntactic role): for every slot of a template with ≥ min_fillers fillers,
the purity of the gold POS of the filler's last word against two baselines with the same number
of words per slot: random words of the corpus (weak), and the words next to the slot's nearest
template word anywhere in the corpus (the words before its right neighbour, else after its left
one) — a one-word context, so a template must say more than its neighbouring word does. Parse
time per piece is reported for the memoised parser (nlp-zero's recursion is exponential).
Claims: slot fillers are purer in gold POS than the one-word-context words (mean over slots of
the per-slot difference, on its bootstrap lower bound).
Recorded: `kexue show templates` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass

from kexue.data import peoples_daily
from kexue.recipes import _plot
from kexue.runs import Claim, RunDir, Statement, seed_everything, statements_doc
from kexue.stats import bootstrap_interval, record_interval
from kexue.text.templates import TemplateFinder, TemplateParser, render


@dataclass(frozen=True)
class Config:
    seed: int = 0
    n_lines: int = 0  # 0 = whole corpus
    window: int = 3
    min_count: int = 20  # pair and template counts (≈ min_prob 1e-5 on this corpus)
    min_pmi: float = 2.0
    max_paths: int = 1000
    min_fillers: int = 50
    parse_templates: int = 2000  # most frequent templates given to the parser
    n_parse: int = 300  # pieces parsed for timing
    max_parse_len: int = 25


QUICK = {"n_lines": 6000, "n_parse": 150}
SMOKE = {"n_lines": 800, "min_count": 5, "n_parse": 20, "min_fillers": 10}

CLAIMS = (
    Claim(
        "a template's slot fillers form an equivalence class: purer in gold POS than the words "
        "beside the slot's neighbouring template word elsewhere (per-slot difference, 95% lower "
        "bound over slots)",
        "slot_minus_context_purity",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
)

STATEMENTS = (
    Statement(
        "the fillers of a template's slot are an equivalence class (they play the same "
        "syntactic role), more so than what one neighbouring word predicts",
        "claim",
        "slot_minus_context_purity",
    ),
    Statement(
        "templates are found as the paths of a graph of strongly associated word pairs "
        "(the article's 'X的X' style examples come out of the DAG)",
        "test",
        "tests/text/test_templates.py::test_article_dag_templates",
    ),
    Statement(
        "a sentence parses into nested templates (the article's bracketed examples)",
        "test",
        "tests/text/test_templates.py::test_parser_reproduces_the_article",
    ),
    Statement(
        "the templates found are linguistically meaningful (the article's listed templates on "
        "its own large corpus)",
        "untestable",
        "the article shows hand-picked lists from a corpus we do not have; a listing judged "
        "by eye is not a measurement (templates.txt holds ours)",
    ),
)


def _purity(tags: list[str]) -> int:
    return Counter(tags).most_common(1)[0][1]


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    seed_everything(cfg.seed)
    rnd = random.Random(cfg.seed)
    sentences = peoples_daily().sentences
    sentences = sentences[: cfg.n_lines] if cfg.n_lines else sentences
    pieces, pos = [], []
    for s in sentences:
        cur, cur_tags = [], []
        for w, t in zip(s.words, s.tags, strict=True):
            if t == "w":
                if cur:
                    pieces.append(cur)
                    pos.append(cur_tags)
                cur, cur_tags = [], []
            else:
                cur.append(w)
                cur_tags.append(t)
        if cur:
            pieces.append(cur)
            pos.append(cur_tags)

    t0 = time.perf_counter()
    finder = TemplateFinder(
        window=cfg.window, min_count=cfg.min_count, min_pmi=cfg.min_pmi, max_paths=cfg.max_paths
    ).fit(pieces)
    metrics: dict[str, float] = {
        "n_pieces": float(len(pieces)),
        "n_strong_pairs": float(len(finder.strong_)),
        "n_templates": float(len(finder.templates_)),
        "n_skipped_pieces": float(finder.n_skipped_),
        "mining_s": time.perf_counter() - t0,
    }

    # slot purity vs random words and vs the words beside the slot's neighbouring template word
    all_positions = [(k, i) for k, p in enumerate(pieces) for i in range(len(p))]
    before: dict[str, list[tuple[int, int]]] = {}  # w → positions of the words just before w
    after: dict[str, list[tuple[int, int]]] = {}  # w → positions of the words just after w
    for k, p in enumerate(pieces):
        for i in range(1, len(p)):
            before.setdefault(p[i], []).append((k, i - 1))
            after.setdefault(p[i - 1], []).append((k, i))
    got = base = total = n_slots = 0
    per_slot: list[tuple[float, float]] = []
    slot_minus_context: list[float] = []
    for t, spans in finder.fillers_.items():
        if len(spans) < cfg.min_fillers:
            continue
        holes = [j for j, w in enumerate(t) if w is None]
        for slot, j in enumerate(holes):
            tags = [pos[k][i] for k, i in (s[slot] for s in spans)]
            rand = [pos[k][i] for k, i in rnd.sample(all_positions, len(tags))]
            # the filler's last word sits just before the right neighbour: the exact analogue
            right = t[j + 1] if j + 1 < len(t) else None
            near = before[right] if right is not None else after[t[j - 1]]
            context = [pos[k][i] for k, i in rnd.choices(near, k=len(tags))]
            got += _purity(tags)
            base += _purity(rand)
            per_slot.append((_purity(rand) / len(tags), _purity(tags) / len(tags)))
            slot_minus_context.append((_purity(tags) - _purity(context)) / len(tags))
            total += len(tags)
            n_slots += 1
    metrics["n_slots"] = float(n_slots)
    metrics["slot_purity"] = got / total if total else 0.0
    metrics["random_purity"] = base / total if total else 0.0
    metrics["slot_purity_gain"] = metrics["slot_purity"] - metrics["random_purity"]
    if len(slot_minus_context) >= 2:
        record_interval(
            metrics,
            "slot_minus_context_purity",
            sum(slot_minus_context) / len(slot_minus_context),
            bootstrap_interval(slot_minus_context, seed=cfg.seed),
        )

    # nested parses
    table = dict(finder.templates_.most_common(cfg.parse_templates))
    parser = TemplateParser().fit(table)
    sample = [p for p in pieces if 3 <= len(p) <= cfg.max_parse_len]
    sample = rnd.sample(sample, min(cfg.n_parse, len(sample)))
    t0 = time.perf_counter()
    parses = [render(parser.parse(p)) for p in sample]
    metrics["parse_ms_per_piece"] = 1000 * (time.perf_counter() - t0) / max(len(sample), 1)
    metrics["parse_mean_words"] = sum(map(len, sample)) / max(len(sample), 1)

    if out.is_main:
        lines = [f"{c}\t{' '.join(x or 'X' for x in t)}" for t, c in finder.nontrivial(100)]
        out.write_text("templates.txt", "\n".join(lines) + "\n")
        out.write_text("parses.txt", "\n".join(parses[:100]) + "\n")
        if per_slot:
            x, y = zip(*per_slot, strict=True)
            fig = _plot.xy(
                x, y, f"POS purity of {n_slots} template slots", "random words", "slot fillers"
            )
            out.save_figure(fig, "purity.png")
    return metrics


__doc__ = statements_doc(__doc__, STATEMENTS)
