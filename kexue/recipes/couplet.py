r"""Recipe: the couplet bot as sequence labelling, a gated residual CNN against a BiLSTM tagger.

Article: 基于CNN和序列标注的对联机器人, 2019-01-14, https://kexue.fm/archives/6270
         (math in kexue.seq.couplet)
Data:    kexue.data.couplet_pairs: the 3,834 built-in pairs, or with --data FOLDER an in.txt /
         out.txt folder of any size (the article's > 700 k pairs), read by seek from an index of
         line offsets, never held in RAM; fixed 80/10/10 train/validation/test split by a hash
         of the first line
Run:     kexue run couplet                 (full)
         kexue run couplet --budget quick  (about 30 s)
         kexue run couplet --budget smoke  (a few seconds; claims not judged)
         kexue run couplet --data couplet/train     (wb14123/couplet-dataset's training folder:
                              the recipe's settings on the user's pairs)
         kexue run couplet --data couplet/train --budget article  (the article's settings:
                              lines ≤ 16 characters, 100 epochs of 1,000 steps; a GPU)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         curves.png (training and validation CE) accuracy.png (character accuracy per model)
         samples.txt (first lines, gold and generated second lines); generator.safetensors
         and vocab.json (the best CNN and its vocabulary: `kexue generate RUN_DIR` uses them);
         data-cache/ (the --data folder's line index, only when that folder is read-only)

Both taggers see the same length-homogeneous batches and steps (as in the article), keep their
best-validation-loss weights, and decode with the article's prior (never repeat the first
line's character at the same position, never unk); the CNN is also decoded without the
no-repeat rule, to measure what the rule does. The BiLSTM's width matches the CNN's parameter
count (and so its multiply-adds per character); per-step time is the median after warm-up.
Baseline without context: each character's most frequent partner in training. The test split
has a few hundred pairs, so the accuracy claims are judged on the 95 % bootstrap interval over
test pairs (paired: all models decode the same pairs), the speed claim on the bootstrap over
the timed steps (both models time the same batch).
Claims: the CNN trains faster per step, is at least as accurate as the BiLSTM (the article)
and beats the lookup (it uses context); goal: the no-repeat rule does not cost accuracy.
The no-repeat rule itself is a unit test (the decode never repeats by construction).

Deviations (why claims can fail here: the recipe's notes in the kexue repository):
    - 3,057 training pairs, not the article's > 700 k (those need --data); CPU timings (its
      "LSTM is slower" is about a GPU); vocabulary min_count 2 counted on the training pairs
      only (the article counts all files, test included).
    - on a large --data folder the first 6,400 validation pairs are validated on (the
      article: 100 random batches of 64 drawn from the dataset's test files) and the first
      5,000 test pairs scored (valid_pairs, test_pairs); --budget article always draws 64
      pairs (the article takes min(64, pairs of that length)).
Recorded: `kexue show couplet` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from kexue.data import CoupletPairs, char_counts, couplet_pairs
from kexue.recipes import _plot
from kexue.runs import (
    Claim,
    DataSpec,
    RunDir,
    Statement,
    make_accelerator,
    seed_everything,
    statements_doc,
)
from kexue.seq import BiLSTMTagger, CoupletCNN, constrained_decode, tagging_loss
from kexue.stats import bootstrap_interval, record_interval
from kexue.train import BestCheckpoint


@dataclass(frozen=True)
class Config:
    seed: int = 0
    d: int = 128
    n_blocks: int = 6
    dropout: float = 0.25
    lstm_hidden: int = 0  # 0: the BiLSTM width that matches the CNN's parameter count
    lstm_layers: int = 1
    min_count: int = 2  # the article's vocabulary: rarer characters are unk (id 0)
    max_len: int = 0  # leave out couplets longer than this (0: keep all; the article: 16)
    # the first so many pairs of the validation and test parts (0: all): a tenth of a 700 k
    # set each would take minutes a validation and gigabytes in the test's bootstrap; the
    # built-in data's parts are smaller. 6,400 = the article's 100 validation batches of 64.
    valid_pairs: int = 6400
    test_pairs: int = 5000
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    eval_every: int = 50  # validation CE for the keep-best checkpoint (the article's protocol)
    warmup_steps: int = 20  # per-step times before this are not timed (allocator, caches)
    data: str | None = None


DATA = DataSpec(
    "data",
    "a couplet folder: in.txt and out.txt, one half per line, aligned line by line "
    "(spaces between characters are ignored), of any size: read by seek from an index of line "
    "offsets kept in FOLDER/.kexue-cache (or the run folder when FOLDER is read-only)",
    "../shared/data/couplets beside the checkout, or $KEXUE_DATA/couplets",
)

VALID_BATCH = 512  # pairs per validation batch, at most
# per-step times kept after warm-up: the median and its bootstrap need no more (the bootstrap's
# resamples of the article budget's 100 k steps would take 3 GB); the full budget times 1,980
TIMED_STEPS = 2000

QUICK = {"steps": 150}
SMOKE = {
    "steps": 10,
    "d": 32,
    "n_blocks": 2,
    "eval_every": 5,
    "warmup_steps": 2,
}

# The article's own settings (bojone/seq2seq couplet_by_seq_tagging.py @c9884db, on
# wb14123/couplet-dataset's > 700 k training pairs: pass that folder with --data).
ARTICLE = {
    "d": 128,  # char_size = 128
    "n_blocks": 6,  # six gated_resnet blocks, kernel 3 (CoupletCNN's)
    "dropout": 0.25,  # Dropout(0.25) after the embedding
    "min_count": 2,  # min_count = 2
    "max_len": 16,  # maxlen = 16: read_data drops longer lines
    "batch_size": 64,  # batch_size = 64, drawn from one length at a time
    "lr": 1e-3,  # optimizer='adam': Keras's default learning rate
    "steps": 100_000,  # fit_generator(steps_per_epoch=1000, epochs=100)
    "eval_every": 1000,  # validation (and keep-best on its loss) at each epoch's end
    "valid_pairs": 6400,  # validation_steps=100 batches of 64 (the default too)
}

CLAIMS = (
    Claim(
        "the gated CNN trains faster per step than the BiLSTM tagger",
        "cnn_speedup",
        ">",
        1.0,
        ("quick", "full", "article"),
        interval=True,
    ),
    Claim(
        "the gated CNN is at least as accurate as the BiLSTM (article: BiLSTM worse)",
        "cnn_minus_bilstm_acc",
        ">=",
        0.0,
        ("quick", "full", "article"),
        interval=True,
    ),
    Claim(
        "the gated CNN uses context: char accuracy above the per-character lookup baseline",
        "cnn_minus_lookup_acc",
        ">",
        0.0,
        ("quick", "full", "article"),
        interval=True,
    ),
    Claim(
        "the no-repeat decoding rule does not lower the CNN's char accuracy",
        "cnn_norepeat_acc_gain",
        ">=",
        0.0,
        ("quick", "full", "article"),
        kind="goal",
        interval=True,
    ),
)

STATEMENTS = (
    Statement(
        "the second line has as many characters as the first (a tagging task)",
        "test",
        "tests/seq/test_couplet.py::test_output_length_equals_input_length",
    ),
    Statement(
        "the gated residual block is x ⊙ σ(g) + h ⊙ σ(−g)",
        "test",
        "tests/seq/test_couplet.py::test_gate_extremes_give_identity_or_the_convolution",
    ),
    Statement(
        "six gated blocks of kernel 3 see six characters on each side",
        "test",
        "tests/seq/test_couplet.py::test_receptive_field_is_six_each_side",
    ),
    Statement(
        "the decode never outputs unk nor the first line's character at a position (its code)",
        "test",
        "tests/seq/test_couplet.py::test_constrained_decode_never_repeats_the_input_char_or_emits_unk",
    ),
    Statement(
        "a BiLSTM in place of the gated CNN is worse",
        "claim",
        "cnn_minus_bilstm_acc",
    ),
    Statement(
        "a BiLSTM in place of the gated CNN is slower",
        "claim",
        "cnn_speedup",
    ),
    Statement(
        "characters of the two lines correspond one to one, and the model uses more than that",
        "claim",
        "cnn_minus_lookup_acc",
    ),
    Statement(
        "the model does not merely memorise the training set (its own second line for a "
        "training first line)",
        "untestable",
        "a judgement on one sample line; no measure of 'understanding' is given",
    ),
)


def _char_accuracy(pred: list[str], gold: list[str]) -> tuple[float, float]:
    hits = sum(a == b for p, g in zip(pred, gold, strict=True) for a, b in zip(p, g, strict=True))
    total = sum(len(g) for g in gold)
    return hits / total, float(np.mean([p == g for p, g in zip(pred, gold, strict=True)]))


def _with_interval(
    metrics: dict[str, float], key: str, stat: Callable[[np.ndarray], float], n: int
) -> None:
    """Record `stat(all items)` as `key` with its bootstrap interval over the n items (resampled
    by index, so paired arrays stay paired); `stat` maps an index array to a number."""
    point = stat(np.arange(n))
    if n < 2:
        metrics[key] = point
        return
    ci = bootstrap_interval(np.arange(n), lambda i: stat(i.astype(int)))
    record_interval(metrics, key, point, ci)


def _by_length(lengths: np.ndarray) -> dict[int, np.ndarray]:
    """The positions of each length, ascending, the lengths in the order they first occur; from
    the index's lengths, so no pair is read."""
    order = np.argsort(lengths, kind="stable")
    values, starts = np.unique(lengths[order], return_index=True)
    groups = np.split(order, starts[1:])
    return {int(values[k]): groups[k] for k in np.argsort([grp[0] for grp in groups])}


