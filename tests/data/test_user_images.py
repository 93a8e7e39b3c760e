"""A user's image folder: crop and resize once into a memory-mapped uint8 cache; bad files are
named, skipped and counted, or stop the load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from kexue.data import dequantize_uint8, image_folder
from kexue.errors import InputError


def _save(path, size=(40, 30), colour=(200, 10, 10), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == "RGB" else colour[0]).save(path)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "faces"
    for i in range(3):
        _save(root / "cats" / f"{i}.png", colour=(10 * i, 20, 30))
    _save(root / "dogs" / "a.jpg", size=(64, 80), colour=(250, 250, 0))
    _save(root / "loose.webp", size=(50, 50))
    (root / "notes.txt").write_text("not an image")
    return root


def test_crop_resize_labels_and_range(folder, tmp_path):
    data = image_folder(folder, size=16, cache_dir=tmp_path / "cache")
    assert len(data) == 5 and data.pixels.shape == (5, 16, 16, 3)
    assert data.pixels.dtype == np.uint8 and isinstance(data.pixels, np.memmap)
    assert data.classes == ["cats", "dogs"]
    assert sorted(data.labels.tolist()) == [-1, 0, 0, 0, 1]
    assert data.ignored == ["notes.txt"] and "ignored 1 non-image" in data.summary()
    x, label = data[data.files.index("dogs/a.jpg")]
    assert x.shape == (3, 16, 16) and label == 1
    assert torch.allclose(x[:, 8, 8], torch.tensor([250, 250, 0]) / 127.5 - 1, atol=0.02)
    assert float(x.min()) >= -1 and float(x.max()) <= 1


def test_the_cache_is_reused_and_refreshed_when_a_file_changes(folder, tmp_path):
    cache = tmp_path / "cache"
    image_folder(folder, size=8, cache_dir=cache)
    first = sorted(cache.glob("*.npy"))
    image_folder(folder, size=8, cache_dir=cache)
    assert sorted(cache.glob("*.npy")) == first  # nothing decoded again
    _save(folder / "cats" / "new.png")
    assert len(image_folder(folder, size=8, cache_dir=cache)) == 6
    assert len(list(cache.glob("*.npy"))) == 2 and not list(cache.glob("*.tmp"))


def test_centre_crop_like_celeba(tmp_path):
    img = np.zeros((218, 178, 3), np.uint8)
    img[55:163, 35:143] = 255  # the centred 108 × 108 square
    root = tmp_path / "celeba"
    root.mkdir()
    Image.fromarray(img).save(root / "000001.png")
    data = image_folder(root, size=64, crop=108, cache_dir=tmp_path / "c")
    assert data.pixels.shape == (1, 64, 64, 3) and data.pixels.min() > 240


def test_uint8_items_and_dequantisation_for_flows(folder, tmp_path):
    data = image_folder(folder, size=8, mode="L", as_uint8=True, cache_dir=tmp_path / "c")
    x, _ = data[0]
    assert x.dtype == torch.uint8 and x.shape == (1, 8, 8)
    assert data.converted == 5  # every RGB file converted to greyscale, and counted
    y = dequantize_uint8(x, torch.Generator().manual_seed(0))
    assert ((y * 256).floor() == x.float()).all() and float(y.max()) < 1


def test_works_with_a_dataloader(folder, tmp_path):
    data = image_folder(folder, size=8, cache_dir=tmp_path / "c")
    batch, labels = next(iter(torch.utils.data.DataLoader(data, batch_size=4)))
    assert batch.shape == (4, 3, 8, 8) and labels.shape == (4,)


def test_bad_files_stop_with_their_name_or_are_skipped_and_counted(folder, tmp_path):
    (folder / "cats" / "broken.png").write_bytes(Image.new("RGB", (8, 8)).tobytes()[:10])
    good = folder / "dogs" / "truncated.jpg"
    _save(good, size=(64, 64))
    good.write_bytes(good.read_bytes()[:200])
    _save(folder / "tiny" / "small.png", size=(20, 20))
    with pytest.raises(InputError, match=r"broken\.png: cannot decode"):
        image_folder(folder, size=8, cache_dir=tmp_path / "a")
    with pytest.raises(InputError, match=r"small\.png: 20×20 is smaller than the 30-pixel crop"):
        image_folder(folder / "tiny", size=8, crop=30, cache_dir=tmp_path / "b")
    data = image_folder(folder, size=8, cache_dir=tmp_path / "c", on_error="skip")
    assert len(data) == 6 and {f for f, _ in data.skipped} == {
        "cats/broken.png",
        "dogs/truncated.jpg",
    }
    assert data.pixels.shape[0] == len(data.files) == len(data.labels)
    assert "skipped 2" in data.summary()


def test_empty_or_missing_folders_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("x")
    with pytest.raises(InputError, match="no image files"):
        image_folder(tmp_path / "empty")
    with pytest.raises(InputError, match="no such folder"):
        image_folder(tmp_path / "nowhere")
