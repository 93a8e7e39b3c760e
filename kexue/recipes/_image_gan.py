r"""The one training loop of the image GANs on the user's folder (`kexue run SLUG --data FOLDER`
for gan-qp, bigan-qp, wgan, vi-unified, energy-gan, lipschitz and f-gan), and what
`kexue sample` / `reconstruct` read back.

Articles: 不用L约束又不会梯度消失的GAN，了解一下？ (GAN-QP), 2018-11-20,
          https://kexue.fm/archives/6163; BiGAN-QP：简单清晰的编码&生成模型, 2018-12-10,
          https://kexue.fm/archives/6214; 从Wasserstein距离、对偶理论到WGAN, 2019-01-20,
          https://kexue.fm/archives/6280 (with 深度学习中的Lipschitz约束, 2018-10-07,
          https://kexue.fm/archives/6051, for GP and SN); 用变分推断统一理解生成模型, 2018-07-18,
          https://kexue.fm/archives/5716 (the anchor regulariser); 能量视角下的GAN模型（一）,
          2019-01-30, https://kexue.fm/archives/6316 (the energy GAN); f-GAN简介：GAN模型的
          生产车间, 2018-09-29, https://kexue.fm/archives/6016 (the f-GANs). The math lives in
          kexue.gan.

One step = `img_n_d` critic steps, each on a fresh real batch and fresh codes z ~ N(0, I) with
the generator frozen, then `g_steps` generator steps on one batch of codes (the objectives of
kexue.gan, chosen by `img_loss`; T is the critic, run on the real and the fake batch separately
so that a BatchNorm critic normalises each on its own, as the author's Keras models do):

    qp        L_T = mean[−Δ + Δ²/(2λ d(x_r, x_f))], Δ = T(x_r) − T(x_f);   L_G = mean Δ
    wgan-gp   L_T = E T(x_f) − E T(x_r) + λ E(‖∇T(x̂)‖ − 1)²;             L_G = −E T(x_f)
    wgan-sn   the same without the penalty, every critic weight spectrally normalised
    sgan      L_T = E softplus(−T(x_r)) + E softplus(T(x_f));  L_G = E softplus(−T(x_f))
    lsgan, hinge                                                (kexue.gan.losses)
    energy    L_U = E U(x_r) − E U(x_f) + λ E_p‖∇_x U(x_r)‖²;             L_G = E U(x_f)
              (T = U, the energy: low on real images; the penalty zero-centred at real points)
    f-<f>     L_T = −[E g(v_r) − E f*(g(v_f))];  L_G = −E g(v_f)  (v = T(x); g, f* the table's
              activation and conjugate of f in kexue.gan.f_gan; the generator's "alt" loss)
    anchor    L_G += λ_a mean (G(z) − G°(z))², G° the generator before the round, the same z
              held for the round's `g_steps` steps (the VI article's KL(q‖q°) surrogate)
    bigan     T(x, z) on pairs (x, E(x)) and (G(z), z), d = mean|x_r − x_f| + mean|E(x) − z|;
              L_{G,E} = mean Δ + β₁ mean(z − E(sg G(z)))² + β₂ mean(x − G(sg E(x)))²

`img_norm` "auto" is each loss's source: BatchNorm for GAN-QP (the author's critic) and for
SGAN in the VI recipe's DCGAN and for the f-GANs (DCGAN's critic, which f-GAN's images used),
none for WGAN-GP and the energy GAN (their penalties are per sample), spectral normalisation
for WGAN-SN and the GAN-QP article's SGAN-SN / LSGAN-SN / hinge arms. Adam(img_lr,
img_betas) for both players, bf16 autocast with `--set amp=bf16`, checkpoint and resume through
the run folder; samples.png (a fixed grid of codes, in eval mode) and curves.png are redrawn
every `img_every` steps.

At the end, in eval mode (BatchNorm's running statistics): `img_eval` samples; on a folder with
class subfolders a small CNN (`kexue.gan.ImageClassifier`, its training images randomly blurred
by up to `img_clf_blur` px so that its confidence reads the class, not the pixel texture)
trained on 90 % of the folder's images (accuracy, and the confident fraction that is the
reference for the samples', on the other 10 %) labels them (`kexue.gan.image_label_stats`:
class coverage, confident samples, coverage by confident samples), and a Fréchet distance of
its features against held-out real images (beside the floor of real against real at the same
n); FID/KID with Inception weights when `fid_weights` is set. `process_cpu_s` is the whole
process's CPU time (imports, decoding, training, evaluation). The generator (and the encoder)
are kept for `kexue sample` (`sampler`, `interpolator`) and `kexue reconstruct`
(`reconstructor`).

Deviations: the networks are the author's at `img_width` channels (0: his 8·img_size); the
anchor's forward pass runs in train mode, like the loss's, so BatchNorm's running statistics
see one more batch per round.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from kexue.errors import InputError
from kexue.gan import (
    DIVERGENCES,
    DCGANCritic,
    DCGANGenerator,
    QPCritic,
    QPEncoder,
    QPGenerator,
    QPJointCritic,
    anchor_regularizer,
    bigan_qp_d_loss,
    bigan_qp_g_loss,
    bigan_recon_losses,
    energy_critic_loss,
    energy_g_loss,
    f_d_loss,
    f_g_loss,
    fit_image_classifier,
    frechet_distance,
    gan_qp_d_loss,
    gan_qp_g_loss,
    gradient_penalty,
    hinge_d_loss,
    hinge_g_loss,
    image_label_stats,
    lsgan_d_loss,
    lsgan_g_loss,
    qp_layout,
    sgan_d_loss,
    sgan_g_loss,
    wgan_d_loss,
    wgan_g_loss,
)
from kexue.recipes import _images, _plot
from kexue.runs import Claim, RunDir, param

__all__ = [
    "COVERAGE_CLAIM",
    "DCGAN_ARTICLE",
    "DCGANImageOptions",
    "F_LOSSES",
    "LOSSES",
    "GanImageOptions",
    "interpolator",
    "reconstructor",
    "run_image_gan",
    "sampler",
]

# The objectives `_losses` knows. GanImageOptions offers the first six (GAN-QP's comparison
# arms); energy-gan and f-gan list theirs in their own Config.
F_LOSSES = tuple(f"f-{d.name}" for d in DIVERGENCES)
LOSSES = ("qp", "wgan-gp", "wgan-sn", "sgan", "lsgan", "hinge", "energy", *F_LOSSES)
_AUTO_NORM = {"qp": "batch", "wgan-gp": "none", "wgan-sn": "spectral", "sgan": "spectral",
              "lsgan": "spectral", "hinge": "spectral", "energy": "none",
              **dict.fromkeys(F_LOSSES, "batch")}  # fmt: skip
# Critics trained through a gradient penalty: a double backward, which compiled graphs do not give
_PENALISED = ("wgan-gp", "energy")

# The goal every image GAN recipe sets itself on a folder with class subfolders (DATA_CLAIMS).
COVERAGE_CLAIM = Claim(
    "on a folder with class subfolders, ≥ 80% of the classes are covered by confident samples "
    "(each class gets ≥ n/(10K) of n samples labelled it at softmax ≥ 0.9 by a classifier "
    "trained on the same folder)", "coverage_confident", ">=", 0.8, ("full", "article"),
    kind="goal",
)  # fmt: skip


@dataclass(frozen=True)
class GanImageOptions(_images.ImageOptions):
    """The image GANs' Config fields (with `--data`); each recipe sets its own defaults."""

    seed: int = 0
    img_loss: str = param("qp", choices=LOSSES[:6])
    img_net: str = param("qp", choices=("qp", "dcgan"))  # the author's nets or DCGAN's init/z
    img_norm: str = param("auto", choices=("auto", "batch", "none", "layer", "spectral"))
    img_width: int = 0  # the generator's first / encoder's widest channels; 0: 8·img_size
    img_critic_width: int = 0  # the critic's widest channels; 0: img_width (the author's)
    img_z: int = 128
    img_lr: float = 2e-4
    img_betas: tuple[float, float] = (0.5, 0.999)
    img_lr_decay: bool = False  # both learning rates decayed linearly to 0 over img_steps
    img_n_d: int = 2  # critic steps per step
    img_lam: float = 10.0  # GAN-QP's λ, or WGAN-GP's / the energy GAN's penalty weight
    img_qp_norm: str = param("l1", choices=("l1", "l2"))  # the author's per-pixel mean / RMS
    img_every: int = 500  # steps between redrawn samples.png and curves.png
    img_clf_epochs: int = 3  # the folder classifier's epochs
    img_clf_blur: float = 1.0  # its training images blurred by σ ~ U(0, this) px


