"""The GAN recipes on an image folder (`--data`): each trains its image model at the smoke
budget and keeps it; `kexue sample` (also `--interpolate`) and `kexue reconstruct` read the runs
back; an interrupted run resumes; the article budget resolves to the author's settings; a folder
without class subfolders leaves the coverage claim "not measured"; energy-gan, lipschitz and
f-gan offer only their own objectives (the losses themselves: tests/gan/test_energy.py and
test_f_gan.py)."""

from __future__ import annotations

import importlib
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from kexue import cli
from kexue.articles import get
from kexue.cli import RunInterrupted, execute, main
from kexue.runs import RunDir, resolve_config

GANS = ("gan-qp", "bigan-qp", "wgan", "vi-unified", "energy-gan", "lipschitz", "f-gan")


@pytest.mark.parametrize("slug", GANS)
def test_each_gan_trains_on_the_folder_and_keeps_its_model(slug, smoke_runs):
    out, result = smoke_runs(slug)
    for name in ("samples.png", "curves.png", "image_model.safetensors", "image_model.json"):
        assert (out / name).is_file(), name
    assert result["claims"] == []  # smoke judges nothing
    metrics = result["metrics"]
    assert metrics["steps"] == 3 and metrics["images"] == 96 and metrics["n_classes"] == 12
    for key in ("class_coverage", "confident", "coverage_confident", "classifier_acc"):
        assert 0 <= metrics[key] <= 12, key
    meta = json.loads((out / "image_model.json").read_text())
    assert meta["img_size"] == 32 and meta["bigan"] == (slug == "bigan-qp")
    assert not any(k.startswith(("delta_", "toy_", "digits_", "critic_gp")) for k in metrics)
    if slug == "bigan-qp":
        assert (out / "reconstructions.png").is_file()
        assert 0 <= metrics["recon_mse"] <= 1 and 0 <= metrics["recon_label_kept"] <= 1


def test_sample_and_interpolate_read_the_gan_qp_run(smoke_runs, tmp_path, capsys):
    out, _ = smoke_runs("gan-qp")
    grid = tmp_path / "grid.png"
    assert main(["sample", str(out), "-n", "4", "--out", str(grid)]) == 0
    assert "4 samples of 32×32" in capsys.readouterr().out
    assert Image.open(grid).size[0] > 32
    path = tmp_path / "path.png"
    assert main(["sample", str(out), "-n", "2", "--interpolate", "3", "--out", str(path)]) == 0
    from kexue.recipes import gan_qp

    rows = gan_qp.interpolator(out)(2, 3, 1.0, torch.Generator().manual_seed(0))
    assert rows.shape == (6, 32, 32, 3) and 0 <= rows.min() and rows.max() <= 1
    draw = gan_qp.sampler(out)
    a = draw(3, 1.0, torch.Generator().manual_seed(5))
    assert np.array_equal(a, draw(3, 1.0, torch.Generator().manual_seed(5)))  # eval mode
    # the path's ends are G(z0) and G(z1): a row starts and ends at two samples of the codes
    g = torch.Generator().manual_seed(1)
    ends = draw(2, 1.0, g)
    again = gan_qp.interpolator(out)(1, 3, 1.0, torch.Generator().manual_seed(1))
    assert np.allclose(again[0], ends[0], atol=1e-4) and np.allclose(again[2], ends[1], atol=1e-4)


@pytest.mark.parametrize("slug", ["energy-gan", "lipschitz", "f-gan"])
def test_sample_reads_the_new_image_gan_runs(slug, smoke_runs, tmp_path, capsys):
    out, result = smoke_runs(slug)
    config = json.loads((out / "config.json").read_text())["config"]
    want = {"energy-gan": "energy", "lipschitz": "wgan-sn", "f-gan": "f-js"}[slug]
    assert config["img_loss"] == want  # each recipe's own objective by default
    grid = tmp_path / "grid.png"
    assert main(["sample", str(out), "-n", "4", "--out", str(grid)]) == 0
    assert "4 samples of 32×32" in capsys.readouterr().out and grid.is_file()


def test_reconstruct_reads_the_bigan_qp_run(smoke_runs, shapes_folder, tmp_path, capsys):
    out, _ = smoke_runs("bigan-qp")
    images = sorted(shapes_folder.rglob("*.png"))[:2]
    grid = tmp_path / "recon.png"
    assert main(["reconstruct", str(out), *map(str, images), "--out", str(grid)]) == 0
    printed = capsys.readouterr().out
    assert grid.is_file() and printed.count("mse") == 2
    gan_out, _ = smoke_runs("gan-qp")  # gan-qp has no reconstructor: refused with one line
    assert main(["reconstruct", str(gan_out), str(images[0]), "--out", str(grid)]) == 2
    assert "reads runs of bigan-qp" in capsys.readouterr().err


