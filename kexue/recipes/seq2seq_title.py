r"""Recipe: character-level title generation with seq2seq + attention + the vocabulary prior,
decoded by beam search; the same model without the prior and the lead baseline beside it; or
(`model=unilm`) a BERT seq2seq under the UniLM mask, tiny from scratch or from a checkpoint.

Article: 玩转Keras之seq2seq自动生成标题, 2018-09-01, https://kexue.fm/archives/5861
         prior: ŷ = s ⊗ χ + t, y ← (y + ŷ)/2 before the softmax (see kexue.seq.seq2seq)
         UniLM: 从语言模型到Seq2Seq：Transformer如戏，全靠Mask, 2019-09-18,
         https://kexue.fm/archives/6933: allowed(i → j) ⇔ cumsum(s)_j ≤ cumsum(s)_i
         (see kexue.bert.unilm)
Data:    kexue.data.csl_titles (CSL abstracts → paper titles): train on the 1,000 dev pairs and
         test pairs 200–999, evaluate on test pairs 0–n_eval (200 at full)
Run:     kexue run seq2seq-title                 (full: 3 seeds, about 15 min on one CPU thread)
         kexue run seq2seq-title --budget quick  (about 2 min)
         kexue run seq2seq-title --budget smoke  (a few seconds; claims not judged)
         kexue run seq2seq-title --budget article  (the article's LSTM: 50 k steps of 64; a GPU)
         kexue run seq2seq-title --budget quick --set model=unilm  (a tiny BERT from scratch)
         kexue run seq2seq-title --budget article --set model=unilm --set pretrained=DIR \
             --set batch_size=16 --set lr=1e-5 --set max_source=221 --set max_title=32 \
             --set steps=1000  (the UniLM article's settings from a Chinese BERT folder,
             HuggingFace or TensorFlow format; for a GPU)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         curves.png (training loss with and without the prior, mean over seeds)
         scores.png (ROUGE/BLEU) samples.txt (seed 0: abstract, gold, lead, greedy, beam, no prior)
         generator.safetensors vocab.json (seed 0's model for `kexue generate`; UniLM runs add
         generator_config.json and, from a checkpoint, its vocab.txt)

Per seed, two models see the same batches: with the prior and without it (`method=plain` trains
the first one without the prior too: the sabotage switch). Both are decoded by beam search
(k = 3, the 'complete' stop policy), the prior model also greedily; titles are scored with
character ROUGE-1/2/L F and sentence BLEU-4. A claim on decoded titles is judged on the union
of two 95 % intervals: the paired bootstrap over the titles (seed-averaged) and the t-interval
over the seeds; the training-loss claim on the t-interval over the seeds. The lead baseline
copies the first |title| characters of the abstract (it knows the gold length: generous).
With `model=unilm` one BERT per seed (hidden d, `layers`, `heads`; or the `pretrained`
checkpoint's) trains on the same batch draws with the UniLM loss and is decoded by the same
beam and greedy searches (KV cache), scored by the same code; it has no no-prior twin, so the
prior claims are left out of its judgement (`Claim.when`: they are about the LSTM).
Claims: most title characters occur in the source; beam search finds more probable titles than
greedy decoding; the prior lowers the training loss, raises ROUGE-L and the copy rate; goal:
beat the lead baseline. Numbers and why claims fail: docs/notes/seq2seq-title.md.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from kexue.bert import CharTokenizer, UniLMSeq2Seq, unilm_loss
from kexue.errors import InputError
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
from kexue.seq import CharVocab, Hypothesis, Seq2Seq, bleu, copy_rate, rouge_l, rouge_n


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
    # lstm: the article's seq2seq (prior and no-prior arms); unilm: one BERT masked LM per seed
    # under the UniLM mask (kexue.bert.UniLMSeq2Seq), hidden d, `heads` heads, `layers` layers
    model: str = param("lstm", choices=("lstm", "unilm"))
    layers: int = 2  # unilm from scratch: BERT layers
    # model=unilm: a local BERT checkpoint folder (HuggingFace, or TensorFlow: bert_config.json
    # + model.ckpt.*) to start from (d, heads, layers, min_count unused; the vocabulary is its
    # vocab.txt simplified to the training pairs, keep_tokens); None: a tiny BERT from scratch
    pretrained: str | None = None
    data: str | None = None

    def __post_init__(self) -> None:
        if self.pretrained is not None and self.model != "unilm":
            raise InputError(
                f"pretrained={self.pretrained}: a checkpoint is for model=unilm (the LSTM trains "
                "from scratch); add --set model=unilm"
            )


DATA = _titles.DATA  # a CSL title folder (dev.tsv, test.tsv)

QUICK = {"steps": 50, "n_eval": 30, "max_source": 60}
SMOKE = {"steps": 3, "seeds": 1, "n_eval": 3, "d": 16, "emb": 16, "heads": 2, "head_dim": 8,
         "max_source": 40, "max_title": 12}  # fmt: skip
# The article's LSTM (bojone/seq2seq seq2seq.py, the 2019 revision this recipe implements, and
# the article's text): min_count 32, maxlen 400 characters of content, char_size 128, z_dim 128
# (BiLSTM 64 per direction, decoder LSTM 128), attention 8 heads × 16, batch 64, Adam 1e-3,
# "64 k articles an epoch, 50 epochs" = 50 × 1000 steps of 64, beam search topk 3 over at most
# 64 characters (gen_sent maxlen = 64; here max_title also truncates the training titles, which
# the code cuts at 398). One model: one seed.
# The UniLM version (specs/nlp.md §10: 从语言模型到Seq2Seq, https://kexue.fm/archives/6933, and
# bert4keras examples/task_seq2seq_autotitle.py): Chinese BERT-wwm base, maxlen 256 tokens with
# titles of at most 32 (source ≤ 256 − 32), batch 16, Adam 1e-5, 1000 steps an epoch ("readable
# titles after the first epoch"):
#   kexue run seq2seq-title --budget article --set model=unilm --set pretrained=DIR \
#       --set batch_size=16 --set lr=1e-5 --set max_source=221 --set max_title=32 --set steps=1000
ARTICLE = {
    "seeds": 1, "emb": 128, "d": 128, "heads": 8, "head_dim": 16, "min_count": 32,
    "max_source": 400, "max_title": 64, "batch_size": 64, "lr": 1e-3, "steps": 50_000,
    "beam_size": 3,
}  # fmt: skip

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
        when=(("model", "lstm"),),  # the UniLM arm has no prior to compare
    ),
    Claim(
        "the prior gives better titles (char ROUGE-L F, beam, with minus without the prior)",
        "prior_rouge_l_gain",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
        when=(("model", "lstm"),),  # the UniLM arm has no prior to compare
    ),
    Claim(
        "the prior makes titles copy more from the source (copy rate, beam)",
        "prior_copy_rate_gain",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
        when=(("model", "lstm"),),  # the UniLM arm has no prior to compare
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


Decoder = Callable[[str], tuple[Hypothesis, str]]  # truncated abstract → (hypothesis, title)


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    # held: test pairs 0..n_eval; a read-only corpus keeps its line index in the run folder
    train, held, vocab, src, tgt = _titles.title_data(cfg, str(out.path / "data-cache"))
    trainer = _train_unilm if cfg.model == "unilm" else _train_lstm
    decoders, vocab_size = trainer(cfg, out, acc, g, train, vocab, src, tgt)
    metrics, scores, copied = _evaluate(cfg, out, held, decoders)

    seeds = range(cfg.seeds)
    hist = out.history
    mean = lambda k: float(np.mean([r[k] for r in hist if k in r]))  # noqa: E731
    if cfg.model == "lstm":
        rl = SCORES.index("rouge_l")
        _titles.record_paired(
            metrics, "prior_rouge_l_gain", scores["beam"][:, :, rl], scores["noprior"][:, :, rl]
        )
        metrics["prior_copy_rate"], metrics["noprior_copy_rate"] = (
            float(copied["beam"].mean()),
            float(copied["noprior"].mean()),
        )
        _titles.record_paired(metrics, "prior_copy_rate_gain", copied["beam"], copied["noprior"])
        metrics["prior_mean_train_loss"], metrics["noprior_mean_train_loss"] = (
            mean("loss_prior"),
            mean("loss_noprior"),
        )
        _titles.record_seeds(
            metrics,
            "prior_mean_loss_gain",
            [mean(f"loss_noprior{s}") - mean(f"loss_prior{s}") for s in seeds],
        )
    else:
        metrics["beam_copy_rate"] = float(copied["beam"].mean())
        metrics["unilm_mean_train_loss"] = mean("loss_unilm")
    metrics["n_eval"] = float(len(held))
    metrics["vocab_size"] = float(vocab_size)

    if out.is_main:
        keys = ["loss_prior", "loss_noprior"] if cfg.model == "lstm" else ["loss_unilm"]
        out.save_figure(_plot.curves(hist, keys, "training CE per token"), "curves.png")
        names = [m for m in ("beam", "greedy", "noprior_beam", "lead")
                 if f"{m}_rouge_l" in metrics]  # fmt: skip
        groups = {k: [metrics[f"{m}_{k}"] for m in names] for k in SCORES}
        out.save_figure(_plot.bars(groups, names, "CSL titles (held out)"), "scores.png")
    return metrics


def _train_lstm(
    cfg: Config, out: RunDir, acc: Any, g: torch.Generator, train: Any, vocab: CharVocab,
    src: Sequence[list[int]], tgt: Sequence[list[int]],
) -> tuple[list[dict[str, Decoder]], int]:  # fmt: skip
    """Train the prior and no-prior arms of every seed on shared batches; their decoders."""
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

    def decoder(model: Seq2Seq, beam: int) -> Decoder:
        def decode(a: str) -> tuple[Hypothesis, str]:
            h = model.generate(vocab.encode(a), beam_size=beam, max_len=cfg.max_title)
            return h, vocab.decode(h.tokens)

        return decode

    decoders = []
    for s in seeds:
        on = acc.unwrap_model(models[f"prior{s}"]).eval()
        off = acc.unwrap_model(models[f"noprior{s}"]).eval()
        decoders.append({"beam": decoder(on, cfg.beam_size), "greedy": decoder(on, 1),
                         "noprior": decoder(off, cfg.beam_size)})  # fmt: skip
    return decoders, len(vocab)


def _train_unilm(
    cfg: Config, out: RunDir, acc: Any, g: torch.Generator, train: Any, vocab: CharVocab,
    src: Sequence[list[int]], tgt: Sequence[list[int]],
) -> tuple[list[dict[str, Decoder]], int]:  # fmt: skip
    """Train one UniLM per seed on the LSTM's batches (the same draws from `g`), from a tiny
    random BERT or from `cfg.pretrained`; their beam and greedy decoders. Pairs are truncated
    as the LSTM's and tokenised per batch (`train` may be a corpus read on demand)."""
    seeds = range(cfg.seeds)
    longest = cfg.max_source + cfg.max_title + 3  # [CLS] src [SEP] tgt [SEP]; a token ≥ 1 char
    if cfg.pretrained is None:
        # the LSTM's characters (CharVocab: min_count), after the BERT specials
        tok = CharTokenizer.from_itos(CharTokenizer([]).itos + vocab.itos[4:])
        models = {
            f"unilm{s}": UniLMSeq2Seq.from_scratch(
                tok, hidden=cfg.d, layers=cfg.layers, heads=cfg.heads, max_len=longest
            )
            for s in seeds
        }
    else:  # keep_tokens: the checkpoint's tokens that the truncated training pairs use
        corpus = (x for a, t in train for x in (a[: cfg.max_source], t[: cfg.max_title]))
        base = UniLMSeq2Seq.from_checkpoint(cfg.pretrained, corpus, max_len=longest)
        models = {f"unilm{s}": copy.deepcopy(base).train() for s in seeds}
    first = models["unilm0"]

    def batch(idx: list[int]) -> tuple[torch.Tensor, ...]:
        pairs = (train[i] for i in idx)
        return first.collate([first.encode(a[: cfg.max_source], t[: cfg.max_title])
                              for a, t in pairs])  # fmt: skip

    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in models.items()}
    state, start = prepare_arms(acc, models, opts, g, out)

    for step in out.progress(range(start, cfg.steps), "unilm"):
        row = {}
        for s in seeds:
            idx, _, _ = _titles.sample_batch(src, tgt, cfg.batch_size, g)
            ids, segs, mask = batch(idx)
            m = models[f"unilm{s}"]
            m.train()
            loss = unilm_loss(m(ids, segs, mask), ids, segs, mask)  # forward: what DDP syncs
            _titles.clipped_step(acc, m, opts[f"unilm{s}"], loss)
            row[f"loss_unilm{s}"] = loss.item()
        row["loss_unilm"] = float(np.mean([row[f"loss_unilm{s}"] for s in seeds]))
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(cfg.steps, state)
    if out.is_main:  # `kexue generate RUN_DIR`: seed 0's BERT, its config and vocabulary
        acc.unwrap_model(models["unilm0"]).save(out)

    def decoder(model: UniLMSeq2Seq, beam: int) -> Decoder:
        def decode(a: str) -> tuple[Hypothesis, str]:
            h = model.generate(a, beam_size=beam, max_len=cfg.max_title)
            return h, model.decode(h.tokens)

        return decode

    decoders = []
    for s in seeds:
        m = acc.unwrap_model(models[f"unilm{s}"]).eval()
        decoders.append({"beam": decoder(m, cfg.beam_size), "greedy": decoder(m, 1)})
    return decoders, len(first.tokenizer)


