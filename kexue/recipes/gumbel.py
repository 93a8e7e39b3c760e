r"""Recipe: gradient estimators through sampling, and a Gumbel-Softmax VAE on binarised digits
(or, with --data, a convolutional Gumbel-Softmax VAE on the user's images).

Article: 漫谈重参数：从正态分布到Gumbel Softmax (see kexue.latent.gumbel)
Data:    a K = 10 categorical toy (logits and rewards ~ N(0, 1), numpy seed 0); a Gaussian toy
         L = E(z − 2)², z ~ N(0.5, 1); kexue.data.digits binarised at 8 (pixel ≥ 8 → 1);
         with --data FOLDER: the user's images (class subfolders optional)
Run:     kexue run gumbel                 (full, a few minutes)
         kexue run gumbel --budget quick
         kexue run gumbel --data shapes32/ --budget quick   (soft and straight-through, minutes)
         kexue run gumbel --data mnist32/ --budget article  (the author's 32 × 10 demo)
         kexue sample runs/gumbel -n 16                     (from a run on --data)
Writes:  estimators.png (bias and variance against τ), vae.png (ELBO curves),
         reconstructions.png, checkpoint.safetensors;
         with --data: reconstructions.png, samples.png, curves.png, image_model.safetensors

1. Gumbel-Max is an exact sampler (χ² goodness of fit of 200k draws; a theorem, so reported
   here and checked by a unit test, not claimed).
2. On the categorical toy: REINFORCE with and without baselines against Gumbel-Softmax at
   several τ. As the article argues, reparameterisation trades variance for bias as τ grows, and
   "usually" has lower variance: at τ = 0.1 it is noisier than REINFORCE (a counterexample).
3. On the Gaussian toy: var(reparameterised) < var(REINFORCE with baseline) < var(REINFORCE).
4. A discrete VAE (8 latents × 10 categories) trained with the soft Gumbel-Softmax and with the
   straight-through estimator, τ annealed as in the author's demo; test ELBO in nats with the
   uniform prior's constant restored.
Claims: items 2–3 (item 1 is a unit test, item 4 is reported, not judged).

On your images (`--data FOLDER`): item 4 with the convolutional categorical VAE of
kexue.latent.image_vae (`img_latents` × `img_categories`, the author's 32 × 10; DCGAN-shaped
encoder and decoder), the soft and the straight-through arm from the same initial weights on the
same batches, τ annealed by the same schedule; Gaussian pixel likelihood on dequantised pixels,
so that the held-out test ELBO (hard one-hot codes, `img_draws` draws) is a bound, reported per
estimator in nats and bits/dim beside the per-pixel categorical model. Reported, not judged
(DATA_CLAIMS is empty: the article compares no estimators on a VAE). samples.png decodes uniform
one-hot codes (rows 1–4 soft, 5–8 straight-through, the same codes); reconstructions.png shows
held-out images, then each arm's decoding of their most probable code. `kexue sample` and
`kexue reconstruct` read the straight-through arm, whose decoder was trained on one-hot codes.
Deviations (images): the author's demo maximises Σ BCE on MNIST's grey levels, not a density of
8-bit colour pixels; here one Gaussian σ (learned) on dequantised pixels. Adam instead of his
RMSprop (both at 1e-3), as on digits.
Recorded: `kexue show gumbel` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats as sps

from kexue.data import digits
from kexue.latent import (
    ConvCategoricalVAE,
    TauSchedule,
    categorical_grad_samples,
    categorical_kl_uniform,
    exact_categorical_grad,
    gumbel_max,
    gumbel_softmax,
    normal_rsample,
)
from kexue.nn import MLP
from kexue.recipes import _flows, _image_flow, _image_latent, _images, _plot
from kexue.runs import Claim, RunDir, Statement, make_accelerator, seed_everything, statements_doc

DATA = _images.IMAGE_DATA


@dataclass(frozen=True)
class Config(_image_latent.LatentImageOptions):
    seed: int = 0
    n_draws: int = 200_000  # Gumbel-Max goodness of fit
    n_grad_samples: int = 20_000  # per estimator on the toys
    taus: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0)
    n_latents: int = 8
    n_categories: int = 10
    hidden: tuple[int, ...] = (256, 256)
    vae_steps: int = 6000
    batch_size: int = 64
    lr: float = 1e-3
    tau_decay: float = 0.999  # τ_t = 0.01 + 0.99·decay^t (the author's schedule)
    # --data FOLDER: the conv categorical VAE (the img_* fields of _image_latent set the loop)
    img_latents: int = 32
    img_categories: int = 10
    img_steps: int = 3000
    img_batch: int = 64


QUICK = {"n_grad_samples": 5000, "vae_steps": 1500, "img_steps": 800}
SMOKE = {"n_draws": 2000, "n_grad_samples": 200, "vae_steps": 20,
         "img_size": 16, "img_steps": 3, "img_batch": 16, "img_eval": 16, "img_draws": 1,
         "img_width": 16, "img_latents": 4}  # fmt: skip
# The author's Gumbel-Softmax VAE (bojone/vae vae_keras_cnn_gs.py, the article's demo): 28-px
# MNIST (32 px here: the nets halve a power of 2), 32 latents × 10 categories, convolutions of 32
# and 64 channels, batch 100, RMSprop 1e-3 (Adam here), 30 epochs of 600 batches, τ_t =
# 0.01 + 0.99·0.999^t.
ARTICLE = {
    "img_size": 32,
    "img_latents": 32,
    "img_categories": 10,
    "img_width": 64,
    "img_batch": 100,
    "img_lr": 1e-3,
    "img_steps": 18_000,
    "tau_decay": 0.999,
    "img_eval": 10_000,
}

_JUDGED = ("quick", "full")
CLAIMS = (
    Claim("Gumbel-Softmax bias grows with τ (monotone over the τ grid)",
          "gs_bias_monotone", "==", 1.0, _JUDGED),
    Claim("Gumbel-Softmax variance falls with τ (monotone over the τ grid)",
          "gs_var_monotone", "==", 1.0, _JUDGED),
    Claim("at τ = 0.1 Gumbel-Softmax is noisier than REINFORCE (the 'usually' caveat)",
          "gs_var_over_sf_at_min_tau", ">", 1.0, _JUDGED),
    Claim("Gaussian toy: var reparam < var REINFORCE+baseline < var REINFORCE",
          "gaussian_variance_ordered", "==", 1.0, _JUDGED),
)  # fmt: skip
# On the user's images the discrete VAE is reported, not judged (as item 4 on digits).
DATA_CLAIMS: tuple[Claim, ...] = ()

STATEMENTS = (
    Statement(
        "argmax(o + g) with Gumbel noise g = −ln(−ln u) samples softmax(o) exactly",
        "test",
        "tests/latent/test_gumbel.py::test_gumbel_max_samples_the_softmax_exactly",
    ),
    Statement(
        "softmax((o + g)/τ) tends to the one-hot sample as τ → 0 and to uniform as τ → ∞",
        "test",
        "tests/latent/test_gumbel.py::test_gumbel_softmax_limits",
    ),
    Statement("the relaxation is biased, more so as τ grows", "claim", "gs_bias_monotone"),
    Statement(
        "… and its variance falls as τ grows (the bias–variance knob)", "claim", "gs_var_monotone"
    ),
    Statement(
        "reparameterised gradients usually have lower variance than the score function "
        "(SF) estimator; a baseline reduces SF's variance",
        "claim",
        "gaussian_variance_ordered",
    ),
    Statement(
        "'usually', not always: a counterexample exists", "claim", "gs_var_over_sf_at_min_tau"
    ),
    Statement(
        "the straight-through trick: hard one-hot forward, the relaxed gradient backward",
        "test",
        "tests/latent/test_gumbel.py::test_straight_through_is_hard_forward_soft_backward",
    ),
    Statement(
        "SF is unbiased for any f, with or without a baseline",
        "test",
        "tests/latent/test_gumbel.py::test_score_function_estimators_are_unbiased",
    ),
    Statement(
        "a discrete (Gumbel-Softmax) VAE can be trained by reparameterisation",
        "untestable",
        "the article shows no VAE result to compare with; the recipe reports the test "
        "ELBO of the soft and straight-through variants without a claim",
    ),
)


def _total_variance(est: torch.Tensor) -> float:
    return float(est.var(0).sum())


def _elbo(
    enc: torch.nn.Module,
    dec: torch.nn.Module,
    x: torch.Tensor,
    cfg: Config,
    tau: float,
    hard: bool,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example ELBO (nats) with a uniform prior; returns (elbo, reconstruction logits)."""
    logits = enc(x).view(-1, cfg.n_latents, cfg.n_categories)
    y = gumbel_softmax(logits, tau, hard=hard, generator=generator)
    x_logits = dec(y.flatten(1))
    rec = -F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(1)
    # Analytic KL(q(y|x) ‖ Uniform(K)), with the log K per latent the author's code drops
    return rec - categorical_kl_uniform(logits), x_logits


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    if cfg.data is not None:  # the user's images: a conv discrete VAE (recipes._image_latent)
        return _run_images(cfg, out)
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    metrics: dict[str, float] = {}

    # 1. Gumbel-Max goodness of fit
    rng = np.random.default_rng(0)
    logits = torch.tensor(rng.normal(size=10), dtype=torch.float64)
    rewards = torch.tensor(rng.normal(size=10), dtype=torch.float64)
    p = F.softmax(logits, -1).numpy()
    draws = gumbel_max(
        logits.expand(cfg.n_draws, -1), generator=torch.Generator().manual_seed(cfg.seed)
    )
    counts = np.bincount(draws.numpy(), minlength=10)
    metrics["gumbel_max_chi2_pvalue"] = float(sps.chisquare(counts, p * cfg.n_draws).pvalue)
    metrics["gumbel_max_max_abs_error"] = float(np.abs(counts / cfg.n_draws - p).max())

    # 2. estimators on the categorical toy
    exact = exact_categorical_grad(logits, rewards)
    toy_gen = torch.Generator().manual_seed(cfg.seed + 1)
    n = cfg.n_grad_samples
    for method in ("sf", "sf_baseline", "sf_loo"):
        est = categorical_grad_samples(logits, rewards, method, n, generator=toy_gen)
        metrics[f"{method}_variance"] = _total_variance(est)
        metrics[f"{method}_bias"] = float((est.mean(0) - exact).norm())
    gs_bias, gs_var = [], []
    for tau in cfg.taus:
        est = categorical_grad_samples(
            logits, rewards, "gumbel_softmax", n, tau=tau, generator=toy_gen
        )
        gs_bias.append(float((est.mean(0) - exact).norm()))
        gs_var.append(_total_variance(est))
        metrics[f"gs_tau{tau:g}_bias"], metrics[f"gs_tau{tau:g}_variance"] = (
            gs_bias[-1],
            gs_var[-1],
        )
    metrics["gs_bias_monotone"] = float(gs_bias == sorted(gs_bias))
    metrics["gs_var_monotone"] = float(gs_var == sorted(gs_var, reverse=True))
    metrics["gs_var_over_sf_at_min_tau"] = gs_var[0] / metrics["sf_variance"]

    # 3. the Gaussian toy: ∂/∂μ E(z − 2)² at μ = 0.5, σ = 1 (exact −3)
    mu = torch.full((n,), 0.5, dtype=torch.float64, requires_grad=True)
    z = normal_rsample(mu, torch.zeros(n, dtype=torch.float64), generator=toy_gen)
    ((z - 2) ** 2).sum().backward()
    z, f = z.detach(), ((z.detach() - 2) ** 2)
    variances = {
        "reparam": float(mu.grad.var()),
        "sf_baseline": float(((f - f.mean()) * (z - 0.5)).var()),
        "sf": float((f * (z - 0.5)).var()),
    }
    for key, value in variances.items():
        metrics[f"gaussian_{key}_variance"] = value
    metrics["gaussian_reparam_mean"] = float(mu.grad.mean())
    ordered = variances["reparam"] < variances["sf_baseline"] < variances["sf"]
    metrics["gaussian_variance_ordered"] = float(ordered)

    # 4. discrete VAE on binarised digits, soft Gumbel-Softmax vs straight-through
    train, test = digits("train"), digits("test")
    x_tr = torch.tensor(train.images.reshape(len(train), -1) >= 8, dtype=torch.float32)
    x_te = torch.tensor(test.images.reshape(len(test), -1) >= 8, dtype=torch.float32)
    code = cfg.n_latents * cfg.n_categories
    models = {}
    for arm in ("soft", "st"):
        enc, dec = MLP(64, code, hidden=cfg.hidden), MLP(code, 64, hidden=cfg.hidden)
        opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=cfg.lr)
        models[arm] = acc.prepare(enc, dec, opt)
    state = {f"{arm}_{i}": obj for arm, objs in models.items() for i, obj in enumerate(objs)}
    state["rng"] = g
    start = out.restore(state)
    schedule = TauSchedule(decay=cfg.tau_decay)
    for step in out.progress(range(start, cfg.vae_steps), "discrete vaes"):
        tau = schedule(step)
        idx = torch.randint(len(x_tr), (cfg.batch_size,), generator=g)
        row = {"tau": tau}
        for arm, (enc, dec, opt) in models.items():
            elbo, _ = _elbo(enc, dec, x_tr[idx], cfg, tau, arm == "st", g)
            loss = -elbo.mean()
            opt.zero_grad()
            acc.backward(loss)
            opt.step()
            row[f"{arm}_train_elbo"] = -loss.item()
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(cfg.vae_steps, state)

    eval_gen = torch.Generator().manual_seed(cfg.seed + 2)
    tau_end = schedule(cfg.vae_steps)
    recon = {}
    with torch.no_grad():
        for arm, (enc, dec, _) in models.items():
            # Evaluated with hard one-hot codes: the discrete model the relaxation stands for.
            elbos = torch.stack(
                [_elbo(enc, dec, x_te, cfg, tau_end, True, eval_gen)[0] for _ in range(10)]
            )
            metrics[f"{arm}_test_elbo"] = float(elbos.mean())
            recon[arm] = torch.sigmoid(_elbo(enc, dec, x_te[:10], cfg, tau_end, True, eval_gen)[1])
    metrics["final_tau"] = tau_end

    if out.is_main:
        series = [
            (
                np.array(cfg.taus),
                np.array(gs_bias),
                np.zeros(len(cfg.taus)),
                "Gumbel-Softmax bias",
            ),
            (
                np.array(cfg.taus),
                np.array(gs_var),
                np.zeros(len(cfg.taus)),
                "Gumbel-Softmax variance",
            ),
        ]
        hlines = {
            "REINFORCE variance": metrics["sf_variance"],
            "REINFORCE+baseline variance": metrics["sf_baseline_variance"],
        }
        fig = _plot.errorbars(
            series, "categorical toy: bias and variance of ∇ estimates", "τ", "", hlines
        )
        out.save_figure(fig, "estimators.png")
        fig = _plot.curves(
            out.history, ["soft_train_elbo", "st_train_elbo"], "discrete VAE: train ELBO (nats)"
        )
        out.save_figure(fig, "vae.png")
        grid = torch.cat([x_te[:10], recon["soft"], recon["st"]]).numpy() * 2 - 1
        out.save_figure(
            _plot.image_grid(grid, "test digits; soft GS; straight-through"), "reconstructions.png"
        )
    return metrics


