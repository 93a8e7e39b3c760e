r"""Recipe: the VI view's generator regulariser λ‖G(z) − G°(z)‖² against mode collapse, on a
deliberately fragile SGAN over 25 Gaussians, several seeds.

Article: 用变分推断统一理解生成模型（VAE、GAN、AAE、ALI） (see kexue.gan.vi_unified)
Data:    kexue.data.toy2d twentyfive_gaussians
Run:     kexue run vi-unified                 (full, all seeds)
         kexue run vi-unified --budget quick  (about 30 s)
         kexue run vi-unified --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         samples.png (final samples per seed and arm), curves.png (modes covered while training)

The article's G step is −E log D(G(z)) + KL(q‖q°); the KL to the previous generator is
estimated by λ E_z ‖G(z) − G°(z)‖² (per element, λ = 5 as in the author's code). As in that code,
each iteration runs one critic step and then two generator steps with the same z and the same
anchor G°(z) (computed before the first of them) — the regulariser's gradient is zero at the
anchor, so it acts from the second step on; the baseline uses the same schedule with λ = 0. The
SGAN is made fragile on purpose: Adam(1e-3, β₁ = 0.9), no normalisation. Collapse = fewer than
K/2 modes covered at the end.
Claims: the article's: the regulariser makes collapse rarer (its collapse rate over the seeds
is no higher than without it).
Recorded: `kexue show vi-unified` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kexue.data import mode_centres, toy2d
from kexue.gan import anchor_regularizer, evaluate_toy_generator, sgan_d_loss, sgan_g_loss
from kexue.nn import MLP
from kexue.recipes import _plot
from kexue.runs import Claim, RunDir, param, start_parts


@dataclass(frozen=True)
class Config:
    seed: int = 0
    seeds: int = 5  # seeds seed, seed+1, ... per arm
    toy: str = param("twentyfive_gaussians", choices=("eight_gaussians", "twentyfive_gaussians"))
    lams: tuple[float, ...] = (0.0, 5.0)
    steps: int = 1500
    g_steps: int = 2  # generator steps per anchor (the reference code's schedule)
    lr: float = 1e-3
    beta1: float = 0.9
    batch_size: int = 256
    hidden: tuple[int, ...] = (128, 128, 128)
    eval_every: int = 250
    n_eval: int = 1000


QUICK = {"seeds": 1, "steps": 600}
SMOKE = {"seeds": 1, "steps": 4, "hidden": (16,), "eval_every": 2, "n_eval": 200}

CLAIMS = (
    Claim("collapse rate with the VI regulariser is no higher than without it (5 seeds)",
          "collapse_rate_reg_minus_none", "<=", 0.0, ("quick", "full")),
)  # fmt: skip


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    _, acc, parts, results, state = start_parts(cfg.seed, out)
    log = out.log_next

    centres = mode_centres(cfg.toy)
    k = len(centres)
    pool = torch.from_numpy(toy2d(cfg.toy, 100_000, seed=cfg.seed))
    metrics: dict[str, float] = {}
    samples = {}
    for lam in cfg.lams:
        for s in range(cfg.seed, cfg.seed + cfg.seeds):
            key = f"lam{lam:g}_seed{s}"
            if not parts.done(key):
                torch.manual_seed(s)
                gen = MLP(2, 2, hidden=cfg.hidden)
                disc = MLP(2, 1, hidden=cfg.hidden, activation=lambda: nn.LeakyReLU(0.2))
                opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
                opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
                gen, disc, opt_g, opt_d = acc.prepare(gen, disc, opt_g, opt_d)
                tg = torch.Generator().manual_seed(s)
                moves, trajectory = [], []
                for i in out.progress(range(cfg.steps), f"arm {key}"):
                    x_real = pool[torch.randint(len(pool), (cfg.batch_size,), generator=tg)]
                    z = torch.randn(cfg.batch_size, 2, generator=tg)
                    with torch.no_grad():
                        x_anchor = gen(z)  # G°(z): the generator before this round
                    d_loss = sgan_d_loss(disc(x_real), disc(x_anchor))
                    opt_d.zero_grad()
                    acc.backward(d_loss)
                    opt_d.step()
                    for _ in range(cfg.g_steps):
                        x_fake = gen(z)
                        g_loss = sgan_g_loss(disc(x_fake)) + anchor_regularizer(
                            x_fake, x_anchor, lam=lam
                        )
                        opt_g.zero_grad()
                        acc.backward(g_loss)
                        opt_g.step()
                    with torch.no_grad():  # function-space step E‖G(z) − G°(z)‖² of the round
                        moves.append(float(((gen(z) - x_anchor) ** 2).sum(1).mean()))
                    if (i + 1) % cfg.eval_every == 0:
                        _, scores = evaluate_toy_generator(
                            acc.unwrap_model(gen), cfg.toy, n=cfg.n_eval
                        )
                        trajectory.append(scores["modes"])
                        if s == cfg.seed:
                            log(**{f"modes_lam{lam:g}": trajectory[-1]})
                # a diverged generator's NaN samples score 0 modes (collapsed) and HQ 0
                x_gen, scores = evaluate_toy_generator(
                    acc.unwrap_model(gen), cfg.toy, n=cfg.n_eval
                )
                parts.finish(key, {
                    f"{key}_modes": scores["modes"],
                    f"{key}_hq": scores["hq"],
                    f"{key}_collapsed": float(scores["modes"] < k / 2),
                    f"{key}_mean_step": float(np.mean(moves)),
                    f"{key}_samples": torch.from_numpy(np.nan_to_num(x_gen[:400])),
                })  # fmt: skip
            samples[key] = results[f"{key}_samples"].numpy()
        keys = [f"lam{lam:g}_seed{s}" for s in range(cfg.seed, cfg.seed + cfg.seeds)]
        tag = f"lam{lam:g}"
        metrics[f"{tag}_collapse_rate"] = float(np.mean([results[f"{x}_collapsed"] for x in keys]))
        metrics[f"{tag}_mean_modes"] = float(np.mean([results[f"{x}_modes"] for x in keys]))
        metrics[f"{tag}_min_modes"] = float(min(results[f"{x}_modes"] for x in keys))
        metrics[f"{tag}_mean_hq"] = float(np.mean([results[f"{x}_hq"] for x in keys]))
        metrics[f"{tag}_mean_step"] = float(np.mean([results[f"{x}_mean_step"] for x in keys]))
        for x in keys:
            metrics[f"{x}_modes"] = float(results[f"{x}_modes"])
    lo, hi = f"lam{min(cfg.lams):g}", f"lam{max(cfg.lams):g}"
    metrics["collapse_rate_reg_minus_none"] = (
        metrics[f"{hi}_collapse_rate"] - metrics[f"{lo}_collapse_rate"]
    )
    metrics["mean_modes_reg_minus_none"] = (
        metrics[f"{hi}_mean_modes"] - metrics[f"{lo}_mean_modes"]
    )
    out.save_checkpoint(out.next_step, state)

    if out.is_main:
        ref = toy2d(cfg.toy, 400, seed=60_000)
        names = list(samples)
        sets = [[(ref, "real"), (samples[n], n)] for n in names]
        titles = [
            f"{n}: {int(results[f'{n}_modes'])}/{k}, hq {results[f'{n}_hq']:.2f}" for n in names
        ]
        out.save_figure(_plot.panels(sets, titles, centres=centres), "samples.png")
        keys = [f"modes_lam{lam:g}" for lam in cfg.lams]
        fig = _plot.arm_curves(out.history, keys, f"modes covered (seed {cfg.seed})",
                               xlabel="training step of each arm", every=cfg.eval_every,
                               first=cfg.eval_every)  # fmt: skip
        out.save_figure(fig, "curves.png")
    return metrics
