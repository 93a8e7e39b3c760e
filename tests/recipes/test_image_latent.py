"""The latent-variable recipes on an image folder (`--data`): vae-geometry, gumbel and infomax
each train through the shared image loop at the smoke budget and keep what they measure;
`kexue sample` (also `--interpolate`) and `kexue reconstruct` read the VAE runs back; the article
budget resolves to the author's settings; a folder without class subfolders leaves infomax's
probe claims "not measured"."""

from __future__ import annotations

import importlib
import json
import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from kexue import cli
from kexue.articles import get
from kexue.cli import execute, main
from kexue.runs import resolve_config

SLUGS = ("vae-geometry", "gumbel", "infomax")


def _recipe(slug: str):
    return importlib.import_module(get(slug).recipe)


def _held_out(metrics):
    # the fixed 10 % of the 96 images is held out, the rest trains
    assert metrics["n_train"] == 86 and metrics["n_test"] == 10 and metrics["steps"] == 3


def test_vae_geometry_measures_the_geometry_of_its_codes(smoke_runs):
    out, result = smoke_runs("vae-geometry")
    for name in ("reconstructions.png", "samples.png", "lines.png", "curves.png",
                 "image_model.safetensors"):  # fmt: skip
        assert (out / name).is_file(), name
    assert result["claims"] == []  # smoke judges nothing
    m = result["metrics"]
    _held_out(m)
    assert json.loads((out / "image_model.json").read_text()) == {
        "kind": "vae", "shape": [3, 16, 16], "z_dim": 8}  # fmt: skip
    assert m["agg_mean_abs_max"] >= 0 and 0 < m["agg_var_min"] <= m["agg_var_max"]
    assert 0 <= m["active_units"] <= 8 and m["mean_sigma"] > 0
    for key in ("coverage_vae", "coverage_ae"):
        assert 0 <= m[key] <= 1, key
    assert m["coverage_gain_lo"] <= m["coverage_gain"] <= m["coverage_gain_hi"]
    # a straight line of 21 points: each decoded step is at least 1/20 of the whole walk
    assert m["roughness_vae"] >= 1 / 20 - 1e-6 and m["roughness_ae"] >= 1 / 20 - 1e-6
    # the negative ELBO in bits/dim and in nats per image are the same number
    dims = 3 * 16 * 16
    nats = m["bpd_test"] * dims * math.log(2) - dims * math.log(256)
    assert m["test_elbo"] == pytest.approx(-nats)
    assert m["bpd_minus_categorical"] == pytest.approx(m["bpd_test"] - m["bpd_categorical"])
    assert m["test_kl"] >= 0 and 0 <= m["recon_mse_vae"] <= 1 and 0 <= m["recon_mse_ae"] <= 1
    # reconstructions.png: held-out images, the VAE's, the AE's (8 per row, 16 px, 2 px apart)
    assert Image.open(out / "reconstructions.png").size == (8 * 18 + 2, 3 * 18 + 2)


def test_gumbel_reports_the_test_elbo_per_estimator(smoke_runs):
    out, result = smoke_runs("gumbel")
    for name in ("reconstructions.png", "samples.png", "curves.png", "image_model.safetensors"):
        assert (out / name).is_file(), name
    assert result["claims"] == []  # reported, never judged (DATA_CLAIMS is empty)
    assert _recipe("gumbel").DATA_CLAIMS == ()
    m = result["metrics"]
    _held_out(m)
    for arm in ("soft", "st"):
        assert math.isfinite(m[f"{arm}_test_elbo"]) and m[f"{arm}_bpd_test"] > 0
        assert 0 <= m[f"{arm}_recon_mse"] <= 1 and m[f"{arm}_sigma"] > 0
    assert m["st_minus_soft_bpd"] == pytest.approx(m["st_bpd_test"] - m["soft_bpd_test"])
    assert 0.01 < m["final_tau"] < 1  # τ_t = 0.01 + 0.99·0.999^t after 3 steps
    assert not any(k.startswith(("gs_", "sf_", "gaussian_")) for k in m)  # no toy parts
    assert json.loads((out / "image_model.json").read_text())["kind"] == "categorical-vae"


def test_infomax_probes_its_features_against_a_random_encoder_and_pixels(smoke_runs):
    out, result = smoke_runs("infomax")
    assert (out / "retrieval.png").is_file() and (out / "curves.png").is_file()
    assert not (out / "image_model.json").exists()  # an encoder: nothing to sample
    assert result["claims"] == []
    m = result["metrics"]
    _held_out(m)
    assert m["n_classes"] == 12
    for name in ("reference", "random_encoder", "raw_pixels"):
        for probe in ("knn", "knn_cos", "linear"):
            assert 0 <= m[f"{name}_{probe}"] <= 1
    for claim in _recipe("infomax").DATA_CLAIMS:
        key = claim.metric
        assert m[f"{key}_lo"] <= m[key] <= m[f"{key}_hi"]
    base = "random_encoder" if "random" in key else "raw_pixels"
    assert m[key] == pytest.approx(m["reference_linear"] - m[f"{base}_linear"])
    assert m["reference_mu_std"] > 0
    # retrieval.png: 8 held-out queries, each with its 5 nearest training images
    assert Image.open(out / "retrieval.png").size == (6 * 18 + 2, 8 * 18 + 2)


