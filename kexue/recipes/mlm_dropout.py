r"""Recipe: MLM through the lens of dropout — the embedding correction after a small MLM
pre-training, and DropToken's speed/accuracy trade-off on a sentiment task.

Article: Dropout视角下的MLM和MAE：一些新的启发 (see kexue.bert.mlm_dropout)
Data:    kexue.data.peoples_daily sentences (MLM pre-training), kexue.data.reviews (sentiment
         fine-tuning, reviews truncated to `maxlen` characters)
Run:     kexue run mlm-dropout                 (full)
         kexue run mlm-dropout --budget quick  (about 30 s)
         kexue run mlm-dropout --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors curves.png
         pretrained/ (the MLM model, save_pretrained; the fine-tuned classifiers are loaded
         from it through kexue's loader with the classifier as the only new parameters)

1. A tiny BERT is pre-trained with BERT's MLM corruption (15%: 80/10/10) on People's Daily.
2. The same pre-trained weights are fine-tuned on reviews in four arms with equal steps and
   seeds: plain; with the article's correction E' = 0.865 E + 0.12 E[m] + 0.015 Ē; DropToken
   r = 0.15 and r = 0.5 (tokens deleted at training time, survivors keep their position ids).
   Each arm's test accuracy, its bootstrap CI and training tokens/s are reported. Only the
   pre-training is checkpointed (a resumed run repeats the fine-tuning arms). Also measured:
   held-out MLM accuracy, and how far the correction moves the clean-input encoder states
   toward the pre-training ones (cosine of mean hidden states, clean vs corrupted input).
Claims: DropToken r = 0.5 trains faster; the classifier beats the majority class; the
correction changes test accuracy by at most 3 points (the article found no significant change,
and DropToken's gains mixed).
Recorded: `kexue show mlm-dropout` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import transformers as hf

from kexue.bert import (
    CharTokenizer,
    correct_mlm_embeddings_,
    drop_tokens,
    load_pretrained,
    mask_tokens,
    tiny_config,
)
from kexue.bert.backbone import CLS, MASK, PAD, SEP
from kexue.data import peoples_daily, reviews
from kexue.recipes import _plot
from kexue.runs import Claim, RunDir, make_accelerator, seed_everything
from kexue.seq import pad_batch


@dataclass(frozen=True)
class Config:
    seed: int = 0
    maxlen: int = 64  # characters per pre-training sentence
    ft_maxlen: int = 128  # characters per review
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    pretrain_steps: int = 800
    finetune_steps: int = 300  # per arm
    batch_size: int = 32
    lr: float = 1e-3
    ft_lr: float = 1e-3
    n_train: int = 8000  # reviews for fine-tuning
    n_test: int = 1000
    n_bootstrap: int = 1000


QUICK = {"pretrain_steps": 150, "finetune_steps": 60, "n_test": 300}
SMOKE = {
    "pretrain_steps": 3, "finetune_steps": 3, "n_test": 20, "n_train": 100, "maxlen": 24,
    "ft_maxlen": 24,
}  # fmt: skip

ARMS = (
    ("plain", False, 0.0),
    ("corrected", True, 0.0),
    ("drop15", False, 0.15),
    ("drop50", False, 0.5),
)

CLAIMS = (
    Claim(
        "DropToken r = 0.5 trains faster: fine-tuning steps/s ≥ 1.3 × the r = 0 arm",
        "drop50_speedup",
        ">=",
        1.3,
        ("quick", "full"),
    ),
    Claim(
        "the fine-tuned classifier beats the majority class by ≥ 10 points",
        "plain_minus_majority",
        ">=",
        0.10,
        ("quick", "full"),
    ),
    Claim(
        "the MLM embedding correction changes test accuracy by at most 3 points "
        "(the article: no significant change)",
        "corrected_abs_diff",
        "<=",
        0.03,
        ("quick", "full"),
    ),
)


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    corpus = peoples_daily()
    pd_texts = [s.text[: cfg.maxlen - 2] for s in corpus.split("train") if len(s.text) >= 8]
    rng = np.random.default_rng(cfg.seed)
    rev_all, rev_test_all = reviews("train"), reviews("test")
    rev = [rev_all[i] for i in rng.permutation(len(rev_all))[: cfg.n_train]]
    rev_test = [rev_test_all[i] for i in rng.permutation(len(rev_test_all))[: cfg.n_test]]
    tok = CharTokenizer(pd_texts + [t for t, _ in rev], min_count=2)
    V = len(tok)

    def batch(texts: list[str], maxlen: int = cfg.maxlen) -> tuple[torch.Tensor, torch.Tensor]:
        ids = pad_batch([tok.encode(t[: maxlen - 2])[0] for t in texts])
        return ids, (ids != PAD).long()

    # ---- 1. MLM pre-training
    conf = tiny_config("bert", V, hidden=cfg.hidden, layers=cfg.layers, heads=cfg.heads,
                       max_position=max(cfg.maxlen, cfg.ft_maxlen) + 2)  # fmt: skip
    torch.manual_seed(cfg.seed)
    mlm = hf.BertForMaskedLM(conf)
    correct_by_arm: dict[str, np.ndarray] = {}
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
    mlm = acc.unwrap_model(mlm).eval()
    metrics: dict[str, float] = {"vocab_size": float(V)}

    # held-out MLM accuracy and the clean-vs-corrupted state gap, before and after correction
    ev = torch.Generator().manual_seed(cfg.seed + 3)
    test_pd = [s.text[: cfg.maxlen - 2] for s in corpus.split("test") if len(s.text) >= 8][:300]
    ids, mask = batch(test_pd)
    special = (ids == PAD) | (ids == CLS) | (ids == SEP)
    inputs, selected = mask_tokens(ids, special, vocab_size=V, mask_id=MASK, generator=ev)
    with torch.no_grad():
        metrics["mlm_heldout_acc"] = float(
            (
                mlm(input_ids=inputs, attention_mask=mask).logits[selected].argmax(-1)
                == ids[selected]
            )
            .float()
            .mean()
        )

        def gap(model: torch.nn.Module) -> float:
            # mean hidden state over real tokens, clean input vs MLM-corrupted input
            def mean_h(x: torch.Tensor) -> torch.Tensor:
                hs = model.bert(input_ids=x, attention_mask=mask).last_hidden_state
                return (hs * mask[..., None]).sum((0, 1)) / mask.sum()

            return float(F.cosine_similarity(mean_h(ids), mean_h(inputs), dim=0))

        metrics["clean_vs_corrupted_cos_plain"] = gap(mlm)
    folder = out.file("pretrained")
    if out.is_main:
        mlm.save_pretrained(folder)

    # ---- 2. fine-tuning arms
    y_test = torch.tensor([y for _, y in rev_test])
    test_ids, test_mask = batch([t for t, _ in rev_test], cfg.ft_maxlen)
    special_ids = torch.tensor([CLS, SEP])
    for arm, (name, corrected, rate) in enumerate(ARMS):
        torch.manual_seed(cfg.seed + 11)  # same classifier init and batches in every arm
        if corrected:
            tmp = load_pretrained(hf.BertForMaskedLM, folder)
            correct_mlm_embeddings_(tmp, MASK)
            with torch.no_grad():
                metrics["clean_vs_corrupted_cos_corrected"] = gap(tmp)
            clf = hf.BertForSequenceClassification(tmp.config)
            missing, unexpected = clf.load_state_dict(tmp.state_dict(), strict=False)
            assert all(k.startswith(("classifier.", "bert.pooler.")) for k in missing), missing
        else:
            clf = load_pretrained(
                hf.BertForSequenceClassification,
                folder,
                allow_missing=[r"^classifier\.", r"^bert\.pooler\."],
                allow_unexpected=[r"^cls\.predictions\."],
            )
        gi = torch.Generator().manual_seed(cfg.seed + 13)  # the new head: same init in every arm
        with torch.no_grad():
            for lin in (clf.bert.pooler.dense, clf.classifier):
                lin.weight.copy_(0.02 * torch.randn(lin.weight.shape, generator=gi))
                lin.bias.zero_()
        torch.manual_seed(cfg.seed + 14)  # same dropout draws in every arm
        clf.train()
        ft_opt = torch.optim.Adam(clf.parameters(), lr=cfg.ft_lr)
        clf, ft_opt = acc.prepare(clf, ft_opt)
        gb = torch.Generator().manual_seed(cfg.seed + 12)
        n_tokens, t_train = 0, 0.0
        for step in out.progress(range(cfg.finetune_steps), f"arm {name}"):
            idx = torch.randint(len(rev), (cfg.batch_size,), generator=gb).tolist()
            ids_b, mask_b = batch([rev[i][0] for i in idx], cfg.ft_maxlen)
            labels = torch.tensor([rev[i][1] for i in idx])
            segs = torch.zeros_like(ids_b)
            t0 = time.perf_counter()
            if rate > 0:
                ids_b, segs, pos, mask_b = drop_tokens(
                    ids_b, segs, mask_b, rate, gb, special=torch.isin(ids_b, special_ids)
                )
            else:
                pos = None
            logits = clf(
                input_ids=ids_b, token_type_ids=segs, position_ids=pos, attention_mask=mask_b
            ).logits
            loss = F.cross_entropy(logits, labels)
            ft_opt.zero_grad()
            acc.backward(loss)
            ft_opt.step()
            t_train += time.perf_counter() - t0
            n_tokens += int(mask_b.sum())
            out.log(
                cfg.pretrain_steps + arm * cfg.finetune_steps + step,
                **{f"ft_loss_{name}": loss.item()},
            )
        clf = acc.unwrap_model(clf).eval()
        with torch.no_grad():
            pred = clf(input_ids=test_ids, attention_mask=test_mask).logits.argmax(-1)
        correct = (pred == y_test).numpy().astype(float)
        metrics[f"{name}_acc"] = float(correct.mean())
        metrics[f"{name}_train_seconds"] = t_train
        metrics[f"{name}_tokens_per_s"] = n_tokens / t_train
        metrics[f"{name}_steps_per_s"] = cfg.finetune_steps / t_train
        correct_by_arm[name] = correct

    majority = float(max(y_test.float().mean(), 1 - y_test.float().mean()))
    boot = np.random.default_rng(cfg.seed + 1)
    diff = correct_by_arm["corrected"] - correct_by_arm["plain"]
    means = [diff[boot.integers(0, len(diff), len(diff))].mean() for _ in range(cfg.n_bootstrap)]
    metrics.update(
        majority_baseline=majority,
        plain_minus_majority=metrics["plain_acc"] - majority,
        corrected_minus_plain=float(diff.mean()),
        corrected_abs_diff=abs(float(diff.mean())),
        corrected_minus_plain_ci_low=float(np.quantile(means, 0.025)),
        corrected_minus_plain_ci_high=float(np.quantile(means, 0.975)),
        drop15_speedup=metrics["drop15_steps_per_s"] / metrics["plain_steps_per_s"],
        drop50_speedup=metrics["drop50_steps_per_s"] / metrics["plain_steps_per_s"],
    )
    if out.is_main:
        keys = ["mlm_loss", *[f"ft_loss_{n}" for n, *_ in ARMS]]
        out.save_figure(
            _plot.curves(out.history, keys, "MLM pre-training, then fine-tuning arms"),
            "curves.png",
        )
    return metrics
