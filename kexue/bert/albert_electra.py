r"""ALBERT and ELECTRA as the article describes them: parameter sharing saves parameters, not
FLOPs; ALBERT weights can be loaded into an unshared model; ELECTRA's replaced-token detection
(generator samples, discriminator detects) and the guard that its discriminator has no MLM head.

Article:  用ALBERT和ELECTRA之前，请确认你真的了解它们 — 苏剑林, 2020-10-29
URL:      https://kexue.fm/archives/7846

Key equations::

    ALBERT:   y = f(f(…f(E_proj(x))))  (one block f shared by the L layers; embedding V×E then E→H)
              params ≈ V·E + E·H + P_block          vs BERT  V·H + L·P_block
              FLOPs/token ≈ 2·E·H + L·(8H² + 4H·I + 4·n·H)   — the same L·(…) term as BERT
    unshared: θ_layer_i := θ_shared  for i = 1..L  (identical outputs at load, free to diverge)
    ELECTRA:  x̃_i ~ p_G(· | x_masked) at masked i (no gradient through the sample), else x_i
              replaced_i = [x̃_i ≠ x_i]        (a sample equal to the original is "original")
              loss = L_MLM(G) + λ · L_RTD(D),  λ = 50;  D* = p/(p + q) → 1/2 as q → p
              AUC = P(D(x̃)_i > D(x̃)_j | i replaced, j original), ties counted ½ (rank sum)

Symbols: V vocabulary, E embedding size, H hidden, I intermediate, L layers, n sequence length.

Deviations from the article:
    - the backbones are HuggingFace AlbertModel / ElectraForPreTraining / ElectraForMaskedLM
      with tiny random configs (no pretrained weights can be downloaded); `unshare_albert`
      realises bert4keras's ALBERT_Unshared as an AlbertModel with one layer group per layer.
    - the FLOPs count is the usual matmul estimate (2 FLOPs per multiply-add), softmax, norms
      and biases ignored.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import Tensor, nn

__all__ = [
    "count_parameters",
    "electra_loss",
    "flops_per_token",
    "masked_lm_logits",
    "replace_tokens",
    "require_mlm_head",
    "rtd_auc",
    "unshare_albert",
]


def count_parameters(model: nn.Module, *, per_use: bool = False) -> int:
    """Number of parameters; shared tensors counted once (`per_use=False`) or once per layer
    that uses them (`per_use=True`, ALBERT's shared group counted L times)."""
    n = sum(p.numel() for p in model.parameters())  # parameters() yields each tensor once
    if not per_use:
        return n
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "model_type", "") != "albert":
        return n
    groups = [m for name, m in model.named_modules() if name.endswith("albert_layer_groups")]
    shared = sum(p.numel() for p in groups[0].parameters()) if groups else 0
    uses_per_group = cfg.num_hidden_layers // cfg.num_hidden_groups
    return n + shared * (uses_per_group - 1)


def flops_per_token(config: Any, seq_len: int) -> float:
    """Forward matmul FLOPs per token of a BERT / ALBERT / ELECTRA encoder (heads excluded)."""
    h, i, n_layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    e = getattr(config, "embedding_size", h)
    per_layer = 2 * (4 * h * h + 2 * h * i) + 2 * 2 * seq_len * h  # QKVO, FFN, QK^T and AV
    proj = 2 * e * h if e != h else 0
    return float(proj + n_layers * per_layer)


def masked_lm_logits(
    model: nn.Module, input_ids: Tensor, attention_mask: Tensor, selected: Tensor
) -> Tensor:
    """(M, V) MLM logits at the `selected` (B, L) positions only, for a HuggingFace
    BertForMaskedLM (head `cls`) or AlbertForMaskedLM (head `predictions`): the vocabulary
    projection is skipped at the other positions, as in the original BERT/ALBERT pre-training
    code (which gathers the masked positions first)."""
    head = getattr(model, "cls", None)
    head = getattr(model, "predictions", None) if head is None else head
    if head is None:
        raise ValueError(f"{type(model).__name__} has no BERT/ALBERT MLM head (cls/predictions)")
    h = model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return head(h[selected])


