"""The only module that imports matplotlib (lazily). Figures come back to the recipe, which
saves them with `RunDir.save_figure` (atomic).

Figures are bare `matplotlib.figure.Figure` objects, not pyplot figures: building one selects no
backend and registers nothing with pyplot, so a notebook's backend stays as the user set it and
nothing needs closing. `Figure.savefig` renders PNG through its own Agg canvas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def _figure(figsize: tuple[float, float]) -> Any:
    """A bare figure (no pyplot, no backend switch)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def scatter(
    sets: Sequence[tuple[np.ndarray, str]],
    title: str = "",
    field: Callable[[np.ndarray], np.ndarray] | None = None,
    field_label: str = "",
    lim: float | None = None,
    centres: np.ndarray | None = None,
) -> Any:
    """Point sets over an optional scalar field (critic, energy or density contours)."""
    fig = _figure((5.2, 4.6))
    ax = fig.subplots()
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
    fig = _figure((6, 3.6))
    ax = fig.subplots()
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


def arm_curves(
    history: Sequence[dict[str, float]],
    keys: Sequence[str],
    title: str = "",
    hlines: dict[str, float] | None = None,
    xlabel: str = "step",
    *,
    every: float = 1.0,
    first: float = 0.0,
    last: float | None = None,
) -> Any:
    """Curves of arms trained one after another, each on its own steps counted from 0.

    The history's `step` runs on across arms (`RunDir.log_next`), so plotting it as the x-axis
    would start arm 2 where arm 1 ended. Here each key's rows are cut into segments, a segment
    ending where a row logs another of `keys` but not this one (the next arm, or the next seed of
    the same arm), and each segment is drawn from its own first row: x = first + every * (step -
    step of the segment's first row). Segments of one key (seeds) share its colour and label.

    Args:
        history: the run's history rows, each with "step" and some logged values.
        keys: one history key per arm.
        every: training steps between two logged rows of one arm (x units per row).
        first: x of an arm's first logged row (e.g. `every` when logging after each block).
        last: the largest x, for a final row logged off the grid (the arm's last step).
    """
    from matplotlib import colormaps

    fig = _figure((6, 3.6))
    ax = fig.subplots()
    colours = colormaps["tab10"]
    for n, key in enumerate(keys):
        segments: list[list[dict[str, float]]] = []
        current: list[dict[str, float]] = []
        for row in history:
            if key in row:
                current.append(row)
            elif current and any(k in row for k in keys):
                segments.append(current)  # another arm's row: this arm's segment is over
                current = []
        if current:
            segments.append(current)
        for i, rows in enumerate(segments):
            x0 = rows[0]["step"]
            xs = [first + every * (r["step"] - x0) for r in rows]
            if last is not None:
                xs = [min(x, last) for x in xs]
            label = key if i == 0 else None
            marker = "o" if len(rows) == 1 else None  # a lone row is a point, not a line
            ys = [r[key] for r in rows]
            ax.plot(xs, ys, label=label, lw=1, ms=3, marker=marker, color=colours(n % 10))
    for label, y in (hlines or {}).items():
        ax.axhline(y, ls="--", c="k", lw=0.8)
        ax.annotate(label, (0, y), fontsize=7, va="bottom", xycoords=("axes fraction", "data"))
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def heatmaps(
    panels: Sequence[tuple[np.ndarray, str]], lim: float, title: str = "", cmap: str = "viridis"
) -> Any:
    """Side-by-side square heat-maps (e.g. 2-D densities on a [−lim, lim]² grid, row = y)."""
    fig = _figure((3.0 * len(panels), 3.2))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (img, label) in zip(axes[0], panels, strict=True):
        ax.imshow(img, origin="lower", extent=(-lim, lim, -lim, lim), cmap=cmap)
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def image_rows(rows: Sequence[tuple[np.ndarray, str]], title: str = "") -> Any:
    """Rows of small grey images: each row is (N, H, W) with a label on the left."""
    n = max(len(r) for r, _ in rows)
    fig = _figure((0.7 * n + 0.8, 0.75 * len(rows) + 0.4))
    axes = fig.subplots(len(rows), n, squeeze=False)
    for i, (imgs, label) in enumerate(rows):
        for j in range(n):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(imgs):
                ax.imshow(imgs[j], cmap="gray_r", vmin=0, vmax=1)
            if j == 0:
                ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=9)
    return fig


def histogram(
    groups: Sequence[tuple[np.ndarray, str]], title: str = "", xlabel: str = "", bins: int = 30
) -> Any:
    """Overlaid histograms of several value sets."""
    fig = _figure((5.5, 3.4))
    ax = fig.subplots()
    for values, label in groups:
        ax.hist(np.asarray(values).ravel(), bins=bins, alpha=0.6, label=label)
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return fig