# The base of the DCGAN recipes' article budgets (wgan, lipschitz, f-gan, energy-gan,
# vi-unified): DCGAN at its published width (5×5 convolutions, 64-128-256-512 critic and
# 512-…-64 generator at 64 px: widths 0 = 8·img_size), z 100, Adam(2e-4, 0.5) (Keras's β₂ 0.999),
# 100k generator steps (the authors' loops have no end), 10,000 samples evaluated.
DCGAN_ARTICLE: dict[str, Any] = {
    "img_size": 64, "img_net": "dcgan", "img_width": 0, "img_critic_width": 0, "img_z": 100,
    "img_batch": 64, "img_lr": 2e-4, "img_betas": (0.5, 0.999), "img_n_d": 1,
    "img_steps": 100_000, "img_every": 100, "img_eval": 10_000,
}  # fmt: skip


@dataclass(frozen=True)
class DCGANImageOptions(GanImageOptions):
    """DCGAN's nets (N(0, 0.02) weights, z of 100) at a CPU width, a critic twice the
    generator's width (gan-qp's finding), batch 32, Adam 2e-4: the defaults of the recipes whose
    image runs use DCGAN (wgan, lipschitz, energy-gan, f-gan); each sets its objective."""

    img_net: str = param("dcgan", choices=("dcgan", "qp"))
    img_z: int = 100
    img_width: int = 64
    img_critic_width: int = 128
    img_batch: int = 32
    img_lr: float = 2e-4


