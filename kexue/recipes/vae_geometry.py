r"""Recipe: the VAE's geometric picture against an AE of the same shape, on binarised digits
(or, with --data, a convolutional VAE and AE on the user's images).

Article: 变分自编码器（六）：从几何视角来理解VAE的尝试 (see kexue.latent.vae_geometry)
Data:    kexue.data.digits binarised at 8 (pixel ≥ 8 → 1); kexue's fixed split, 1,437 train /
         360 test; with --data FOLDER: the user's images (class subfolders optional)
Run:     kexue run vae-geometry                 (full, a few minutes)
         kexue run vae-geometry --budget quick  (about 30 s)
         kexue run vae-geometry --data shapes32/ --budget quick   (conv VAE + AE, minutes)
         kexue run vae-geometry --data celeba/ --budget article   (the author's 64-px VAE; a GPU)
         kexue sample runs/vae-geometry -n 16 [--interpolate 8]   (from a run on --data)
         kexue reconstruct runs/vae-geometry img1.png img2.png    (from a run on --data)
Writes:  latent_map.png (test μ with 2σ ellipses next to the AE's standardised codes),
         decoder_grid.png (15×15 decoded Φ⁻¹ grid, VAE and AE), lines.png (decoded straight
         walks between test codes), moments.png (aggregated-posterior variance per coordinate),
         curves.png, checkpoint.safetensors;
         with --data: reconstructions.png, samples.png, lines.png, curves.png,
         image_model.safetensors (kexue.recipes._image_latent)

Four MLPs 64-128-128-Z (Z = 2 and 8), each trained as a VAE (Σ BCE + KL) and as the AE with
the same network (z = μ, no KL). The article's pictures become numbers: (1) the aggregated
posterior fills N(0, I) (per coordinate mean_x μ and Var_x μ + E_x σ²); (2) prior coverage:
the fraction of z ~ N(0, I) inside some training point's 2σ ellipse (AE: standardised codes,
the VAE's mean σ as radius); (3) plausibility of decoded prior samples to a logistic regression
trained on real digits; (4) line roughness: the largest decoded step along a straight line
between two test codes (the AE's space has holes); (5) decoupling: mean pairwise HSIC between
coordinates of μ (Z = 8); (6) noise robustness and the test ELBO / IWAE bound (nats).
Claims: the aggregated posterior is centred with variance near 1 in every coordinate (Z = 2, 8);
at both Z the VAE beats the AE on coverage, plausibility and roughness, and at Z = 8 its
coordinates are more decoupled — each gain judged on the 95% lower bound of a paired bootstrap
over the evaluation items (probes, samples, lines, coordinate pairs). The small margins at Z = 2
are discussed in the recipe's notes in the kexue repository.

On your images (`--data FOLDER`): the Gaussian VAE of kexue.latent.image_vae (the author's
DCGAN-shaped convolutional encoder/decoder of vae_keras_celeba.py, code size `img_z`) and the AE
of the same network, trained on the same batches of dequantised pixels y = (x + u)/256 with the
Gaussian likelihood the article (‖x − D(z)‖²) and the author's colour-image code use (one pixel
σ: the author's fixed σ = 1 on [−1, 1], i.e. `img_sigma` = 0.5 on [0, 1]; `img_sigma=0` learns
it, a sharper likelihood whose weaker KL leaves the aggregated variance further from 1: max 2.87
against 1.93 at quick on the shapes set). Reported: the aggregated posterior's per-coordinate
mean and variance (DATA_CLAIMS: centred, variance in [0.7, 1.3], the thresholds of the digits
claims), active units, mean σ; prior coverage (the 2σ ellipse of the 2-D pictures becomes the
95% χ²_Z ellipsoid, radius √χ²_Z(0.95), of every training posterior; the AE: standardised codes
with the VAE's mean σ) and line roughness of decoded straight lines between held-out codes, VAE
against AE (paired intervals, reported); the held-out test ELBO in nats and as a bound in
bits/dim against the per-pixel categorical model of the training images; reconstruction MSE.
`--budget article` is the author's 64-px CelebA VAE (vae_keras_celeba.py: z 512, batch 32,
Adam 1e-4, σ = 1 on [−1, 1]).
Deviations (images): the AE's prior samples decode its codes' per-coordinate mean and standard
deviation plus standard-normal draws (its codes have no prior); see kexue.latent.image_vae for
the networks' and σ's deviations.
Recorded: `kexue show vae-geometry` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from kexue.data import digits
from kexue.latent import (
    VAE,
    ConvGaussianVAE,
    active_units,
    aggregate_moments,
    gaussian_kl,
    iwae_bound,
    line_roughness,
    prior_covered,
    quantile_grid,
    reconstruction_nll,
    standardize_codes,
)
from kexue.recipes import _flows, _image_flow, _image_latent, _images, _plot
from kexue.runs import Claim, RunDir, Statement, make_accelerator, seed_everything, statements_doc
from kexue.stats import bootstrap_interval, hsic, paired_interval, record_interval

DATA = _images.IMAGE_DATA


@dataclass(frozen=True)
class Config(_image_latent.LatentImageOptions):
    seed: int = 0
    z_dims: tuple[int, ...] = (2, 8)
    hidden: tuple[int, ...] = (128, 128)
    epochs: int = 200  # of 1,437 images at batch 100 (15 steps per epoch)
    batch_size: int = 100
    lr: float = 1e-3
    n_prior: int = 10_000  # prior samples for the coverage metric
    n_decoded: int = 1000  # prior samples decoded for plausibility
    n_pairs: int = 100  # straight lines for roughness
    n_line_points: int = 21
    n_ellipses: int = 150
    iwae_k: int = 200
    # --data FOLDER: a conv VAE and AE (the img_* fields of _image_latent set the loop; n_prior,
    # n_pairs and n_line_points the coverage and roughness measurements)
    img_z: int = 64
    img_sigma: float = 0.5  # the decoder's pixel σ on [0, 1] (the author's); 0: learned
    img_steps: int = 3000
    img_batch: int = 64


QUICK = {"epochs": 60, "n_prior": 4000, "iwae_k": 50, "img_steps": 800}
SMOKE = {"epochs": 2, "n_prior": 300, "n_decoded": 100, "n_pairs": 10, "iwae_k": 4,
         "img_size": 16, "img_steps": 3, "img_batch": 16, "img_eval": 16, "img_draws": 1,
         "img_width": 16, "img_z": 8}  # fmt: skip
# The article has no code; its image scale is the author's colour-image VAE (bojone/vae
# vae_keras_celeba.py): 64-px CelebA, z 512, 5×5 stride-2 convolutions up to 512 channels
# (img_width 0: 8 · 64), batch 32, Adam 1e-4, a Gaussian of unit variance on [−1, 1] (σ = ½ on
# [0, 1]); his loop runs 1,000 epochs of 1,000 steps, his README shows the 100-epoch samples.
ARTICLE = {
    "img_size": 64,
    "img_z": 512,
    "img_width": 0,
    "img_batch": 32,
    "img_lr": 1e-4,
    "img_sigma": 0.5,
    "img_steps": 100_000,
    "img_eval": 10_000,
}

_F = ("full",)
CLAIMS = (
    Claim("Z=2: aggregated posterior centred, max_i |mean_x μ_i| ≤ 0.3",
          "z2_agg_mean_abs_max", "<=", 0.3, ("quick", "full")),
    Claim("Z=2: aggregated variance Var_x μ + E σ² ≥ 0.7 in every coordinate",
          "z2_agg_var_min", ">=", 0.7, ("quick", "full")),
    Claim("Z=2: aggregated variance Var_x μ + E σ² ≤ 1.3 in every coordinate",
          "z2_agg_var_max", "<=", 1.3, ("quick", "full")),
    Claim("Z=8: aggregated posterior centred, max_i |mean_x μ_i| ≤ 0.3",
          "z8_agg_mean_abs_max", "<=", 0.3, ("quick", "full")),
    Claim("Z=8: aggregated variance ≥ 0.7 in every coordinate",
          "z8_agg_var_min", ">=", 0.7, ("quick", "full")),
    Claim("Z=8: aggregated variance ≤ 1.3 in every coordinate",
          "z8_agg_var_max", "<=", 1.3, ("quick", "full")),
    *(
        Claim(f"Z={z}: {what}, {sign} > 0 (95% lower bound, {over})",
              f"z{z}_{key}", ">", 0.0, ("quick", "full"), interval=True)
        for z in (2, 8)
        for what, sign, key, over in (
            ("the prior N(0, I) is covered by the posteriors' 2σ ellipses", "VAE − AE",
             "coverage_gain", "paired over prior probes"),
            ("decoded prior samples look like digits", "VAE − AE", "plausibility_gain",
             "paired over samples"),
            ("decoded straight lines between codes are smooth (no holes)", "AE − VAE",
             "roughness_gain", "median over lines"),
        )
    ),
    Claim("Z=8: VAE coordinates are more decoupled, mean pairwise HSIC AE − VAE > 0 "
          "(95% lower bound, paired over coordinate pairs)",
          "z8_hsic_gain", ">", 0.0, ("quick", "full"), interval=True),
)  # fmt: skip

DATA_CLAIMS = (
    Claim("on the user's images (Z = img_z): aggregated posterior centred, "
          "max_i |mean_x μ_i| ≤ 0.3", "agg_mean_abs_max", "<=", 0.3, ("quick", "full", "article")),
    Claim("on the user's images: aggregated variance Var_x μ + E σ² ≥ 0.7 in every coordinate",
          "agg_var_min", ">=", 0.7, ("quick", "full", "article")),
    Claim("on the user's images: aggregated variance Var_x μ + E σ² ≤ 1.3 in every coordinate",
          "agg_var_max", "<=", 1.3, ("quick", "full", "article")),
)  # fmt: skip

STATEMENTS = (
    Statement(
        "the aggregated posterior E_x p(z|x) is the standard normal prior: centred",
        "claim",
        "z2_agg_mean_abs_max",
    ),
    Statement(
        "… with unit variance in every coordinate (Var_x μ + E_x σ² = 1)",
        "claim",
        "z2_agg_var_min",
    ),
    Statement("… also at Z = 8", "claim", "z8_agg_var_max"),
    Statement(
        "the mixture's moments are Var_x μ + E_x σ² (law of total variance) and equal "
        "the prior's when p(z|x) is the exact posterior",
        "test",
        "tests/latent/test_vae_geometry.py::test_prior_moments_for_the_ideal_posterior",
    ),
    Statement(
        "the VAE's ellipses cover the prior space, an AE's points leave holes",
        "claim",
        "z2_coverage_gain",
    ),
    Statement(
        "… so samples of the prior decode to plausible digits", "claim", "z2_plausibility_gain"
    ),
    Statement("… and straight lines between codes decode smoothly", "claim", "z2_roughness_gain"),
    Statement("the same at a larger latent (Z = 8)", "claim", "z8_coverage_gain"),
    Statement("prior samples at Z = 8 decode plausibly", "claim", "z8_plausibility_gain"),
    Statement("straight lines at Z = 8 decode smoothly", "claim", "z8_roughness_gain"),
    Statement(
        "the KL term pushes the coordinates of z towards independence (decoupling)",
        "claim",
        "z8_hsic_gain",
    ),
    Statement("Z=8 aggregated posterior centred", "claim", "z8_agg_mean_abs_max"),
    Statement("Z=8 aggregated variance at least 0.7", "claim", "z8_agg_var_min"),
    Statement("Z=2 aggregated variance at most 1.3", "claim", "z2_agg_var_max"),
)


def _binarise(split: str) -> tuple[torch.Tensor, np.ndarray]:
    data = digits(split)
    x = torch.tensor(data.images.reshape(len(data), -1) >= 8, dtype=torch.float32)
    return x, data.labels


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    if cfg.data is not None:  # the user's images: a conv VAE and AE (kexue.recipes._image_latent)
        return _run_images(cfg, out)
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    x_tr, y_tr = _binarise("train")
    x_te, y_te = _binarise("test")

    models: dict[str, tuple] = {}
    for z_dim in cfg.z_dims:
        for arm in ("vae", "ae"):
            model = VAE(64, z_dim, hidden=cfg.hidden, deterministic=arm == "ae")
            opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
            models[f"{arm}{z_dim}"] = acc.prepare(model, opt)
    state = {f"{name}_{i}": obj for name, objs in models.items() for i, obj in enumerate(objs)}
    state["rng"] = g
    start = out.restore(state)

    steps = cfg.epochs * -(-len(x_tr) // cfg.batch_size)
    for step in out.progress(range(start, steps), "vaes + aes"):
        idx = torch.randint(len(x_tr), (cfg.batch_size,), generator=g)
        row = {}
        for name, (model, opt) in models.items():
            rec, kl = model.loss_terms(x_tr[idx], generator=g)
            loss = (rec + kl).mean()  # −ELBO (the AE's kl is 0)
            opt.zero_grad()
            acc.backward(loss)
            opt.step()
            row[f"{name}_loss"] = loss.item()
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(steps, state)

    # ---- evaluation (all on μ, except coverage and robustness which use the radii)
    metrics: dict[str, float] = {}
    eval_gen = torch.Generator().manual_seed(cfg.seed + 1)
    clf = LogisticRegression(max_iter=2000).fit(x_tr.numpy(), y_tr)
    pairs = torch.randint(len(x_te), (cfg.n_pairs, 2), generator=eval_gen)
    figures: dict[str, dict] = {}
    for z_dim in cfg.z_dims:
        vae = acc.unwrap_model(models[f"vae{z_dim}"][0]).eval()
        ae = acc.unwrap_model(models[f"ae{z_dim}"][0]).eval()
        p = f"z{z_dim}_"
        with torch.no_grad():
            mu_tr, logvar_tr = vae.encode(x_tr)
            mu_te, logvar_te = vae.encode(x_te)
            c_tr, c_te = ae.encode(x_tr)[0], ae.encode(x_te)[0]
            c_mean, c_std = c_tr.mean(0), c_tr.std(0, unbiased=False)
            sigma_tr = (0.5 * logvar_tr).exp()
            sigma_bar = float(sigma_tr.mean())

            mean, var = aggregate_moments(mu_tr, logvar_tr)
            metrics[p + "agg_mean_abs_max"] = float(mean.abs().max())
            metrics[p + "agg_var_min"] = float(var.min())
            metrics[p + "agg_var_max"] = float(var.max())
            metrics[p + "mean_sigma"] = sigma_bar
            metrics[p + "active_units"] = float(active_units(mu_tr))
            kl_dims = (0.5 * (mu_tr**2 + sigma_tr**2 - logvar_tr - 1)).mean(0)
            metrics[p + "min_kl_per_dim"] = float(kl_dims.min())

            z_prior = torch.randn(cfg.n_prior, z_dim, generator=eval_gen)
            # gains are paired over the same probes / samples / lines, with bootstrap intervals
            in_vae = prior_covered(z_prior, mu_tr, sigma_tr).double().numpy()
            in_ae = prior_covered(z_prior, (c_tr - c_mean) / c_std, torch.tensor(sigma_bar))
            in_ae = in_ae.double().numpy()
            metrics[p + "coverage_vae"] = float(in_vae.mean())
            metrics[p + "coverage_ae"] = float(in_ae.mean())
            record_interval(
                metrics, p + "coverage_gain", float((in_vae - in_ae).mean()),
                paired_interval(in_vae, in_ae, seed=cfg.seed),
            )  # fmt: skip

            z_dec = torch.randn(cfg.n_decoded, z_dim, generator=eval_gen)
            x_vae = torch.sigmoid(vae.decode(z_dec))
            x_ae = torch.sigmoid(ae.decode(c_mean + c_std * z_dec))
            plaus_vae = clf.predict_proba(x_vae.numpy()).max(1)
            plaus_ae = clf.predict_proba(x_ae.numpy()).max(1)
            metrics[p + "plausibility_vae"] = float(plaus_vae.mean())
            metrics[p + "plausibility_ae"] = float(plaus_ae.mean())
            record_interval(
                metrics, p + "plausibility_gain", float((plaus_vae - plaus_ae).mean()),
                paired_interval(plaus_vae, plaus_ae, seed=cfg.seed),
            )  # fmt: skip
            metrics[p + "plausibility_real_test"] = float(
                clf.predict_proba(x_te.numpy()).max(1).mean()
            )

            def decode_vae(z: torch.Tensor, m: VAE = vae) -> torch.Tensor:
                return torch.sigmoid(m.decode(z))

            def decode_ae(z: torch.Tensor, m: VAE = ae) -> torch.Tensor:
                return torch.sigmoid(m.decode(z))

            a, b = pairs[:, 0], pairs[:, 1]
            r_vae = line_roughness(decode_vae, mu_te[a], mu_te[b], cfg.n_line_points)
            r_ae = line_roughness(decode_ae, c_te[a], c_te[b], cfg.n_line_points)
            metrics[p + "roughness_vae"] = float(r_vae.nanmedian())
            metrics[p + "roughness_ae"] = float(r_ae.nanmedian())
            # median over lines of the paired difference (a line may be nan: zero length)
            rough_diff = (r_ae - r_vae).numpy()
            rough_diff = rough_diff[np.isfinite(rough_diff)]
            record_interval(
                metrics, p + "roughness_gain", float(np.median(rough_diff)),
                bootstrap_interval(rough_diff, np.median, seed=cfg.seed),
            )  # fmt: skip

            # noise robustness: BCE of D(μ + δ·u), ‖u‖ = 1, δ in units of the VAE's mean σ
            u = torch.randn(len(x_te), z_dim, generator=eval_gen)
            u = u / u.norm(dim=1, keepdim=True)
            for k in (0.0, 0.5, 1.0, 2.0):
                d = k * sigma_bar
                rec_v = reconstruction_nll(x_te, vae.decode(mu_te + d * u)).mean()
                rec_a = reconstruction_nll(x_te, ae.decode(c_te + d * c_std * u)).mean()
                metrics[f"{p}rec_vae_delta{k:g}"] = float(rec_v)
                metrics[f"{p}rec_ae_delta{k:g}"] = float(rec_a)

            rec, kl = vae.loss_terms(x_te, generator=eval_gen)
            metrics[p + "test_elbo"] = float(-(rec + kl).mean())
            metrics[p + "test_kl"] = float(gaussian_kl(mu_te, logvar_te).mean())
            metrics[p + "test_iwae"] = float(
                iwae_bound(vae, x_te, cfg.iwae_k, generator=eval_gen).mean()
            )
            metrics[p + "test_rec_ae"] = float(reconstruction_nll(x_te, ae.decode(c_te)).mean())

            if z_dim >= 2:
                # decoupling: mean pairwise HSIC between coordinates of the codes (test set)
                per_pair = {}
                for name, codes in (("vae", mu_te), ("ae", c_te)):
                    per_pair[name] = np.array([
                        hsic(codes[:, i : i + 1].numpy(), codes[:, j : j + 1].numpy())
                        for i, j in itertools.combinations(range(z_dim), 2)
                    ])  # fmt: skip
                    metrics[f"{p}hsic_{name}"] = float(per_pair[name].mean())
                if len(per_pair["vae"]) >= 2:  # paired over coordinate pairs
                    record_interval(
                        metrics, p + "hsic_gain", metrics[p + "hsic_ae"] - metrics[p + "hsic_vae"],
                        paired_interval(per_pair["ae"], per_pair["vae"], seed=cfg.seed),
                    )  # fmt: skip
                else:
                    metrics[p + "hsic_gain"] = metrics[p + "hsic_ae"] - metrics[p + "hsic_vae"]
        figures[p] = {
            "vae": vae, "ae": ae, "mu_te": mu_te, "sigma_te": (0.5 * logvar_te).exp(),
            "c_te": (c_te - c_mean) / c_std, "c_mean": c_mean, "c_std": c_std, "var": var,
        }  # fmt: skip

    if out.is_main:
        n = cfg.n_ellipses
        f = figures[f"z{cfg.z_dims[0]}_"]
        if cfg.z_dims[0] == 2:
            fig = _plot.latent_maps(
                [
                    (f["mu_te"].numpy(), y_te, 2 * f["sigma_te"][:n].numpy(),
                     f"VAE μ(x), 2σ ellipses for {n} test points"),
                    (f["c_te"].numpy(), y_te, None, "AE codes (standardised)"),
                ],
                "test codes coloured by digit",
            )  # fmt: skip
            out.save_figure(fig, "latent_map.png")
            grid = quantile_grid(15)
            with torch.no_grad():
                g_vae = torch.sigmoid(f["vae"].decode(grid))
                g_ae = torch.sigmoid(f["ae"].decode(f["c_mean"] + f["c_std"] * grid))
            both = torch.cat([g_vae.view(15, 15, 64), g_ae.view(15, 15, 64)], 1).reshape(-1, 64)
            title = "decoded Φ⁻¹ grid: VAE (left) | AE, standardised (right)"
            fig = _plot.image_grid(both.numpy(), title, 30, vmin=0.0)
            out.save_figure(fig, "decoder_grid.png")
        rows = []
        pts = torch.linspace(0, 1, 11)[:, None]
        with torch.no_grad():
            for i in range(min(4, cfg.n_pairs)):
                a, b = int(pairs[i, 0]), int(pairs[i, 1])
                for name, codes, key in (("VAE", f["mu_te"], "vae"), ("AE", f["c_te"], "ae")):
                    line = (1 - pts) * codes[a] + pts * codes[b]
                    if key == "ae":
                        line = f["c_mean"] + f["c_std"] * line
                    imgs = torch.sigmoid(f[key].decode(line)).view(-1, 8, 8).numpy()
                    rows.append((imgs, f"{name} {i}"))
        out.save_figure(
            _plot.image_rows(rows, "decoded straight lines between test codes"), "lines.png"
        )
        labels = [f"z{z}" for z in cfg.z_dims]
        groups = {
            f"dim {i}": [float(figures[f"z{z}_"]["var"][i]) if i < z else 0.0 for z in cfg.z_dims]
            for i in range(max(cfg.z_dims))
        }
        fig = _plot.bars(groups, labels, "aggregated posterior variance Var μ + E σ² (target 1)")
        out.save_figure(fig, "moments.png")
        keys = [f"{arm}{z}_loss" for z in cfg.z_dims for arm in ("vae", "ae")]
        out.save_figure(_plot.curves(out.history, keys, "training loss (nats)"), "curves.png")
    return metrics


# ----------------------------------------------------------------------------- --data FOLDER
def _image_model(cfg: Config, *, deterministic: bool = False) -> ConvGaussianVAE:
    """The conv VAE (or the AE of the same network) for the run's images."""
    c, size, _ = _image_latent.image_shape(cfg)
    return ConvGaussianVAE(
        size,
        cfg.img_z,
        channels=c,
        width=_image_latent.width_of(cfg, 8 * size),  # the author's: 8 · img_size (512 at 64)
        sigma=cfg.img_sigma or None,
        deterministic=deterministic,
    )


