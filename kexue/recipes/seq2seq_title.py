r"""Recipe: character-level title generation with seq2seq + attention + the vocabulary prior,
decoded by beam search; the same model without the prior and the lead baseline beside it.

Article: 玩转Keras之seq2seq自动生成标题, 2018-09-01, https://kexue.fm/archives/5861
         prior: ŷ = s ⊗ χ + t, y ← (y + ŷ)/2 before the softmax (see kexue.seq.seq2seq)
Data:    kexue.data.csl_titles (CSL abstracts → paper titles): train on the 1,000 dev pairs and
         test pairs 200–999, evaluate on test pairs 0–n_eval (200 at full)
Run:     kexue run seq2seq-title                 (full: 3 seeds, about 15 min on one CPU thread)
         kexue run seq2seq-title --budget quick  (about 2 min)
         kexue run seq2seq-title --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         curves.png (training loss with and without the prior, mean over seeds)
         scores.png (ROUGE/BLEU) samples.txt (seed 0: abstract, gold, lead, greedy, beam, no prior)

Per seed, two models see the same batches: with the prior and without it (`method=plain` trains
the first one without the prior too: the sabotage switch). Both are decoded by beam search
(k = 3, the 'complete' stop policy), the prior model also greedily; titles are scored with
character ROUGE-1/2/L F and sentence BLEU-4. A claim on decoded titles is judged on the union
of two 95 % intervals: the paired bootstrap over the titles (seed-averaged) and the t-interval
over the seeds; the training-loss claim on the t-interval over the seeds. The lead baseline
copies the first |title| characters of the abstract (it knows the gold length: generous).
Claims: most title characters occur in the source; beam search finds more probable titles than
greedy decoding; the prior lowers the training loss, raises ROUGE-L and the copy rate; goal:
beat the lead baseline. Numbers and why claims fail: docs/notes/seq2seq-title.md.
"""

from __future__ import annotations

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
from kexue.seq import Seq2Seq, bleu, copy_rate, rouge_l, rouge_n


@dataclass(frozen=True)
class Config:
    seed: int = 0
    seeds: int = param(3, min=1, max=10)  # training replicates (all drawn from `seed`)
    emb: int = 64
    d: int = 64
    heads: int = 4
    head_dim: int = 16
    min_count: int = 2
    max_source: int = 100  # characters of the abstract
    max_title: int = 40
    steps: int = 400
    batch_size: int = 32
    lr: float = 2e-3
    beam_size: int = 3
    n_eval: int = param(200, min=1, max=200)  # held-out test pairs 0..199 decoded
    method: str = param("prior", choices=("prior", "plain"))  # plain: no arm has the prior
    data: str | None = None


DATA = _titles.DATA  # a CSL title folder (dev.tsv, test.tsv)

QUICK = {"steps": 50, "n_eval": 30, "max_source": 60}
SMOKE = {"steps": 3, "seeds": 1, "n_eval": 3, "d": 16, "emb": 16, "heads": 2, "head_dim": 8,
         "max_source": 40, "max_title": 12}  # fmt: skip

ARMS = ("prior", "noprior")
SCORES = ("rouge_1", "rouge_2", "rouge_l", "bleu")

CLAIMS = (
    Claim(
        "most title characters occur in the (truncated) source abstract (gold copy rate > 0.5)",
        "gold_copy_rate",
        ">",
        0.5,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "beam search (k = 3) finds titles at least as probable as greedy decoding (mean log p)",
        "beam_minus_greedy_logp",
        ">=",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "the prior speeds up training (lower mean training loss than without it)",
        "prior_mean_loss_gain",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "the prior gives better titles (char ROUGE-L F, beam, with minus without the prior)",
        "prior_rouge_l_gain",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "the prior makes titles copy more from the source (copy rate, beam)",
        "prior_copy_rate_gain",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "generated titles beat the lead baseline (char ROUGE-L F)",
        "rouge_l_gain_over_lead",
        ">",
        0.0,
        ("quick", "full"),
        kind="goal",
        interval=True,
    ),
)

