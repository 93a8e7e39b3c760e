"""A plain multi-layer perceptron, the workhorse of the toy experiments."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

__all__ = ["MLP"]


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
