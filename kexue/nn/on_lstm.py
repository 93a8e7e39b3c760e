r"""Ordered-neurons LSTM: cumax master gates, the chunked ON-LSTM, syntactic distances and the
greedy top-down tree induction with unlabeled bracket F1.

Article:  ON-LSTM：用有序神经元表达层次结构 — 苏剑林, 2019-05-28
URL:      https://kexue.fm/archives/6621
Original: bojone/on-lstm (on_lstm_keras.py); paper code yikangshen/Ordered-Neurons

Key equations (low index = low level = short span)::

    cumax(z)  = cumsum(softmax(z))                       (non-decreasing, ends at 1)
    f̃_t = cumax(W_f̃ x_t + U_f̃ h_{t−1} + b_f̃)           master forget gate
    ĩ_t = 1 − cumax(W_ĩ x_t + …)            ('paper')    master input gate, non-increasing
        = cumsum←(softmax(W_ĩ x_t + …))     ('article')  = paper form + its own level's softmax
    ω_t = f̃_t ⊙ ĩ_t
    c_t = ω_t ⊙ (f_t ⊙ c_{t−1} + i_t ⊙ ĉ_t) + (f̃_t − ω_t) ⊙ c_{t−1} + (ĩ_t − ω_t) ⊙ ĉ_t
    h_t = o_t ⊙ tanh(c_t);   master gates: p levels, each repeated over a chunk of q = n/p
    distance  d_t = 1 − (1/p) Σ_k f̃_t(k)                (large: a new constituent starts at t)
    tree(w_1..m) = w_1 if m = 1; k = argmax d; right = [w_k, tree(w_{k+1..m})];
                   [tree(w_{1..k−1}), right] if k > 1 else right

Symbols: x (B, T, d_in); h, c (B, n); p = n_levels; distances (layers, B, T).

Deviations from the article:
    - input/recurrent projections are fused (width 4n + 2p), layout [f̃, ĩ, f, i, o, ĉ] (bojone's).
    - DropConnect on the recurrent matrix uses inverted scaling (bojone), one mask per forward.
    - default master input gate is the paper's (`'paper'`); `'article'` gives the article's form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ONLSTM",
    "ONLSTMCell",
    "build_tree",
    "cumax",
    "right_branching",
    "tree_brackets",
    "unlabeled_f1",
]

MasterInput = Literal["paper", "article"]


def cumax(z: Tensor, dim: int = -1) -> Tensor:
    """cumsum(softmax(z)): non-decreasing along `dim`, last entry 1."""
    return z.softmax(dim).cumsum(dim)


class ONLSTMCell(nn.Module):
    """One ON-LSTM step; hidden_size = n_levels × chunk size."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        n_levels: int,
        master_input: MasterInput = "paper",
        dropconnect: float = 0.0,
    ) -> None:
        super().__init__()
        if hidden_size % n_levels:
            raise ValueError("hidden_size must be a multiple of n_levels")
        if master_input not in ("paper", "article"):
            raise ValueError(f"master_input {master_input!r}; valid: paper, article")
        self.n, self.p, self.q = hidden_size, n_levels, hidden_size // n_levels
        self.master_input, self.dropconnect = master_input, dropconnect
        self.ih = nn.Linear(input_size, 4 * hidden_size + 2 * n_levels)
        self.hh = nn.Linear(hidden_size, 4 * hidden_size + 2 * n_levels, bias=False)

    def master_gates(self, zf: Tensor, zi: Tensor) -> tuple[Tensor, Tensor]:
        """(f̃, ĩ) over the p levels from their logits."""
        f_master = cumax(zf)
        if self.master_input == "paper":
            i_master = 1 - cumax(zi)
        else:
            i_master = zi.softmax(-1).flip(-1).cumsum(-1).flip(-1)
        return f_master, i_master

    def combine(self, c_prev: Tensor, f_master: Tensor, i_master: Tensor, f: Tensor, i: Tensor,
                c_hat: Tensor) -> Tensor:  # fmt: skip
        """The ON-LSTM cell update with level gates expanded over chunks."""
        fm = f_master.repeat_interleave(self.q, -1)
        im = i_master.repeat_interleave(self.q, -1)
        w = fm * im
        return w * (f * c_prev + i * c_hat) + (fm - w) * c_prev + (im - w) * c_hat

    def forward(
        self, x_proj: Tensor, state: tuple[Tensor, Tensor], w_hh: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x_proj = ih(x_t) precomputed; returns (h, c, f̃)."""
        h, c = state
        z = x_proj + h @ w_hh.T
        p, n = self.p, self.n
        zf, zi = z[:, :p], z[:, p : 2 * p]
        f, i, o, c_hat = z[:, 2 * p :].split(n, dim=-1)
        f_master, i_master = self.master_gates(zf, zi)
        c = self.combine(
            c, f_master, i_master, torch.sigmoid(f), torch.sigmoid(i), torch.tanh(c_hat)
        )
        return torch.sigmoid(o) * torch.tanh(c), c, f_master


class ONLSTM(nn.Module):
    """Stacked ON-LSTM over (B, T, d_in) → outputs (B, T, n), distances (layers, B, T)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        n_levels: int,
        num_layers: int = 1,
        master_input: MasterInput = "paper",
        dropconnect: float = 0.0,
    ) -> None:
        super().__init__()
        sizes = [input_size] + [hidden_size] * num_layers
        self.cells = nn.ModuleList(
            ONLSTMCell(
                sizes[j],
                hidden_size,
                n_levels=n_levels,
                master_input=master_input,
                dropconnect=dropconnect,
            )
            for j in range(num_layers)
        )

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Tensor]:
        b, t, _ = x.shape
        distances = []
        for cell in self.cells:
            w = cell.hh.weight
            if self.training and cell.dropconnect > 0:
                w = F.dropout(w, cell.dropconnect)
            proj = cell.ih(x)
            h = x.new_zeros(b, cell.n)
            c = x.new_zeros(b, cell.n)
            outs, dist = [], []
            for s in range(t):
                h, c, fm = cell(proj[:, s], (h, c), w)
                outs.append(h)
                dist.append(1 - fm.mean(-1))
            x = torch.stack(outs, 1)
            distances.append(torch.stack(dist, 1))
        return x, torch.stack(distances)