def _image_build(config: dict[str, Any]) -> torch.nn.Module:
    return _image_model(_image_flow.config_of(Config, config))


def _image_step(
    name: str, model: torch.nn.Module, y: torch.Tensor, step: int, g: torch.Generator
) -> tuple[torch.Tensor, dict[str, float]]:
    rec, kl = model.loss_terms(y, generator=g)
    loss = (rec + kl).mean()  # −ELBO in nats per image (the AE's kl is 0)
    return loss, {f"{name}_loss": loss.item()}


def _run_images(cfg: Config, out: RunDir) -> dict[str, float]:
    """The VAE and the AE on cfg.data; the article's geometry measured on their codes."""
    from scipy.stats import chi2

    trained = _image_latent.run_arms(
        cfg, out,
        {"vae": lambda: _image_model(cfg), "ae": lambda: _image_model(cfg, deterministic=True)},
        _image_step, _image_latent.dequantized, kind="vae-geometry (VAE + AE)",
    )  # fmt: skip
    vae, ae, dev = trained.arms["vae"], trained.arms["ae"], trained.device
    metrics = dict(trained.metrics)
    x_tr, _ = trained.train_images(cfg.seed)
    x_te, _ = trained.test_images(cfg.img_eval)
    y_tr, y_te = (x_tr.float() + 0.5) / 256, (x_te.float() + 0.5) / 256  # the bins' centres
    enc = _image_latent.encode_all
    mu_tr, logvar_tr = enc(vae.encode, y_tr, dev)
    mu_te, logvar_te = enc(vae.encode, y_te, dev)
    c_tr = enc(lambda y: ae.encode(y)[0], y_tr, dev)
    c_te = enc(lambda y: ae.encode(y)[0], y_te, dev)
    c_mean, c_std = c_tr.mean(0), c_tr.std(0, unbiased=False)
    sigma_tr = (0.5 * logvar_tr).exp()
    sigma_bar = float(sigma_tr.mean())

    # (1) the aggregated posterior E_x N(μ(x), σ²(x)) against N(0, I), per coordinate
    mean, var = aggregate_moments(mu_tr, logvar_tr)
    metrics["agg_mean_abs_max"] = float(mean.abs().max())
    metrics["agg_var_min"] = float(var.min())
    metrics["agg_var_max"] = float(var.max())
    metrics["agg_var_median"] = float(var.median())
    metrics["mean_sigma"] = sigma_bar
    metrics["active_units"] = float(active_units(mu_tr))
    # (2) prior coverage: z ~ N(0, I) inside some training posterior's 95% ellipsoid
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    radius = float(np.sqrt(chi2.ppf(0.95, cfg.img_z)))
    z_prior = torch.randn(cfg.n_prior, cfg.img_z, generator=gen)
    in_vae = prior_covered(z_prior, mu_tr, sigma_tr, radius=radius, chunk=64).double().numpy()
    in_ae = prior_covered(z_prior, standardize_codes(c_tr), torch.tensor(sigma_bar),
                          radius=radius, chunk=64).double().numpy()  # fmt: skip
    metrics["coverage_radius"] = radius
    metrics["coverage_vae"], metrics["coverage_ae"] = float(in_vae.mean()), float(in_ae.mean())
    record_interval(metrics, "coverage_gain", float((in_vae - in_ae).mean()),
                    paired_interval(in_vae, in_ae, seed=cfg.seed))  # fmt: skip

    # (3) roughness of decoded straight lines between held-out codes (the AE's space has holes)
    def decoder(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda z: enc(model.decode, z, dev).flatten(1)

    pairs = torch.randint(len(x_te), (cfg.n_pairs, 2), generator=gen)
    a, b = pairs[:, 0], pairs[:, 1]
    r_vae = line_roughness(decoder(vae), mu_te[a], mu_te[b], cfg.n_line_points)
    r_ae = line_roughness(decoder(ae), c_te[a], c_te[b], cfg.n_line_points)
    metrics["roughness_vae"] = float(r_vae.nanmedian())
    metrics["roughness_ae"] = float(r_ae.nanmedian())
    diff = (r_ae - r_vae).numpy()
    diff = diff[np.isfinite(diff)]  # a pair of one image twice has no line
    if len(diff):
        record_interval(metrics, "roughness_gain", float(np.median(diff)),
                        bootstrap_interval(diff, np.median, seed=cfg.seed))  # fmt: skip

    # (4) the held-out ELBO (nats and bits/dim) and reconstructions
    noise = torch.Generator().manual_seed(2)
    bpd = _image_latent.elbo_bpd(
        lambda y: sum(vae.loss_terms(y, generator=noise)), x_te, trained, cfg
    )
    dims = int(np.prod(trained.shape))
    metrics["bpd_test"] = float(bpd.mean())
    metrics["test_elbo"] = float(-(bpd.mean() * dims * np.log(2) - dims * np.log(256)))
    bpd_cat = _image_latent.categorical_bpd(trained, x_te)
    metrics["bpd_categorical"] = float(bpd_cat.mean())
    _flows.record_paired(metrics, "bpd_minus_categorical", bpd, bpd_cat)
    metrics["test_kl"] = float(gaussian_kl(mu_te, logvar_te).mean())
    rec_vae, rec_ae = enc(vae.decode, mu_te, dev), enc(ae.decode, c_te, dev)
    metrics["recon_mse_vae"] = float(((rec_vae - y_te) ** 2).mean())
    metrics["recon_mse_ae"] = float(((rec_ae - y_te) ** 2).mean())
    metrics["sigma_vae"] = float(vae.decoder.log_sigma.detach().exp())
    metrics["sigma_ae"] = float(ae.decoder.log_sigma.detach().exp())

    if out.is_main:
        _images.save_image_model(out, vae, "vae", shape=list(trained.shape), z_dim=cfg.img_z)
        n = min(8, len(x_te))
        pick = np.linspace(0, len(x_te) - 1, n).astype(int)  # spread over the folder's classes
        rows = [y_te[pick], rec_vae[pick], rec_ae[pick]]  # held-out images, VAE G(μ), AE G(E(x))
        _image_latent.save_grid(out, "reconstructions.png", torch.cat(rows), nrow=n)
        z = torch.randn(32, cfg.img_z, generator=torch.Generator().manual_seed(cfg.seed))
        samples = [enc(vae.decode, z, dev), enc(ae.decode, c_mean + c_std * z, dev)]
        _image_latent.save_grid(out, "samples.png", torch.cat(samples), nrow=8)  # VAE | AE
        steps = torch.linspace(0, 1, 11)[:, None]
        walks = []
        for i in range(min(4, cfg.n_pairs)):
            for codes, model in ((mu_te, vae), (c_te, ae)):  # a VAE row, then the AE's
                line = (1 - steps) * codes[int(a[i])] + steps * codes[int(b[i])]
                walks.append(enc(model.decode, line, dev))
        _image_latent.save_grid(out, "lines.png", torch.cat(walks), nrow=11)
        fig = _plot.curves(out.history, ["vae_loss", "ae_loss"], "training loss (nats/image)")
        out.save_figure(fig, "curves.png")
    return metrics


def sampler(run: Path) -> Callable[[int, float, torch.Generator], np.ndarray]:
    """Decoded prior draws G(T·z) (n, H, W, C) in [0, 1] of a run on --data (`kexue sample`);
    the digits runs keep no image model and are refused."""
    return _image_latent.sampler(run, _image_build)


def interpolator(run: Path) -> Callable[[int, int, float, torch.Generator], np.ndarray]:
    """Rows of decoded codes between two prior draws (`kexue sample --interpolate`)."""
    return _image_latent.interpolator(run, _image_build)


def reconstructor(run: Path) -> Callable[[np.ndarray], np.ndarray]:
    """G(μ(x)) of a run on --data (`kexue reconstruct`)."""
    return _image_latent.reconstructor(run, _image_build)


__doc__ = statements_doc(__doc__, STATEMENTS)