STATEMENTS = (
    Statement(
        "most characters of a title occur in its article (the prior's premise)",
        "claim",
        "gold_copy_rate",
    ),
    Statement(
        "greedy search is beam search with topk = 1",
        "test",
        "tests/seq/test_decoding.py::test_beam_one_is_greedy",
    ),
    Statement(
        "greedy decoding need not find the most probable Y; beam search keeps more paths",
        "claim",
        "beam_minus_greedy_logp",
    ),
    Statement(
        "the prior s ⊗ χ + t, averaged with the logits, speeds up convergence",
        "claim",
        "prior_mean_loss_gain",
    ),
    Statement(
        "the prior gives better titles",
        "claim",
        "prior_rouge_l_gain",
    ),
    Statement(
        "with the prior the decoder prefers characters that occur in the article",
        "claim",
        "prior_copy_rate_gain",
    ),
    Statement(
        "the decoder must not see later target positions (teacher forcing, masked future)",
        "test",
        "tests/seq/test_seq2seq.py::test_decoder_is_causal",
    ),
    Statement(
        "encoder and decoder share one embedding (same language)",
        "test",
        "tests/seq/test_seq2seq.py::test_encoder_and_decoder_share_one_embedding",
    ),
    Statement(
        "padding is masked: pads carry no information, unk is a separate token",
        "test",
        "tests/seq/test_seq2seq.py::test_padding_the_source_does_not_change_the_output",
    ),
    Statement(
        "after 50 epochs of 64 k news articles the titles look reasonable",
        "untestable",
        "needs the author's 800 k-article news corpus; offline there are 1,800 CSL pairs",
    ),
)


