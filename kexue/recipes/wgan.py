r"""Recipe: the critic's dual estimate against the exact W1, then a WGAN-GP on 8 Gaussians.

Article: 从Wasserstein距离、对偶理论到WGAN (see kexue.gan.wgan, kexue.stats.wasserstein)
Data:    kexue.data.toy2d: p = eight_gaussians, q = two_moons (critic part); eight_gaussians (GAN);
         with --data FOLDER: the user's images (class subfolders optional)
Run:     kexue run wgan                 (full)
         kexue run wgan --budget quick  (a few minutes)
         kexue run wgan --budget smoke  (a few seconds; claims not judged)
         kexue run wgan --data shapes32/ [--set img_loss=wgan-sn]   (DCGAN nets, WGAN-GP or -SN)
         kexue run wgan --data celeba/ --budget article   (the author's 64-px WGAN-GP; a GPU)
         kexue sample runs/wgan -n 64 [--interpolate 8]   (from a run on --data)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         critic.png (GP critic over both test sets) samples.png (generated vs real)
         curves.png (dual estimates during training against the exact W1);
         with --data: samples.png, curves.png, image_model.safetensors (kexue.recipes._image_gan)

Part 0 solves the article's transport LP on `lp_points` points of p and q and reports primal,
dual and the g = −f dual (metric and squared costs); their equalities are unit tests. Part 1
trains two critics between fixed p and q (WGAN's weight clipping, WGAN-GP's penalty) and
certifies each: the dual estimate E_p f − E_q f on held-out samples divided by the critic's
largest pairwise slope L̂ on those samples is a valid lower bound on their exact W1
(assignment problem); tightness = bound / W1 ≤ 1. The uncertified estimate, which a critic with
slopes above 1 can push past W1, is reported beside it. Part 2 trains a WGAN-GP generator.
Claims: the GP critic's certified estimate reaches 90% of the exact W1 (KR duality reached by
a trained critic); the WGAN-GP generator covers 8/8 modes.
With --data, a WGAN on DCGAN's convolutional nets (kexue.gan.DCGANGenerator / DCGANCritic)
trains on the folder: `img_loss` wgan-gp (the penalty, no BatchNorm in the critic) or wgan-sn
(every critic weight spectrally normalised); DATA_CLAIMS judge class coverage on folders with
class subfolders.
Recorded: `kexue show wgan` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kexue.data import TOY2D, mode_centres, toy2d
from kexue.gan import (
    certified_lower_bound,
    clip_weights,
    dual_estimate,
    evaluate_toy_generator,
    gradient_penalty,
    kr_dual,
    transport_lp,
    wgan_d_loss,
    wgan_g_loss,
)
from kexue.nn import MLP
from kexue.recipes import _image_gan, _plot
from kexue.recipes._image_gan import DCGANImageOptions
from kexue.recipes._images import IMAGE_DATA
from kexue.runs import (
    Claim,
    RunDir,
    Statement,
    make_accelerator,
    param,
    seed_everything,
    statements_doc,
)
from kexue.stats import w1_exact

DATA = IMAGE_DATA


@dataclass(frozen=True)
class Config(DCGANImageOptions):
    seed: int = 0
    # with --data: DCGAN's nets at a CPU width, WGAN-GP's settings (Gulrajani et al.: Adam 1e-4,
    # β (0.5, 0.9), 5 critic steps, λ = 10)
    img_loss: str = param("wgan-gp", choices=("wgan-gp", "wgan-sn"))
    img_lr: float = 1e-4
    img_betas: tuple[float, float] = (0.5, 0.9)
    img_n_d: int = 5
    img_steps: int = 1200
    p: str = param("eight_gaussians", choices=TOY2D)
    q: str = param("two_moons", choices=TOY2D)
    n_eval: int = 2000  # held-out samples per side for the exact W1 and the dual estimates
    lp_points: int = 150  # points per side of the part-0 LPs (the g = −f LP has (2n)² rows)
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


QUICK = {"critic_steps": 1500, "gen_steps": 400, "n_eval": 1000,
         "img_steps": 150, "img_width": 32, "img_critic_width": 64, "img_eval": 500,
         "img_clf_epochs": 1}  # fmt: skip
SMOKE = {"critic_steps": 20, "gen_steps": 5, "n_eval": 100, "batch_size": 64, "lp_points": 30,
         "img_steps": 3, "img_width": 16, "img_critic_width": 16, "img_batch": 16,
         "img_eval": 16, "img_every": 2, "img_n_d": 2, "img_clf_epochs": 1}  # fmt: skip

# The article (6280) has no code; its image scale is the author's WGAN-GP script of the Lipschitz
# article (bojone/gan keras/wgan_gp_celeba.py): 64 px, z 100, batch 64, Adam(2e-4, 0.5), 5 critic
# steps, λ = 10 (he kept BatchNorm in that critic; here the penalty's critic has none, as
# WGAN-GP prescribes; --set img_loss=wgan-sn is his wgan_sn_celeba.py).
ARTICLE = {
    **_image_gan.DCGAN_ARTICLE,
    "img_n_d": 5,
    "img_lam": 10.0,
}

CLAIMS = (
    Claim(
        "the trained GP critic, made 1-Lipschitz on the samples (divided by its largest pairwise "
        "slope), certifies ≥ 90% of the exact W1 (KR duality reached by a critic)",
        "critic_gp_certified_tightness",
        ">=",
        0.90,
        ("quick", "full"),
    ),
    Claim(
        "the WGAN-GP generator covers 8/8 modes", "gan_modes_covered", ">=", 8, ("quick", "full")
    ),
)


DATA_CLAIMS = (
    _image_gan.COVERAGE_CLAIM,
)  # fmt: skip

T = "tests/gan/test_wgan.py::"
STATEMENTS = (
    Statement("the optimal transport cost is a linear programme min ⟨Γ, C⟩ s.t. AΓ = b, Γ ≥ 0; "
              "with c = ‖x − y‖ its optimum is W1", "test",
              T + "test_transport_lp_strong_duality"),
    Statement("weak duality: every feasible dual point is below the primal optimum", "test",
              T + "test_weak_duality_every_feasible_pair_is_below_the_primal"),
    Statement("strong duality (via Farkas' lemma): max ⟨b, F⟩ s.t. AᵀF ≤ C equals the primal, "
              "i.e. C[p, q] = max Σ p f + Σ q g s.t. f(x) + g(y) ≤ c(x, y)", "test",
              T + "test_transport_lp_strong_duality"),
    Statement("g = −f may replace the two potentials only when c is a metric (the author's "
              "caveat)", "test", T + "test_g_equals_minus_f_only_for_metric_costs"),
    Statement("W1 = max over 1-Lipschitz f of E_p f − E_q f, so a Lipschitz-constrained critic "
              "trained on samples estimates W1", "claim", "critic_gp_certified_tightness"),
    Statement("WGAN: min_G of that dual trains a generator toward the data", "claim",
              "gan_modes_covered"),
    Statement("the choice of ground norm barely matters (norms are equivalent)", "untestable",
              "a qualitative remark with no quantity or tolerance to check; every run here "
              "uses the Euclidean norm"),
)  # fmt: skip


def _sample(name: str, n: int, g: torch.Generator) -> torch.Tensor:
    # Seeds come from the checkpointed torch generator, so a resumed run draws the same data.
    seed = int(torch.randint(2**31 - 1, (1,), generator=g))
    return torch.from_numpy(toy2d(name, n, seed=seed))


def _grid_gradient_max(critic: torch.nn.Module, x_p: np.ndarray, x_q: np.ndarray) -> float:
    """Largest ‖∇f‖ on a 200×200 grid over the box of both sets (reported, not a certificate:
    the pairwise slopes on the samples are)."""
    both = np.concatenate([x_p, x_q])
    lo, hi = both.min(0), both.max(0)
    axes = [torch.linspace(float(lo[k]), float(hi[k]), 200) for k in range(2)]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    x = grid.requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    return float(grad.norm(dim=1).max())


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    if cfg.data is not None:  # the user's images: DCGAN nets (kexue.recipes._image_gan)
        return _image_gan.run_image_gan(cfg, out, name="wgan")
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

    # ---- part 0: the transport LP, its dual, and the g = −f dual (metric vs squared cost)
    small_p, small_q = x_p[: cfg.lp_points], x_q[: cfg.lp_points]
    lp = transport_lp(small_p, small_q)
    lp_sq = transport_lp(small_p, small_q, power=2)
    lp_metrics = {
        "lp_primal": lp["primal"],
        "lp_dual": lp["dual"],
        "lp_w1_assignment": w1_exact(small_p, small_q),
        "lp_kr_dual": kr_dual(small_p, small_q),
        "lp_sq_primal": lp_sq["primal"],
        "lp_sq_kr_dual": kr_dual(small_p, small_q, power=2),  # below the primal: not a metric
    }

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
    crit_clip, crit_gp = acc.unwrap_model(critic_clip), acc.unwrap_model(critic_gp)
    with torch.no_grad():
        cert_clip = certified_lower_bound(crit_clip(tp), crit_clip(tq), tp, tq)
        cert_gp = certified_lower_bound(crit_gp(tp), crit_gp(tq), tp, tq)
    grid_clip = _grid_gradient_max(crit_clip, x_p, x_q)
    grid_gp = _grid_gradient_max(crit_gp, x_p, x_q)

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
        **lp_metrics,
        "w1_exact": w1,
        "critic_gp_dual": est_gp,
        "critic_gp_rel_error": abs(est_gp - w1) / w1,
        "critic_gp_pairwise_lipschitz": cert_gp["L_hat"],
        "critic_gp_grid_max_grad": grid_gp,
        "critic_gp_certified": cert_gp["certified_lb"],
        "critic_gp_certified_tightness": cert_gp["certified_lb"] / w1,
        "critic_clip_dual": est_clip,
        "critic_clip_pairwise_lipschitz": cert_clip["L_hat"],
        "critic_clip_grid_max_grad": grid_clip,
        "critic_clip_certified": cert_clip["certified_lb"],
        "critic_clip_certified_tightness": cert_clip["certified_lb"] / w1,
        "gan_modes_covered": scores["modes"],
        "gan_hq_fraction": scores["hq"],
        "gan_mode_kl": scores["mode_kl"],
        "gan_w1_to_data": scores["w1"],
        "gan_w1_noise_floor": w1_exact(x_real_ref, x_real_eval),
    }

    if out.is_main:

        def field(points: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return crit_gp(torch.from_numpy(points)).squeeze(1).numpy()

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


sampler = _image_gan.sampler  # kexue sample RUN (runs on --data)
interpolator = _image_gan.interpolator  # kexue sample RUN --interpolate K

__doc__ = statements_doc(__doc__, STATEMENTS)
