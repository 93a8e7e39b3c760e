r"""Conditional Layer Normalization: LayerNorm whose gain and bias are functions of a condition.

Article:  基于Conditional Layer Normalization的条件文本生成 — 苏剑林, 2019-12-14
URL:      https://kexue.fm/archives/7124

Key equations::

    c' = act(c W_h)                       (optional hidden projection, W_h ∈ R^{d_c×d_h}, no bias)
    γ  = γ₀ + c' W_γ,   β = β₀ + c' W_β    (W_γ, W_β ∈ R^{d_h×d}, no bias, zero-initialised)
    out = γ ⊙ (h − μ) / √(σ² + ε) + β      (μ, σ² over the last dimension)

With W_γ = W_β = 0 the layer is exactly the pretrained LayerNorm (γ₀, β₀), whatever c is, so a
pretrained model is reproduced at initialisation; W_γ, W_β still receive gradient at init
(∂out/∂W_γ = c' ⊗ x̂ ≠ 0) — only one zero layer, never two stacked.

Symbols: h (B, L, d) hidden states, c (B, d_c) or (B, L, d_c) condition (broadcast over L when
2-D), x̂ the normalised h, ε = 1e-12 (BERT's epsilon, not torch's 1e-5).

In bert4keras the condition enters *every* LayerNorm of the model (embedding LN, the two LNs of
each block, the MLM-head LN); `make_conditional(model, cond_dim)` swaps every `nn.LayerNorm` of
a model (e.g. a HuggingFace `BertLMHeadModel`) for a `ConditionalLayerNorm` that copies γ₀, β₀
and ε, and `conditioned(model, c)` is the `with` block that feeds c to all of them.

Deviations from the article:
    - the condition reaches LayerNorms nested inside third-party modules through the explicit
      `conditioned(...)` context (set on entry, cleared on exit, even on error) instead of an
      extra layer input, because HuggingFace blocks call their LayerNorms with one argument;
      outside the context (or with `cond=None`) the layer is the plain LayerNorm (γ₀, β₀).
    - W_h is initialised N(0, 0.02²) (BERT's truncated normal without the truncation).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ConditionalLayerNorm", "conditional_layer_norm", "conditioned", "make_conditional"]

_ACTS = {"linear": lambda x: x, "swish": F.silu, "relu": F.relu, "tanh": torch.tanh}


def conditional_layer_norm(
    h: Tensor, c: Tensor | None, weight: Tensor, bias: Tensor,
    w_gamma: Tensor | None = None, w_beta: Tensor | None = None, eps: float = 1e-12,
) -> Tensor:  # fmt: skip
    r"""γ ⊙ (h − μ)/√(σ² + ε) + β with γ = weight + c W_γ, β = bias + c W_β.

    Args:
        h: (B, L, d) or (B, d).
        c: (B, d_h) broadcast over L, or (B, L, d_h); None means no condition.
        weight, bias: (d,) the unconditional γ₀, β₀.
        w_gamma, w_beta: (d_h, d).

    Returns:
        Same shape as h.
    """
    mu = h.mean(-1, keepdim=True)
    var = (h - mu).pow(2).mean(-1, keepdim=True)  # biased variance, as LayerNorm
    x_hat = (h - mu) / torch.sqrt(var + eps)
    gamma, beta = weight, bias
    if c is not None:
        if c.dim() == 2 and h.dim() == 3:
            c = c[:, None, :]  # (B, 1, d_h): broadcast over L, never repeated in memory
        gamma = gamma + c @ w_gamma  # eq.: γ = γ₀ + c' W_γ
        beta = beta + c @ w_beta  # eq.: β = β₀ + c' W_β
    return gamma * x_hat + beta


class ConditionalLayerNorm(nn.Module):
    """LayerNorm with condition-dependent gain and bias (zero-initialised projections).

    Args:
        d: normalised (last) dimension.
        cond_dim: d_c, size of the condition vector.
        hidden_dim: d_h of the optional hidden projection c' = act(c W_h); None = no projection.
        hidden_act: activation of the hidden projection.
        eps: ε (BERT: 1e-12).
    """

    def __init__(
        self, d: int, cond_dim: int, *, hidden_dim: int | None = None,
        hidden_act: Literal["linear", "swish", "relu", "tanh"] = "linear", eps: float = 1e-12,
    ) -> None:  # fmt: skip
        super().__init__()
        if hidden_act not in _ACTS:
            raise ValueError(f"hidden_act must be one of {sorted(_ACTS)}, got {hidden_act!r}")
        self.d, self.cond_dim, self.eps, self.hidden_act = d, cond_dim, eps, hidden_act
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))
        self.hidden = None
        d_h = cond_dim
        if hidden_dim is not None:
            self.hidden = nn.Linear(cond_dim, hidden_dim, bias=False)
            nn.init.normal_(self.hidden.weight, std=0.02)  # never zero: see the module header
            d_h = hidden_dim
        self.w_gamma = nn.Parameter(torch.zeros(d_h, d))  # zero init: reproduces γ₀ at init
        self.w_beta = nn.Parameter(torch.zeros(d_h, d))
        self._cond: Tensor | None = None

    def forward(self, h: Tensor, cond: Tensor | None = None) -> Tensor:
        """h (B, L, d) or (B, d); cond (B, d_c) or (B, L, d_c), else the `conditioned` one."""
        c = cond if cond is not None else self._cond
        if c is not None and self.hidden is not None:
            c = _ACTS[self.hidden_act](self.hidden(c))
        return conditional_layer_norm(
            h, c, self.weight, self.bias, self.w_gamma, self.w_beta, self.eps
        )

    @classmethod
    def from_layer_norm(
        cls, ln: nn.LayerNorm, cond_dim: int, **kwargs: object
    ) -> ConditionalLayerNorm:
        """A conditional copy of `ln` (γ₀, β₀ and ε copied; W_γ = W_β = 0)."""
        if len(ln.normalized_shape) != 1:
            raise ValueError("only LayerNorms over the last dimension can be made conditional")
        out = cls(ln.normalized_shape[0], cond_dim, eps=ln.eps, **kwargs)  # type: ignore[arg-type]
        with torch.no_grad():
            if ln.weight is not None:
                out.weight.copy_(ln.weight)
            if ln.bias is not None:
                out.bias.copy_(ln.bias)
        return out.to(ln.weight.device if ln.weight is not None else "cpu")

    def extra_repr(self) -> str:
        d_h = self.w_gamma.shape[0]
        return f"{self.d}, cond_dim={self.cond_dim}, d_h={d_h}, eps={self.eps}"


def make_conditional(
    model: nn.Module, cond_dim: int, *, hidden_dim: int | None = None,
    hidden_act: Literal["linear", "swish", "relu", "tanh"] = "linear",
) -> list[ConditionalLayerNorm]:  # fmt: skip
    """Replace, in place, every `nn.LayerNorm` of `model` by a `ConditionalLayerNorm` copy.

    Each LayerNorm gets its own W_h, W_γ, W_β (as in bert4keras). Returns the new layers in
    module order. The model's output is unchanged until W_γ, W_β move away from zero.
    """
    replaced = []
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.LayerNorm) and not isinstance(child, ConditionalLayerNorm):
                cln = ConditionalLayerNorm.from_layer_norm(
                    child, cond_dim, hidden_dim=hidden_dim, hidden_act=hidden_act
                )
                setattr(module, child_name, cln)
                replaced.append(cln)
    if not replaced:
        raise ValueError("model has no nn.LayerNorm to make conditional")
    return replaced


@contextmanager
def conditioned(model: nn.Module, cond: Tensor) -> Iterator[None]:
    """Feed `cond` (B, d_c) or (B, L, d_c) to every `ConditionalLayerNorm` of `model`.

    The condition is cleared on exit (even on error), so no state leaks between batches.
    """
    layers = [m for m in model.modules() if isinstance(m, ConditionalLayerNorm)]
    for m in layers:
        m._cond = cond
    try:
        yield
    finally:
        for m in layers:
            m._cond = None