# ----------------------------------------------------------------------------- trees
def build_tree(tokens: Sequence[Any], distances: Sequence[float]) -> Any:
    """Greedy top-down parse: the token with the largest distance opens a constituent with its
    right context (ties: the first). Leaves are the tokens; nodes are lists."""
    tokens, distances = list(tokens), list(distances)
    if len(tokens) == 1:
        return tokens[0]
    k = max(range(len(tokens)), key=lambda j: (distances[j], -j))
    right = (
        tokens[k]
        if k == len(tokens) - 1
        else [tokens[k], build_tree(tokens[k + 1 :], distances[k + 1 :])]
    )
    if k == 0:
        return right
    return [build_tree(tokens[:k], distances[:k]), right]


def right_branching(tokens: Sequence[Any]) -> Any:
    tokens = list(tokens)
    return tokens[0] if len(tokens) == 1 else [tokens[0], right_branching(tokens[1:])]


def tree_brackets(tree: Any) -> set[tuple[int, int]]:
    """Spans [i, j) of length ≥ 2 of every node (leaves are anything that is not a list)."""
    spans: set[tuple[int, int]] = set()

    def walk(node: Any, start: int) -> int:
        if not isinstance(node, list):
            return start + 1
        end = start
        for child in node:
            end = walk(child, end)
        if end - start >= 2:
            spans.add((start, end))
        return end

    walk(tree, 0)
    return spans


def unlabeled_f1(pred: set[tuple[int, int]], gold: set[tuple[int, int]]) -> float:
    """Sentence-level unlabeled bracket F1 (1 when both are empty)."""
    if not pred and not gold:
        return 1.0
    hit = len(pred & gold)
    if hit == 0:
        return 0.0
    p, r = hit / len(pred), hit / len(gold)
    return 2 * p * r / (p + r)
