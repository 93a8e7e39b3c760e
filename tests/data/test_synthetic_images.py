"""The synthetic shapes set: deterministic, balanced, factors visible in the pixels, and a real
PNG folder that `image_folder` reads back with the same classes and labels."""

from __future__ import annotations

import numpy as np
import pytest

from kexue.data import SHAPE_COLOURS, image_folder, shapes_array, shapes_classes, write_shapes


def test_shapes_are_seeded_balanced_and_distinct():
    a, la = shapes_array(48, size=16, seed=3)
    b, lb = shapes_array(48, size=16, seed=3)
    c, _ = shapes_array(48, size=16, seed=4)
    assert a.shape == (48, 16, 16, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)
    assert np.bincount(la).tolist() == [4] * 12
    assert len({img.tobytes() for img in a}) == 48  # no two images alike within a class


def test_the_colour_factor_is_in_the_pixels():
    images, labels = shapes_array(96, size=32, seed=0)
    names = shapes_classes()
    palette = np.array(list(SHAPE_COLOURS.values()), dtype=float)
    for img, label in zip(images, labels, strict=True):
        px = img.reshape(-1, 3).astype(float)
        vivid = px[px.max(1) - px.min(1) > 80]  # the shape: the background is grey
        nearest = np.argmin(((vivid.mean(0) - palette) ** 2).sum(1))
        assert list(SHAPE_COLOURS)[nearest] == names[label].split("-")[1]


def test_written_folder_reads_back_with_the_same_classes(tmp_path):
    folder = write_shapes(tmp_path / "shapes", per_class=3, size=16, seed=1)
    ds = image_folder(folder, size=16)
    assert ds.classes == shapes_classes() and len(ds) == 36
    assert np.bincount(ds.labels).tolist() == [3] * 12
    expected, labels = shapes_array(36, size=16, seed=1)
    order = np.argsort(labels, kind="stable")  # the folder lists class by class
    assert np.array_equal(np.asarray(ds.pixels), expected[order])
    assert [p.name for p in tmp_path.iterdir()] == ["shapes"]  # no temporary folder left
    with pytest.raises(FileExistsError, match="not empty"):
        write_shapes(folder, per_class=1)


def test_unknown_factor_is_named():
    with pytest.raises(ValueError, match="purple"):
        shapes_array(4, colours=("purple",))
