r"""Recipe: the article's checks on ALBERT and ELECTRA with tiny random models.

Article: 用ALBERT和ELECTRA之前，请确认你真的了解它们, 2020-10-29, https://kexue.fm/archives/7846
         (math in kexue.bert.albert_electra): ALBERT y = f(f(…f(x))) vs BERT y = f_n(…f_1(x))
Data:    kexue.data.peoples_daily sentences (MLM and ELECTRA pre-training), kexue.data.reviews
         (sentiment fine-tuning); random ids for the inference timings
Run:     kexue run albert-electra                 (full)
         kexue run albert-electra --budget quick  (a few minutes on a shared CPU)
         kexue run albert-electra --budget smoke  (seconds; claims not judged)
         kexue run albert-electra --budget article --set pretrained=ALBERT_DIR \
             pretrained_bert=BERT_DIR  (base sizes; V4 fine-tunes the two released checkpoints,
             HuggingFace or TensorFlow format; for a GPU)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors curves.png
         electra_discriminator/ (save_pretrained folder, reloaded through kexue's loader)

V1 parameters of ALBERT (shared block, factorised embedding E < H) vs BERT with the same
(L, H); V2 forward latency at E = H and E < H (interleaved repeats); V3 a BERT and an ALBERT
(E < H) of the same (L, H) pre-trained by MLM on People's Daily with the same batches and
steps, interleaved step by step (training time per step); V4 both fine-tuned on reviews with
the same batches, head init and steps, plus the pre-trained ALBERT unshared
(`unshare_albert`, bert4keras's ALBERT_Unshared) as a third arm; test accuracy, paired
intervals; V5 a tiny ELECTRA (generator hidden = disc/4, loss L_MLM + 50·L_RTD, every selected
token (15%) becomes [MASK] for the generator) scored by the ROC AUC of replaced-token detection
on held-out text; the discriminator is saved, reloaded and refused as an MLM.
Claims: same-spec ALBERT infers no faster; trains at most 20% faster; the small ALBERT is
worse than BERT after fine-tuning; unsharing ALBERT improves it; the ELECTRA discriminator
detects replaced tokens (goal; diagnosis in the recipe's notes).

Deviations:
    - tiny random-init models pre-trained here, not released checkpoints, unless `pretrained`
      (ALBERT) and `pretrained_bert` (BERT) name checkpoint folders: V4 then fine-tunes those
      (each with its vocab.txt simplified to the reviews); V1–V3 and V5 stay tiny. The MLM head
      is applied at the masked positions only (as the original pre-training code does).
Recorded: `kexue show albert-electra` prints the recorded full run (claims and metrics).
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

from kexue.bert import (
    CharTokenizer,
    VocabTokenizer,
    count_parameters,
    electra_loss,
    flops_per_token,
    load_checkpoint,
    load_pretrained,
    mask_tokens,
    masked_lm_logits,
    replace_tokens,
    require_mlm_head,
    rtd_auc,
    tiny_config,
    unshare_albert,
)
from kexue.bert.backbone import CLS, MASK, PAD, SEP
from kexue.data import peoples_daily, reviews
from kexue.errors import InputError
from kexue.recipes import _plot
from kexue.runs import Claim, RunDir, Statement, make_accelerator, seed_everything, statements_doc
from kexue.seq import pad_batch
from kexue.stats import bootstrap_interval, paired_interval, record_interval


@dataclass(frozen=True)
class Config:
    seed: int = 0
    hidden: int = 128  # V1/V2 (parameters, inference latency)
    layers: int = 4
    heads: int = 4
    embedding_size: int = 32  # ALBERT's E < H for V1
    timing_batch: int = 8
    timing_len: int = 128
    timing_repeats: int = 30  # interleaved rounds (bootstrap interval over rounds)
    ab_hidden: int = 64  # V3/V4 (pre-training and fine-tuning BERT vs ALBERT)
    ab_layers: int = 4
    ab_embedding: int = 16  # ALBERT's E < H (base: 128 vs 768)
    ab_pretrain_steps: int = 800
    ab_finetune_steps: int = 300
    ft_maxlen: int = 64  # characters per review
    ft_lr: float = 1e-3
    n_train: int = 8000  # reviews for fine-tuning
    n_test: int = 2000
    electra_steps: int = 600
    electra_hidden: int = 64
    electra_layers: int = 2
    gen_ratio: int = 4  # generator hidden = disc hidden / gen_ratio
    electra_lam: float = 50.0
    maxlen: int = 64
    batch_size: int = 32
    lr: float = 1e-3
    n_eval: int = 300
    # local checkpoint folders (HuggingFace, or TensorFlow: *config.json + model.ckpt.*) of an
    # ALBERT and a BERT of the same (L, H): V4's arms start from them instead of V3's tiny models
    pretrained: str | None = None
    pretrained_bert: str | None = None


QUICK = {"electra_steps": 150, "timing_repeats": 20, "n_eval": 100, "ab_pretrain_steps": 200,
         "ab_finetune_steps": 150}  # fmt: skip
SMOKE = {
    "electra_steps": 3, "timing_repeats": 2, "n_eval": 8, "hidden": 32, "layers": 2, "heads": 2,
    "electra_hidden": 32, "electra_layers": 1, "timing_len": 16, "maxlen": 24, "ab_hidden": 16,
    "ab_layers": 2, "ab_embedding": 8, "ab_pretrain_steps": 3, "ab_finetune_steps": 3,
    "ft_maxlen": 24, "n_train": 100, "n_test": 20,
}  # fmt: skip
# The article's scale: base models (BERT-base L = 12, H = 768, A = 12; ALBERT-base E = 128, the
# ALBERT paper), the CLUE baseline's fine-tuning (bojone/CLUE-bert4keras: maxlen 128, batch 32,
# 10 epochs; Adam 2e-5 here where that code uses AdaFactor 5e-4) of released checkpoints (pass
# them with --set pretrained=ALBERT_DIR pretrained_bert=BERT_DIR), ten epochs of all 31,612
# reviews; ELECTRA's λ = 50 and generator = 1/4 of the discriminator (its paper). Pre-training
# (Adam 1e-4, BERT's rate) runs only to time steps (V3) and probe RTD (V5): a fraction of the
# papers' 10⁵–10⁶ steps.
ARTICLE = {
    "hidden": 768, "layers": 12, "heads": 12, "embedding_size": 128, "timing_len": 128,
    "ab_hidden": 768, "ab_layers": 12, "ab_embedding": 128, "ab_pretrain_steps": 2000,
    "ab_finetune_steps": 9879, "ft_maxlen": 126, "ft_lr": 2e-5, "n_train": 31612, "n_test": 3512,
    "electra_steps": 10000, "electra_hidden": 768, "electra_layers": 12, "maxlen": 128,
    "batch_size": 32, "lr": 1e-4,
}  # fmt: skip

CLAIMS = (
    Claim(
        "same-spec ALBERT predicts no faster than BERT: forward latency ratio ≥ 0.85 at E = H",
        "albert_bert_latency_ratio",
        ">=",
        0.85,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "ALBERT (E < H) trains only 10–20% faster than BERT of the same (L, H), not L× "
        "(BERT/ALBERT time per MLM pre-training step ≤ 1.2)",
        "albert_train_speedup",
        "<=",
        1.2,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "a small ALBERT is worse than BERT of the same (L, H) at an equal budget: fine-tuned "
        "test accuracy BERT − ALBERT > 0",
        "bert_minus_albert_acc",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "loading ALBERT's weights with the sharing released (ALBERT_Unshared) improves "
        "fine-tuning: test accuracy unshared − shared > 0",
        "unshared_minus_shared_acc",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "the tiny ELECTRA discriminator detects replaced tokens (ROC AUC ≥ 0.7; chance 0.5)",
        "electra_rtd_auc",
        ">=",
        0.7,
        ("quick", "full"),
        kind="goal",
    ),
)

_T = "tests/bert/test_albert_electra.py::"
STATEMENTS = (
    Statement(
        "ALBERT is a parameter-shared BERT: far fewer parameters (smaller saved weights)",
        "test",
        _T + "test_albert_has_at_most_half_of_berts_parameters_at_the_recipes_config",
    ),
    Statement(
        "same-spec ALBERT and BERT predict at the same speed (ALBERT even slightly slower: the "
        "factorised embedding adds computation)",
        "claim",
        "albert_bert_latency_ratio",
    ),
    Statement(
        "sharing saves no FLOPs: the same L·(…) term per token, plus E→H when E < H",
        "test",
        _T + "test_flops_equal_at_equal_layers_and_hidden",
    ),
    Statement(
        "ALBERT trains only about 10–20% faster than BERT (base), less for tiny/small",
        "claim",
        "albert_train_speedup",
    ),
    Statement(
        "ALBERT's GPU memory shrinks by a similar 10–20% only",
        "untestable",
        "needs base-size models on a GPU; the recipe runs tiny models on a CPU",
    ),
    Statement(
        "below xlarge, ALBERT is worse than BERT of the same size",
        "claim",
        "bert_minus_albert_acc",
    ),
    Statement(
        "loading ALBERT's weights without the sharing constraint (ALBERT_Unshared) improves it",
        "claim",
        "unshared_minus_shared_acc",
    ),
    Statement(
        "ALBERT_Unshared reproduces ALBERT exactly at load (the same weights in every layer)",
        "test",
        _T + "test_unshared_albert_is_exact_at_load_then_diverges",
    ),
    Statement(
        "ALBERT xlarge matches and xxlarge beats BERT large; ELECTRA reaches BERT with 1/4 of "
        "the compute but has no clear downstream edge (CLUE, Chinese-ELECTRA, QADS)",
        "untestable",
        "needs the released large checkpoints and benchmark datasets, not available offline",
    ),
    Statement(
        "the optimal GAN discriminator p/(p + q) tends to ½ as the generator improves",
        "untestable",
        "a limit for a perfect generator; the tiny generator never approaches the data here",
    ),
    Statement(
        "ELECTRA works best with a generator 1/4–1/2 of the discriminator",
        "untestable",
        "needs a sweep of full ELECTRA pre-trainings scored downstream; beyond this budget",
    ),
    Statement(
        "ELECTRA's discriminator is not an MLM (unusable for MLM/UniLM generation)",
        "test",
        _T + "test_discriminator_has_no_mlm_head",
    ),
)


def _times(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, np.ndarray]:
    """Seconds per call of each function, `repeats` rounds after one warm-up round, interleaved
    so that load changes hit every function alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up, untimed: the first call pays for allocations
        fn()
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: np.asarray(v) for k, v in times.items()}


