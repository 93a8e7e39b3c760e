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

Symbols: K labels, L length, mask (B, L) with real tokens first (padding only at the end);
tags equal to -100 (PyTorch's `ignore_index`) mark padding too.

Deviations from the article:
    - `force_first` lets the caller pin position 0 (the [CLS] token) to a label, as the event
      baseline does (label 0 = O); bert4keras applies it after decoding instead.
    - `forward` (`crf(emissions, tags, mask)`) follows pytorch-crf's calling convention and
      `reduction` names but returns the negative log-likelihood (a loss), where pytorch-crf
      returns the log-likelihood; like pytorch-crf it rejects left padding, gaps and empty rows.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["CRF"]


IGNORE_INDEX = -100  # tags equal to this are padding (F.cross_entropy's default ignore_index)
REDUCTIONS = ("mean", "sum", "none", "token_mean")


def _raise_first(checks: list[tuple[Tensor, str]], tags: Tensor | None, **context: object) -> None:
    """Raise ValueError(template) for the first check whose boolean tensor has a True entry.

    A check is (bad, template): `bad` is (B,) over rows or (B, L') over positions; the template
    is formatted with b (row), t (position), t1 = t + 1, v = tags[b, t] and `context`. One host
    sync when every check passes.
    """
    if not checks or not torch.stack([bad.any() for bad, _ in checks]).any():
        return
    for bad, template in checks:
        if bad.any():
            b, *rest = (int(i) for i in bad.nonzero()[0])
            t = rest[0] if rest else 0
            v = None if tags is None else int(tags[b, t])
            raise ValueError(template.format(b=b, t=t, t1=t + 1, v=v, **context))


def _mask_checks(mask: Tensor) -> list[tuple[Tensor, str]]:
    """Rows of a bool mask that are all padding, start with padding, or have a gap."""
    empty = ~mask.any(1)
    rise = ~mask[:, :-1] & mask[:, 1:]  # position t is padding, t + 1 is real
    return [
        (empty, "{source} row {b} is all padding: every sequence needs at least one real token"),
        (
            ~mask[:, 0] & ~empty,
            "{source} row {b} starts with padding (left padding): real tokens must come first "
            "and padding only at the end",
        ),
        (
            rise & mask[:, :1],
            "{source} row {b} has a gap (position {t} is padding but position {t1} is real): "
            "padding is only allowed at the end",
        ),
    ]


class CRF(nn.Module):
    """Linear-chain CRF over K labels.

    Calling the module, `crf(emissions, tags, mask=None, reduction="mean")`, returns the negative
    log-likelihood (see `forward`); `viterbi` decodes.

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
        """score(y) of given label paths. emissions (B, L, K), labels, mask (B, L) → (B,).

        Labels at padded positions (mask 0) are ignored and may hold anything, -100 included.
        No validation: `forward` checks its inputs first.
        """
        m = mask.to(emissions.dtype)
        labels = labels.masked_fill(~mask.bool(), 0)
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

    def _checked(
        self, emissions: Tensor, tags: Tensor | None, mask: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """Validated (bool mask, tags with padding set to 0); see `forward` for the rules."""
        if emissions.ndim != 3 or emissions.shape[-1] != self.n_labels:
            raise ValueError(
                f"emissions must have shape (B, L, {self.n_labels}), got {tuple(emissions.shape)}"
            )
        if emissions.shape[1] == 0:
            raise ValueError("emissions have length 0: every sequence needs a real token")
        shape = tuple(emissions.shape[:2])
        if tags is not None:
            if tuple(tags.shape) != shape:
                raise ValueError(f"tags must have shape {shape}, got {tuple(tags.shape)}")
            if tags.dtype.is_floating_point or tags.dtype.is_complex or tags.dtype == torch.bool:
                raise ValueError(f"tags must be integer labels, got dtype {tags.dtype}")
            tags = tags.long()
        checks = []
        if mask is None:
            if tags is None:
                return torch.ones(shape, dtype=torch.bool, device=emissions.device), None
            m, source = tags != IGNORE_INDEX, "tags (-100 = padding)"
        else:
            if tuple(mask.shape) != shape:
                raise ValueError(f"mask must have shape {shape}, got {tuple(mask.shape)}")
            m, source = mask.bool(), "mask"
            checks.append(((mask != 0) & (mask != 1), "mask must hold only 0/1 (row {b})"))
            if tags is not None:
                checks.append(
                    (
                        m & (tags == IGNORE_INDEX),
                        "tags and mask disagree: tag -100 (padding) at row {b}, position {t}, "
                        "where the mask marks a real token",
                    )
                )
        checks += _mask_checks(m)
        if tags is not None:
            bad = m & ((tags < 0) | (tags >= self.n_labels))
            checks.append(
                (
                    bad,
                    "tags must lie in [0, {K}) at real tokens (-100 marks padding); "
                    "row {b}, position {t} holds {v}",
                )
            )
        _raise_first(checks, tags, source=source, K=self.n_labels)
        if tags is not None:
            tags = tags.masked_fill(~m, 0)
        return m, tags

    def forward(
        self,
        emissions: Tensor,
        tags: Tensor,
        mask: Tensor | None = None,
        reduction: str = "mean",
    ) -> Tensor:
        """Negative log-likelihood log Z − score(tags) of gold tag paths.

        Args:
            emissions: (B, L, K) unnormalised scores e_t[k].
            tags: (B, L) integer gold labels in [0, K); -100 marks padding.
            mask: (B, L) 1/True for real tokens, 0/False for padding; real tokens first. None:
                every position whose tag is not -100 is real (all of them when there is none).
                With a mask, a -100 tag at a real position is an error; tags at padded positions
                are ignored (any value).
            reduction: how the per-sequence NLLs ℓ_b are combined:
                "mean" (default): Σ_b ℓ_b / B, the mean over the batch of sequence NLLs (what
                `nll` and bert4keras return; a short sentence weighs as much as a long one);
                "sum": Σ_b ℓ_b; "none": the (B,) vector ℓ; "token_mean": Σ_b ℓ_b divided by
                the number of real tokens (a per-token NLL, pytorch-crf's "token_mean").

        Returns:
            A scalar, or (B,) for reduction="none". pytorch-crf returns the log-likelihood,
            i.e. minus this.

        Raises:
            ValueError: on an unknown reduction, shapes that do not match, tags outside [0, K)
                at real tokens, -100 tags where the mask says real, or a mask row that is all
                padding, starts with padding (left padding) or has a gap (a 0 then a 1); the
                message names the row.
        """
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        m, tags = self._checked(emissions, tags, mask)
        nll = self.log_partition(emissions, m) - self.score(emissions, tags, m)
        if reduction == "none":
            return nll
        if reduction == "sum":
            return nll.sum()
        if reduction == "mean":
            return nll.mean()
        return nll.sum() / m.sum().to(nll.dtype)

    def nll(self, emissions: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
        """Mean over the batch of log Z − score(gold): `forward(..., reduction="mean")`."""
        return self(emissions, labels, mask, reduction="mean")

    @torch.no_grad()
    def viterbi(
        self, emissions: Tensor, mask: Tensor | None = None, force_first: int | None = None
    ) -> list[list[int]]:
        """Best path per sequence (its real length). emissions (B, L, K), mask (B, L) or None
        (all real); the mask follows `forward`'s rules."""
        mask, _ = self._checked(emissions, None, mask)
        T = self.transitions
        e = emissions
        if force_first is not None:
            e = emissions.clone()
            e[:, 0] = -1e9
            e[:, 0, force_first] = 0.0
        n_batch, length, k = e.shape
        # padding carries δ and gets identity backpointers, so every row backtracks from the
        # last column: through its padding unchanged, then through its real positions
        stay = torch.arange(k, device=e.device).expand(n_batch, k)
        live = mask[:, 1:, None].unbind(1)
        delta = e[:, 0]
        back = []
        for t in range(1, length):
            best, arg = (delta[:, :, None] + T).max(dim=1)  # over the previous label
            delta = torch.where(live[t - 1], best + e[:, t], delta)
            back.append(torch.where(live[t - 1], arg, stay))
        # one gather per position for the whole batch; no Python loop over sequences
        k_t = delta.argmax(dim=1, keepdim=True)  # the final argmax (an early bert4keras bug)
        path = [k_t]
        for bp in reversed(back):
            k_t = bp.gather(1, k_t)
            path.append(k_t)
        paths = torch.cat(path[::-1], dim=1).tolist()
        return [p[:n] for p, n in zip(paths, mask.sum(1).tolist(), strict=True)]
