"""The flows and the f-VAE on a user's image folder (`kexue run SLUG --data FOLDER`): the shared
image loop at the smoke budget, `kexue sample` / `--interpolate` / `kexue reconstruct` on a run,
the article budget's configuration, and a folder too small for a batch."""

from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest
from PIL import Image

from kexue.articles import get
from kexue.cli import execute, main
from kexue.runs import resolve_config

SLUGS = ("glow", "realnvp", "nice", "f-vae")


def _recipe(slug: str):
    return importlib.import_module(get(slug).recipe)


@pytest.fixture(scope="module")
def glow_run(shapes_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("glow-images")
    execute("glow", budget="smoke", out=out, data=str(shapes_folder), threads=1)
    return out


@pytest.mark.parametrize("slug", SLUGS)
def test_smoke_run_on_an_image_folder(slug, shapes_folder, tmp_path):
    result = execute(slug, budget="smoke", out=tmp_path, data=str(shapes_folder), threads=1)
    metrics = result["metrics"]
    for name in ("samples.png", "real.png", "curves.png", "image_model.safetensors"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "image_model.json").read_text())["shape"] == [3, 16, 16]
    for key in ("bpd_test", "bpd_categorical", "bpd_minus_categorical", "bpd_train"):
        assert math.isfinite(metrics[key]), key
    # the baseline is fitted on the training images and scored on the held-out 10 %
    assert metrics["n_train"] + metrics["n_test"] == 96 and metrics["n_test"] == 10
    assert metrics["bpd_minus_categorical"] == pytest.approx(
        metrics["bpd_test"] - metrics["bpd_categorical"]
    )
    assert result["claims"] == []  # smoke judges nothing
    # samples.png: 4 temperatures × 8 samples of 16 px, 2 px apart
    assert Image.open(tmp_path / "samples.png").size == (8 * 18 + 2, 4 * 18 + 2)


def test_the_same_seed_trains_the_same_model(glow_run, shapes_folder, tmp_path):
    """The model is built after seeding: a second run repeats the first step for step."""
    execute("glow", budget="smoke", out=tmp_path, data=str(shapes_folder), threads=1)
    assert (tmp_path / "history.csv").read_text() == (glow_run / "history.csv").read_text()
    first = json.loads((glow_run / "metrics.json").read_text())
    again = json.loads((tmp_path / "metrics.json").read_text())
    assert again["bpd_test"] == first["bpd_test"]


def test_sample_interpolate_and_reconstruct_a_glow_run(glow_run, shapes_folder, tmp_path):
    grid = tmp_path / "grid.png"
    assert main(["sample", str(glow_run), "-n", "4", "--temperature", "0.7",
                 "--nrow", "4", "--out", str(grid)]) == 0  # fmt: skip
    assert Image.open(grid).size == (4 * 18 + 2, 18 + 2)
    walk = tmp_path / "walk.png"
    assert main(["sample", str(glow_run), "-n", "2", "--interpolate", "3",
                 "--out", str(walk)]) == 0  # fmt: skip
    assert Image.open(walk).size == (3 * 18 + 2, 2 * 18 + 2)
    image = next(shapes_folder.rglob("*.png"))
    recon = tmp_path / "recon.png"
    assert main(["reconstruct", str(glow_run), str(image), "--out", str(recon)]) == 0
    assert recon.is_file()


def test_flow_reconstruction_is_exact_on_the_8_bit_grid(glow_run, shapes_folder):
    """x → z → x through the trained flow returns the very pixel values."""
    files = sorted(shapes_folder.rglob("*.png"))[:6]
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    recon = _recipe("glow").reconstructor(glow_run)(pixels)
    assert recon.shape == pixels.shape
    assert np.abs(recon - pixels / 255.0).max() < 1e-6


def test_samples_and_walks_are_images_in_the_unit_interval(glow_run):
    import torch

    recipe = _recipe("glow")
    samples = recipe.sampler(glow_run)(5, 0.7, torch.Generator().manual_seed(0))
    assert samples.shape == (5, 16, 16, 3) and samples.min() >= 0 and samples.max() <= 1
    walk = recipe.interpolator(glow_run)(2, 4, 1.0, torch.Generator().manual_seed(0))
    assert walk.shape == (8, 16, 16, 3)
    # the two ends of a row are decoded prior draws: different images
    assert np.abs(walk[0] - walk[3]).max() > 0


def test_digits_runs_keep_their_sampler_and_refuse_image_commands(tmp_path):
    """A glow run without --data keeps sampling digits (n, 8, 8); reconstruct asks for an image
    run."""
    import torch

    execute("glow", budget="smoke", out=tmp_path, threads=1)
    assert not (tmp_path / "image_model.json").exists()
    digits = _recipe("glow").sampler(tmp_path)(3, 1.0, torch.Generator().manual_seed(0))
    assert digits.shape == (3, 8, 8)
    assert main(["reconstruct", str(tmp_path), str(tmp_path / "samples.png")]) == 2


@pytest.mark.parametrize("slug", SLUGS)
def test_article_budget_resolves_to_the_articles_scale(slug, shapes_folder):
    recipe = _recipe(slug)
    cfg = resolve_config(recipe.Config, recipe.ARTICLE, [f"data={shapes_folder}"])
    assert cfg.data == str(shapes_folder) and cfg.img_size in (32, 64, 128)
    assert cfg.img_steps >= 10_000 and cfg.img_batch >= 32
    # the multi-scale models halve the image as often as their levels ask
    halvings = {
        "glow": getattr(cfg, "img_levels", 0),
        "realnvp": getattr(cfg, "img_scales", 1) - 1,
        "nice": 0,
        "f-vae": getattr(cfg, "img_squeezes", 0) + getattr(cfg, "img_levels", 1) - 1,
    }[slug]
    assert cfg.img_size % 2**halvings == 0
    if slug == "glow":  # the author's 64×64 CelebA Glow
        assert (cfg.img_size, cfg.img_levels, cfg.img_depth, cfg.img_width) == (64, 3, 10, 512)
        assert (cfg.img_coupling, cfg.img_permutation, cfg.img_lr) == ("additive", "shuffle", 1e-4)


def test_a_folder_too_small_for_a_batch_is_a_clear_error(shapes_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "glow", "--budget", "smoke", "--data", str(shapes_folder),
                 "--out", str(out), "--set", "img_batch=128"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "fewer than one batch (128)" in err and "img_batch" in err
    assert not out.exists()  # nothing left behind: the same command works on a larger folder


def test_image_sizes_the_levels_cannot_halve_are_refused(shapes_folder, tmp_path, capsys):
    code = main(["run", "glow", "--budget", "smoke", "--data", str(shapes_folder),
                 "--out", str(tmp_path / "run"), "--set", "img_levels=5"])  # fmt: skip
    assert code == 2
    assert "does not halve 5 times" in capsys.readouterr().err
