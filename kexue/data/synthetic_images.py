r"""A synthetic image set with known factors: coloured shapes on noisy backgrounds.

    shapes_array(n, size=32, seed=0)      (n, size, size, 3) uint8 images and (n,) labels
    write_shapes(folder, per_class=500)   the same as a real PNG folder, one subfolder per class
                                          (`circle-red/00000.png`, …), read back by
                                          `kexue.data.image_folder`

Class = shape × colour (3 shapes × 4 colours = 12 classes by default). Within a class the
position, size and rotation of the shape, the shade of its colour and the background's grey
level and noise vary, so a generator must learn more than 12 templates, yet a small classifier
tells the classes apart almost perfectly: class coverage of a GAN's samples and bits/dim of a
flow are then measurable in minutes on a CPU. Images are drawn at 4× and downsampled (anti-
aliased edges, as in photographs), so the pixel distribution is not a few discrete levels.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["SHAPE_COLOURS", "SHAPES", "shapes_array", "shapes_classes", "write_shapes"]

SHAPES = ("circle", "square", "triangle")
SHAPE_COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 80, 230),
    "yellow": (230, 210, 40),
}
_SUPERSAMPLE = 4


def shapes_classes(
    shapes: tuple[str, ...] = SHAPES, colours: tuple[str, ...] = tuple(SHAPE_COLOURS)
) -> list[str]:
    """The class names, `shape-colour`, in label order (sorted, as `image_folder` orders them)."""
    return sorted(f"{s}-{c}" for s in shapes for c in colours)


def _draw(
    rng: np.random.Generator, shape: str, rgb: tuple[int, int, int], size: int
) -> np.ndarray:
    from PIL import Image, ImageDraw

    big = size * _SUPERSAMPLE
    grey = int(rng.integers(20, 110))
    noise = rng.normal(0.0, 8.0, (size, size, 1))
    im = Image.new("RGB", (big, big), (grey, grey, grey))
    draw = ImageDraw.Draw(im)
    radius = big * rng.uniform(0.18, 0.32)
    cx, cy = (big * rng.uniform(0.35, 0.65) for _ in range(2))
    shade = rng.uniform(0.8, 1.0)
    fill = tuple(int(v * shade) for v in rgb)
    if shape == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill)
    else:
        corners = 4 if shape == "square" else 3
        angle = rng.uniform(0.0, 2 * np.pi)
        r = radius * (1.25 if shape == "square" else 1.35)
        turns = angle + 2 * np.pi * np.arange(corners) / corners
        points = [(cx + r * np.cos(t), cy + r * np.sin(t)) for t in turns]
        draw.polygon(points, fill=fill)
    small = im.resize((size, size), Image.Resampling.BOX)
    pixels = np.asarray(small, dtype=np.float64) + noise
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def shapes_array(
    n: int,
    size: int = 32,
    seed: int = 0,
    *,
    shapes: tuple[str, ...] = SHAPES,
    colours: tuple[str, ...] = tuple(SHAPE_COLOURS),
) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, size, size, 3) uint8, classes cycled evenly, and their labels (n,) int64
    (indices into `shapes_classes(shapes, colours)`)."""
    if n < 1 or size < 4:
        raise ValueError(f"need n ≥ 1 and size ≥ 4, got n={n}, size={size}")
    unknown = [c for c in colours if c not in SHAPE_COLOURS] + [s for s in shapes
                                                                if s not in SHAPES]  # fmt: skip
    if unknown:
        raise ValueError(f"unknown shape or colour {unknown}; shapes {SHAPES}, "
                         f"colours {tuple(SHAPE_COLOURS)}")  # fmt: skip
    rng = np.random.default_rng(seed)
    names = shapes_classes(shapes, colours)
    labels = np.arange(n, dtype=np.int64) % len(names)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        shape, colour = names[label].split("-")
        images[i] = _draw(rng, shape, SHAPE_COLOURS[colour], size)
    return images, labels


def write_shapes(
    folder: str | os.PathLike[str],
    per_class: int = 500,
    size: int = 32,
    seed: int = 0,
    *,
    shapes: tuple[str, ...] = SHAPES,
    colours: tuple[str, ...] = tuple(SHAPE_COLOURS),
) -> Path:
    """Write `per_class` PNGs per class into `folder/<shape>-<colour>/NNNNN.png`.

    The folder is built beside its destination and renamed into place, so an interrupted call
    leaves no half-written set. An existing non-empty folder is refused.
    """
    from PIL import Image

    dest = Path(folder)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest}: exists and is not empty")
    names = shapes_classes(shapes, colours)
    images, labels = shapes_array(per_class * len(names), size, seed, shapes=shapes,
                                  colours=colours)  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name in names:
            (tmp / name).mkdir()
        for i, (img, label) in enumerate(zip(images, labels, strict=True)):
            Image.fromarray(img).save(tmp / names[label] / f"{i // len(names):05d}.png")
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest


if __name__ == "__main__":  # python -m kexue.data.synthetic_images OUT [PER_CLASS] [SIZE]
    import sys

    args = sys.argv[1:]
    if not args:
        sys.exit("usage: python -m kexue.data.synthetic_images OUT_FOLDER [PER_CLASS] [SIZE]")
    out = write_shapes(args[0], *(int(a) for a in args[1:3]))
    print(out)
