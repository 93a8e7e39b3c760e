r"""Recipe: the energy view of GANs — real points become minima under a zero-centred penalty,
momentum carries particles past their nearest pit, and the energy GAN on 8 Gaussians.

Article: 能量视角下的GAN模型（一）：GAN＝“挖坑”＋“跳坑” (see kexue.gan.energy)
Data:    kexue.data.toy2d eight_gaussians (parts 1, 3) and twentyfive_gaussians (part 2)
Run:     kexue run energy-gan                 (full)
         kexue run energy-gan --budget quick  (about 30 s)
         kexue run energy-gan --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         minima.png (energies for each λ with real points), particles.png (particles after
         rolling down a frozen energy, per optimiser), samples.png (GANs per penalty placement)

Part 1 ("dig pits"): an energy U is trained on E_p U − E_q U + λ E_p ‖∇U‖² with real =
eight_gaussians and a fixed fake distribution N(0, 2²I), for λ ∈ `lams`. At held-out real points
it reports mean ‖∇U‖ and how far `roll_downhill` moves them in 100 small SGD steps. Part 2
("jump into pits"): U trained the same way on twentyfive_gaussians against uniform fakes is
frozen; 2 000 uniform particles roll down it with SGD (momentum 0, 0.9) and Adam (β₁ 0, 0.9) for
the same number of steps. Part 3 ("GAN = dig + jump"): the energy GAN (G minimises E U(G(z)))
against R1-SGAN and WGAN-div (real + fake) on eight_gaussians; the energy arm digs 5 U steps per
jump, Adam(1e-4, β₁ = 0, β₂ = 0.9), λ = 0.2, 2 500 jumps: with one U step per jump it
collapsed or swung between modes, as the linear loss has no damping of its own on the fakes.
Claims: a larger penalty flattens U at real points and moves them less (they are near minima);
momentum leaves fewer particles in the pit nearest their start (the article's prediction); the
energy GAN covers 8/8 modes.
Recorded: `kexue show energy-gan` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from kexue.data import mode_centres, toy2d
from kexue.gan import (
    energy_d_loss,
    energy_g_loss,
    energy_gradient_penalty,
    r1_penalty,
    roll_downhill,
    sgan_d_loss,
    sgan_g_loss,
    toy_scores,
    wgan_d_loss,
    wgan_div_penalty,
    wgan_g_loss,
)
from kexue.nn import MLP
from kexue.recipes import _gan, _plot
from kexue.runs import Claim, RunDir, start_parts

ROLLERS = {  # name: (optimizer, momentum / β₁)
    "sgd_m0": ("sgd", 0.0),
    "sgd_m0.9": ("sgd", 0.9),
    "adam_b0": ("adam", 0.0),
    "adam_b0.9": ("adam", 0.9),
}
GAN_ARMS = ("energy_r1", "r1", "wgan_div")


@dataclass(frozen=True)
class Config:
    seed: int = 0
    hidden: tuple[int, ...] = (128, 128)
    batch_size: int = 256
    lr: float = 1e-3
    lams: tuple[float, ...] = (0.0, 0.1, 1.0, 10.0)
    pit_steps: int = 1000  # energy training steps, parts 1 and 2
    grid_lam: float = 1.0
    n_particles: int = 2000
    roll_steps: int = 300
    roll_lr: float = 0.01
    gan_steps: int = 1500  # generator steps of the R1-SGAN and WGAN-div arms
    gan_hidden: tuple[int, ...] = (128, 128, 128)
    # The energy arm: MEG's toy settings (Kumar et al.: 5 U steps per G step, Adam(1e-4, β₂ 0.9),
    # penalty 0.1 on their 8 Gaussians of radius √2, i.e. 0.2 at radius 2 since ‖∇U‖² scales as
    # 1/scale²) with the article's advice of no momentum (β₁ = 0); its linear loss moves slower
    # than the SGAN loss, hence more generator steps.
    energy_steps: int = 2500
    energy_n_d: int = 5
    energy_lr: float = 1e-4
    energy_betas: tuple[float, float] = (0.0, 0.9)
    energy_lam: float = 0.2
    # The R1-SGAN arm (Mescheder et al.): SGAN + (γ/2) E_p‖∇D‖², Adam(2e-4, (0.5, 0.999)), 1 : 1.
    r1_gamma: float = 1.0
    r1_lr: float = 2e-4
    r1_betas: tuple[float, float] = (0.5, 0.999)
    # The WGAN-div arm (Wu et al.): WGAN + (k/2)(E_p‖∇D‖^p + E_q‖∇D‖^p), k = 2, p = 6, with
    # WGAN-GP's toy settings Adam(1e-4, (0.5, 0.9)) and 5 critic steps per generator step.
    div_k: float = 2.0
    div_p: float = 6.0
    div_lr: float = 1e-4
    div_betas: tuple[float, float] = (0.5, 0.9)
    div_n_d: int = 5
    n_eval: int = 1000


QUICK = {"pit_steps": 300, "roll_steps": 150, "gan_steps": 100, "energy_steps": 100,
         "energy_n_d": 1, "lams": (0.1, 10.0), "n_particles": 1000}  # fmt: skip
SMOKE = {"pit_steps": 5, "roll_steps": 5, "gan_steps": 2, "energy_steps": 2, "lams": (0.1, 10.0),
         "n_particles": 100, "hidden": (16,), "gan_hidden": (16,), "n_eval": 200}  # fmt: skip

CLAIMS = (
    Claim("a larger zero-centred penalty flattens U at real points (mean ‖∇U‖ ratio, largest λ "
          "over smallest positive λ, < 1)", "grad_norm_ratio", "<", 1.0, ("quick", "full")),
    Claim("real points move less when rolled down U (displacement ratio, largest over smallest "
          "positive λ, < 1)", "displacement_ratio", "<", 1.0, ("quick", "full")),
    Claim("momentum carries particles past their nearest pit: fewer end there with SGD μ = 0.9 "
          "than μ = 0", "momentum_nearest_pit_drop", ">", 0.0, ("quick", "full")),
    Claim("the energy GAN (zero-centred GP on real) covers 8/8 modes", "gan_energy_r1_modes",
          ">=", 8, ("quick", "full")),
)  # fmt: skip


def _energy(hidden: tuple[int, ...]) -> nn.Module:
    return MLP(2, 1, hidden=hidden, activation=lambda: nn.LeakyReLU(0.2))


def _fit_energy(
    cfg: Config,
    real: torch.Tensor,
    fake_fn: Callable[[int, torch.Generator], torch.Tensor],
    lam: float,
    seed: int,
    log: Callable[..., None],
    progress: Callable[[Iterable[int]], Iterable[int]],
) -> nn.Module:
    """U minimising E_p U − E_q U + λ E_p‖∇U‖² against fixed fakes (the loop, visible).

    `progress` wraps the steps in a bar: `RunDir.progress` with its phase name bound.
    """
    torch.manual_seed(seed)
    u = _energy(cfg.hidden)
    opt = torch.optim.Adam(u.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
    tg = torch.Generator().manual_seed(seed)
    for i in progress(range(cfg.pit_steps)):
        x_real = real[torch.randint(len(real), (cfg.batch_size,), generator=tg)]
        x_fake = fake_fn(cfg.batch_size, tg)
        loss = energy_d_loss(u(x_real), u(x_fake))
        if lam > 0:
            loss = loss + lam * energy_gradient_penalty(u, x_real)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i % 100 == 0:
            log(**{f"pit_loss_lam{lam:g}": loss.item()})
    return u.eval()


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    _, acc, parts, results, state = start_parts(cfg.seed, out)
    log = out.log_next

    metrics: dict[str, float] = {}
    ring = torch.from_numpy(toy2d("eight_gaussians", 100_000, seed=cfg.seed))
    real_eval = torch.from_numpy(toy2d("eight_gaussians", cfg.n_eval, seed=10_000 + cfg.seed))

    # ---- part 1: real points become minima as λ grows
    energies = {}
    for lam in cfg.lams:
        key = f"pit_lam{lam:g}"
        u = _fit_energy(cfg, ring, lambda n, tg: 2 * torch.randn(n, 2, generator=tg), lam,
                        cfg.seed, log,
                        partial(out.progress, desc=f"energy lam {lam:g}"))  # fmt: skip
        energies[lam] = u
        if not parts.done(key):
            x = real_eval.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(u(x).sum(), x)
            moved = roll_downhill(u, real_eval, steps=100, lr=cfg.roll_lr)
            with torch.no_grad():
                u_max = float(u(torch.cat([real_eval, 2 * torch.randn(1000, 2)])).abs().max())
            parts.finish(key, {
                f"{key}_grad_norm": float(grad.norm(dim=1).mean()),
                f"{key}_displacement": float((moved - real_eval).norm(dim=1).mean()),
                f"{key}_max_abs_energy": u_max,
            })  # fmt: skip
        for m in ("grad_norm", "displacement", "max_abs_energy"):
            metrics[f"{key}_{m}"] = results[f"{key}_{m}"]
    pos = [lam for lam in cfg.lams if lam > 0]
    lo, hi = f"pit_lam{min(pos):g}", f"pit_lam{max(pos):g}"
    metrics["grad_norm_ratio"] = metrics[f"{hi}_grad_norm"] / metrics[f"{lo}_grad_norm"]
    metrics["displacement_ratio"] = metrics[f"{hi}_displacement"] / metrics[f"{lo}_displacement"]

    # ---- part 2: particles rolling into pits, with and without momentum
    grid = torch.from_numpy(toy2d("twentyfive_gaussians", 100_000, seed=cfg.seed))
    centres = mode_centres("twentyfive_gaussians")
    box = 5.0
    u_grid = _fit_energy(
        cfg, grid, lambda n, tg: (2 * torch.rand(n, 2, generator=tg) - 1) * box, cfg.grid_lam,
        cfg.seed + 1, log, partial(out.progress, desc="energy grid"),
    )  # fmt: skip
    start = 2 * torch.rand(cfg.n_particles, 2, generator=torch.Generator().manual_seed(5)) - 1
    start = start * 4.5
    nearest0 = np.linalg.norm(start.numpy()[:, None] - centres[None], axis=-1).argmin(1)
    particles = {}
    for name, (kind, m) in ROLLERS.items():
        key = f"roll_{name}"
        if not parts.done(key):
            if kind == "sgd":
                x = roll_downhill(u_grid, start, steps=cfg.roll_steps, lr=cfg.roll_lr, momentum=m)
            else:
                x = roll_downhill(u_grid, start, steps=cfg.roll_steps, lr=cfg.roll_lr,
                                  optimizer="adam", betas=(m, 0.999))  # fmt: skip
            xn = x.numpy()
            nearest = np.linalg.norm(xn[:, None] - centres[None], axis=-1).argmin(1)
            scores = toy_scores(xn, "twentyfive_gaussians")  # modes, hq, mode_kl
            parts.finish(key, {
                f"{key}_nearest_pit": float((nearest == nearest0).mean()),
                **{f"{key}_{metric}": v for metric, v in scores.items()},
                f"{key}_x": x,
            })  # fmt: skip
        for mname in ("nearest_pit", "modes", "hq", "mode_kl"):
            metrics[f"{key}_{mname}"] = results[f"{key}_{mname}"]
        particles[name] = results[f"{key}_x"].numpy()
    metrics["momentum_nearest_pit_drop"] = (
        metrics["roll_sgd_m0_nearest_pit"] - metrics["roll_sgd_m0.9_nearest_pit"]
    )

    # ---- part 3: GANs on eight_gaussians, the penalty in different places
    c8 = mode_centres("eight_gaussians")
    ref = toy2d("eight_gaussians", cfg.n_eval, seed=30_000 + cfg.seed)
    samples = {}
    for name in GAN_ARMS:
        key = f"gan_{name}"
        if not parts.done(key):
            torch.manual_seed(cfg.seed)
            gen = MLP(2, 2, hidden=cfg.gan_hidden)
            disc = _energy(cfg.gan_hidden)  # for the energy arm, disc(x) = U(x)
            energy = name == "energy_r1"
            lr, betas, n_d, steps = {
                "energy_r1": (cfg.energy_lr, cfg.energy_betas, cfg.energy_n_d, cfg.energy_steps),
                "r1": (cfg.r1_lr, cfg.r1_betas, 1, cfg.gan_steps),
                "wgan_div": (cfg.div_lr, cfg.div_betas, cfg.div_n_d, cfg.gan_steps),
            }[name]
            opt_g = torch.optim.Adam(gen.parameters(), lr=lr, betas=betas)
            opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=betas)
            gen, disc, opt_g, opt_d = acc.prepare(gen, disc, opt_g, opt_d)
            tg = torch.Generator().manual_seed(cfg.seed)
            for i in out.progress(range(steps), f"arm {key}"):
                for _ in range(n_d):
                    x_real = ring[torch.randint(len(ring), (cfg.batch_size,), generator=tg)]
                    with torch.no_grad():
                        x_fake = gen(torch.randn(cfg.batch_size, 2, generator=tg))
                    if energy:  # dig: E_p U − E_q U + λ E_p‖∇U‖²
                        d_loss = energy_d_loss(disc(x_real), disc(x_fake))
                        d_loss = d_loss + cfg.energy_lam * energy_gradient_penalty(disc, x_real)
                    elif name == "r1":
                        d_loss = sgan_d_loss(disc(x_real), disc(x_fake))
                        d_loss = d_loss + r1_penalty(disc, x_real, gamma=cfg.r1_gamma)
                    else:
                        d_loss = wgan_d_loss(disc(x_real), disc(x_fake))
                        d_loss = d_loss + wgan_div_penalty(
                            disc, x_real, x_fake, k=cfg.div_k, p=cfg.div_p
                        )
                    opt_d.zero_grad()
                    acc.backward(d_loss)
                    opt_d.step()
                if energy:  # jump: G minimises E U(G(z)) (no real batch needed)
                    g_loss = energy_g_loss(disc(gen(torch.randn(cfg.batch_size, 2, generator=tg))))
                else:  # a real batch these losses do not use is drawn: keeps the random stream
                    torch.randint(len(ring), (cfg.batch_size,), generator=tg)
                    d_fake = disc(gen(torch.randn(cfg.batch_size, 2, generator=tg)))
                    g_loss = sgan_g_loss(d_fake) if name == "r1" else wgan_g_loss(d_fake)
                opt_g.zero_grad()
                acc.backward(g_loss)
                opt_g.step()
                if i % 100 == 0:
                    log(**{f"{key}_d_loss": d_loss.item()})
            _gan.finish_toy_arm(parts, key, acc.unwrap_model(gen), "eight_gaussians",
                                n=cfg.n_eval, ref=ref)  # fmt: skip
        for m in ("modes", "hq", "w1"):
            metrics[f"{key}_{m}"] = results[f"{key}_{m}"]
        samples[name] = results[f"{key}_samples"].numpy()
    out.save_checkpoint(out.next_step, state)

    if out.is_main:

        def field_of(u: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
            def field(points: np.ndarray) -> np.ndarray:
                with torch.no_grad():
                    return u(torch.from_numpy(points)).squeeze(1).numpy()

            return field

        sets = [[(real_eval.numpy()[:300], "real")]] * len(cfg.lams)
        titles = [
            f"U, λ = {lam:g}: ‖∇U‖ at real {metrics[f'pit_lam{lam:g}_grad_norm']:.3f}"
            for lam in cfg.lams
        ]
        fields = [field_of(energies[lam]) for lam in cfg.lams]
        out.save_figure(_plot.panels(sets, titles, lim=3.0, fields=fields), "minima.png")
        sets = [[(particles[n], "particles")] for n in ROLLERS]
        titles = [f"{n}: nearest pit {metrics[f'roll_{n}_nearest_pit']:.2f}" for n in ROLLERS]
        fig = _plot.panels(
            sets, titles, lim=5.0, centres=centres, fields=[field_of(u_grid)] * len(ROLLERS)
        )
        out.save_figure(fig, "particles.png")
        sets = [[(ref[:500], "real"), (samples[n], n)] for n in GAN_ARMS]
        titles = [
            f"{n}: {int(metrics[f'gan_{n}_modes'])}/8, hq {metrics[f'gan_{n}_hq']:.2f}"
            for n in GAN_ARMS
        ]
        out.save_figure(_plot.panels(sets, titles, centres=c8), "samples.png")
    return metrics
