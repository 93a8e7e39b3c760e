r"""Recipe: a character-level ON-LSTM language model on People's Daily against an LSTM, and
unsupervised tree induction from its syntactic distances, scored against the gold words.

Article: ON-LSTM：用有序神经元表达层次结构 (see kexue.nn.on_lstm)
Data:    kexue.data.peoples_daily: paragraphs cut into sentences at 。！？；, 6–40 characters;
         the corpus's fixed train/test split
Run:     kexue run on-lstm                 (full: about 20 min on 1 core)
         kexue run on-lstm --budget quick  (three seeds: about 2 min)
         kexue run on-lstm --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         curves.png (training bits per char) trees.txt (induced trees of test sentences)

Each of `n_seeds` seeds trains its own pair on the same batches: an ON-LSTM LM and an LSTM LM
whose width matches the ON-LSTM's parameter count; both read [<s>, c_1 … c_n] and predict
[c_1 … c_n, </s>]. The distance d_t = 1 − mean(f̃_t) is read at the step that consumes c_t, so a
large d_t says "a new constituent starts at c_t". The People's Daily corpus has no syntax trees;
the gold tree of a sentence is flat over its gold words (brackets: every word of ≥ 2 characters
and the sentence), so UF1 measures how well the induced binary tree keeps words together.
Baselines: right-branching, left-branching, random distances and a plain-LSTM distance (1 − mean
forget gate). Boundary F1: the top-K distances with K = the number of gold word starts (after
the first character). Every layer's distances are scored (no best layer is picked).
Claims (t-interval over the seeds): the ON-LSTM LM beats the LSTM (bits/char ratio < 1); for
layers 1 and 2, its trees beat right-branching and random distances on UF1 and its distances
find word starts better than random.
Recorded: `kexue show on-lstm` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.data import TaggedSentence, peoples_daily
from kexue.nn import ONLSTM, build_tree, right_branching, tree_brackets, unlabeled_f1
from kexue.recipes import _plot
from kexue.runs import (
    Claim,
    Reported,
    RunDir,
    Statement,
    make_accelerator,
    prepare_arms,
    seed_everything,
    statements_doc,
)
from kexue.stats import record_interval, seed_interval


@dataclass(frozen=True)
class Config:
    seed: int = 0
    emb: int = 64
    hidden: int = 128
    n_levels: int = 16
    layers: int = 2  # every layer's distances are scored (claims: layers 1 and 2)
    dropconnect: float = 0.1
    steps: int = 600
    batch_size: int = 32
    lr: float = 2e-3
    n_train: int = 20000
    n_test: int = 500
    max_chars: int = 40
    min_count: int = 5  # characters rarer than this are unk (keeps the softmax small)
    n_seeds: int = (
        3  # training seeds cfg.seed … cfg.seed + n_seeds − 1; claims on their t-interval
    )


QUICK = {"steps": 150, "batch_size": 16, "n_test": 200, "hidden": 64, "emb": 32}
SMOKE = {"steps": 3, "n_test": 10, "hidden": 16, "n_levels": 4, "emb": 8, "n_train": 200,
         "n_seeds": 2}  # fmt: skip

_CLAIM_LAYERS = (1, 2)
# The number the article cites (the ON-LSTM paper's release, specs/nlp.md §8)
REPORTED = (
    Reported("unlabelled parsing F1 of the induced trees", 47.7,
             "article: the paper's word-level ON-LSTM LM on PTB, WSJ test, in %", "uf1_onlstm_l1",
             "kexue: character-level ON-LSTM on People's Daily, gold = flat word brackets, "
             "layer 1, fraction"),
)  # fmt: skip

CLAIMS = (
    Claim("ON-LSTM's LM beats an LSTM of equal size (test bits/char ratio < 1; article: it "
          "generally surpasses the LSTM)", "bpc_ratio", "<", 1.0, ("quick", "full"),
          interval=True),
    *(c for layer in _CLAIM_LAYERS for c in (
        Claim(f"layer {layer}: trees induced from ON-LSTM distances beat right-branching "
              "(UF1 vs gold words)", f"uf1_gain_over_right_branching_l{layer}", ">", 0.0,
              ("quick", "full"), interval=True),
        Claim(f"layer {layer}: … and beat random distances (UF1 vs gold words)",
              f"uf1_gain_over_random_l{layer}", ">", 0.0, ("quick", "full"), interval=True),
        Claim(f"layer {layer}: ON-LSTM distances find word starts better than random "
              "distances (boundary F1)", f"boundary_f1_gain_over_random_l{layer}", ">", 0.0,
              ("quick", "full"), interval=True),
    )),
)  # fmt: skip

_T = "tests/nn/test_on_lstm.py::"
STATEMENTS = (
    Statement("cumax(z) = cumsum(softmax(z)) is non-decreasing in [0, 1] and ends at 1", "test",
              _T + "test_cumax_is_non_decreasing_in_unit_interval_ending_at_one"),
    Statement("master forget gate f̃ rises and master input gate ĩ falls with the level",
              "test", _T + "test_master_gates_are_monotone"),
    Statement("the soft update reproduces the two hard cases (d_f ≤ d_i: LSTM on the overlap, "
              "copy below/above; d_f > d_i: zeros in the gap)", "test",
              _T + "test_soft_update_reproduces_the_hard_cases"),
    Statement("with full master gates the update is the LSTM's", "test",
              _T + "test_full_master_gates_reduce_to_an_lstm_update"),
    Statement("chunking the master gates (p levels × q) adds few parameters to an LSTM",
              "test", _T + "test_master_gates_add_few_parameters"),
    Statement("Σ_k k·p_f(k) = n(1 − mean f̃) + 1: the soft level is the distance up to an "
              "affine map (the paper's eq. 15 is wrong)", "test",
              _T + "test_soft_level_is_an_affine_map_of_the_distance"),
    Statement("greedy top-down parse: split at the largest distance, recurse", "test",
              _T + "test_tree_induction_on_hand_made_distances"),
    Statement("ON-LSTM's language model surpasses the plain LSTM", "claim", "bpc_ratio"),
    *(Statement(f"layer {layer}: the distances of a trained LM induce structure "
                f"({what})", "claim", f"{metric}_l{layer}")
      for layer in _CLAIM_LAYERS
      for what, metric in (("trees beat right-branching", "uf1_gain_over_right_branching"),
                           ("trees beat random distances", "uf1_gain_over_random"),
                           ("word starts found above chance", "boundary_f1_gain_over_random"))),
    Statement("the paper's syntactic evaluation (three layers, middle layer, WSJ trees) "
              "reaches high accuracy", "untestable", "needs the Penn Treebank, which is not "
              "available offline; People's Daily has words, not trees (gold trees here are "
              "flat over words)"),
)  # fmt: skip


def _sentences(sents: Iterable[TaggedSentence], max_chars: int) -> list[list[str]]:
    out = []
    for s in sents:
        cur: list[str] = []
        for w in s.words:
            cur.append(w)
            if w in ("。", "！", "？", "；"):
                if 6 <= sum(map(len, cur)) <= max_chars:
                    out.append(cur)
                cur = []
    return out


class CharLM(nn.Module):
    def __init__(self, vocab: int, cfg: Config, kind: str, lstm_hidden: int = 0) -> None:
        super().__init__()
        self.kind = kind
        self.embed = nn.Embedding(vocab, cfg.emb)
        if kind == "onlstm":
            self.rnn = ONLSTM(
                cfg.emb,
                cfg.hidden,
                n_levels=cfg.n_levels,
                num_layers=cfg.layers,
                dropconnect=cfg.dropconnect,
            )
            width = cfg.hidden
        else:
            self.rnn = nn.LSTM(cfg.emb, lstm_hidden, cfg.layers, batch_first=True)
            width = lstm_hidden
        self.out = nn.Linear(width, vocab)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        e = self.embed(x)
        if self.kind == "onlstm":
            h, d = self.rnn(e)
            return self.out(h), d
        return self.out(self.rnn(e)[0]), None

    def lstm_distance(self, x: Tensor, layer: int) -> Tensor:
        """1 − mean forget gate of an nn.LSTM layer, recomputed from its inputs and outputs."""
        h_in = self.embed(x)
        for j in range(layer):
            h_out = nn.LSTM.forward(self._single(j), h_in)[0]
            if j < layer - 1:
                h_in = h_out
        w_ih, w_hh = (
            getattr(self.rnn, f"weight_ih_l{layer - 1}"),
            getattr(self.rnn, f"weight_hh_l{layer - 1}"),
        )
        b = getattr(self.rnn, f"bias_ih_l{layer - 1}") + getattr(self.rnn, f"bias_hh_l{layer - 1}")
        n = w_hh.shape[1]
        h_prev = torch.cat([torch.zeros_like(h_out[:, :1]), h_out[:, :-1]], 1)
        z = h_in @ w_ih.T + h_prev @ w_hh.T + b
        return 1 - torch.sigmoid(z[..., n : 2 * n]).mean(-1)  # PyTorch gate order i, f, g, o

    def _single(self, j: int) -> nn.LSTM:
        m = nn.LSTM(
            self.rnn.input_size if j == 0 else self.rnn.hidden_size,
            self.rnn.hidden_size,
            batch_first=True,
            device=self.rnn.weight_hh_l0.device,
        )
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(m, f"{name}_l0").data = getattr(self.rnn, f"{name}_l{j}").data
        return m


def _batch(seqs: list[list[int]], pad: int = 0) -> tuple[Tensor, Tensor]:
    n = max(len(s) for s in seqs) + 1
    x = torch.tensor([[2, *s] + [pad] * (n - 1 - len(s)) for s in seqs])
    y = torch.tensor([[*s, 3] + [pad] * (n - 1 - len(s)) for s in seqs])
    return x, y


def _lm_loss(logits: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=0)


def _lstm_hidden_for(params: int, vocab: int, cfg: Config) -> int:
    def count(h: int) -> int:
        first = 4 * h * (cfg.emb + h) + 8 * h
        return (
            vocab * cfg.emb
            + first
            + (cfg.layers - 1) * (4 * h * 2 * h + 8 * h)
            + h * vocab
            + vocab
        )

    return min(range(8, 4 * cfg.hidden), key=lambda h: abs(count(h) - params))


def _boundary_f1(dist: np.ndarray, words: list[str]) -> float:
    starts = set(np.cumsum([len(w) for w in words])[:-1].tolist())
    if not starts:
        return 1.0
    order = np.argsort(-dist[1:], kind="stable") + 1  # positions 1..n-1
    pred = set(order[: len(starts)].tolist())
    return len(pred & starts) / len(starts)  # K = |gold| so P = R = F1


def _evaluate(
    models: dict[str, CharLM],
    test: list[list[str]],
    test_ids: list[list[int]],
    cfg: Config,
    seed: int,
    device: torch.device,
) -> tuple[dict[str, float], list[str]]:
    """Bits/char of both LMs and the tree/boundary scores of every layer's distances."""
    metrics: dict[str, float] = {}
    dists: dict[str, list[np.ndarray]] = {}
    for k, m in models.items():
        m.eval()
        nll, n_tok = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(test_ids), 64):
                chunk = test_ids[i : i + 64]
                x, y = (t.to(device) for t in _batch(chunk))
                logits, d = m(x)
                nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                       ignore_index=0, reduction="sum").item()  # fmt: skip
                n_tok += int((y != 0).sum())
                for layer in range(1, cfg.layers + 1):
                    dl = d[layer - 1] if k == "onlstm" else m.lstm_distance(x, layer)
                    # distance of c_t is read at input position t (position 0 is <s>)
                    dists.setdefault(f"{k}_l{layer}", []).extend(
                        dl[j, 1 : len(s) + 1].cpu().numpy() for j, s in enumerate(chunk)
                    )
        metrics[f"{k}_test_bpc"] = nll / n_tok / math.log(2)
    metrics["bpc_ratio"] = metrics["onlstm_test_bpc"] / metrics["lstm_test_bpc"]

    rng = np.random.default_rng(seed)
    dists["random"] = [rng.random(len(d)) for d in dists["onlstm_l1"]]
    gold = [tree_brackets([list(w) if len(w) > 1 else w for w in s]) for s in test]
    uf1: dict[str, list[float]] = {k: [] for k in [*dists, "right_branching", "left_branching"]}
    bf1: dict[str, list[float]] = {k: [] for k in dists}
    trees = []
    for i, s in enumerate(test):
        toks = list("".join(s))
        for k, d in dists.items():
            tree = build_tree(toks, d[i].tolist())
            uf1[k].append(unlabeled_f1(tree_brackets(tree), gold[i]))
            bf1[k].append(_boundary_f1(d[i], s))
            if k == "onlstm_l1" and i < 30:
                trees.append(f"{' '.join(s)}\n  {tree}")
        uf1["right_branching"].append(unlabeled_f1(tree_brackets(right_branching(toks)), gold[i]))
        left = toks[0]
        for t in toks[1:]:
            left = [left, t]
        uf1["left_branching"].append(unlabeled_f1(tree_brackets(left), gold[i]))
    for k, v in uf1.items():
        metrics[f"uf1_{k}"] = float(np.mean(v))
    for k, v in bf1.items():
        metrics[f"boundary_f1_{k}"] = float(np.mean(v))
    for layer in range(1, cfg.layers + 1):
        on = f"onlstm_l{layer}"
        metrics[f"uf1_gain_over_right_branching_l{layer}"] = (
            metrics[f"uf1_{on}"] - metrics["uf1_right_branching"]
        )
        metrics[f"uf1_gain_over_random_l{layer}"] = metrics[f"uf1_{on}"] - metrics["uf1_random"]
        metrics[f"boundary_f1_gain_over_random_l{layer}"] = (
            metrics[f"boundary_f1_{on}"] - metrics["boundary_f1_random"]
        )
    return metrics, trees


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    pd = peoples_daily()
    train = _sentences(pd.split("train"), cfg.max_chars)[: cfg.n_train]
    test = _sentences(pd.split("test"), cfg.max_chars)[: cfg.n_test]
    counts = Counter(ch for s in train for w in s for ch in w)
    kept = sorted(c for c, n in counts.items() if n >= cfg.min_count)
    itos = ["<pad>", "<unk>", "<s>", "</s>", *kept]
    stoi = {c: i for i, c in enumerate(itos)}
    enc = lambda s: [stoi.get(ch, 1) for ch in "".join(s)]  # noqa: E731
    train_ids = [enc(s) for s in train]
    seeds = [cfg.seed + r for r in range(cfg.n_seeds)]

    # every seed trains its own pair (ON-LSTM, LSTM of matched size); the pair shares batches
    models: dict[str, CharLM] = {}
    for sd in seeds:
        torch.manual_seed(sd)
        on = CharLM(len(itos), cfg, "onlstm")
        n_on = sum(p.numel() for p in on.parameters())
        models[f"onlstm_{sd}"] = on
        models[f"lstm_{sd}"] = CharLM(
            len(itos), cfg, "lstm", _lstm_hidden_for(n_on, len(itos), cfg)
        )
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in models.items()}
    state, start = prepare_arms(acc, models, opts, g, out)

    for step in out.progress(range(start, cfg.steps), f"on-lstm + lstm × {len(seeds)} seeds"):
        row = {}
        for sd in seeds:
            idx = torch.randint(len(train_ids), (cfg.batch_size,), generator=g).tolist()
            x, y = (t.to(acc.device) for t in _batch([train_ids[i] for i in idx]))
            for kind in ("onlstm", "lstm"):
                m, opt = models[f"{kind}_{sd}"], opts[f"{kind}_{sd}"]
                loss = _lm_loss(m(x)[0], y)
                opt.zero_grad()
                acc.backward(loss)
                nn.utils.clip_grad_norm_(m.parameters(), 1.0)
                opt.step()
                row[f"bpc_{kind}_{sd}"] = loss.item() / math.log(2)
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(cfg.steps, state)

    # ---- evaluation per seed; claims on the t-interval over seeds
    test_ids = [enc(s) for s in test]
    per_seed: list[dict[str, float]] = []
    trees: list[str] = []
    for sd in seeds:
        pair = {"onlstm": models[f"onlstm_{sd}"], "lstm": models[f"lstm_{sd}"]}
        m_sd, t_sd = _evaluate(pair, test, test_ids, cfg, sd, acc.device)
        per_seed.append(m_sd)
        trees = trees or t_sd
    metrics: dict[str, float] = {}
    for k in per_seed[0]:
        values = [m[k] for m in per_seed]
        if len(values) >= 2:
            record_interval(metrics, k, float(np.mean(values)), seed_interval(values))
        else:
            metrics[k] = values[0]
        for sd, v in zip(seeds, values, strict=True):
            metrics[f"{k}_seed{sd}"] = v
    metrics["onlstm_params"] = float(
        sum(p.numel() for p in models[f"onlstm_{seeds[0]}"].parameters())
    )
    metrics["lstm_params"] = float(sum(p.numel() for p in models[f"lstm_{seeds[0]}"].parameters()))
    metrics["n_test_sentences"] = float(len(test))
    metrics["n_seeds"] = float(len(seeds))

    if out.is_main:
        keys = [f"bpc_{kind}_{seeds[0]}" for kind in ("onlstm", "lstm")]
        fig = _plot.curves(out.history, keys, f"training bits per char (seed {seeds[0]})")
        out.save_figure(fig, "curves.png")
        out.write_text("trees.txt", "\n".join(trees) + "\n")
    return metrics


__doc__ = statements_doc(__doc__, STATEMENTS)
