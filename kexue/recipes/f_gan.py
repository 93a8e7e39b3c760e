r"""Recipe: f-GAN — variational divergence estimates against closed forms, and a toy GAN per f.

Article: f-GAN简介：GAN模型的生产车间 (see kexue.gan.f_gan)
Data:    p = N(0, 1) (the "data"), q = N(μ, 1) with μ = 1 (estimation); kexue.data.toy2d
         eight_gaussians (GANs)
Run:     kexue run f-gan                 (full)
         kexue run f-gan --budget quick  (about 30 s)
         kexue run f-gan --budget smoke  (a few seconds; claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         estimates.png (estimate vs closed form per divergence while training), critics.png
         (the learned T = g(v) against the optimal f′(p/q)), samples.png (one toy GAN per f)

Part 1 trains one critic per divergence to maximise E_p g(v) − E_q f*(g(v)) between two unit
Gaussians one unit apart and evaluates the bound on 2·10⁵ fresh samples per side. Closed forms
(P = N(0,1), Q = N(μ,1)): KL = reverse KL = μ²/2, Pearson χ² = e^{μ²} − 1, squared Hellinger =
2(1 − e^{−μ²/8}), TV = 2Φ(μ/2) − 1, Jeffrey = μ², JS by quadrature. Part 2 trains a GAN on
eight_gaussians with each divergence (critic loss f_d_loss, generator "alt" loss) and counts
modes: the article's claim is that the divergences differ little in practice.
Claims: each estimate is within 5% of its closed form (Pearson χ² within 10%); the modes of
part 2 are reported, not judged.
Recorded: `kexue show f-gan` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy import integrate, stats
from torch import nn

from kexue.data import mode_centres, toy2d
from kexue.gan import divergence, f_d_loss, f_estimate, f_g_loss
from kexue.nn import MLP
from kexue.recipes import _gan, _plot
from kexue.runs import Claim, RunDir, param, start_parts

ESTIMATED = ("kl", "reverse_kl", "pearson", "squared_hellinger", "total_variation", "js",
             "jeffrey")  # fmt: skip


@dataclass(frozen=True)
class Config:
    seed: int = 0
    mu: float = 1.0
    est_steps: int = 2500
    est_batch: int = 1024
    est_lr: float = 1e-3
    est_hidden: tuple[int, ...] = (64, 64)
    n_eval: int = 200_000
    gan_divergences: tuple[str, ...] = ("kl", "reverse_kl", "squared_hellinger", "gan")
    gan_data: str = param("eight_gaussians", choices=("eight_gaussians", "twentyfive_gaussians"))
    gan_steps: int = 1200
    gan_hidden: tuple[int, ...] = (128, 128, 128)
    gan_lr: float = 2e-4
    batch_size: int = 256
    n_gan_eval: int = 1000


QUICK = {"est_steps": 700, "gan_steps": 150, "gan_divergences": ("kl", "js"), "n_eval": 50_000}
SMOKE = {"est_steps": 10, "gan_steps": 3, "gan_divergences": ("kl",), "n_eval": 2000,
         "est_hidden": (16,), "gan_hidden": (16,), "n_gan_eval": 200}  # fmt: skip

CLAIMS = (
    Claim("KL(P‖Q) estimate within 5% of μ²/2", "kl_rel_err", "<=", 0.05, ("quick", "full")),
    Claim("reverse KL estimate within 5% of μ²/2",
          "reverse_kl_rel_err", "<=", 0.05, ("quick", "full")),
    Claim("squared Hellinger estimate within 5% of 2(1 − e^{−μ²/8})",
          "squared_hellinger_rel_err", "<=", 0.05, ("quick", "full")),
    Claim("total variation estimate within 5% of 2Φ(μ/2) − 1", "total_variation_rel_err",
          "<=", 0.05, ("quick", "full")),
    Claim("JS estimate within 5% of the quadrature value",
          "js_rel_err", "<=", 0.05, ("quick", "full")),
    Claim("Pearson χ² estimate within 10% of e^{μ²} − 1",
          "pearson_rel_err", "<=", 0.10, ("quick", "full")),
)  # fmt: skip


def closed_forms(mu: float) -> dict[str, float]:
    """D_f(N(0,1) ‖ N(μ,1)) for the estimated divergences (JS by quadrature)."""
    p, q = stats.norm(0, 1).pdf, stats.norm(mu, 1).pdf

    def js_integrand(x: float) -> float:
        m = (p(x) + q(x)) / 2
        return 0.5 * (p(x) * math.log(p(x) / m) + q(x) * math.log(q(x) / m))

    js = integrate.quad(js_integrand, -12, 12 + mu)[0]
    return {
        "kl": mu**2 / 2,
        "reverse_kl": mu**2 / 2,
        "pearson": math.exp(mu**2) - 1,
        "squared_hellinger": 2 * (1 - math.exp(-(mu**2) / 8)),
        "total_variation": 2 * stats.norm.cdf(mu / 2) - 1,
        "js": js,
        "jeffrey": mu**2,
    }


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    _, acc, parts, results, state = start_parts(cfg.seed, out)
    log = out.log_next

    truth = closed_forms(cfg.mu)
    eval_g = torch.Generator().manual_seed(10_000 + cfg.seed)
    x_p_eval = torch.randn(cfg.n_eval, 1, generator=eval_g)
    x_q_eval = torch.randn(cfg.n_eval, 1, generator=eval_g) + cfg.mu
    grid = torch.linspace(-3, 4, 200)[:, None]
    metrics: dict[str, float] = {}

    # ---- part 1: divergence estimation between two Gaussians
    for name in ESTIMATED:
        key = f"est_{name}"
        if not parts.done(key):
            torch.manual_seed(cfg.seed)
            critic = MLP(1, 1, hidden=cfg.est_hidden, activation=lambda: nn.LeakyReLU(0.2))
            opt = torch.optim.Adam(critic.parameters(), lr=cfg.est_lr)
            critic, opt = acc.prepare(critic, opt)
            tg = torch.Generator().manual_seed(cfg.seed)
            for i in out.progress(range(cfg.est_steps), f"arm {key}"):
                x_p = torch.randn(cfg.est_batch, 1, generator=tg)
                x_q = torch.randn(cfg.est_batch, 1, generator=tg) + cfg.mu
                loss = f_d_loss(name, critic(x_p), critic(x_q))
                opt.zero_grad()
                acc.backward(loss)
                opt.step()
                if i % 50 == 0:
                    log(**{f"{name}_estimate": -loss.item()})
            with torch.no_grad():
                est = float(f_estimate(name, critic(x_p_eval), critic(x_q_eval)))
                t_grid = divergence(name).activation(critic(grid)[:, 0])
            parts.finish(key, {key: est, f"{key}_t": t_grid})
        est = float(results[key])
        metrics[f"{name}_estimate"] = est
        metrics[f"{name}_closed_form"] = truth[name]
        metrics[f"{name}_rel_err"] = abs(est - truth[name]) / truth[name]

    # ---- part 2: a toy GAN per divergence
    centres = mode_centres(cfg.gan_data)
    pool = torch.from_numpy(toy2d(cfg.gan_data, 100_000, seed=cfg.seed))
    ref = toy2d(cfg.gan_data, cfg.n_gan_eval, seed=30_000 + cfg.seed)
    samples = {}
    for name in cfg.gan_divergences:
        key = f"gan_{name}"
        if not parts.done(key):
            torch.manual_seed(cfg.seed)
            gen = MLP(2, 2, hidden=cfg.gan_hidden)
            disc = MLP(2, 1, hidden=cfg.gan_hidden, activation=lambda: nn.LeakyReLU(0.2))
            opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.gan_lr, betas=(0.5, 0.999))
            opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.gan_lr, betas=(0.5, 0.999))
            gen, disc, opt_g, opt_d = acc.prepare(gen, disc, opt_g, opt_d)
            tg = torch.Generator().manual_seed(cfg.seed)
            diverged = 0.0
            for i in out.progress(range(cfg.gan_steps), f"arm {key}"):
                x_real = pool[torch.randint(len(pool), (cfg.batch_size,), generator=tg)]
                with torch.no_grad():
                    x_fake = gen(torch.randn(cfg.batch_size, 2, generator=tg))
                d_loss = f_d_loss(name, disc(x_real), disc(x_fake))
                if not torch.isfinite(d_loss):
                    diverged = 1.0  # exp-activated f's can overflow: record, stop this arm
                    break
                opt_d.zero_grad()
                acc.backward(d_loss)
                opt_d.step()
                g_loss = f_g_loss(name, disc(gen(torch.randn(cfg.batch_size, 2, generator=tg))))
                if not torch.isfinite(g_loss):
                    diverged = 1.0
                    break
                opt_g.zero_grad()
                acc.backward(g_loss)
                opt_g.step()
                if i % 100 == 0:
                    log(**{f"gan_{name}_d_loss": d_loss.item()})
            # a diverged generator's NaN samples score 0 modes, HQ 0 and W1 nan
            _gan.finish_toy_arm(parts, key, acc.unwrap_model(gen), cfg.gan_data,
                                n=cfg.n_gan_eval, ref=ref, extra={f"{key}_diverged": diverged},
                                nan_to_zero=True)  # fmt: skip
        for m in ("modes", "hq", "w1", "diverged"):
            metrics[f"{key}_{m}"] = float(results[f"{key}_{m}"])
        samples[name] = results[f"{key}_samples"].numpy()
    out.save_checkpoint(out.next_step, state)

    if out.is_main:
        keys = [f"{n}_estimate" for n in ESTIMATED]
        fig = _plot.arm_curves(out.history, keys, "variational estimates while training",
                               {f"{n} {truth[n]:.3f}": truth[n] for n in ESTIMATED},
                               xlabel="critic step of each arm", every=50)  # fmt: skip
        out.save_figure(fig, "estimates.png")
        xs = grid[:, 0].numpy()
        ratio = torch.from_numpy(stats.norm(0, 1).pdf(xs) / stats.norm(cfg.mu, 1).pdf(xs))
        rows = []
        for j, x in enumerate(xs):
            row = {"step": float(x)}
            for n in ("kl", "squared_hellinger", "total_variation", "js"):
                row[f"{n} learned"] = float(results[f"est_{n}_t"][j])
                row[f"{n} optimal"] = float(divergence(n).f_prime(ratio[j : j + 1].double()))
            rows.append(row)
        keys = [k for k in rows[0] if k != "step"]
        out.save_figure(_plot.curves(rows, keys, "T = g(v) vs f′(p/q)", xlabel="x"), "critics.png")
        sets = [[(ref[:500], "real"), (samples[n], n)] for n in cfg.gan_divergences]
        titles = [
            f"{n}: {int(metrics[f'gan_{n}_modes'])}/8, hq {metrics[f'gan_{n}_hq']:.2f}"
            for n in cfg.gan_divergences
        ]
        out.save_figure(_plot.panels(sets, titles, centres=centres), "samples.png")
    return metrics
