r"""Linear-chain CRF as in bert4keras (one transition matrix, no start/end transitions): negative
log-likelihood by the forward algorithm, Viterbi decoding, and the learning-rate multiplier by
reparameterisation.

Article:  bert4keras在手，baseline我有：百度LIC2020 — 苏剑林, 2020-04-02
URL:      https://kexue.fm/archives/7321
See also: 简明条件随机场CRF介绍 (https://kexue.fm/archives/5542),
          bert4keras layers.py `ConditionalRandomField`.

Key equations::

    score(y) = Σ_t e_t[y_t] + Σ_{t≥1} T[y_{t−1}, y_t]   (emissions e (L, K), transitions T (K, K))
    log Z    = logsumexp_y score(y)      via α_t[k] = e_t[k] + logsumexp_j (α_{t−1}[j] + T[j, k])
    NLL      = log Z − score(gold)
    viterbi  = argmax_y score(y)         via δ_t[k] = e_t[k] + max_j (δ_{t−1}[j] + T[j, k])
    T = lr_multiplier · θ,  θ initialised to T_init / lr_multiplier  (T learns faster)

Symbols: K labels, L length, mask (B, L) with real tokens first (padding only at the end).

Deviations from the article:
    - `force_first` lets the caller pin position 0 (the [CLS] token) to a label, as the event
      baseline does (label 0 = O); bert4keras applies it after decoding instead.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["CRF"]


class CRF(nn.Module):
    """Linear-chain CRF over K labels.

    Args:
        n_labels: K.
        lr_multiplier: T = lr_multiplier · θ (bert4keras `crf_lr_multiplier`, 100 in the event
            baseline); with Adam the effective step on T is also multiplied.
    """

    def __init__(self, n_labels: int, *, lr_multiplier: float = 1.0) -> None:
        super().__init__()
        if lr_multiplier <= 0:
            raise ValueError(f"lr_multiplier must be > 0, got {lr_multiplier}")
        self.n_labels, self.lr_multiplier = n_labels, lr_multiplier
        init = torch.empty(n_labels, n_labels)
        nn.init.xavier_uniform_(init)  # glorot, as the Keras layer
        self.theta = nn.Parameter(init / lr_multiplier)

    @property
    def transitions(self) -> Tensor:
        """T (K, K): T[i, j] scores label i followed by label j."""
        return self.theta * self.lr_multiplier

    def score(self, emissions: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        """score(y) of given label paths. emissions (B, L, K), labels, mask (B, L) → (B,)."""
        m = mask.to(emissions.dtype)
        emit = emissions.gather(2, labels[..., None])[..., 0]  # (B, L)
        trans = self.transitions[labels[:, :-1], labels[:, 1:]]  # (B, L-1)
        return (emit * m).sum(1) + (trans * m[:, 1:]).sum(1)

    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """log Z by the forward algorithm. emissions (B, L, K), mask (B, L) → (B,)."""
        T = self.transitions
        alpha = emissions[:, 0]  # (B, K)
        for t in range(1, emissions.shape[1]):
            nxt = torch.logsumexp(alpha[:, :, None] + T[None], dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None].bool(), nxt, alpha)  # padding: carry α
        return torch.logsumexp(alpha, dim=1)

    def nll(self, emissions: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        """Mean over the batch of log Z − score(gold)."""
        return (self.log_partition(emissions, mask) - self.score(emissions, labels, mask)).mean()

    @torch.no_grad()
    def viterbi(
        self, emissions: Tensor, mask: Tensor, force_first: int | None = None
    ) -> list[list[int]]:
        """Best path per sequence (its real length). emissions (B, L, K), mask (B, L)."""
        T = self.transitions
        e = emissions.clone()
        if force_first is not None:
            e[:, 0] = -1e9
            e[:, 0, force_first] = 0.0
        delta = e[:, 0]
        back = []
        for t in range(1, e.shape[1]):
            cand = delta[:, :, None] + T[None]  # (B, K_prev, K)
            best, arg = cand.max(dim=1)
            live = mask[:, t, None].bool()
            delta = torch.where(live, best + e[:, t], delta)
            back.append(torch.where(live, arg, torch.arange(self.n_labels).expand_as(arg)))
        lengths = mask.long().sum(1).tolist()
        paths = []
        for b in range(e.shape[0]):
            k = int(delta[b].argmax())  # the final argmax (an early bert4keras bug was here)
            path = [k]
            for t in range(lengths[b] - 1, 0, -1):
                k = int(back[t - 1][b, k])
                path.append(k)
            paths.append(path[::-1])
        return paths
