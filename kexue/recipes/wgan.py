r"""Recipe: the critic's dual estimate against the exact W1, then a WGAN-GP on 8 Gaussians.

Article: 从Wasserstein距离、对偶理论到WGAN (see kexue.gan.wgan, kexue.stats.wasserstein)
Data:    kexue.data.toy2d: p = eight_gaussians, q = two_moons (critic part); eight_gaussians (GAN)
Run:     kexue run wgan                 (full)
         kexue run wgan --budget quick  (about 30 s)
         kexue run wgan --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         critic.png (GP critic over both test sets) samples.png (generated vs real)
         curves.png (dual estimates during training against the exact W1)

Part 1 trains two critics between fixed distributions p and q: one with WGAN's weight clipping,
one with WGAN-GP's penalty, and compares E_p f − E_q f on held-out samples with the exact W1
between the same samples (assignment problem). The clipped critic is K-Lipschitz for an unknown
K, so its estimate is also reported divided by K̂, the largest gradient norm seen on a dense set
of points. Part 2 trains a WGAN-GP generator on eight_gaussians and counts the modes it covers.
Claims: the GP critic's dual estimate is within 10% of the exact W1 (KR duality); the WGAN-GP
generator covers 8/8 modes.
Recorded: `kexue show wgan` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kexue.data import TOY2D, mode_centres, toy2d
from kexue.gan import (
    clip_weights,
    dual_estimate,
    evaluate_toy_generator,
    gradient_penalty,
    wgan_d_loss,
    wgan_g_loss,
)
from kexue.nn import MLP
from kexue.recipes import _plot
from kexue.runs import Claim, RunDir, make_accelerator, param, seed_everything
from kexue.stats import w1_exact


@dataclass(frozen=True)
class Config:
    seed: int = 0
    p: str = param("eight_gaussians", choices=TOY2D)
    q: str = param("two_moons", choices=TOY2D)
    n_eval: int = 2000  # held-out samples per side for the exact W1 and the dual estimates
    batch_size: int = 256
    critic_steps: int = 4000
    critic_hidden: tuple[int, ...] = (128, 128)
    clip: float = 0.01  # WGAN's clipping value
    clip_lr: float = 5e-5  # RMSProp, as in WGAN
    lam: float = 10.0  # gradient-penalty weight, as in WGAN-GP
    critic_lr: float = 1e-3  # Adam for the GP critic between fixed p and q
    lr: float = 2e-4  # Adam for the GAN, betas (0.5, 0.9) as in WGAN-GP
    gan_data: str = param("eight_gaussians", choices=("eight_gaussians", "twentyfive_gaussians"))
    gen_steps: int = 4000  # generator updates
    n_critic: int = 5  # critic updates per generator update
    z_dim: int = 2
    gan_hidden: tuple[int, ...] = (128, 128, 128)


QUICK = {"critic_steps": 1500, "gen_steps": 400, "n_eval": 1000}
SMOKE = {"critic_steps": 20, "gen_steps": 5, "n_eval": 100, "batch_size": 64}

CLAIMS = (
    Claim(
        "the GP critic's dual estimate is within 10% of the exact W1 (KR duality)",
        "critic_gp_rel_error",
        "<=",
        0.10,
        ("quick", "full"),
    ),
    Claim(
        "the WGAN-GP generator covers 8/8 modes", "gan_modes_covered", ">=", 8, ("quick", "full")
    ),
)


def _sample(name: str, n: int, g: torch.Generator) -> torch.Tensor:
    # Seeds come from the checkpointed torch generator, so a resumed run draws the same data.
    seed = int(torch.randint(2**31 - 1, (1,), generator=g))
    return torch.from_numpy(toy2d(name, n, seed=seed))


def _lipschitz_estimate(critic: torch.nn.Module, points: torch.Tensor) -> float:
    x = points.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    return float(grad.norm(dim=1).max())


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    # Each process draws its own batches; gradients are averaged across processes by DDP.
    g.manual_seed(cfg.seed * 1000 + acc.process_index)

    critic_clip = MLP(2, 1, hidden=cfg.critic_hidden)
    critic_gp = MLP(2, 1, hidden=cfg.critic_hidden)
    gen = MLP(cfg.z_dim, 2, hidden=cfg.gan_hidden)
    disc = MLP(2, 1, hidden=cfg.gan_hidden)
    opt_clip = torch.optim.RMSprop(critic_clip.parameters(), lr=cfg.clip_lr)
    opt_gp = torch.optim.Adam(critic_gp.parameters(), lr=cfg.critic_lr, betas=(0.5, 0.9))
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
    critic_clip, critic_gp, gen, disc, opt_clip, opt_gp, opt_g, opt_d = acc.prepare(
        critic_clip, critic_gp, gen, disc, opt_clip, opt_gp, opt_g, opt_d
    )
    state = {
        "critic_clip": critic_clip, "critic_gp": critic_gp, "gen": gen, "disc": disc,
        "opt_clip": opt_clip, "opt_gp": opt_gp, "opt_g": opt_g, "opt_d": opt_d, "rng": g,
    }  # fmt: skip
    start = out.restore(state)

    # Held-out evaluation sets, fixed by the seed (not by the training stream).
    x_p = toy2d(cfg.p, cfg.n_eval, seed=10_000 + cfg.seed)
    x_q = toy2d(cfg.q, cfg.n_eval, seed=20_000 + cfg.seed)
    w1 = w1_exact(x_p, x_q)
    tp, tq = torch.from_numpy(x_p), torch.from_numpy(x_q)

    def evaluate_critics() -> tuple[float, float]:
        with torch.no_grad():
            return (
                float(dual_estimate(critic_clip(tp), critic_clip(tq))),
                float(dual_estimate(critic_gp(tp), critic_gp(tq))),
            )

    # ---- part 1: two critics between fixed p and q
    total = cfg.critic_steps + cfg.gen_steps
    for step in out.progress(range(start, cfg.critic_steps), "critics"):
        x_real, x_fake = _sample(cfg.p, cfg.batch_size, g), _sample(cfg.q, cfg.batch_size, g)
        loss_clip = wgan_d_loss(critic_clip(x_real), critic_clip(x_fake))
        opt_clip.zero_grad()
        acc.backward(loss_clip)
        opt_clip.step()
        clip_weights(critic_clip, cfg.clip)

        loss_gp = wgan_d_loss(critic_gp(x_real), critic_gp(x_fake))
        penalty = gradient_penalty(critic_gp, x_real, x_fake, generator=g)
        opt_gp.zero_grad()
        acc.backward(loss_gp + cfg.lam * penalty)
        opt_gp.step()

        row = {"critic_clip_loss": loss_clip.item(), "critic_gp_loss": loss_gp.item()}
        if step % 50 == 0 or step == cfg.critic_steps - 1:
            est_clip, est_gp = evaluate_critics()
            row.update(dual_clip=est_clip, dual_gp=est_gp, penalty=penalty.item())
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)

    est_clip, est_gp = evaluate_critics()
    # Dense points: both sets and their random interpolates, where the gradient is largest.
    # Its own generator: the training stream must not depend on whether part 1 ran in this process.
    mix = torch.rand(len(tp), 1, generator=torch.Generator().manual_seed(cfg.seed + 1))
    probe = torch.cat([tp, tq, mix * tp + (1 - mix) * tq])
    k_clip = _lipschitz_estimate(acc.unwrap_model(critic_clip), probe)
    k_gp = _lipschitz_estimate(acc.unwrap_model(critic_gp), probe)

    # ---- part 2: WGAN-GP generator
    for step in out.progress(range(max(start, cfg.critic_steps), total), "wgan-gp generator"):
        for _ in range(cfg.n_critic):
            x_real = _sample(cfg.gan_data, cfg.batch_size, g)
            with torch.no_grad():
                x_fake = gen(torch.randn(cfg.batch_size, cfg.z_dim, generator=g))
            d_loss = wgan_d_loss(disc(x_real), disc(x_fake))
            penalty = gradient_penalty(disc, x_real, x_fake, generator=g)
            opt_d.zero_grad()
            acc.backward(d_loss + cfg.lam * penalty)
            opt_d.step()
        g_loss = wgan_g_loss(disc(gen(torch.randn(cfg.batch_size, cfg.z_dim, generator=g))))
        opt_g.zero_grad()
        acc.backward(g_loss)
        opt_g.step()
        out.log(step, d_loss=d_loss.item(), g_loss=g_loss.item(), gan_penalty=penalty.item())
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(total, state)

    # ---- evaluation
    centres = mode_centres(cfg.gan_data)
    x_real_eval = toy2d(cfg.gan_data, cfg.n_eval, seed=30_000 + cfg.seed)
    x_real_ref = toy2d(cfg.gan_data, cfg.n_eval, seed=40_000 + cfg.seed)
    x_gen, scores = evaluate_toy_generator(
        acc.unwrap_model(gen), cfg.gan_data, n=cfg.n_eval, ref=x_real_eval, seed=cfg.seed,
        z_dim=cfg.z_dim,
    )  # fmt: skip
    metrics = {
        "w1_exact": w1,
        "critic_gp_dual": est_gp,
        "critic_gp_rel_error": abs(est_gp - w1) / w1,
        "critic_gp_lipschitz": k_gp,
        "critic_clip_dual": est_clip,
        "critic_clip_lipschitz": k_clip,
        "critic_clip_dual_rescaled": est_clip / k_clip,
        "critic_clip_rel_error_rescaled": abs(est_clip / k_clip - w1) / w1,
        "gan_modes_covered": scores["modes"],
        "gan_hq_fraction": scores["hq"],
        "gan_mode_kl": scores["mode_kl"],
        "gan_w1_to_data": scores["w1"],
        "gan_w1_noise_floor": w1_exact(x_real_ref, x_real_eval),
    }

    if out.is_main:
        crit = acc.unwrap_model(critic_gp)

        def field(points: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return crit(torch.from_numpy(points)).squeeze(1).numpy()

        sets = [(x_p, f"p = {cfg.p}"), (x_q, f"q = {cfg.q}")]
        title = f"WGAN-GP critic: dual {est_gp:.3f} vs exact W1 {w1:.3f}"
        out.save_figure(_plot.scatter(sets, title, field, "critic f(x)"), "critic.png")
        title = f"WGAN-GP on {cfg.gan_data}: {metrics['gan_modes_covered']}/8 modes"
        sets = [(x_real_eval, "real"), (x_gen, "generated")]
        out.save_figure(_plot.scatter(sets, title, centres=centres), "samples.png")
        fig = _plot.curves(
            out.history, ["dual_gp", "dual_clip"], "critic dual estimates", {"exact W1": w1}
        )
        out.save_figure(fig, "curves.png")
    return metrics