def test_sample_interpolate_and_reconstruct_read_the_vae_runs(
    smoke_runs, shapes_folder, tmp_path, capsys
):
    out, _ = smoke_runs("vae-geometry")
    grid = tmp_path / "grid.png"
    assert main(["sample", str(out), "-n", "16", "--out", str(grid)]) == 0
    assert "16 samples of 16×16" in capsys.readouterr().out
    assert Image.open(grid).size == (8 * 18 + 2, 2 * 18 + 2)  # --nrow 8
    walk = tmp_path / "walk.png"
    assert main(["sample", str(out), "-n", "2", "--interpolate", "3", "--out", str(walk)]) == 0
    images = sorted(shapes_folder.rglob("*.png"))[:2]
    recon = tmp_path / "recon.png"
    assert main(["reconstruct", str(out), *map(str, images), "--out", str(recon)]) == 0
    assert capsys.readouterr().out.count("mse") == 2
    gumbel_out, _ = smoke_runs("gumbel")
    assert main(["sample", str(gumbel_out), "-n", "16", "--out", str(grid)]) == 0
    assert main(["reconstruct", str(gumbel_out), str(images[0]), "--out", str(recon)]) == 0


def test_the_samplers_are_seeded_images_in_the_unit_interval(smoke_runs, shapes_folder):
    for slug in ("vae-geometry", "gumbel"):
        out, _ = smoke_runs(slug)
        draw = _recipe(slug).sampler(out)
        a = draw(3, 1.0, torch.Generator().manual_seed(5))
        assert a.shape == (3, 16, 16, 3) and a.min() >= 0 and a.max() <= 1
        assert np.array_equal(a, draw(3, 1.0, torch.Generator().manual_seed(5)))  # eval mode
    out, _ = smoke_runs("vae-geometry")
    rows = _recipe("vae-geometry").interpolator(out)(2, 4, 1.0, torch.Generator().manual_seed(0))
    assert rows.shape == (8, 16, 16, 3)
    files = sorted(shapes_folder.rglob("*.png"))[:3]
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    recon = _recipe("vae-geometry").reconstructor(out)(pixels)
    assert recon.shape == pixels.shape and 0 <= recon.min() and recon.max() <= 1
    with pytest.raises(Exception, match="the run's are"):
        _recipe("vae-geometry").reconstructor(out)(pixels[:, :8, :8])


@pytest.mark.parametrize("slug", SLUGS)
def test_the_article_budget_resolves_to_the_authors_settings(slug, shapes_folder):
    recipe = _recipe(slug)
    assert set(recipe.ARTICLE) <= set(recipe.Config.__dataclass_fields__)
    cfg = resolve_config(recipe.Config, cli._budget_overrides(recipe, "article"),
                         [f"data={shapes_folder}"])  # fmt: skip
    assert cfg.data == str(shapes_folder) and cfg.img_steps >= 10_000
    if slug == "vae-geometry":  # vae_keras_celeba.py: 64 px, z 512, batch 32, Adam 1e-4, σ = 1
        got = (cfg.img_size, cfg.img_z, cfg.img_batch, cfg.img_lr, cfg.img_sigma)
        assert got == (64, 512, 32, 1e-4, 0.5) and cfg.img_width == 0  # 8 · 64 channels
        model = recipe._image_model(cfg)
        assert model.encoder.trunk.body[-3].out_channels == 512
    elif slug == "gumbel":  # vae_keras_cnn_gs.py: 32 × 10 latents, batch 100, 30 epochs
        got = (cfg.img_latents, cfg.img_categories, cfg.img_batch, cfg.img_lr, cfg.img_steps)
        assert got == (32, 10, 100, 1e-3, 18_000)
    else:  # infomax_cifar10.py: 32 px, z 256, 64-128-256 | 256-256, critics 3 × 256
        got = (cfg.img_size, cfg.img_z, cfg.img_width, cfg.img_batch, cfg.img_critic_hidden)
        assert got == (32, 256, 256, 64, (256, 256, 256)) and cfg.img_steps == 50 * 782
        enc = recipe._image_encoder(cfg)
        assert [b[0].out_channels for b in enc.local] == [64, 128, 256]


def test_a_folder_without_classes_leaves_the_probe_claims_not_measured(shapes_folder, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, path in enumerate(sorted(shapes_folder.rglob("*.png"))[:40]):
        shutil.copy(path, flat / f"{i:03d}.png")
    sets = ["img_size=16", "img_steps=2", "img_width=16", "img_z=16", "img_batch=16",
            "img_critic_hidden=16"]  # fmt: skip
    result = execute("infomax", budget="quick", out=tmp_path / "run", data=str(flat), sets=sets,
                     threads=1)  # fmt: skip
    claims = result["claims"]
    assert [c["metric"] for c in claims] == [c.metric for c in _recipe("infomax").DATA_CLAIMS]
    assert len(claims) == 2 and all(c["pass"] is None for c in claims)
    assert "n_classes" not in result["metrics"] and "reference_mu_std" in result["metrics"]