def _norm(cfg: GanImageOptions) -> str:
    return _AUTO_NORM[cfg.img_loss] if cfg.img_norm == "auto" else cfg.img_norm


def _meta(cfg: GanImageOptions, channels: int, bigan: bool) -> dict[str, Any]:
    """What rebuilds the trained networks (kept in image_model.json)."""
    _, width = qp_layout(cfg.img_size, cfg.img_width or None)
    return {"net": cfg.img_net, "img_size": cfg.img_size, "channels": channels,
            "z_dim": cfg.img_z, "width": width, "bigan": bigan}  # fmt: skip


def _generator(meta: dict[str, Any]) -> nn.Module:
    kind = DCGANGenerator if meta["net"] == "dcgan" else QPGenerator
    return kind(meta["img_size"], meta["z_dim"], channels=meta["channels"], width=meta["width"])


def _encoder(meta: dict[str, Any]) -> nn.Module:
    return QPEncoder(meta["img_size"], meta["z_dim"], channels=meta["channels"],
                     width=meta["width"])  # fmt: skip


def _critic(meta: dict[str, Any], norm: str, width: int) -> nn.Module:
    size, ch = meta["img_size"], meta["channels"]
    if meta["bigan"]:
        # the author's 1024-wide MLP at his widths (8·img_size), narrowed with the convolutions
        hidden = max(64, 1024 * width // (8 * size))
        return QPJointCritic(size, meta["z_dim"], channels=ch, width=width, hidden=hidden,
                             norm=norm)  # type: ignore[arg-type]  # fmt: skip
    if meta["net"] == "dcgan":
        return DCGANCritic(size, ch, width=width, norm=norm)  # type: ignore[arg-type]
    return QPCritic(size, ch, width=width, norm=norm)  # type: ignore[arg-type]


def _codes(n: int, z_dim: int, g: torch.Generator, device: torch.device) -> Tensor:
    return torch.randn(n, z_dim, generator=g).to(device)


def _losses(cfg: GanImageOptions, g: torch.Generator) -> tuple[Callable[..., Tensor], ...]:
    """(critic loss (T, x_r, x_f, t_r, t_f), generator loss (t_r, t_f)) of `img_loss`."""
    name = cfg.img_loss
    if name == "qp":
        return (lambda T, xr, xf, tr, tf: gan_qp_d_loss(tr, tf, xr, xf, lam=cfg.img_lam,
                                                        norm=cfg.img_qp_norm),  # type: ignore[arg-type]
                gan_qp_g_loss)  # fmt: skip
    if name == "wgan-gp":
        return (lambda T, xr, xf, tr, tf: wgan_d_loss(tr, tf)
                + cfg.img_lam * gradient_penalty(T, xr, xf, generator=g),
                lambda tr, tf: wgan_g_loss(tf))  # fmt: skip
    if name == "energy":  # dig: E_p U − E_q U + λ E_p‖∇U‖²; jump: G minimises E U(G(z))
        return (lambda T, xr, xf, tr, tf: energy_critic_loss(T, xr, tr, tf, lam=cfg.img_lam),
                lambda tr, tf: energy_g_loss(tf))  # fmt: skip
    if name in F_LOSSES:
        f = name[2:]
        return (lambda T, xr, xf, tr, tf: f_d_loss(f, tr, tf),
                lambda tr, tf: f_g_loss(f, tf, mode="alt"))  # fmt: skip
    d_loss, g_loss = {"wgan-sn": (wgan_d_loss, wgan_g_loss), "sgan": (sgan_d_loss, sgan_g_loss),
                      "lsgan": (lsgan_d_loss, lsgan_g_loss),
                      "hinge": (hinge_d_loss, hinge_g_loss)}[name]  # fmt: skip
    return (lambda T, xr, xf, tr, tf: d_loss(tr, tf), lambda tr, tf: g_loss(tf))


@torch.no_grad()
def _draw(gen: nn.Module, z: Tensor, batch: int = 250) -> Tensor:
    """G(z) in eval mode (BatchNorm's running statistics) on the CPU, then back to train mode."""
    was = gen.training
    gen.eval()
    x = torch.cat([gen(z[i : i + batch]).float().cpu() for i in range(0, len(z), batch)])
    gen.train(was)
    return x


def _real(ds: Any, idx: np.ndarray) -> Tensor:
    """Folder images `idx` as (n, C, H, W) float in [−1, 1]."""
    return _images.folder_images(ds, idx).float() / 127.5 - 1.0


def _classes_eval(
    ds: Any, x_gen: Tensor, cfg: GanImageOptions, device: torch.device
) -> tuple[dict[str, float], Any]:
    """Class metrics of the samples under a classifier trained on the folder, and the classifier
    (None, with no metrics, on a folder without two class subfolders)."""
    labelled = np.flatnonzero(ds.labels >= 0)
    k = len(ds.classes)
    if k < 2 or len(np.unique(ds.labels[labelled])) < 2:
        return {}, None
    rng = np.random.default_rng(cfg.seed)
    # a bounded sample of a large folder: at most 20,000 images and 500 MB as floats
    cap = int(min(20_000, 5e8 // (4 * np.prod(ds.pixels.shape[1:]))))
    idx = rng.permutation(labelled)[:cap]
    n_test = max(1, len(idx) // 10)
    test, train = np.sort(idx[:n_test]), np.sort(idx[n_test:])
    clf = fit_image_classifier(_real(ds, train), ds.labels[train], epochs=cfg.img_clf_epochs,
                               seed=cfg.seed, n_classes=k, blur=cfg.img_clf_blur,
                               device=device)  # fmt: skip
    x_test = _real(ds, test)
    with torch.no_grad():
        probs = torch.cat([torch.softmax(clf(x_test[i : i + 256].to(device)), 1).cpu()
                           for i in range(0, len(x_test), 256)])  # fmt: skip
    metrics = {
        "n_classes": float(k),
        "classifier_acc": float((probs.argmax(1).numpy() == ds.labels[test]).mean()),
        # the reference for `confident`: held-out real images labelled at softmax ≥ 0.9
        "classifier_confident_real": float((probs.max(1).values >= 0.9).float().mean()),
    }
    metrics.update(image_label_stats(clf, x_gen, k))
    # Fréchet distance of the classifier's features: samples vs held-out real images, beside
    # the floor of other real images vs the same held-out ones at the same n (random subsets:
    # the folder's files come class by class).
    m = min(len(x_gen), len(test), len(train))
    if m >= 10:
        pick = rng.choice(len(test), m, replace=False)
        sets = (x_gen[:m], x_test[pick], _real(ds, rng.choice(train, m, replace=False)))
        with torch.no_grad():
            feats = [torch.cat([clf.features(x[i : i + 256].to(device)).cpu()
                                for i in range(0, m, 256)]).numpy() for x in sets]  # fmt: skip
        metrics["fd_features"] = frechet_distance(feats[0], feats[1])
        metrics["fd_features_floor"] = frechet_distance(feats[2], feats[1])
    return metrics, clf


def _fid(cfg: GanImageOptions, ds: Any, x_gen: Tensor) -> dict[str, float]:
    """FID/KID of the samples against up to 10,000 of the folder's images with the Inception
    weights at `fid_weights` (kexue.gan.fid_kid; the author's FID used the whole set)."""
    if not cfg.fid_weights:
        return {}
    from kexue.gan import fid_kid

    n = min(len(ds), 10_000)
    # the whole folder as its memory map (read a batch at a time), else a random subset
    real = ds.pixels if n == len(ds) else ds.pixels[np.sort(
        np.random.default_rng(cfg.seed).choice(len(ds), n, replace=False))]  # fmt: skip
    return {k: float(v) for k, v in fid_kid(real, x_gen, cfg.fid_weights).items()}


def run_image_gan(
    cfg: GanImageOptions,
    out: RunDir,
    *,
    name: str,
    anchor: float = 0.0,
    g_steps: int = 1,
    guides: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Train an image GAN on the folder `cfg.data` and evaluate it (module docstring).

    Args:
        name: the recipe (progress bar, figure titles).
        anchor: λ of the VI article's anchor regulariser (0: none).
        g_steps: generator steps per step, on the same codes (and anchor).
        guides: (β₁, β₂) of BiGAN-QP: train an encoder E with the generator and a critic on
            (x, z) pairs; None for a plain GAN.
    """
    from kexue.runs import seed_everything

    bigan = guides is not None
    if bigan and cfg.img_loss != "qp":
        raise InputError(f"BiGAN-QP trains under the QP objective, not img_loss={cfg.img_loss}")
    g = seed_everything(cfg.seed)
    acc = _images.image_accelerator(cfg)
    g.manual_seed(cfg.seed * 1000 + acc.process_index)
    device = acc.device
    ds = _images.load_images(cfg, out)
    if len(ds) < cfg.img_batch:
        raise InputError(f"{cfg.data}: {len(ds)} images, fewer than one batch "
                         f"({cfg.img_batch}); lower --set img_batch")  # fmt: skip
    meta = _meta(cfg, ds.pixels.shape[-1], bigan)
    norm = _norm(cfg)
    _, critic_width = qp_layout(cfg.img_size, cfg.img_critic_width or meta["width"])
    gen, critic = _generator(meta), _critic(meta, norm, critic_width)
    players = [gen]
    enc = None
    if bigan:
        enc = _encoder(meta)
        players.append(enc)
    opt_g = torch.optim.Adam([p for m in players for p in m.parameters()], lr=cfg.img_lr,
                             betas=cfg.img_betas)  # fmt: skip
    opt_d = torch.optim.Adam(critic.parameters(), lr=cfg.img_lr, betas=cfg.img_betas)
    if bigan:
        gen, enc, critic, opt_g, opt_d = acc.prepare(gen, enc, critic, opt_g, opt_d)
    else:
        gen, critic, opt_g, opt_d = acc.prepare(gen, critic, opt_g, opt_d)
    state: dict[str, Any] = {"gen": gen, "critic": critic, "opt_g": opt_g, "opt_d": opt_d,
                             "rng": g}  # fmt: skip
    if enc is not None:
        state["enc"] = enc
    start = out.restore(state)
    # The calls go through prepare_model (channels-last on a GPU, torch.compile if asked); the
    # checkpoints hold the modules above, which share the weights. A gradient penalty needs a
    # double backward, which compiled graphs do not give: that critic stays eager.
    G = _images.prepare_model(gen, cfg, device)  # noqa: N806 - the articles' names
    T = critic if cfg.img_loss in _PENALISED else _images.prepare_model(critic, cfg, device)  # noqa: N806
    E = _images.prepare_model(enc, cfg, device) if enc is not None else None  # noqa: N806
    d_loss_fn, g_loss_fn = _losses(cfg, g)
    stream = _images.batches(ds, cfg.img_batch, g, cfg.img_workers)
    z_grid = torch.randn(64, cfg.img_z, generator=torch.Generator().manual_seed(12345)).to(device)
    b, zd = cfg.img_batch, cfg.img_z

    def real() -> Tensor:
        return next(stream)[0].to(device, non_blocking=True)

    def figures(step: int) -> None:
        if not out.is_main:
            return
        _images.save_grid(out, "samples.png", _draw(G, z_grid), nrow=8)
        keys = [k for k in ("d_loss", "g_loss", "anchor", "z_guide", "x_guide")
                if any(k in r for r in out.history)]  # fmt: skip
        title = f"{name} on {Path(str(cfg.data)).name}: losses (step {step})"
        out.save_figure(_plot.curves(out.history, keys, title), "curves.png")

    cpu0, wall0 = time.process_time(), time.perf_counter()
    for step in out.progress(range(start, cfg.img_steps), f"{name} ({cfg.img_loss})"):
        if cfg.img_lr_decay:  # a function of the step: a resumed run continues the schedule
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = cfg.img_lr * (1 - step / cfg.img_steps)
        for _ in range(cfg.img_n_d):  # ---- critic steps, the players frozen
            x_r, z = real(), _codes(b, zd, g, device)
            with torch.no_grad():
                x_f = G(z)
            if E is None:
                t_r, t_f = T(x_r), T(x_f)
                d_loss = d_loss_fn(T, x_r, x_f, t_r, t_f)
            else:
                with torch.no_grad():
                    z_r = E(x_r)
                d_loss = bigan_qp_d_loss(T(x_r, z_r), T(x_f, z), x_r, z_r, x_f, z,
                                         lam=cfg.img_lam)  # fmt: skip
            opt_d.zero_grad(set_to_none=True)
            acc.backward(d_loss)
            opt_d.step()
        row: dict[str, float] = {"d_loss": d_loss.item()}
        critic.requires_grad_(False)  # the players' steps need no critic weight gradient
        z = _codes(b, zd, g, device)
        if anchor > 0:
            with torch.no_grad():
                x_anchor = G(z)  # G°(z), held for the round
        for _ in range(g_steps):  # ---- generator (and encoder) steps
            x_f = G(z)
            if E is None:
                t_r = None
                if cfg.img_loss == "qp":  # only GAN-QP's loss reads T(x_r) (no G gradient)
                    with torch.no_grad():
                        t_r = T(real())
                loss = g_loss_fn(t_r, T(x_f))
                row["g_loss"] = loss.item()
                if anchor > 0:
                    reg = anchor_regularizer(x_f, x_anchor, lam=anchor)
                    loss = loss + reg
                    row["anchor"] = reg.item()
            else:
                x_r = real()
                loss = bigan_qp_g_loss(T(x_r, E(x_r)), T(x_f, z))
                z_term, x_term = bigan_recon_losses(E, G, x_r, z)
                row.update(g_loss=loss.item(), z_guide=z_term.item(), x_guide=x_term.item())
                loss = loss + guides[0] * z_term + guides[1] * x_term  # type: ignore[index]
            opt_g.zero_grad(set_to_none=True)
            acc.backward(loss)
            opt_g.step()
        critic.requires_grad_(True)
        if step % 10 == 0 or step == cfg.img_steps - 1:
            out.log(step, **row)  # raises on a NaN/inf loss; the last checkpoint stays
        if (step + 1) % cfg.img_every == 0:
            figures(step + 1)
        out.maybe_checkpoint(step + 1, state)
    train_cpu, train_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    out.save_checkpoint(cfg.img_steps, state)
    figures(cfg.img_steps)

    # ---- evaluation, in eval mode
    z_eval = torch.randn(cfg.img_eval, zd, generator=torch.Generator().manual_seed(99))
    x_gen = _draw(G, z_eval.to(device))
    metrics: dict[str, float] = {
        "steps": float(cfg.img_steps),
        "images": float(len(ds)),
        "train_cpu_s": train_cpu,
        "train_wall_s": train_wall,
        "gen_params": float(sum(p.numel() for p in gen.parameters())),
        "critic_params": float(sum(p.numel() for p in critic.parameters())),
        "critic_width": float(critic_width),
    }
    class_metrics, clf = _classes_eval(ds, x_gen, cfg, device)
    metrics.update(class_metrics)
    metrics.update(_fid(cfg, ds, x_gen))
    if E is not None:
        metrics.update(_reconstructions(ds, G, E, clf, cfg, out, device))
    to_keep: nn.Module = acc.unwrap_model(gen)
    if enc is not None:
        to_keep = nn.ModuleDict({"gen": to_keep, "enc": acc.unwrap_model(enc)})
    _images.save_image_model(out, to_keep, "bigan" if bigan else "gan", **meta)
    # the whole process's CPU seconds (imports, decoding, training, evaluation) and its threads
    metrics["process_cpu_s"] = time.process_time()
    metrics["threads"] = float(torch.get_num_threads())
    return metrics


def _reconstructions(
    ds: Any, G: nn.Module, E: nn.Module, clf: Any, cfg: GanImageOptions, out: RunDir,  # noqa: N803
    device: torch.device,
) -> dict[str, float]:  # fmt: skip
    """BiGAN-QP's G(E(x)) on `img_eval` folder images: pixel MSE in [0, 1] units, the
    classifier's label kept (on class folders), and reconstructions.png (rows: x, then G(E(x)))."""
    idx = np.random.default_rng(cfg.seed + 1).permutation(len(ds))[: cfg.img_eval]
    x = _real(ds, idx)
    was_g, was_e = G.training, E.training
    G.eval()
    E.eval()
    with torch.no_grad():
        x_rec = torch.cat([G(E(x[i : i + 250].to(device))).float().cpu()
                           for i in range(0, len(x), 250)])  # fmt: skip
    G.train(was_g)
    E.train(was_e)
    metrics = {"recon_mse": float((((x_rec - x) / 2) ** 2).mean())}
    labels = ds.labels[np.sort(idx)]
    if clf is not None and (labels >= 0).all():
        with torch.no_grad():
            dev = next(clf.parameters()).device
            pred = torch.cat([clf(x_rec[i : i + 256].to(dev)).argmax(1).cpu()
                              for i in range(0, len(x_rec), 256)]).numpy()  # fmt: skip
        metrics["recon_label_kept"] = float((pred == labels).mean())
    rows = torch.cat([torch.cat([x[i : i + 8], x_rec[i : i + 8]]) for i in range(0, 32, 8)])
    _images.save_grid(out, "reconstructions.png", rows[: 2 * min(32, len(x))], nrow=8)
    return metrics


# ----------------------------------------------------------------------------- trained runs
def _load(run: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The trained networks of an image-GAN run: the generator, or {gen, enc} for BiGAN-QP."""
    import json

    config = json.loads((Path(run) / "config.json").read_text(encoding="utf-8"))
    if not config.get("data"):
        raise InputError(f"{run}: trained on the built-in data; only runs trained on --data "
                         "images can be sampled")  # fmt: skip

    def build(_config: dict[str, Any], meta: dict[str, Any]) -> nn.Module:
        if meta.get("bigan"):
            return nn.ModuleDict({"gen": _generator(meta), "enc": _encoder(meta)})
        return _generator(meta)

    return _images.load_image_model(Path(run), build)


def _decode(gen: nn.Module, z: Tensor) -> np.ndarray:
    with torch.no_grad():
        return _images.to_unit(gen(z))


def sampler(run: Path) -> Callable[[int, float, torch.Generator], np.ndarray]:
    """fn(n, temperature, generator) → (n, H, W, C) samples G(T·z) in [0, 1] of a trained run."""
    model, meta = _load(run)
    gen = model["gen"] if meta.get("bigan") else model  # type: ignore[index]

    def sample(n: int, temperature: float, generator: torch.Generator) -> np.ndarray:
        return _decode(gen, temperature * torch.randn(n, meta["z_dim"], generator=generator))

    return sample


def interpolator(run: Path) -> Callable[[int, int, float, torch.Generator], np.ndarray]:
    """fn(rows, k, temperature, generator) → (rows·k, H, W, C): each row k images along the
    path between two random codes (`_images.gaussian_path`)."""
    model, meta = _load(run)
    gen = model["gen"] if meta.get("bigan") else model  # type: ignore[index]

    def interpolate(
        rows: int, k: int, temperature: float, generator: torch.Generator
    ) -> np.ndarray:
        z0 = temperature * torch.randn(rows, meta["z_dim"], generator=generator)
        z1 = temperature * torch.randn(rows, meta["z_dim"], generator=generator)
        return _decode(gen, _images.gaussian_path(z0, z1, k))

    return interpolate


def reconstructor(run: Path) -> Callable[[np.ndarray], np.ndarray]:
    """fn((n, H, W, C) uint8) → (n, H, W, C) in [0, 1]: G(E(x)) of a BiGAN-QP run."""
    model, meta = _load(run)
    if not meta.get("bigan"):
        raise InputError(f"{run}: this run trained no encoder; reconstruct reads bigan-qp runs")

    def reconstruct(pixels: np.ndarray) -> np.ndarray:
        x = _images.user_pixels(pixels) / 127.5 - 1.0
        with torch.no_grad():
            return _decode(model["gen"], model["enc"](x))  # type: ignore[index]

    return reconstruct
