r"""Layer-wise learning rates (param groups, and the article's θ = λφ re-scaling trick) and free
gradient transforms.

Article:  “让Keras更酷一些！”：分层的学习率和自由的梯度 — 苏剑林, 2019-03-10
URL:      https://kexue.fm/archives/6418

Key equations: store φ = θ/λ and use θ = λφ in the forward pass; the optimiser acts on φ::

    SGD:            φ ← φ − α ∂L/∂φ = φ − λα ∂L/∂θ   ⇒   θ ← θ − λ²α ∂L/∂θ
                    (so SetLearningRate scales by √λ for SGD and momentum: ratio λ)
    RMSprop/Adam:   the denominator absorbs one λ    ⇒   effective learning rate λα

Exact statements (derived; tested in float64): with φ-scale s,
    SGD/momentum/Nesterov at lr α on φ ≡ lr s²α on θ; coupled weight decay w ≡ w/s²;
    Adam/AdamW/RMSprop at (lr α, eps ε) on φ ≡ (lr sα, eps ε/s) on θ; coupled wd w ≡ w/s²;
    AdamW's decoupled decay w ≡ w/s at lr sα. Adam with ε unchanged is only approximate.

Free gradients: Keras' `Optimizer.get_gradients` is replaced to transform gradients (the prank
that zeroes them all, clipping by the L1 instead of the L2 norm, rules per parameter name).

Symbols: θ effective weight, φ stored weight, λ multiplier, s the scale (λ or √λ), α lr, ε eps.

Delegation: the primary API is torch.optim param groups (`param_groups`: one group per distinct
(multiplier, decay) pair, lr = base × multiplier, every parameter in exactly one group, as
minGPT asserts); gradient transforms are `Tensor.register_hook`. Written by hand: the article's
re-parametrisation (`LrMultiplier`, a torch.nn.utils.parametrize module), `equivalent_hparams`,
`clip_grad_l1_`, `register_grad_transform`.

Deviations from the article:
    - Multipliers from several matching name patterns multiply (bert4keras'
      `extend_with_parameter_wise_lr` semantics); a parameter tied in two modules counts once.
    - `LrMultiplier` takes kind="sgd" (scale √λ) or "adaptive" (scale λ) instead of is_ada.
    - Gradient transforms are tensor hooks (they see each parameter's gradient as it is
      computed), not an overridden optimiser method.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = [
    "LrMultiplier",
    "clip_grad_l1_",
    "equivalent_hparams",
    "param_groups",
    "plain_state_dict",
    "register_grad_transform",
    "set_lr_multiplier",
]


def param_groups(
    model: nn.Module,
    base_lr: float,
    lr_mult: Mapping[str, float] | None = None,
    *,
    weight_decay: float = 0.0,
    no_decay: Iterable[str] = ("bias", "norm"),
) -> list[dict]:
    """torch.optim param groups with per-name learning-rate multipliers.

    Args:
        model: the module; its named parameters (requires_grad only, tied ones once).
        base_lr: α.
        lr_mult: {name substring: multiplier}; every matching pattern multiplies in.
        weight_decay: applied to tensors of ≥ 2 dimensions whose names match none of `no_decay`.
        no_decay: name substrings excluded from weight decay.

    Returns:
        a list of groups {"params", "names", "lr", "lr_mult", "weight_decay"}; each parameter
        is in exactly one group and lr = base_lr × lr_mult.
    """
    lr_mult = dict(lr_mult or {})
    no_decay = tuple(no_decay)
    groups: dict[tuple[float, float], dict] = {}
    seen: set[int] = set()
    for name, p in model.named_parameters():  # named_parameters already drops tied duplicates
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        mult = math.prod(m for pat, m in lr_mult.items() if pat in name)
        # no decay for names in `no_decay` and for every 1-D tensor (biases, norm scales)
        wd = 0.0 if p.ndim < 2 or any(k in name.lower() for k in no_decay) else weight_decay
        g = groups.setdefault(
            (mult, wd),
            {"params": [], "names": [], "lr": base_lr * mult, "lr_mult": mult, "weight_decay": wd},
        )
        g["params"].append(p)
        g["names"].append(name)
    out = list(groups.values())
    ids = [id(p) for g in out for p in g["params"]]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    if len(ids) != len(set(ids)) or set(ids) != trainable:  # minGPT's check
        raise RuntimeError("a parameter is missing from the groups or appears in two")
    return out


class LrMultiplier(nn.Module):
    """θ = s·φ: a parametrization whose stored tensor is φ = θ/s (the article's SetLearningRate).

    Args:
        lam: the learning-rate multiplier λ > 0.
        kind: "sgd" (s = √λ, for SGD with or without momentum) or "adaptive" (s = λ, for
            RMSprop/Adam-type optimisers).
    """

    def __init__(self, lam: float, *, kind: Literal["sgd", "adaptive"] = "adaptive") -> None:
        super().__init__()
        if lam <= 0:
            raise ValueError(f"lam must be > 0, got {lam}")
        if kind not in ("sgd", "adaptive"):
            raise ValueError(f"kind must be 'sgd' or 'adaptive', got {kind!r}")
        self.lam, self.kind = lam, kind
        self.scale = math.sqrt(lam) if kind == "sgd" else lam

    def forward(self, phi: Tensor) -> Tensor:  # noqa: D102
        return self.scale * phi

    def right_inverse(self, theta: Tensor) -> Tensor:  # noqa: D102
        return theta / self.scale


def set_lr_multiplier(
    module: nn.Module,
    lam: float,
    kind: Literal["sgd", "adaptive"] = "adaptive",
    names: Iterable[str] | None = None,
) -> nn.Module:
    """Register `LrMultiplier` on the module's own parameters (all of them, or `names`).

    Build the optimiser *after* this call: the stored parameters become new tensors φ.
    """
    targets = (
        list(names)
        if names is not None
        else [n for n, _ in module.named_parameters(recurse=False)]
    )
    for n in targets:
        parametrize.register_parametrization(module, n, LrMultiplier(lam, kind=kind))
    return module


def plain_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """θ-space state dict (effective weights under their plain names), for un-wrapped models."""
    out: dict[str, Tensor] = {}
    for key, value in model.state_dict().items():
        if ".parametrizations." in key:
            if not key.endswith(".original"):
                continue
            prefix, rest = key.split(".parametrizations.", 1)
            pname = rest[: -len(".original")]
            owner = model.get_submodule(prefix) if prefix else model
            out[f"{prefix}.{pname}" if prefix else pname] = getattr(owner, pname).detach().clone()
        elif key.startswith("parametrizations."):
            pname = key.split(".")[1]
            if key.endswith(".original"):
                out[pname] = getattr(model, pname).detach().clone()
        else:
            out[key] = value
    return out


def equivalent_hparams(
    kind: Literal["sgd", "adam", "adamw", "rmsprop"],
    scale: float,
    lr: float,
    *,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> dict[str, float]:
    """θ-space hyper-parameters equal to running `kind` on φ = θ/s (exact, derived).

    sgd: lr s²α, coupled wd w/s²; adam/rmsprop: lr sα, eps ε/s, coupled wd w/s²;
    adamw: lr sα, eps ε/s, decoupled wd w/s.
    """
    s = scale
    if kind == "sgd":
        return {"lr": s * s * lr, "weight_decay": weight_decay / (s * s)}
    if kind in ("adam", "rmsprop"):
        return {"lr": s * lr, "eps": eps / s, "weight_decay": weight_decay / (s * s)}
    if kind == "adamw":
        return {"lr": s * lr, "eps": eps / s, "weight_decay": weight_decay / s}
    raise ValueError(f"unknown optimiser kind {kind!r}")


def clip_grad_l1_(params: Iterable[Tensor], max_norm: float) -> Tensor:
    """Clip gradients by their global L1 norm (the article's example of a free transform).

    Returns:
        the L1 norm before clipping (0-dim).
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = sum(g.abs().sum() for g in grads)
    coef = max_norm / (float(total) + 1e-12)
    if coef < 1:
        for g in grads:
            g.mul_(coef)
    return total


def register_grad_transform(
    model: nn.Module, pattern: str, fn: Callable[[Tensor], Tensor]
) -> list[torch.utils.hooks.RemovableHandle]:
    """Apply `fn` to the gradient of every parameter whose name contains `pattern` ("" = all).

    Returns:
        the hook handles (call `.remove()` to undo).
    """
    return [p.register_hook(fn) for n, p in model.named_parameters() if pattern in n]