def _ratio_interval(
    metrics: dict[str, float], key: str, num: np.ndarray, den: np.ndarray, seed: int
) -> None:
    """Record sum(num)/sum(den) over paired rounds with its bootstrap interval over rounds."""

    def ratio(idx: np.ndarray) -> float:
        i = idx.astype(int)
        return float(num[i].sum() / den[i].sum())

    rounds = np.arange(len(num), dtype=float)
    record_interval(
        metrics, key, ratio(rounds), bootstrap_interval(rounds, ratio, n_resamples=1000, seed=seed)
    )


class _Classifier(torch.nn.Module):
    """An encoder plus a linear head on the [CLS] state."""

    def __init__(self, encoder: torch.nn.Module, hidden: int, seed: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(hidden, 2)
        gi = torch.Generator().manual_seed(seed)  # the same head in every arm
        with torch.no_grad():
            self.head.weight.copy_(0.02 * torch.randn(self.head.weight.shape, generator=gi))
            self.head.bias.zero_()

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0])


Tokenizer = CharTokenizer | VocabTokenizer


def finetune_backbones(
    cfg: Config, corpus: list[str], tok: Tokenizer, bert: hf.BertModel, albert: hf.AlbertModel
) -> dict[str, tuple[Tokenizer, torch.nn.Module]]:
    """V4's arms (bert, albert, unshared): their tokenizer and starting encoder. Copies of V3's
    pre-trained tiny models (one character tokenizer), or with `pretrained` / `pretrained_bert`
    the checkpoints, each with its vocab.txt simplified to `corpus` (the reviews)."""
    if cfg.pretrained is None and cfg.pretrained_bert is None:
        return {"bert": (tok, copy.deepcopy(bert)), "albert": (tok, copy.deepcopy(albert)),
                "unshared": (tok, unshare_albert(albert))}  # fmt: skip
    if cfg.pretrained is None or cfg.pretrained_bert is None:
        raise InputError("V4 compares an ALBERT with a BERT of the same size: give both "
                         "pretrained=ALBERT_DIR and pretrained_bert=BERT_DIR")  # fmt: skip
    kw = {"corpus": corpus, "max_len": cfg.ft_maxlen + 2, "allow_missing": [r"^pooler\."]}
    a = load_checkpoint(cfg.pretrained, hf.AlbertModel, **kw,
                        allow_unexpected=[r"^predictions\.", r"^sop_classifier\."])  # fmt: skip
    b = load_checkpoint(cfg.pretrained_bert, hf.BertModel, **kw,
                        allow_unexpected=[r"^cls\."])  # fmt: skip
    for ck in (a, b):
        ck.model.pooler = None  # the classifiers read the [CLS] state, as the tiny arms do
    return {"bert": (b.tokenizer, b.model.train()), "albert": (a.tokenizer, a.model.train()),
            "unshared": (a.tokenizer, unshare_albert(a.model).train())}  # fmt: skip


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    corpus = peoples_daily()
    texts = [s.text[: cfg.maxlen - 2] for s in corpus.split("train") if len(s.text) >= 8]
    test_texts = [s.text[: cfg.maxlen - 2] for s in corpus.split("test") if len(s.text) >= 8]
    rng = np.random.default_rng(cfg.seed)
    rev_all, rev_test_all = reviews("train"), reviews("test")
    rev = [rev_all[i] for i in rng.permutation(len(rev_all))[: cfg.n_train]]
    rev_test = [rev_test_all[i] for i in rng.permutation(len(rev_test_all))[: cfg.n_test]]
    tok = CharTokenizer(texts + [t for t, _ in rev], min_count=2)
    V = len(tok)
    metrics: dict[str, float] = {"vocab_size": float(V)}

    def batch(
        batch_texts: list[str], maxlen: int, tk: Tokenizer = tok
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ids = pad_batch([tk.encode(t[: maxlen - 2])[0] for t in batch_texts])
        return ids, (ids != tk.pad_id).long()

    # ---- V1 parameters, V2 inference latency (random ids)
    kw = dict(hidden=cfg.hidden, layers=cfg.layers, heads=cfg.heads, dropout=0.0)
    torch.manual_seed(cfg.seed)
    bert = hf.BertModel(tiny_config("bert", V, **kw), add_pooling_layer=False)
    albert_small_e = hf.AlbertModel(
        tiny_config("albert", V, embedding_size=cfg.embedding_size, **kw), add_pooling_layer=False
    )
    albert = hf.AlbertModel(tiny_config("albert", V, **kw), add_pooling_layer=False)
    metrics["bert_params"] = float(count_parameters(bert))
    metrics["albert_params"] = float(count_parameters(albert_small_e))
    metrics["albert_bert_param_ratio"] = metrics["albert_params"] / metrics["bert_params"]
    metrics["albert_flops_ratio_e_eq_h"] = flops_per_token(
        albert.config, cfg.timing_len
    ) / flops_per_token(bert.config, cfg.timing_len)
    ids = torch.randint(5, V, (cfg.timing_batch, cfg.timing_len), generator=g)
    bert.eval(), albert.eval(), albert_small_e.eval()

    def fwd(model: hf.PreTrainedModel) -> Callable[[], None]:
        def f() -> None:
            with torch.no_grad():
                model(ids)

        return f

    t = _times(
        {"bert": fwd(bert), "albert": fwd(albert), "albert_small_e": fwd(albert_small_e)},
        cfg.timing_repeats,
    )
    metrics.update(
        bert_forward_ms=1e3 * float(np.median(t["bert"])),
        albert_forward_ms=1e3 * float(np.median(t["albert"])),
    )
    _ratio_interval(metrics, "albert_bert_latency_ratio", t["albert"], t["bert"], cfg.seed)
    _ratio_interval(
        metrics, "albert_small_e_latency_ratio", t["albert_small_e"], t["bert"], cfg.seed
    )
    x = ids[:2, :32]
    unshared = unshare_albert(albert_small_e).eval()
    with torch.no_grad():
        diff = (albert_small_e(x).last_hidden_state - unshared(x).last_hidden_state).abs().max()
    metrics["unshared_load_max_abs_diff"] = float(diff)
    metrics["unshared_params"] = float(count_parameters(unshared))
    del bert, albert, albert_small_e, unshared

    # ---- V3 MLM pre-training of BERT and ALBERT (E < H), same (L, H), batches and steps,
    # interleaved step by step (rotating order) so that load changes hit both alike
    ab = dict(hidden=cfg.ab_hidden, layers=cfg.ab_layers, heads=cfg.heads,
              max_position=max(cfg.maxlen, cfg.ft_maxlen) + 2)  # fmt: skip
    torch.manual_seed(cfg.seed)
    mlms = {
        "bert": hf.BertForMaskedLM(tiny_config("bert", V, **ab)),
        "albert": hf.AlbertForMaskedLM(
            tiny_config("albert", V, embedding_size=cfg.ab_embedding, **ab)
        ),
    }
    metrics["ab_albert_bert_param_ratio"] = count_parameters(
        mlms["albert"].albert
    ) / count_parameters(mlms["bert"].bert)
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in mlms.items()}
    for k in mlms:
        mlms[k], opts[k] = acc.prepare(mlms[k], opts[k])
    h = cfg.electra_hidden  # V5's models: built here so that one checkpoint holds both phases
    torch.manual_seed(cfg.seed + 1)
    disc = hf.ElectraForPreTraining(
        tiny_config("electra", V, hidden=h, layers=cfg.electra_layers, heads=cfg.heads)
    )
    gen_cfg = tiny_config(
        "electra", V, hidden=h // cfg.gen_ratio, layers=cfg.electra_layers, heads=1,
        embedding_size=h,
    )  # fmt: skip
    gen = hf.ElectraForMaskedLM(gen_cfg)
    opt = torch.optim.Adam([*disc.parameters(), *gen.parameters()], lr=cfg.lr)
    disc, gen, opt = acc.prepare(disc, gen, opt)
    state = {**mlms, **{f"opt_{k}": o for k, o in opts.items()}, "disc": disc, "gen": gen,
             "opt": opt, "rng": g}  # fmt: skip
    P = cfg.ab_pretrain_steps  # checkpoint steps: V3's, then P + V5's
    start = out.restore(state)
    step_s = {k: np.zeros(cfg.ab_pretrain_steps) for k in mlms}
    for step in out.progress(range(min(start, P), P), "bert/albert mlm"):
        idx = torch.randint(len(texts), (cfg.batch_size,), generator=g).tolist()
        ids_b, mask = batch([texts[i] for i in idx], cfg.maxlen)
        special = (ids_b == PAD) | (ids_b == CLS) | (ids_b == SEP)
        inputs, selected = mask_tokens(ids_b, special, vocab_size=V, mask_id=MASK, generator=g)
        row = {}
        for k in ("bert", "albert") if step % 2 == 0 else ("albert", "bert"):
            torch.manual_seed(cfg.seed + 21 + step)  # the same dropout draws in both
            t0 = time.perf_counter()
            logits = masked_lm_logits(acc.unwrap_model(mlms[k]), inputs, mask, selected)
            loss = F.cross_entropy(logits, ids_b[selected])
            opts[k].zero_grad()
            acc.backward(loss)
            opts[k].step()
            row[f"mlm_loss_{k}"] = loss.item()
            step_s[k][step] = time.perf_counter() - t0
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    if start < P:
        out.save_checkpoint(P, state)
        done = slice(start + 1 if P - start > 1 else start, P)  # the steps this run ran,
        # less the first (warm-up)
        _ratio_interval(
            metrics, "albert_train_speedup", step_s["bert"][done], step_s["albert"][done], cfg.seed
        )
    trained = {k: acc.unwrap_model(m).eval() for k, m in mlms.items()}
    ev = torch.Generator().manual_seed(cfg.seed + 3)
    ids_e, mask_e = batch(test_texts[: cfg.n_eval], cfg.maxlen)
    special = (ids_e == PAD) | (ids_e == CLS) | (ids_e == SEP)
    inputs, selected = mask_tokens(ids_e, special, vocab_size=V, mask_id=MASK, generator=ev)
    with torch.no_grad():
        for k, m in trained.items():
            pred = masked_lm_logits(m, inputs, mask_e, selected).argmax(-1)
            metrics[f"{k}_mlm_heldout_acc"] = float((pred == ids_e[selected]).float().mean())

    # ---- V4 fine-tuning on reviews: BERT, ALBERT, ALBERT unshared (same head, batches,
    # dropout draws and steps; interleaved)
    arms = finetune_backbones(  # copies: the checkpoint keeps the pre-trained weights
        cfg, [t for t, _ in rev], tok, trained["bert"].bert, trained["albert"].albert
    )
    toks = {k: tk for k, (tk, _) in arms.items()}
    clfs = {k: _Classifier(e, e.config.hidden_size, cfg.seed + 13).train()
            for k, (_, e) in arms.items()}  # fmt: skip
    ft_opts = {k: torch.optim.Adam(c.parameters(), lr=cfg.ft_lr) for k, c in clfs.items()}
    for k in clfs:
        clfs[k], ft_opts[k] = acc.prepare(clfs[k], ft_opts[k])
    names = list(clfs)
    ft_s = {k: np.zeros(cfg.ab_finetune_steps) for k in names}
    gb = torch.Generator().manual_seed(cfg.seed + 12)
    for step in out.progress(range(cfg.ab_finetune_steps), "fine-tuning arms"):
        idx = torch.randint(len(rev), (cfg.batch_size,), generator=gb).tolist()
        inputs_b = {k: batch([rev[i][0] for i in idx], cfg.ft_maxlen, toks[k]) for k in names}
        labels = torch.tensor([rev[i][1] for i in idx])
        row = {}
        shift = step % len(names)
        for k in names[shift:] + names[:shift]:
            torch.manual_seed(cfg.seed + 14 + step)
            t0 = time.perf_counter()
            loss = F.cross_entropy(clfs[k](*inputs_b[k]), labels)
            ft_opts[k].zero_grad()
            acc.backward(loss)
            ft_opts[k].step()
            row[f"ft_loss_{k}"] = loss.item()
            ft_s[k][step] = time.perf_counter() - t0
        out.log(cfg.ab_pretrain_steps + step, **row)
    y_test = torch.tensor([y for _, y in rev_test])
    correct = {}
    for k in names:
        test_ids, test_mask = batch([t for t, _ in rev_test], cfg.ft_maxlen, toks[k])
        clf = acc.unwrap_model(clfs[k]).eval()
        with torch.no_grad():
            pred = torch.cat([
                clf(test_ids[i : i + 256], test_mask[i : i + 256]).argmax(-1).cpu()
                for i in range(0, len(test_ids), 256)
            ])  # fmt: skip
        correct[k] = (pred == y_test).numpy().astype(float)
        metrics[f"{k}_ft_acc"] = float(correct[k].mean())
    for key, a, b in (("bert_minus_albert_acc", "bert", "albert"),
                      ("unshared_minus_shared_acc", "unshared", "albert")):  # fmt: skip
        point = float((correct[a] - correct[b]).mean())
        record_interval(metrics, key, point, paired_interval(correct[a], correct[b]))
    _ratio_interval(metrics, "unshared_shared_step_ratio", ft_s["unshared"], ft_s["albert"], 0)
    metrics["majority_baseline"] = float(max(y_test.float().mean(), 1 - y_test.float().mean()))

    # ---- V5 tiny ELECTRA pre-training

    def corrupt(
        batch_texts: list[str], gen_model: torch.nn.Module, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        ids = pad_batch([tok.encode(t)[0] for t in batch_texts])
        mask = (ids != PAD).long()
        special = (ids == PAD) | (ids == CLS) | (ids == SEP)
        # ELECTRA replaces every selected token by [MASK] (x_masked = REPLACE(x, m, [MASK])),
        # not BERT's 80/10/10: the generator must predict every selected token from context
        inputs, masked = mask_tokens(
            ids, special, vocab_size=V, mask_id=MASK, generator=generator, p_mask=1.0, p_rand=0.0
        )
        gen_logits = gen_model(input_ids=inputs, attention_mask=mask).logits
        corrupted, replaced = replace_tokens(ids, masked, gen_logits, generator)
        return ids, mask, masked, gen_logits, corrupted, replaced

    for step in out.progress(range(max(start - P, 0), cfg.electra_steps), "electra"):
        idx = torch.randint(len(texts), (cfg.batch_size,), generator=g).tolist()
        ids_b, mask, masked, gen_logits, corrupted, replaced = corrupt(
            [texts[i] for i in idx], gen, g
        )
        disc_logits = disc(input_ids=corrupted, attention_mask=mask).logits
        loss, l_mlm, l_rtd = electra_loss(
            gen_logits, ids_b, masked, disc_logits, replaced, mask, cfg.electra_lam
        )
        opt.zero_grad()
        acc.backward(loss)
        opt.step()
        row = {"electra_loss": loss.item(), "mlm_loss": l_mlm.item(), "rtd_loss": l_rtd.item()}
        out.log(P + cfg.ab_finetune_steps + step, **row)
        out.maybe_checkpoint(P + step + 1, state)
    out.save_checkpoint(P + cfg.electra_steps, state)

    disc_m, gen_m = acc.unwrap_model(disc).eval(), acc.unwrap_model(gen).eval()
    folder = out.file("electra_discriminator")
    if out.is_main:
        disc_m.save_pretrained(folder)
    reloaded = load_pretrained(hf.ElectraForPreTraining, folder)
    ev = torch.Generator().manual_seed(cfg.seed + 7)
    with torch.no_grad():
        ids_b, mask, masked, gen_logits, corrupted, replaced = corrupt(
            test_texts[: cfg.n_eval], gen_m, ev
        )
        scores = reloaded(input_ids=corrupted, attention_mask=mask).logits
        same = disc_m(input_ids=corrupted, attention_mask=mask).logits
    real = (mask.bool() & (ids_b != CLS) & (ids_b != SEP)).numpy()
    s, y = scores.numpy()[real], replaced.numpy()[real].astype(float)
    pred = s > 0
    metrics.update(
        electra_rtd_auc=rtd_auc(s, y),
        electra_rtd_acc_replaced=float(pred[y == 1].mean()) if (y == 1).any() else float("nan"),
        electra_rtd_acc_original=float((~pred[y == 0]).mean()),
        electra_replaced_fraction=float(y.mean()),
        electra_generator_mlm_acc=float(
            (gen_logits[masked].argmax(-1) == ids_b[masked]).float().mean()
        ),
        electra_reload_max_abs_diff=float((scores - same).abs().max()),
    )
    try:
        require_mlm_head(reloaded)
        metrics["electra_discriminator_refused_as_mlm"] = 0.0
    except ValueError:
        metrics["electra_discriminator_refused_as_mlm"] = 1.0

    if out.is_main:
        keys = ["mlm_loss_bert", "mlm_loss_albert", *[f"ft_loss_{k}" for k in names],
                "mlm_loss", "rtd_loss"]  # fmt: skip
        fig = _plot.curves(out.history, keys, "BERT/ALBERT MLM, fine-tuning, tiny ELECTRA")
        out.save_figure(fig, "curves.png")
    return metrics


__doc__ = statements_doc(__doc__, STATEMENTS)
