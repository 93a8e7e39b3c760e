"""GAN benchmark: loss equivalence against torchgan, SN against PyTorch, and the GAN variants
of ARM_TABLE (below) on three toy sets at equal CPU time over several seeds.

Run:  .venv/bin/python benchmarks/gan.py --seconds 20 --jobs 2  (the table in the docs)
      .venv/bin/python benchmarks/gan.py --seconds 1 --seeds 1   (a fast check)
Writes the Markdown tables to docs/benchmarks_gan.md (or --out) and prints them.

Equal time is measured in CPU seconds of this process (time.process_time, one torch thread), so
that other jobs on a shared machine do not change the comparison. Every arm trains the same MLPs
(G: 2 → 128³ → 2, critic: 2 → 128³ → 1, LeakyReLU 0.2), batch 256, with its source's optimiser
settings (ARM_TABLE), learning rates × --lr-scale decayed linearly to 0. Metrics on
1 000 samples: modes covered and HQ fraction (swiss roll: distance ≤ 0.1 to the curve), W1 to a
held-out reference minus the W1 noise floor at the same n, generator iterations per CPU second,
collapse rate = fraction of seeds with < K/2 modes.

torchgan (PyPI 0.1.0) imports torchvision and wget at import time, for logging only; when they
are missing they are stubbed by empty modules so that `torchgan.losses` can be imported.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from kexue.data import mode_centres, mode_std, toy2d
from kexue.gan import (
    clip_weights,
    f_d_loss,
    f_g_loss,
    gan_qp_d_loss,
    gan_qp_g_loss,
    gradient_norm_penalty,
    hinge_d_loss,
    hinge_g_loss,
    hq_fraction,
    lsgan_d_loss,
    lsgan_g_loss,
    modes_covered,
    r1_penalty,
    sgan_d_loss,
    sgan_g_loss,
    spectral_norm,
    spectral_norm_estimate,
    swiss_roll_hq_fraction,
    w1_noise_floor,
    wgan_d_loss,
    wgan_div_penalty,
    wgan_g_loss,
)
from kexue.gan.lipschitz import FreshSpectralNorm
from kexue.nn import MLP
from kexue.stats import w1_exact

Critic = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Arm:
    """One GAN variant: its two objectives and its source's optimiser settings.

    Attributes:
        critic_objective: (D, x_real, x_fake, g) -> the critic's loss with its penalty; x_fake
            is detached by the caller; the torch generator g draws the penalty's interpolates.
        generator_objective: (D, x_real, x_fake = G(z) with its graph) -> the generator's loss.
        sn: spectral-normalise the critic. clip: WGAN weight clipping value (0 = none).
        n_d: critic steps per generator step. lr, betas: Adam (RMSProp when clipping).
    """

    critic_objective: Callable[[Critic, Tensor, Tensor, torch.Generator], Tensor]
    generator_objective: Callable[[Critic, Tensor, Tensor], Tensor]
    sn: bool = False
    clip: float = 0.0
    n_d: int = 1
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)


def _critic(loss: Callable[[Tensor, Tensor], Tensor], penalty: Callable | None = None) -> Callable:
    """The critic objective loss(D(x_real), D(x_fake)) [+ penalty(D, x_real, x_fake, g)]."""

    def objective(disc: Critic, x_real: Tensor, x_fake: Tensor, g: torch.Generator) -> Tensor:
        d_loss = loss(disc(x_real), disc(x_fake))
        return d_loss if penalty is None else d_loss + penalty(disc, x_real, x_fake, g)

    return objective


def _generator(loss: Callable[[Tensor], Tensor]) -> Callable:
    """The generator objective loss(D(G(z)))."""
    return lambda disc, x_real, x_fake: loss(disc(x_fake))


def _gan_qp_critic(norm: str) -> Callable:
    def objective(disc: Critic, x_real: Tensor, x_fake: Tensor, g: torch.Generator) -> Tensor:
        return gan_qp_d_loss(disc(x_real), disc(x_fake), x_real, x_fake, lam=10.0, norm=norm)

    return objective


def _gan_qp_generator(disc: Critic, x_real: Tensor, x_fake: Tensor) -> Tensor:
    d_fake = disc(x_fake)
    with torch.no_grad():  # T(x_real) carries no generator gradient
        d_real = disc(x_real)
    return gan_qp_g_loss(d_real, d_fake)


def _gp(disc: Critic, x_real: Tensor, x_fake: Tensor, g: torch.Generator) -> Tensor:
    return 0.1 * gradient_norm_penalty(disc, x_real, x_fake, generator=g)  # λ = 0.1, gan_toy.py


def _r1(disc: Critic, x_real: Tensor, x_fake: Tensor, g: torch.Generator) -> Tensor:
    return r1_penalty(disc, x_real, gamma=1.0)


def _wgan_div(disc: Critic, x_real: Tensor, x_fake: Tensor, g: torch.Generator) -> Tensor:
    return wgan_div_penalty(disc, x_real, x_fake, k=2.0, p=6.0)


def _f(name: str) -> tuple[Callable, Callable]:
    """f-GAN with divergence `name`: f_d_loss / f_g_loss(mode="alt")."""
    return _critic(partial(f_d_loss, name)), _generator(partial(f_g_loss, name, mode="alt"))


# The objective pairs (critic, generator) of each arm, then its source's optimiser settings.
_SGAN = _critic(sgan_d_loss), _generator(sgan_g_loss)
_WGAN = _critic(wgan_d_loss), _generator(wgan_g_loss)
_W = {"n_d": 5, "lr": 1e-4, "betas": (0.5, 0.9)}  # WGAN-GP paper's toy settings
ARM_TABLE: dict[str, Arm] = {
    "sgan_ns": Arm(*_SGAN),
    "sgan_sn": Arm(*_SGAN, sn=True),
    "lsgan_sn": Arm(_critic(lsgan_d_loss), _generator(lsgan_g_loss), sn=True),
    "hinge_sn": Arm(_critic(hinge_d_loss), _generator(hinge_g_loss), sn=True),
    "wgan_clip": Arm(*_WGAN, clip=0.01, n_d=5, lr=5e-5, betas=(0.5, 0.9)),
    "wgan_gp": Arm(_critic(wgan_d_loss, _gp), _generator(wgan_g_loss), **_W),
    "wgan_sn": Arm(*_WGAN, sn=True, **_W),
    "wgan_div": Arm(_critic(wgan_d_loss, _wgan_div), _generator(wgan_g_loss), **_W),
    "r1": Arm(_critic(sgan_d_loss, _r1), _generator(sgan_g_loss)),
    "fgan_kl": Arm(*_f("kl")),
    "fgan_reverse_kl": Arm(*_f("reverse_kl")),
    "fgan_hellinger": Arm(*_f("squared_hellinger")),
    "gan_qp_l1": Arm(_gan_qp_critic("l1"), _gan_qp_generator, n_d=2),
    "gan_qp_l2": Arm(_gan_qp_critic("l2"), _gan_qp_generator, n_d=2),
}
ARMS = ("sgan_ns", "sgan_sn", "hinge_sn", "wgan_gp", "wgan_sn", "wgan_div", "r1", "gan_qp_l1")
SETS = ("eight_gaussians", "twentyfive_gaussians", "swiss_roll")


def _import_torchgan() -> types.ModuleType | None:
    for name in ("torchvision", "torchvision.utils", "wget"):
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
    try:
        import torchgan.losses as tl
    except Exception as exc:  # noqa: BLE001 - any import failure means "peer unavailable"
        print(f"torchgan unavailable: {exc}")
        return None
    return tl


def loss_equivalence() -> list[str]:
    """Values and input gradients of kexue's losses vs torchgan's functional forms (float64)."""
    tl = _import_torchgan()
    rows = [
        "| loss | peer | max abs diff (value) | max abs diff (input grad) |",
        "|---|---|---|---|",
    ]
    g = torch.Generator().manual_seed(0)
    vr = torch.randn(64, generator=g, dtype=torch.float64, requires_grad=True)
    vf = torch.randn(64, generator=g, dtype=torch.float64, requires_grad=True)

    def compare(
        name: str,
        peer: str,
        ours: Callable[[Tensor, Tensor], Tensor],
        theirs: Callable[[Tensor, Tensor], Tensor],
    ) -> None:
        a, b = ours(vr, vf), theirs(vr, vf)
        ga = torch.autograd.grad(a, (vr, vf), allow_unused=True, materialize_grads=True)
        gb = torch.autograd.grad(b, (vr, vf), allow_unused=True, materialize_grads=True)
        dv = abs(float((a - b).detach()))
        dg = max(float((x - y).abs().max()) for x, y in zip(ga, gb, strict=True))
        rows.append(f"| {name} | {peer} | {dv:.1e} | {dg:.1e} |")

    softplus = torch.nn.functional.softplus
    compare("SGAN D", "StudioGAN formula", sgan_d_loss,
            lambda r, f: softplus(-r).mean() + softplus(f).mean())  # fmt: skip
    compare("SGAN G (non-sat.)", "StudioGAN formula", lambda r, f: sgan_g_loss(f),
            lambda r, f: softplus(-f).mean())  # fmt: skip
    if tl is not None:
        F = tl.functional
        compare("SGAN D", "torchgan minimax_discriminator_loss", sgan_d_loss,
                lambda r, f: F.minimax_discriminator_loss(r, f))  # fmt: skip
        compare("SGAN G (non-sat.)", "torchgan minimax_generator_loss",
                lambda r, f: sgan_g_loss(f), lambda r, f: F.minimax_generator_loss(f))  # fmt: skip
        compare("SGAN G (minimax)", "torchgan minimax_generator_loss(nonsaturating=False)",
                lambda r, f: sgan_g_loss(f, mode="minimax"),
                lambda r, f: F.minimax_generator_loss(f, nonsaturating=False))  # fmt: skip
        compare("LSGAN D", "torchgan least_squares_discriminator_loss", lsgan_d_loss,
                lambda r, f: F.least_squares_discriminator_loss(r, f))  # fmt: skip
        compare("LSGAN G", "torchgan least_squares_generator_loss", lambda r, f: lsgan_g_loss(f),
                lambda r, f: F.least_squares_generator_loss(f))  # fmt: skip
        compare("WGAN D", "torchgan wasserstein_discriminator_loss", wgan_d_loss,
                lambda r, f: F.wasserstein_discriminator_loss(r, f))  # fmt: skip
        compare("WGAN G", "torchgan wasserstein_generator_loss", lambda r, f: wgan_g_loss(f),
                lambda r, f: F.wasserstein_generator_loss(f))  # fmt: skip
        # Gradient penalty: the same interpolates, a small tanh critic.
        torch.manual_seed(0)
        w = torch.randn(2, 8, dtype=torch.float64)
        crit = lambda x: torch.tanh(x @ w).sum(1)  # noqa: E731
        for b in (1, 64):
            x = torch.randn(b, 2, dtype=torch.float64)
            ours = gradient_norm_penalty(crit, x, x, eps=0.0)  # interpolates of x and x = x
            xi = x.clone().requires_grad_(True)
            theirs = F.wasserstein_gradient_penalty(xi, crit(xi))
            rows.append(
                f"| WGAN-GP penalty, B = {b} | torchgan wasserstein_gradient_penalty | "
                f"{abs(float((ours - theirs).detach())):.1e} | — |"
            )
    return rows


def sn_against_torch() -> list[str]:
    rows = ["| shape | Δσ kexue vs torch (same start, 1 iteration) | forward µs: plain / torch "
            "SN / "
            "kexue fresh SN (5 it.) |", "|---|---|---|"]  # fmt: skip
    for shape in ((128, 2), (128, 128), (1, 128), (256, 64)):
        torch.manual_seed(0)
        lin = nn.Linear(shape[1], shape[0])
        sn = nn.utils.parametrizations.spectral_norm(nn.Linear(shape[1], shape[0]))
        with torch.no_grad():
            sn.parametrizations.weight.original.copy_(lin.weight)
        v0 = sn.parametrizations.weight[0]._v.clone()
        sn.train()
        w_eff = sn.weight.detach()  # one power iteration from u0, then W/σ
        sigma_torch = float(lin.weight.norm() / w_eff.norm())
        # torch refines u from v, then v from u: our iteration on Wᵀ from v0 is the same one.
        sigma_ours, _, _ = spectral_norm_estimate(lin.weight.detach().T, n_iter=1, u=v0)
        fresh = nn.Linear(shape[1], shape[0])
        nn.utils.parametrize.register_parametrization(fresh, "weight", FreshSpectralNorm(5))
        x = torch.randn(256, shape[1])
        times = []
        for mod in (lin, sn, fresh):
            t0 = time.perf_counter()
            with torch.no_grad():
                for _ in range(200):
                    mod(x)
            times.append(1e6 * (time.perf_counter() - t0) / 200)
        rows.append(
            f"| {shape} | {abs(sigma_torch - float(sigma_ours)):.1e} | "
            f"{times[0]:.0f} / {times[1]:.0f} / {times[2]:.0f} |"
        )
    return rows


def train_arm(
    name: str, data: str, seed: int, seconds: float, lr_scale: float = 1.0
) -> dict[str, float]:
    """One arm on one toy set for `seconds` CPU seconds; returns its metrics.

    Both learning rates are the arm's times `lr_scale`, decayed linearly to 0 as the CPU budget
    is spent (the decay is what sharpens the modes within a few thousand steps).
    """
    torch.set_num_threads(1)
    a = ARM_TABLE[name]
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    pool = torch.from_numpy(toy2d(data, 100_000, seed=seed))
    gen = MLP(2, 2, hidden=(128, 128, 128))
    disc = MLP(2, 1, hidden=(128, 128, 128), activation=lambda: nn.LeakyReLU(0.2))
    if a.sn:
        spectral_norm(disc)
    opt_cls = torch.optim.RMSprop if a.clip else torch.optim.Adam
    kw = {} if a.clip else {"betas": a.betas}
    lr = a.lr * lr_scale
    opt_g = opt_cls(gen.parameters(), lr=lr, **kw)
    opt_d = opt_cls(disc.parameters(), lr=lr, **kw)
    b, it, t0 = 256, 0, time.process_time()
    while (spent := time.process_time() - t0) < seconds:
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] = lr * (1 - spent / seconds)
        for _ in range(a.n_d):
            x_real = pool[torch.randint(len(pool), (b,), generator=g)]
            with torch.no_grad():
                x_fake = gen(torch.randn(b, 2, generator=g))
            d_loss = a.critic_objective(disc, x_real, x_fake, g)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            if a.clip:
                clip_weights(disc, a.clip)
        x_real = pool[torch.randint(len(pool), (b,), generator=g)]
        g_loss = a.generator_objective(disc, x_real, gen(torch.randn(b, 2, generator=g)))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        it += 1
    cpu = time.process_time() - t0
    with torch.no_grad():
        x = gen(torch.randn(1000, 2, generator=torch.Generator().manual_seed(99))).numpy()
    ref = toy2d(data, 1000, seed=40_000 + seed)
    if not np.isfinite(x).all():
        return {"modes": 0.0, "hq": 0.0, "w1": float("nan"), "it_per_s": it / cpu}
    out = {"w1": w1_exact(x, ref), "it_per_s": it / cpu}
    if data == "swiss_roll":
        out.update(modes=float("nan"), hq=swiss_roll_hq_fraction(x))
    else:
        c, s = mode_centres(data), mode_std(data)
        out.update(modes=float(modes_covered(x, c, s)), hq=hq_fraction(x, c, s))
    return out


def toy_table(
    arms: tuple[str, ...],
    sets: tuple[str, ...],
    seeds: int,
    seconds: float,
    lr_scale: float = 1.0,
    jobs: int = 1,
) -> list[str]:
    rows = [
        "| data | arm | modes (mean ± sd) | HQ | W1 − floor | gen. it / CPU-s | collapse |",
        "|---|---|---|---|---|---|---|",
    ]
    for data in sets:
        if data == "swiss_roll":
            floor = float(np.mean([w1_exact(toy2d(data, 1000, seed=40_000 + s),
                                            toy2d(data, 1000, seed=50_000 + s))
                                   for s in range(3)]))  # fmt: skip
            k = None
        else:
            floor = w1_noise_floor(data, 1000, seed=0, n_draws=3)
            k = len(mode_centres(data))
        tasks = [(name, data, s, seconds, lr_scale) for name in arms for s in range(seeds)]
        if jobs > 1:  # CPU time per process is what is equal, so parallel runs stay fair
            with multiprocessing.get_context("spawn").Pool(jobs) as pool:
                results = pool.starmap(train_arm, tasks)
        else:
            results = [train_arm(*t) for t in tasks]
        for i, name in enumerate(arms):
            res = results[i * seeds : (i + 1) * seeds]
            col = {m: np.array([r[m] for r in res]) for m in res[0]}
            modes = "—" if k is None else f"{col['modes'].mean():.1f} ± {col['modes'].std():.1f}"
            collapse = "—" if k is None else f"{(col['modes'] < k / 2).mean():.1f}"
            hq = f"{col['hq'].mean():.2f} ± {col['hq'].std():.2f}"
            w1 = f"{np.nanmean(col['w1']) - floor:.3f}"
            its = f"{col['it_per_s'].mean():.0f}"
            rows.append(f"| {data} | {name} | {modes} | {hq} | {w1} | {its} | {collapse} |")
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0, help="CPU seconds per run")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument(
        "--lr-scale",
        type=float,
        default=10.0,
        help="every arm's learning rates × this, decayed linearly to 0",
    )
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (one thread each)")
    p.add_argument("--arms", nargs="*", default=list(ARMS), choices=list(ARM_TABLE))
    p.add_argument("--sets", nargs="*", default=list(SETS))
    p.add_argument("--out", default="docs/benchmarks_gan.md")
    args = p.parse_args()
    torch.set_num_threads(1)
    cmd = "python benchmarks/gan.py " + " ".join(sys.argv[1:])
    parts = ["## GAN theme (kexue.gan)", "", f"Command: `{cmd.strip()}` (one torch thread).", "",
             "### Loss equivalence (float64, 64 random logits)", "", *loss_equivalence(), "",
             "torchgan's `wasserstein_gradient_penalty` takes one norm over the whole "
             "batch's "
             "gradient (`gradients.norm(2)`), not one per sample: it equals kexue's (and "
             "WGAN-GP's) per-sample penalty only at B = 1.", "",
             "### Spectral normalisation against PyTorch", "", *sn_against_torch(), "",
             f"### Toy GANs at equal CPU time ({args.seconds:g} CPU-s per run, "
             f"{args.seeds} seeds)", "",
             f"Every arm keeps its source's optimiser (ARM_TABLE, benchmarks/gan.py) with both "
             f"learning rates × {args.lr_scale:g}, decayed linearly to 0 as its CPU budget is "
             "spent: "
             "at the sources' image-scale rates (1e-4 – 2e-4) no arm converges within a few "
             "thousand steps on the toys, and the decay is what sharpens the modes (the "
             "gan-qp recipe's schedule). Collapse = fraction of seeds covering fewer than "
             "half the modes.", "",
             *toy_table(tuple(args.arms), tuple(args.sets), args.seeds, args.seconds,
                        args.lr_scale, args.jobs),
             ""]  # fmt: skip
    text = "\n".join(parts)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