def errorbars(
    series: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, str]],
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    hlines: dict[str, float] | None = None,
) -> Any:
    """Lines with error bars: each series is (x, mean, std, label)."""
    fig = _figure((5.5, 3.4))
    ax = fig.subplots()
    for x, mean, std, label in series:
        ax.errorbar(x, mean, yerr=std, marker="o", ms=3, capsize=3, label=label)
    for label, y in (hlines or {}).items():
        ax.axhline(y, ls="--", c="k", lw=0.8)
        ax.annotate(label, (0, y), fontsize=7, va="bottom", xycoords=("axes fraction", "data"))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def image_grid(
    images: np.ndarray, title: str = "", nrow: int = 10, size: int = 8, vmin: float = -1.0
) -> Any:
    """A grid of square grey images (N, size*size) or (N, size, size), values in [vmin, 1]."""
    imgs = np.asarray(images).reshape(-1, size, size)
    n = len(imgs)
    ncol = min(nrow, n)
    rows = (n + ncol - 1) // ncol
    canvas = np.full((rows * (size + 1) + 1, ncol * (size + 1) + 1), float(vmin))
    for i, img in enumerate(imgs):
        r, c = divmod(i, ncol)
        canvas[
            1 + r * (size + 1) : 1 + r * (size + 1) + size,
            1 + c * (size + 1) : 1 + c * (size + 1) + size,
        ] = img
    fig = _figure((0.5 * ncol + 0.5, 0.5 * rows + 0.6))
    ax = fig.subplots()
    ax.imshow(canvas, cmap="gray_r" if vmin < 0 else "gray", vmin=vmin, vmax=1.0)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    return fig


def panels(
    sets: Sequence[Sequence[tuple[np.ndarray, str]]],
    titles: Sequence[str],
    lim: float | None = None,
    centres: np.ndarray | None = None,
    fields: Sequence[Callable[[np.ndarray], np.ndarray] | None] | None = None,
) -> Any:
    """Several scatter panels side by side (one per arm), optional scalar field per panel."""
    k = len(sets)
    fig = _figure((3.2 * k, 3.3))
    axes = fig.subplots(1, k, squeeze=False)
    pts = np.concatenate([np.asarray(p) for s in sets for p, _ in s])
    lim = lim or float(np.abs(pts).max() * 1.1)
    colours = ["tab:red", "tab:blue", "tab:orange", "tab:cyan"]
    for i, (ax, s, t) in enumerate(zip(axes[0], sets, titles, strict=True)):
        field = fields[i] if fields else None
        if field is not None:
            g = np.linspace(-lim, lim, 80)
            xx, yy = np.meshgrid(g, g)
            zz = field(np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32)).reshape(xx.shape)
            ax.contourf(xx, yy, zz, levels=25, cmap="viridis", alpha=0.8)
        for (p, label), colour in zip(s, colours, strict=False):
            p = np.asarray(p)
            ax.scatter(p[:, 0], p[:, 1], s=2, c=colour, label=label)
        if centres is not None:
            ax.scatter(centres[:, 0], centres[:, 1], marker="x", c="k", s=12)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(t, fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0][0].legend(fontsize=6, markerscale=3, loc="upper right")
    fig.tight_layout()
    return fig


def bars(
    groups: dict[str, Sequence[float]], labels: Sequence[str], title: str = "", ylabel: str = ""
) -> Any:
    """Grouped bars: `groups` maps a category to one value per label (e.g. ours, reference)."""
    fig = _figure((6, 3.4))
    ax = fig.subplots()
    names = list(groups)
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        xs = np.arange(len(names)) + (i - (len(labels) - 1) / 2) * width
        ax.bar(xs, [groups[n][i] for n in names], width, label=label)
    ax.set_xticks(np.arange(len(names)), names, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    return fig


def xy(x: Sequence[float], y: Sequence[float], title: str, xlabel: str, ylabel: str) -> Any:
    """One value against another, with the diagonal y = x."""
    fig = _figure((4, 4))
    ax = fig.subplots()
    ax.scatter(x, y, s=12)
    lo, hi = min(min(x), min(y)), max(max(x), max(y))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def latent_maps(
    panels: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None, str]],
    title: str = "",
    lim: float | None = None,
) -> Any:
    """2-D code maps side by side: each panel is (points (N, 2), labels (N,), radii (M, 2) or
    None, title); the first M points get axis-aligned ellipses with those half-axes."""
    from matplotlib import colormaps
    from matplotlib.patches import Ellipse

    k = len(panels)
    fig = _figure((3.6 * k, 3.7))
    axes = fig.subplots(1, k, squeeze=False)
    cmap = colormaps["tab10"]
    for ax, (pts, labels, radii, name) in zip(axes[0], panels, strict=True):
        pts, labels = np.asarray(pts), np.asarray(labels)
        if radii is not None:
            for p, r, c in zip(pts[: len(radii)], np.asarray(radii), labels, strict=False):
                ax.add_patch(
                    Ellipse(tuple(p), 2 * r[0], 2 * r[1], fc=cmap(int(c) % 10), alpha=0.25, lw=0)
                )
        sc = ax.scatter(pts[:, 0], pts[:, 1], c=labels % 10, cmap=cmap, vmin=-0.5, vmax=9.5, s=3)
        box = lim or float(np.abs(pts).max() * 1.1)
        ax.set_xlim(-box, box)
        ax.set_ylim(-box, box)
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=6)
    fig.colorbar(sc, ax=axes[0].tolist(), ticks=range(10), shrink=0.8)
    fig.suptitle(title, fontsize=9)
    return fig