def _pairs(
    cfg: Config, out: RunDir
) -> tuple[CoupletPairs, list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, validation, test): the training pairs stay on disk (read by seek, a batch at a
    time); the evaluation parts, at most `valid_pairs` and `test_pairs`, are read into lists."""
    pairs = couplet_pairs(cfg.data, fallback_cache_dir=out.path / "data-cache")
    if cfg.max_len:
        pairs = pairs[np.flatnonzero(pairs.lengths <= cfg.max_len)]
    train, valid, test = pairs.split()
    return train, list(valid[: cfg.valid_pairs or None]), list(test[: cfg.test_pairs or None])


def _lstm_hidden_for(params: int, vocab: int, d: int, layers: int) -> int:
    """The BiLSTM width whose tagger has the parameter count closest to `params` (the count is
    taken from the module itself and grows with the width, so a bisection finds it)."""

    def count(h: int) -> int:
        return sum(
            p.numel() for p in BiLSTMTagger(vocab, d=d, hidden=h, layers=layers).parameters()
        )

    lo, hi = 1, 4 * d
    while lo < hi:  # the smallest width with count(h) >= params
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < params else (lo, mid)
    return min((max(lo - 1, 1), lo), key=lambda h: abs(count(h) - params))


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    train, valid, test = _pairs(cfg, out)
    counts = char_counts(train)  # one pass over the training pairs
    itos = ["<unk>", *sorted(c for c, k in counts.items() if k >= cfg.min_count)]
    stoi = {c: i for i, c in enumerate(itos)}
    enc = lambda s: [stoi.get(c, 0) for c in s]  # noqa: E731
    by_len = _by_length(train.lengths)
    lengths = sorted(by_len)
    weights = torch.tensor([len(by_len[n]) for n in lengths], dtype=torch.float)
    # validation batches: pairs of one length at a time (no padding needed)
    valid_batches = [
        (
            torch.tensor([enc(valid[i][0]) for i in idx]),
            torch.tensor([enc(valid[i][1]) for i in idx]),
        )
        for group in _by_length(np.array([len(a) for a, _ in valid])).values()
        # at most VALID_BATCH pairs a batch: the logits of 10 k pairs of one length would take
        # gigabytes (a smaller group, as all of the built-in data's, is one batch)
        for idx in np.split(group, range(VALID_BATCH, len(group), VALID_BATCH))
    ]

    cnn = CoupletCNN(len(itos), d=cfg.d, n_blocks=cfg.n_blocks, dropout=cfg.dropout)
    # equal parameters (and so about equal multiply-adds per character, see macs_per_char)
    hidden = cfg.lstm_hidden or _lstm_hidden_for(
        sum(p.numel() for p in cnn.parameters()), len(itos), cfg.d, cfg.lstm_layers
    )
    bilstm = BiLSTMTagger(
        len(itos), d=cfg.d, hidden=hidden, layers=cfg.lstm_layers, dropout=cfg.dropout
    )
    models = {"cnn": cnn, "bilstm": bilstm}
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in models.items()}
    for k in models:
        models[k], opts[k] = acc.prepare(models[k], opts[k])
    # keep-best on validation CE (the article saves on the best validation loss), per model
    best = {k: BestCheckpoint(m, mode="min", tie="gt") for k, m in models.items()}
    step_ms: dict[str, list[float]] = {k: [] for k in models}
    state = {**{f"model_{k}": m for k, m in models.items()},
             **{f"opt_{k}": o for k, o in opts.items()},
             **{f"best_{k}": b for k, b in best.items()},
             "rng": g, "step_ms": step_ms}  # fmt: skip
    start = out.restore(state)

    def valid_ce(m: torch.nn.Module) -> float:
        m.eval()
        with torch.no_grad():
            total = sum(float(tagging_loss(m(x), y)) * y.numel() for x, y in valid_batches)
        m.train()
        return total / sum(y.numel() for _, y in valid_batches)

    for step in out.progress(range(start, cfg.steps), "cnn + bilstm"):
        n = lengths[int(torch.multinomial(weights, 1, generator=g))]
        pool = by_len[n]
        pick = torch.randint(len(pool), (cfg.batch_size,), generator=g).tolist()
        batch = [train[pool[i]] for i in pick]  # read from disk: a few KB a step
        x = torch.tensor([enc(a) for a, _ in batch])
        y = torch.tensor([enc(b) for _, b in batch])
        row = {}
        # same batch for both; alternate which goes first so neither always gets warm caches
        for k in list(models)[:: 1 if step % 2 == 0 else -1]:
            m = models[k]
            t0 = time.perf_counter()
            loss = tagging_loss(m(x), y)
            opts[k].zero_grad()
            acc.backward(loss)
            opts[k].step()
            if cfg.warmup_steps <= step < cfg.warmup_steps + TIMED_STEPS:
                step_ms[k].append(1000 * (time.perf_counter() - t0))
            row[f"loss_{k}"] = loss.item()
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            for k, m in models.items():
                ce = valid_ce(m)
                row[f"valid_ce_{k}"] = ce
                best[k].update(ce, step + 1)
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(cfg.steps, state)
    for b in best.values():
        b.restore()
    if out.is_main:  # what `kexue generate RUN_DIR` needs: the best CNN and its vocabulary
        out.write_weights("generator.safetensors", acc.unwrap_model(models["cnn"]).state_dict())
        out.write_json("vocab.json", {"itos": itos})

    gold = [b for _, b in test]
    preds: dict[str, list[str]] = {"cnn": [], "bilstm": [], "cnn_unmasked": []}
    every_id = torch.arange(len(itos))  # exempt from the no-repeat rule: the unmasked decode
    for k, m in models.items():
        m.eval()
        with torch.no_grad():
            for a, _ in test:
                x = torch.tensor([enc(a)])
                logits = m(x)
                ids = constrained_decode(logits, x)[0].tolist()
                preds[k].append("".join(itos[i] for i in ids))
                if k == "cnn":
                    ids = constrained_decode(logits, x, exempt=every_id)[0].tolist()
                    preds["cnn_unmasked"].append("".join(itos[i] for i in ids))
    # per-character lookup baseline (no context): the same vocabulary (rare input characters
    # share unk's partner counts) and the same constraint (never unk, never the input id)
    partner: dict[int, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for a, b in train:  # one pass over the training pairs, in file order
        ids = enc(b)
        for ia, ib in zip(enc(a), ids, strict=True):
            partner[ia][ib] += 1
        overall.update(ids)

    def lookup(i: int) -> str:
        for c, _ in partner[i].most_common() + overall.most_common():
            if c not in (0, i):
                return itos[c]
        return ""

    preds["lookup"] = ["".join(lookup(i) for i in enc(a)) for a, _ in test]

    metrics: dict[str, float] = {}
    lengths = np.array([len(b) for b in gold])
    hits = {}  # per test pair: characters right at their position
    for k, p in preds.items():
        hits[k] = np.array(
            [sum(c == d for c, d in zip(q, b, strict=True)) for q, b in zip(p, gold, strict=True)]
        )
        char_acc, exact = _char_accuracy(p, gold)
        repeat = sum(
            c == d for (a, _), q in zip(test, p, strict=True) for c, d in zip(a, q, strict=True)
        )
        metrics[f"{k}_char_acc"] = char_acc
        metrics[f"{k}_exact_match"] = exact
        metrics[f"{k}_repeat_rate"] = repeat / sum(len(a) for a, _ in test)
    for k, m in models.items():
        # median over timed steps: robust to other jobs on a shared machine
        metrics[f"{k}_ms_per_step"] = float(np.median(step_ms[k])) if step_ms[k] else float("nan")
        metrics[f"{k}_params"] = float(sum(p.numel() for p in m.parameters()))
        # every non-embedding weight is used once per position (per direction for the BiLSTM),
        # so this is the multiply-adds per character of one forward pass
        metrics[f"{k}_macs_per_char"] = metrics[f"{k}_params"] - m.embed.weight.numel()
        metrics[f"{k}_best_step"] = float(best[k].best_step)
        metrics[f"{k}_best_valid_ce"] = best[k].best
    ms = {k: np.asarray(v) for k, v in step_ms.items()}  # the same batches, timed in pairs
    speedup = lambda i: float(np.median(ms["bilstm"][i]) / np.median(ms["cnn"][i]))  # noqa: E731
    _with_interval(metrics, "cnn_speedup", speedup, len(ms["cnn"]))
    for key, a, b in (
        ("cnn_minus_bilstm_acc", "cnn", "bilstm"),
        ("cnn_minus_lookup_acc", "cnn", "lookup"),
        ("cnn_norepeat_acc_gain", "cnn", "cnn_unmasked"),
    ):
        diff = hits[a] - hits[b]  # char accuracy is pooled over characters: a ratio over pairs
        _with_interval(
            metrics, key, lambda i, d=diff: float(d[i].sum() / lengths[i].sum()), len(test)
        )
    metrics["n_test"] = float(len(test))
    metrics["vocab_size"] = float(len(itos))
    metrics["bilstm_hidden"] = float(hidden)

    if out.is_main:
        keys = ["loss_cnn", "loss_bilstm", "valid_ce_cnn", "valid_ce_bilstm"]
        out.save_figure(
            _plot.curves(out.history, keys, "tagging CE (train batches, validation)"), "curves.png"
        )
        groups = {
            "char accuracy": [metrics[f"{k}_char_acc"] for k in preds],
            "exact match": [metrics[f"{k}_exact_match"] for k in preds],
        }
        out.save_figure(
            _plot.bars(groups, list(preds), "couplets (test)", "accuracy"), "accuracy.png"
        )
        lines = [
            f"{a}\t{b}\t{preds['cnn'][i]}\t{preds['bilstm'][i]}\t{preds['cnn_unmasked'][i]}"
            for i, (a, b) in enumerate(test[:50])
        ]
        header = "first\tgold\tcnn\tbilstm\tcnn_unmasked\n"
        out.write_text("samples.txt", header + "\n".join(lines) + "\n")
    return metrics


__doc__ = statements_doc(__doc__, STATEMENTS)