def unshare_albert(model: nn.Module) -> nn.Module:
    """ALBERT_Unshared: an AlbertModel with one layer group per layer, each a copy of the shared
    group. Outputs are identical at load; the layers then train independently."""
    cfg = model.config
    if cfg.num_hidden_groups != 1 or cfg.inner_group_num != 1:
        raise ValueError(
            "unshare_albert expects the standard ALBERT layout (1 group, 1 inner layer)"
        )
    new = copy.deepcopy(model)  # the copy's submodules share one (copied) config object
    encoders = [m for m in new.modules() if hasattr(m, "albert_layer_groups")]
    if len(encoders) != 1:
        raise ValueError("no ALBERT encoder found in the model")
    groups = encoders[0].albert_layer_groups
    shared = groups[0]
    groups.extend(copy.deepcopy(shared) for _ in range(cfg.num_hidden_layers - 1))
    new.config.num_hidden_groups = cfg.num_hidden_layers  # layer i now runs group i
    if encoders[0].config is not new.config:
        encoders[0].config.num_hidden_groups = cfg.num_hidden_layers
    return new.train(model.training)


def require_mlm_head(model: nn.Module) -> None:
    """Raise if `model` has no MLM head, e.g. an ELECTRA discriminator asked for an MLM / LM /
    UniLM application (the article: the discriminator is not a masked language model)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if head is None or head.weight.shape[0] != vocab:
        raise ValueError(
            f"{type(model).__name__} has no MLM head: an ELECTRA discriminator only detects "
            "replaced tokens; use the generator (…ForMaskedLM) or a BERT for MLM/LM/UniLM"
        )


@torch.no_grad()
def replace_tokens(
    ids: Tensor, masked: Tensor, gen_logits: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Sample x̃ from the generator at masked positions (no gradient through the sample).

    Args:
        ids: (B, L) original ids; masked: (B, L) bool; gen_logits: (B, L, V).

    Returns:
        corrupted (B, L) and replaced (B, L) bool = corrupted ≠ ids (a sampled original
        token counts as original, as in ELECTRA).
    """
    probs = gen_logits[masked].float().softmax(-1)  # (M, V)
    sampled = torch.multinomial(probs, 1, generator=generator)[:, 0]
    corrupted = ids.clone()
    corrupted[masked] = sampled
    return corrupted, corrupted != ids


def electra_loss(
    gen_logits: Tensor, ids: Tensor, masked: Tensor, disc_logits: Tensor, replaced: Tensor,
    mask: Tensor, lam: float = 50.0,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """(total, L_MLM, L_RTD): L_MLM = CE at masked positions; L_RTD = BCE over real tokens."""
    l_mlm = F.cross_entropy(gen_logits[masked], ids[masked])
    m = mask.float()
    bce = F.binary_cross_entropy_with_logits(disc_logits, replaced.float(), reduction="none")
    l_rtd = (bce * m).sum() / m.sum()
    return l_mlm + lam * l_rtd, l_mlm, l_rtd


def rtd_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of replaced-token detection (scikit-learn's `roc_auc_score`: tied scores count
    ½, so a constant scorer is exactly 0.5). NaN if one class is absent.

    Args:
        scores: (N,) discriminator logits; labels: (N,) 1 = replaced, 0 = original.
    """
    scores, labels = np.asarray(scores, float).ravel(), np.asarray(labels, float).ravel()
    if scores.shape != labels.shape:
        raise ValueError(
            f"scores and labels must have the same shape, got {scores.shape}, {labels.shape}"
        )
    if labels.min(initial=1) == labels.max(initial=0):  # one class only (or empty)
        return float("nan")
    return float(roc_auc_score(labels, scores))