# ----------------------------------------------------------------------------- --data FOLDER
ARMS = ("soft", "st")  # the relaxed sample and the straight-through one-hot


def _image_model(cfg: Config) -> ConvCategoricalVAE:
    c, size, _ = _image_latent.image_shape(cfg)
    return ConvCategoricalVAE(size, cfg.img_latents, cfg.img_categories, channels=c,
                              width=_image_latent.width_of(cfg, 8 * size))  # fmt: skip


def _image_build(config: dict[str, Any]) -> torch.nn.Module:
    return _image_model(_image_flow.config_of(Config, config))


def _run_images(cfg: Config, out: RunDir) -> dict[str, float]:
    """The soft and the straight-through arm on cfg.data; test ELBO per estimator."""
    schedule = TauSchedule(decay=cfg.tau_decay)

    def step_fn(name: str, model: torch.nn.Module, y: torch.Tensor, step: int,
                g: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
        tau = schedule(step)
        rec, kl = model.loss_terms(y, tau, hard=name == "st", generator=g)
        elbo = -(rec + kl).mean()
        return -elbo, {f"{name}_train_elbo": elbo.item(), "tau": tau}

    trained = _image_latent.run_arms(
        cfg, out, {arm: lambda: _image_model(cfg) for arm in ARMS}, step_fn,
        _image_latent.dequantized, kind="gumbel (soft + straight-through)",
    )  # fmt: skip
    metrics = dict(trained.metrics)
    tau_end = schedule(cfg.img_steps)
    metrics["final_tau"] = tau_end
    x_te, _ = trained.test_images(cfg.img_eval)
    y_te = (x_te.float() + 0.5) / 256
    dims = int(np.prod(trained.shape))
    bpd_cat = _image_latent.categorical_bpd(trained, x_te)
    metrics["bpd_categorical"] = float(bpd_cat.mean())
    items, recon = {}, {}
    for arm, model in trained.arms.items():
        noise = torch.Generator().manual_seed(2)  # the same Gumbel noise for both arms
        # hard one-hot codes: the discrete model the relaxation stands for (as on digits)
        items[arm] = _image_latent.elbo_bpd(
            lambda y, m=model, gen=noise: sum(m.loss_terms(y, tau_end, hard=True, generator=gen)),
            x_te, trained, cfg,
        )  # fmt: skip
        metrics[f"{arm}_bpd_test"] = float(items[arm].mean())
        nats = items[arm].mean() * dims * np.log(2) - dims * np.log(256)
        metrics[f"{arm}_test_elbo"] = float(-nats)
        recon[arm] = _image_latent.encode_all(model.reconstruct, y_te, trained.device)
        metrics[f"{arm}_recon_mse"] = float(((recon[arm] - y_te) ** 2).mean())
        metrics[f"{arm}_sigma"] = float(model.decoder.log_sigma.detach().exp())
    _flows.record_paired(metrics, "st_minus_soft_bpd", items["st"], items["soft"])
    _flows.record_paired(metrics, "st_minus_categorical_bpd", items["st"], bpd_cat)
    if out.is_main:
        _images.save_image_model(out, trained.arms["st"], "categorical-vae",
                                 shape=list(trained.shape))  # fmt: skip
        n = min(8, len(x_te))
        pick = np.linspace(0, len(x_te) - 1, n).astype(int)  # spread over the folder's classes
        rows = torch.cat([y_te[pick], recon["soft"][pick], recon["st"][pick]])
        _image_latent.save_grid(out, "reconstructions.png", rows, nrow=n)
        with torch.no_grad():  # the same prior codes for both arms
            samples = [trained.arms[arm].sample(32, generator=torch.Generator().manual_seed(
                cfg.seed)).float().cpu() for arm in ARMS]  # fmt: skip
        _image_latent.save_grid(out, "samples.png", torch.cat(samples), nrow=8)
        keys = [f"{arm}_train_elbo" for arm in ARMS]
        out.save_figure(_plot.curves(out.history, keys, "train ELBO (nats/image)"), "curves.png")
    return metrics


def sampler(run: Path) -> Callable[[int, float, torch.Generator], np.ndarray]:
    """Decoded uniform one-hot codes (n, H, W, C) in [0, 1] of a run on --data (`kexue
    sample`; the temperature has no role); the digits runs keep no image model."""
    return _image_latent.sampler(run, _image_build)


def reconstructor(run: Path) -> Callable[[np.ndarray], np.ndarray]:
    """G of the most probable code of each image, for a run on --data (`kexue reconstruct`)."""
    return _image_latent.reconstructor(run, _image_build)


__doc__ = statements_doc(__doc__, STATEMENTS)
