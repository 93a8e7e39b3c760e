"""The only module that imports matplotlib (lazily, Agg backend). Figures come back to the
recipe, which saves them with `RunDir.save_figure` (atomic)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def scatter(
    sets: Sequence[tuple[np.ndarray, str]],
    title: str = "",
    field: Callable[[np.ndarray], np.ndarray] | None = None,
    field_label: str = "",
    lim: float | None = None,
    centres: np.ndarray | None = None,
) -> Any:
    """Point sets over an optional scalar field (critic, energy or density contours)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    pts = np.concatenate([np.asarray(p) for p, _ in sets])
    lim = lim or float(np.abs(pts).max() * 1.15)
    if field is not None:
        g = np.linspace(-lim, lim, 160)
        xx, yy = np.meshgrid(g, g)
        zz = field(np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32)).reshape(xx.shape)
        cs = ax.contourf(xx, yy, zz, levels=30, cmap="viridis", alpha=0.85)
        fig.colorbar(cs, ax=ax, label=field_label)
    colours = ["tab:red", "white", "tab:orange", "tab:cyan"]
    for (p, label), colour in zip(sets, colours, strict=False):
        p = np.asarray(p)
        edge = "k" if colour == "white" else "none"
        ax.scatter(p[:, 0], p[:, 1], s=4, c=colour, edgecolors=edge, linewidths=0.2, label=label)
    if centres is not None:
        ax.scatter(centres[:, 0], centres[:, 1], marker="x", c="k", s=30, label="mode centres")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    ax.set_title(title, fontsize=9)
    return fig


def curves(
    history: Sequence[dict[str, float]],
    keys: Sequence[str],
    title: str = "",
    hlines: dict[str, float] | None = None,
    xlabel: str = "step",
) -> Any:
    """Training curves of `keys` from the run history, with optional reference lines."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for key in keys:
        rows = [r for r in history if key in r]
        ax.plot([r["step"] for r in rows], [r[key] for r in rows], label=key, lw=1)
    for label, y in (hlines or {}).items():
        ax.axhline(y, ls="--", c="k", lw=0.8)
        ax.annotate(label, (0, y), fontsize=7, va="bottom")
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return fig
