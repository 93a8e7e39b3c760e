r"""Recipe: the article's checks on ALBERT and ELECTRA with tiny random models.

Article: 用ALBERT和ELECTRA之前，请确认你真的了解它们, 2020-10-29, https://kexue.fm/archives/7846
         (math in kexue.bert.albert_electra)
Data:    kexue.data.peoples_daily sentences (ELECTRA pre-training); random ids for the timings
Run:     kexue run albert-electra                 (full)
         kexue run albert-electra --budget quick  (about 30 s)
         kexue run albert-electra --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors curves.png
         electra_discriminator/ (save_pretrained folder, reloaded through kexue's loader)

V1 parameters of ALBERT (shared blocks, factorised embedding E < H) vs BERT with the same
(L, H); V2 forward latency at E = H; V3 training-step time; V4 ALBERT weights loaded into an
unshared model give identical outputs and the layers diverge once fine-tuned; V5 a tiny ELECTRA
(generator hidden = disc/4, loss L_MLM + 50·L_RTD, generator samples without gradient, a
sampled original counts as original, every selected token (15%) becomes [MASK] for the
generator, as in the ELECTRA paper) pre-trained on People's Daily, scored by the ROC AUC of
replaced-token detection (ties ½) on held-out text, all non-padding positions but [CLS]/[SEP];
the discriminator is saved, reloaded with `load_pretrained`, and refused as an MLM.
Claims: ALBERT saves no inference time at E = H; the discriminator detects replaced tokens
(AUC ≥ 0.7; diagnosis and probes for this claim: the recipe's notes in the kexue repository).
Checks (in the tests): ALBERT has at most half of BERT's parameters; the unshared load is exact.

Deviations:
    - tiny random-init models and a small ELECTRA pre-trained here, not released checkpoints.
Recorded: `kexue show albert-electra` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import transformers as hf

from kexue.bert import (
    CharTokenizer,
    count_parameters,
    electra_loss,
    flops_per_token,
    load_pretrained,
    mask_tokens,
    replace_tokens,
    require_mlm_head,
    rtd_auc,
    tiny_config,
    unshare_albert,
)
from kexue.bert.backbone import CLS, MASK, PAD, SEP
from kexue.data import peoples_daily
from kexue.recipes import _plot
from kexue.runs import Claim, RunDir, make_accelerator, seed_everything
from kexue.seq import pad_batch


@dataclass(frozen=True)
class Config:
    seed: int = 0
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    embedding_size: int = 32  # ALBERT's E < H for V1
    timing_batch: int = 8
    timing_len: int = 128
    timing_repeats: int = 9  # interleaved, median
    finetune_steps: int = 20  # V4
    electra_steps: int = 600
    electra_hidden: int = 64
    electra_layers: int = 2
    gen_ratio: int = 4  # generator hidden = disc hidden / gen_ratio
    electra_lam: float = 50.0
    maxlen: int = 64
    batch_size: int = 32
    lr: float = 1e-3
    n_eval: int = 300


QUICK = {"electra_steps": 150, "timing_repeats": 5, "n_eval": 100}
SMOKE = {
    "electra_steps": 3, "timing_repeats": 1, "finetune_steps": 2, "n_eval": 8, "hidden": 32,
    "layers": 2, "heads": 2, "electra_hidden": 32, "electra_layers": 1, "timing_len": 16,
    "maxlen": 24,
}  # fmt: skip

CLAIMS = (
    Claim(
        "sharing saves no inference time: ALBERT/BERT forward latency ratio ≥ 0.85 at E = H",
        "albert_bert_latency_ratio",
        ">=",
        0.85,
        ("quick", "full"),
    ),
    Claim(
        "the tiny ELECTRA discriminator detects replaced tokens (ROC AUC ≥ 0.7; chance 0.5)",
        "electra_rtd_auc",
        ">=",
        0.7,
        ("quick", "full"),
    ),
)


def _median_times(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():  # interleaved so that load changes hit both alike
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    corpus = peoples_daily()
    texts = [s.text[: cfg.maxlen - 2] for s in corpus.split("train") if len(s.text) >= 8]
    test_texts = [s.text[: cfg.maxlen - 2] for s in corpus.split("test") if len(s.text) >= 8]
    tok = CharTokenizer(texts, min_count=2)
    V = len(tok)
    metrics: dict[str, float] = {"vocab_size": float(V)}

    # ---- V1 parameters, V2 latency, V3 training-step time
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

    t = _median_times(
        {"bert": fwd(bert), "albert": fwd(albert), "albert_small_e": fwd(albert_small_e)},
        cfg.timing_repeats,
    )
    metrics.update(
        bert_forward_ms=1e3 * t["bert"],
        albert_forward_ms=1e3 * t["albert"],
        albert_bert_latency_ratio=t["albert"] / t["bert"],
        albert_small_e_latency_ratio=t["albert_small_e"] / t["bert"],
    )
    opt_b = torch.optim.Adam(bert.parameters(), lr=1e-4)
    opt_a = torch.optim.Adam(albert.parameters(), lr=1e-4)

    def train_step(model: hf.PreTrainedModel, opt: torch.optim.Optimizer) -> Callable[[], None]:
        def f() -> None:
            model.train()
            loss = model(ids).last_hidden_state.pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        return f

    t = _median_times(
        {"bert": train_step(bert, opt_b), "albert": train_step(albert, opt_a)}, cfg.timing_repeats
    )
    metrics["albert_bert_train_step_ratio"] = t["albert"] / t["bert"]

    # ---- V4 unshared load
    albert_small_e.eval()
    unshared = unshare_albert(albert_small_e).eval()
    x = ids[:2, :32]
    with torch.no_grad():
        diff = (albert_small_e(x).last_hidden_state - unshared(x).last_hidden_state).abs().max()
    metrics["unshared_load_max_abs_diff"] = float(diff)
    metrics["unshared_params"] = float(count_parameters(unshared))
    opt_u = torch.optim.Adam(unshared.parameters(), lr=1e-3)
    unshared.train()
    for _ in range(cfg.finetune_steps):
        loss = unshared(x).last_hidden_state.pow(2).mean()
        opt_u.zero_grad()
        loss.backward()
        opt_u.step()
    layers = unshared.encoder.albert_layer_groups
    w_first = layers[0].albert_layers[0].ffn.weight.detach()
    w_last = layers[-1].albert_layers[0].ffn.weight.detach()
    metrics["unshared_layer_divergence"] = float((w_first - w_last).abs().max())

    # ---- V5 tiny ELECTRA pre-training
    h = cfg.electra_hidden
    torch.manual_seed(cfg.seed)
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
    state = {"disc": disc, "gen": gen, "opt": opt, "rng": g}
    start = out.restore(state)

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

    for step in out.progress(range(start, cfg.electra_steps), "electra"):
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
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(cfg.electra_steps, state)

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
        fig = _plot.curves(out.history, ["mlm_loss", "rtd_loss"], "tiny ELECTRA pre-training")
        out.save_figure(fig, "curves.png")
    return metrics