def _rows(cands: list[str], refs: list[str]) -> np.ndarray:
    """Per-title ROUGE-1/2/L F and BLEU-4 (N, 4), in the order of SCORES."""
    return np.array(
        [(rouge_n(list(c), list(r), 1), rouge_n(list(c), list(r), 2), rouge_l(list(c), list(r)),
          bleu(list(c), list(r))) for c, r in zip(cands, refs, strict=True)]
    ).reshape(len(refs), len(SCORES))  # fmt: skip


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    _, held, vocab, src, tgt = _titles.title_data(cfg)  # held: test pairs 0..n_eval
    seeds = range(cfg.seeds)

    def build(prior: bool) -> Seq2Seq:
        return Seq2Seq(
            len(vocab), emb=cfg.emb, d=cfg.d, heads=cfg.heads, head_dim=cfg.head_dim, prior=prior
        )

    # one pair of arms per seed; the arms of a seed share every batch
    with_prior = {"prior": cfg.method == "prior", "noprior": False}
    models = {f"{k}{s}": build(with_prior[k]) for s in seeds for k in ARMS}
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in models.items()}
    state, start = prepare_arms(acc, models, opts, g, out)

    for step in out.progress(range(start, cfg.steps), "prior + no-prior"):
        row = {}
        for s in seeds:
            _, x, y = _titles.sample_batch(src, tgt, cfg.batch_size, g)
            for k in ARMS:
                m = models[f"{k}{s}"]
                m.train()
                loss = m.loss(x, y)
                _titles.clipped_step(acc, m, opts[f"{k}{s}"], loss)
                row[f"loss_{k}{s}"] = loss.item()
        for k in ARMS:  # the mean over seeds, for the figure
            row[f"loss_{k}"] = float(np.mean([row[f"loss_{k}{s}"] for s in seeds]))
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(cfg.steps, state)
    if out.is_main:  # what `kexue generate RUN_DIR` needs: seed 0's model and the vocabulary
        first = acc.unwrap_model(models[f"{ARMS[0]}0"])
        out.write_weights("generator.safetensors", first.state_dict())
        out.write_json("vocab.json", {"itos": vocab.itos})

    # ---- evaluation: every seed's two models on the same held-out titles
    refs = [t for _, t in held]
    sources = [a[: cfg.max_source] for a, _ in held]
    lead = [a[: len(t)] for a, t in held]
    n = len(held)
    scores = {k: np.zeros((cfg.seeds, n, len(SCORES))) for k in ("beam", "greedy", "noprior")}
    logp = {k: np.zeros((cfg.seeds, n)) for k in ("beam", "greedy")}
    copy = {k: np.zeros((cfg.seeds, n)) for k in ("beam", "noprior")}
    exact = {k: np.zeros((cfg.seeds, n)) for k in ("beam", "greedy", "noprior")}
    samples = []
    for s in seeds:
        on = acc.unwrap_model(models[f"prior{s}"]).eval()
        off = acc.unwrap_model(models[f"noprior{s}"]).eval()
        outs: dict[str, list[str]] = {"beam": [], "greedy": [], "noprior": []}
        for a in out.progress(sources, f"decoding (seed {s})", n):
            x = vocab.encode(a)
            hyps = {
                "greedy": on.generate(x, beam_size=1, max_len=cfg.max_title),
                "beam": on.generate(x, beam_size=cfg.beam_size, max_len=cfg.max_title),
                "noprior": off.generate(x, beam_size=cfg.beam_size, max_len=cfg.max_title),
            }
            for k, h in hyps.items():
                outs[k].append(vocab.decode(h.tokens))
            i = len(outs["beam"]) - 1
            logp["greedy"][s, i], logp["beam"][s, i] = hyps["greedy"].score, hyps["beam"].score
        for k, cands in outs.items():
            scores[k][s] = _rows(cands, refs)
            exact[k][s] = [c == r for c, r in zip(cands, refs, strict=True)]
        for k in copy:
            pairs = zip(outs[k], sources, strict=True)
            copy[k][s] = [copy_rate(list(c), list(a)) for c, a in pairs]
        if s == 0:
            samples = [
                f"{a[:80]}…\n  gold:    {t}\n  lead:    {lead[i]}\n  greedy:  {outs['greedy'][i]}"
                f"\n  beam:    {outs['beam'][i]}\n  noprior: {outs['noprior'][i]}"
                for i, (a, t) in enumerate(held[:40])
            ]

    metrics: dict[str, float] = {}
    per_title = {k: v.mean(0) for k, v in scores.items()}  # (n, 4): averaged over the seeds
    per_title["lead"] = _rows(lead, refs)
    for k, v in per_title.items():
        name = "noprior_beam" if k == "noprior" else k
        for j, key in enumerate(SCORES):
            metrics[f"{name}_{key}"] = float(v[:, j].mean())
    for k, v in exact.items():
        metrics[f"{'noprior_beam' if k == 'noprior' else k}_exact_match"] = float(v.mean())
    metrics["lead_exact_match"] = float(np.mean([c == r for c, r in zip(lead, refs, strict=True)]))
    rl = SCORES.index("rouge_l")
    gold_copy = [copy_rate(list(t), list(a)) for t, a in zip(refs, sources, strict=True)]
    _titles.record_paired(metrics, "gold_copy_rate", np.array(gold_copy))
    metrics["beam_mean_logp"], metrics["greedy_mean_logp"] = (
        float(logp["beam"].mean()),
        float(logp["greedy"].mean()),
    )
    _titles.record_paired(metrics, "beam_minus_greedy_logp", logp["beam"], logp["greedy"])
    beam_rl = scores["beam"][:, :, rl]  # (seeds, titles)
    _titles.record_paired(metrics, "rouge_l_gain_over_lead", beam_rl, per_title["lead"][:, rl])
    _titles.record_paired(metrics, "prior_rouge_l_gain", beam_rl, scores["noprior"][:, :, rl])
    metrics["prior_copy_rate"], metrics["noprior_copy_rate"] = (
        float(copy["beam"].mean()),
        float(copy["noprior"].mean()),
    )
    _titles.record_paired(metrics, "prior_copy_rate_gain", copy["beam"], copy["noprior"])
    hist = out.history
    mean = lambda k: float(np.mean([r[k] for r in hist if k in r]))  # noqa: E731
    metrics["prior_mean_train_loss"], metrics["noprior_mean_train_loss"] = (
        mean("loss_prior"),
        mean("loss_noprior"),
    )
    _titles.record_seeds(
        metrics,
        "prior_mean_loss_gain",
        [mean(f"loss_noprior{s}") - mean(f"loss_prior{s}") for s in seeds],
    )
    metrics["n_eval"] = float(n)
    metrics["vocab_size"] = float(len(vocab))

    if out.is_main:
        fig = _plot.curves(hist, ["loss_prior", "loss_noprior"], "training CE per token")
        out.save_figure(fig, "curves.png")
        names = ["beam", "greedy", "noprior_beam", "lead"]
        groups = {k: [metrics[f"{m}_{k}"] for m in names] for k in SCORES}
        out.save_figure(_plot.bars(groups, names, "CSL titles (held out)"), "scores.png")
        out.write_text("samples.txt", "\n".join(samples) + "\n")
    return metrics


__doc__ = statements_doc(__doc__, STATEMENTS)