def test_an_interrupted_image_run_resumes(shapes_folder, tmp_path, monkeypatch):
    out = tmp_path / "run"
    sets = ["img_steps=4", "img_every=100"]
    calls = []
    real_save = RunDir.save_checkpoint

    def save_then_stop(self, step, objects):
        real_save(self, step, objects)
        calls.append(step)
        if step == 2 and len(calls) == 1:
            raise KeyboardInterrupt  # Ctrl-C right after the checkpoint at step 2

    monkeypatch.setattr(RunDir, "save_checkpoint", save_then_stop)
    with pytest.raises(RunInterrupted):
        execute("gan-qp", budget="smoke", out=out, data=str(shapes_folder), sets=sets,
                threads=1, checkpoint_every=2)  # fmt: skip
    assert (out / "checkpoint.safetensors").is_file() and not (out / "metrics.json").exists()
    notes = []
    result = execute("gan-qp", budget="smoke", out=out, data=str(shapes_folder), sets=sets,
                     threads=1, checkpoint_every=2, say=notes.append)  # fmt: skip
    assert result["status"] == "ran" and result["metrics"]["steps"] == 4
    assert any("resuming from step 2 of 4" in n for n in notes)
    history = (out / "history.csv").read_text().splitlines()
    assert history[1].startswith("0,") and history[-1].startswith("3,")  # steps 0 … 3 logged


@pytest.mark.parametrize("slug", GANS)
def test_the_article_budget_resolves_to_the_authors_settings(slug):
    recipe = importlib.import_module(get(slug).recipe)
    cfg = resolve_config(recipe.Config, cli._budget_overrides(recipe, "article"))
    want = {"gan-qp": (128, 128, 64, 2), "bigan-qp": (128, 128, 64, 2),
            "wgan": (64, 100, 64, 5), "vi-unified": (64, 100, 64, 1),
            "energy-gan": (128, 128, 64, 1), "lipschitz": (64, 100, 64, 5),
            "f-gan": (64, 100, 128, 1)}[slug]  # fmt: skip
    assert (cfg.img_size, cfg.img_z, cfg.img_batch, cfg.img_n_d) == want
    assert cfg.img_width == cfg.img_critic_width == 0  # the author's widths
    beta1 = 0.0 if slug == "energy-gan" else 0.5  # the energy article: no momentum
    assert cfg.img_lr == 2e-4 and cfg.img_betas[0] == beta1 and not cfg.img_lr_decay
    assert set(recipe.ARTICLE) <= {f for f in recipe.Config.__dataclass_fields__}


def test_a_folder_without_classes_leaves_coverage_not_measured(shapes_folder, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, path in enumerate(sorted(shapes_folder.rglob("*.png"))[:40]):
        shutil.copy(path, flat / f"{i:03d}.png")
    sets = ["img_steps=2", "img_width=16", "img_batch=16", "img_eval=16", "img_every=2"]
    result = execute("gan-qp", budget="full", out=tmp_path / "run", data=str(flat), sets=sets,
                     threads=1)  # fmt: skip
    (claim,) = result["claims"]
    assert claim["metric"] == "coverage_confident" and claim["pass"] is None
    assert "coverage_confident" not in result["metrics"]


def test_fid_weights_score_the_samples_against_the_folder(shapes_folder, tmp_path, monkeypatch):
    import kexue.gan

    seen = {}

    def fid_kid(real, fake, weights):  # stands in for Inception (no weights offline)
        seen.update(real=tuple(real.shape), fake=tuple(fake.shape), weights=weights)
        return {"fid": 12.5, "kid": 0.25, "kid_std": 0.125}

    monkeypatch.setattr(kexue.gan, "fid_kid", fid_kid)
    result = execute("gan-qp", budget="smoke", out=tmp_path / "run", data=str(shapes_folder),
                     sets=["fid_weights=/weights/inception.pth"], threads=1)  # fmt: skip
    assert seen == {"real": (96, 32, 32, 3), "fake": (16, 3, 32, 32),
                    "weights": "/weights/inception.pth"}  # fmt: skip
    assert (result["metrics"]["fid"], result["metrics"]["kid"]) == (12.5, 0.25)


def test_each_recipe_offers_only_its_own_objectives():
    from kexue.recipes import energy_gan, f_gan, lipschitz, wgan

    for recipe, bad in ((energy_gan, "qp"), (f_gan, "wgan-sn"), (lipschitz, "f-js")):
        with pytest.raises(ValueError, match="img_loss"):
            resolve_config(recipe.Config, {}, [f"img_loss={bad}"])
    assert resolve_config(f_gan.Config, {}, ["img_loss=f-kl"]).img_loss == "f-kl"
    for recipe in (energy_gan, f_gan, lipschitz):  # one shared coverage goal
        assert recipe.DATA_CLAIMS == wgan.DATA_CLAIMS