def _evaluate(
    cfg: Config, out: RunDir, held: Any, decoders: list[dict[str, Decoder]]
) -> tuple[dict[str, float], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every seed's decoders on the same held-out titles; the lead baseline beside them.

    Returns:
        (metrics, scores, copied): the metrics every model has (scores of each decoder and of
        the lead, exact matches, the gold copy rate, beam − greedy log p, the gain over the
        lead), the per-title scores (seeds, titles, SCORES) and copy rates (seeds, titles) of
        the decoders, keyed by decoder ("beam", "greedy", "noprior" for the no-prior arm).
    """
    refs = [t for _, t in held]
    sources = [a[: cfg.max_source] for a, _ in held]
    lead = [a[: len(t)] for a, t in held]
    n, kinds = len(held), list(decoders[0])
    scores = {k: np.zeros((cfg.seeds, n, len(SCORES))) for k in kinds}
    logp = {k: np.zeros((cfg.seeds, n)) for k in ("beam", "greedy")}
    copied = {k: np.zeros((cfg.seeds, n)) for k in ("beam", "noprior") if k in kinds}
    exact = {k: np.zeros((cfg.seeds, n)) for k in kinds}
    samples = []
    for s, decode in enumerate(decoders):
        outs: dict[str, list[str]] = {k: [] for k in kinds}
        for i, a in enumerate(out.progress(sources, f"decoding (seed {s})", n)):
            for k, fn in decode.items():
                hyp, title = fn(a)
                outs[k].append(title)
                if k in logp:
                    logp[k][s, i] = hyp.score
        for k, cands in outs.items():
            scores[k][s] = _rows(cands, refs)
            exact[k][s] = [c == r for c, r in zip(cands, refs, strict=True)]
        for k in copied:
            pairs = zip(outs[k], sources, strict=True)
            copied[k][s] = [copy_rate(list(c), list(a)) for c, a in pairs]
        if s == 0:
            shown = [k for k in ("greedy", "beam", "noprior") if k in outs]
            samples = [
                f"{a[:80]}…\n  gold:    {t}\n  lead:    {lead[i]}"
                + "".join(f"\n  {k + ':':<9}{outs[k][i]}" for k in shown)
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
    if out.is_main:
        out.write_text("samples.txt", "\n".join(samples) + "\n")
    return metrics, scores, copied


__doc__ = statements_doc(__doc__, STATEMENTS)
