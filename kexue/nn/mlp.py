"""A plain multi-layer perceptron, the workhorse of the toy experiments, and a vmapped ensemble
of networks that trains several seeds at once."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state

__all__ = ["MLP", "Ensemble"]


class MLP(nn.Sequential):
    """Linear layers with an activation between them (none after the last).

    Args:
        in_features: input size D.
        out_features: output size.
        hidden: sizes of the hidden layers.
        activation: a module factory placed after each hidden layer.

    Shapes: (B, in_features) -> (B, out_features).

    Example:
        >>> import torch
        >>> MLP(2, 1, hidden=(16, 16))(torch.zeros(3, 2)).shape
        torch.Size([3, 1])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        hidden: Sequence[int] = (128, 128),
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        sizes = [in_features, *hidden, out_features]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(activation())
        super().__init__(*layers)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102 - Sequential's, typed
        return super().forward(x)


class Ensemble(nn.Module):
    """K networks of one architecture with stacked weights, run together with `torch.vmap`.

    Member k applies its own weights to slice k of the input; the members never interact, so
    with one optimizer over the stacked weights each trains as if alone (Adam's state is
    per element), in batched matmuls instead of K small ones.

    Args:
        members: K modules of identical architecture (their weights are copied).

    Shapes: (K, B, ...) -> (K, B, ...).

    Example:
        >>> import torch
        >>> Ensemble([MLP(2, 1, hidden=(8,)) for _ in range(3)])(torch.zeros(3, 5, 2)).shape
        torch.Size([3, 5, 1])
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        params, _ = stack_module_state(list(members))
        self.names = list(params)
        self.stacked = nn.ParameterList(nn.Parameter(params[n]) for n in self.names)
        base = copy.deepcopy(members[0]).to("meta")
        self._call = torch.vmap(lambda p, x: functional_call(base, p, (x,)))

    def forward(self, x: Tensor) -> Tensor:
        return self._call(dict(zip(self.names, self.stacked, strict=True)), x)
