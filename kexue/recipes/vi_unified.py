r"""Recipe: the VI view's generator regulariser λ‖G(z) − G°(z)‖² against mode collapse, on a
deliberately fragile SGAN over 8 Gaussians, ten seeds per λ trained as one vmap ensemble.

Article: 用变分推断统一理解生成模型（VAE、GAN、AAE、ALI） (see kexue.gan.vi_unified)
Data:    kexue.data.toy2d eight_gaussians;
         with --data FOLDER: the user's images (class subfolders optional)
Run:     kexue run vi-unified                 (full: 10 seeds × λ ∈ {0, 0.5, 5})
         kexue run vi-unified --budget quick  (3 seeds × λ ∈ {0, 5})
         kexue run vi-unified --budget smoke  (a few seconds; claims not judged)
         kexue run vi-unified --data shapes32/ [--set img_anchor=0]   (DCGAN with the regulariser;
                                                        0: the plain DCGAN baseline)
         kexue run vi-unified --data celeba/ --budget article  (the author's CelebA DCGAN; a GPU)
         kexue sample runs/vi-unified -n 64 [--interpolate 8]  (from a run on --data)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         samples.png (final samples of the first seeds per λ), curves.png (modes while training);
         with --data: samples.png, curves.png, image_model.safetensors (kexue.recipes._image_gan)

The article's G step is −E log D(G(z)) + KL(q‖q°); the KL to the previous generator is
estimated by λ E_z ‖G(z) − G°(z)‖² (per element; λ = 5 in the author's code). A round is one
critic step, then `g_steps` = 2 generator steps on the same z with the anchor G°(z) taken
before the first (the author's schedule; the regulariser's gradient is zero at the anchor, so
it acts from the second step on). Every λ arm of a seed starts from the same weights and sees
the same batches and codes; only λ differs. The SGAN is fragile on purpose: Adam(1e-3, β₁ =
0.5) for both nets, no normalisation. Collapse = fewer than K/2 modes covered at the end
(kexue.gan.toy_scores, 1 000 samples). Per-seed paired differences (largest λ minus λ = 0)
are judged on their Student-t interval over the seeds.
Claims: the article's: with the regulariser collapse is rarer, more modes are covered, and the
function-space step E‖G(z) − G°(z)‖² per round is smaller (the KL term limits the step size).
With --data, the article's experiment 1 on the folder: DCGAN (BatchNorm in both nets, N(0, 0.02)
weights, z 100), SGAN with the non-saturating G loss, one critic batch then two generator steps
on the same z and anchor, + img_anchor · mean(G(z) − G°(z))² (5, the author's; 0 switches it
off for the baseline); DATA_CLAIMS judge class coverage on folders with class subfolders.
Recorded: `kexue show vi-unified` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from kexue.data import mode_centres, toy2d
from kexue.gan import anchor_regularizer, sgan_d_loss, sgan_g_loss, toy_scores
from kexue.nn import MLP, Ensemble
from kexue.recipes import _image_gan, _plot
from kexue.recipes._image_gan import GanImageOptions
from kexue.recipes._images import IMAGE_DATA
from kexue.runs import Claim, RunDir, Statement, param, start_parts, statements_doc
from kexue.stats import record_interval, seed_interval

DATA = IMAGE_DATA


@dataclass(frozen=True)
class Config(GanImageOptions):
    seed: int = 0
    # with --data: the author's DCGAN (bojone/gan vgan/) at a CPU width
    img_loss: str = param("sgan", choices=("sgan",))
    img_net: str = param("dcgan", choices=("dcgan", "qp"))
    img_norm: str = param("batch", choices=("batch", "none", "spectral"))
    img_z: int = 100
    img_width: int = 64
    img_critic_width: int = 128  # a critic twice the generator's width (gan-qp's finding)
    img_batch: int = 32
    img_n_d: int = 1
    img_steps: int = 5000
    img_anchor: float = 5.0  # λ of mean (G(z) − G°(z))², per element (the author's 5)
    img_g_steps: int = 2  # generator steps per critic batch, same z and anchor (his schedule)
    seeds: int = 10  # seeds seed, seed+1, ... per λ
    toy: str = param("eight_gaussians", choices=("eight_gaussians", "twentyfive_gaussians"))
    lams: tuple[float, ...] = (0.0, 0.5, 5.0)
    # "vi": each arm uses its λ; "none" switches the regulariser off in every arm (sabotage).
    method: str = param("vi", choices=("vi", "none"))
    steps: int = 1200  # rounds (one critic step, then g_steps generator steps)
    g_steps: int = 2  # generator steps per anchor (the reference code's schedule)
    lr: float = 1e-3
    beta1: float = 0.5
    batch_size: int = 128
    hidden: tuple[int, ...] = (64, 64)
    eval_every: int = 200
    n_eval: int = 1000


QUICK = {"seeds": 3, "lams": (0.0, 5.0), "steps": 1000,
         "img_steps": 300, "img_width": 32, "img_critic_width": 64, "img_eval": 500,
         "img_clf_epochs": 1}  # fmt: skip
SMOKE = {"seeds": 2, "lams": (0.0, 5.0), "steps": 4, "hidden": (16,), "eval_every": 2,
         "n_eval": 200, "img_steps": 3, "img_width": 16, "img_critic_width": 16, "img_batch": 16,
         "img_eval": 16, "img_every": 2, "img_clf_epochs": 1}  # fmt: skip

# The article's experiment 1 (bojone/gan vgan/, from LynnHo's DCGAN-LSGAN-WGAN-WGAN-GP code):
# CelebA cropped to 108 × 108 and resized to 64 × 64, z 100, batch 64, Adam(2e-4, 0.5) for both,
# 50 epochs, λ = 5 on the per-element MSE, two G steps per D batch.
ARTICLE = {
    **_image_gan.DCGAN_ARTICLE,
    "img_crop": 108,
    "img_n_d": 1,
    "img_anchor": 5.0,
    "img_g_steps": 2,
    "img_steps": 158_280,  # 50 epochs × 202,599 images / 64
}

CLAIMS = (
    Claim("the VI regulariser makes collapse rarer (collapse rate with the largest λ minus "
          "without, upper bound of the seed interval < 0)",
          "collapse_rate_reg_minus_none", "<", 0.0, ("quick", "full"), interval=True),
    Claim("with the VI regulariser more modes are covered (lower bound of the seed interval of "
          "the paired difference > 0)",
          "mean_modes_reg_minus_none", ">", 0.0, ("quick", "full"), interval=True),
    Claim("the regulariser (the missing KL(q‖q°)) shrinks the generator's step "
          "E‖G(z) − G°(z)‖² per round (paired difference < 0)",
          "mean_step_reg_minus_none", "<", 0.0, ("quick", "full"), interval=True),
)  # fmt: skip

DATA_CLAIMS = (
    _image_gan.COVERAGE_CLAIM,
)  # fmt: skip

STATEMENTS = (
    Statement("the joint KL bounds the marginal one: KL(p(x,z)‖q(x,z)) = KL(p̃‖q) + "
              "E KL(p(z|x)‖q(z|x)) ≥ KL(p̃‖q)", "test",
              "tests/gan/test_vi_unified.py::test_joint_kl_decomposition_identity_and_inequality"),
    Statement("VAE and EM follow from the joint KL in a few lines", "untestable",
              "a derivation with no number to check; the VAE loss itself is implemented and "
              "tested in the VAE recipes"),
    Statement("with the optimal D = p̃/(p̃ + q°) the G loss becomes −E log D(G(z)) + KL(q‖q°)",
              "test", "tests/gan/test_vi_unified.py::test_optimal_d_substitution_identity"),
    Statement("without the KL term an ideal generator puts all mass on argmax D: mode collapse; "
              "with the regulariser training stays stable (CelebA experiment 1)", "claim",
              "collapse_rate_reg_minus_none"),
    Statement("the regulariser keeps the generator covering the data (stable training)", "claim",
              "mean_modes_reg_minus_none"),
    Statement("KL(q‖q°) ≈ (Δθ·c)²: the missing term limits the step size, which explains "
              "gradient clipping, Adam, BN and few G iterations", "claim",
              "mean_step_reg_minus_none"),
    Statement("the regulariser λ E‖G(z) − G°(z)‖² is zero with zero gradient at the anchor and "
              "acts from the second step on the same anchor", "test",
              "tests/gan/test_vi_unified.py::test_regulariser_acts_from_the_second_step_of_a_round"),
    Statement("experiment 2 (no BN, 5 : 5 batches): with the regulariser the model gets on track "
              "faster", "untestable",
              "a qualitative CelebA observation with no criterion for 'on track'; this recipe "
              "runs the collapse experiment (1) only"),
    Statement("the AAE and ALI losses follow from the same joint KL; the VI ALI loss pushes both "
              "kinds of pair to the encoder side", "test",
              "tests/gan/test_vi_unified.py::test_ali_losses_by_hand"),
    Statement("the VI ALI variant performs as well as standard ALI, maybe slightly better",
              "untestable",
              "the author shows no numbers and calls it a possible illusion; no ALI training "
              "is offered here"),
)  # fmt: skip


def _nets(seed: int, hidden: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    gen = MLP(2, 2, hidden=hidden)
    disc = MLP(2, 1, hidden=hidden, activation=lambda: nn.LeakyReLU(0.2))
    return gen, disc


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    if cfg.data is not None:  # the user's images: DCGAN + the regulariser (_image_gan)
        return _image_gan.run_image_gan(cfg, out, name="vi-unified", anchor=cfg.img_anchor,
                                        g_steps=cfg.img_g_steps)  # fmt: skip
    _, acc, parts, results, state = start_parts(cfg.seed, out)
    log = out.log_next

    centres = mode_centres(cfg.toy)
    k = len(centres)
    seeds = list(range(cfg.seed, cfg.seed + cfg.seeds))
    n_s, n_l = len(seeds), len(cfg.lams)
    tags = [f"lam{lam:g}" for lam in cfg.lams]
    z_eval = torch.randn(cfg.n_eval, 2, generator=torch.Generator().manual_seed(99))
    if not parts.done("ensemble"):
        # Member a·S + j: λ arm a, seed j. All arms of a seed share its initial weights.
        nets = [_nets(s, cfg.hidden) for s in seeds]
        gen = Ensemble([nets[s][0] for _ in cfg.lams for s in range(n_s)])
        disc = Ensemble([nets[s][1] for _ in cfg.lams for s in range(n_s)])
        lam_on = 0.0 if cfg.method == "none" else 1.0
        lam = torch.tensor([lam_on * lam for lam in cfg.lams]).repeat_interleave(n_s)  # (L·S,)
        pools = torch.stack([torch.from_numpy(toy2d(cfg.toy, 100_000, seed=s)) for s in seeds])
        rows = torch.arange(n_s)[:, None]  # (S, 1): seed s draws from its own pool
        opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
        gen, disc, opt_g, opt_d = acc.prepare(gen, disc, opt_g, opt_d)
        # Member losses are means over their own batch; summing over members gives each its own
        # gradient, and Adam is elementwise, so every member trains as if alone.
        d_loss_k, g_loss_k = torch.vmap(sgan_d_loss), torch.vmap(sgan_g_loss)
        reg_k = torch.vmap(partial(anchor_regularizer, lam=1.0))  # λ applied per member below
        tg = torch.Generator().manual_seed(cfg.seed)
        shape = (n_s, cfg.batch_size)
        moves = torch.zeros(n_l * n_s)
        for i in out.progress(range(cfg.steps), "ensemble"):
            # One batch and one z per seed, shared by its λ arms (paired comparison).
            x_real = pools[rows, torch.randint(pools.shape[1], shape, generator=tg)].repeat(
                n_l, 1, 1
            )
            z = torch.randn(*shape, 2, generator=tg).repeat(n_l, 1, 1)
            with torch.no_grad():
                x_anchor = gen(z)  # G°(z): the generator before this round
            d_real, d_fake = disc(torch.cat([x_real, x_anchor], 1)).chunk(2, 1)
            d_loss = d_loss_k(d_real, d_fake)
            opt_d.zero_grad()
            acc.backward(d_loss.sum())
            opt_d.step()
            for _ in range(cfg.g_steps):
                x_fake = gen(z)
                g_loss = g_loss_k(disc(x_fake)) + lam * reg_k(x_fake, x_anchor)
                opt_g.zero_grad()
                acc.backward(g_loss.sum())
                opt_g.step()
            with torch.no_grad():  # function-space step E‖G(z) − G°(z)‖² of the round
                moves += ((gen(z) - x_anchor) ** 2).sum(-1).mean(-1)
            if (i + 1) % cfg.eval_every == 0:
                with torch.no_grad():
                    x = gen(z_eval.expand(n_l * n_s, -1, -1)).numpy()
                log(**{f"modes_{t}": toy_scores(x[a * n_s], cfg.toy)["modes"]
                       for a, t in enumerate(tags)})  # fmt: skip
        with torch.no_grad():
            x_gen = gen(z_eval.expand(n_l * n_s, -1, -1)).numpy()
        values: dict[str, object] = {}
        for a, tag in enumerate(tags):
            for j, s in enumerate(seeds):
                m = a * n_s + j  # the member
                # a diverged generator's NaN samples score 0 modes (collapsed) and HQ 0
                scores = toy_scores(x_gen[m], cfg.toy)
                key = f"{tag}_seed{s}"
                values[f"{key}_modes"] = float(scores["modes"])
                values[f"{key}_hq"] = float(scores["hq"])
                values[f"{key}_collapsed"] = float(scores["modes"] < k / 2)
                values[f"{key}_mean_step"] = float(moves[m]) / cfg.steps
                values[f"{key}_samples"] = torch.from_numpy(np.nan_to_num(x_gen[m][:400]))
        parts.finish("ensemble", values)

    metrics: dict[str, float] = {}
    per = {m: {t: np.array([results[f"{t}_seed{s}_{m}"] for s in seeds]) for t in tags}
           for m in ("modes", "hq", "collapsed", "mean_step")}  # fmt: skip
    for t in tags:
        metrics[f"{t}_collapse_rate"] = float(per["collapsed"][t].mean())
        metrics[f"{t}_mean_modes"] = float(per["modes"][t].mean())
        metrics[f"{t}_min_modes"] = float(per["modes"][t].min())
        metrics[f"{t}_mean_hq"] = float(per["hq"][t].mean())
        metrics[f"{t}_mean_step"] = float(per["mean_step"][t].mean())
        for s in seeds:
            metrics[f"{t}_seed{s}_modes"] = float(results[f"{t}_seed{s}_modes"])
    lo, hi = f"lam{min(cfg.lams):g}", f"lam{max(cfg.lams):g}"
    for name, m in (("collapse_rate", "collapsed"), ("mean_modes", "modes"),
                    ("mean_step", "mean_step")):  # fmt: skip
        diff = per[m][hi] - per[m][lo]  # paired by seed
        record_interval(metrics, f"{name}_reg_minus_none", float(diff.mean()), seed_interval(diff))
    out.save_checkpoint(out.next_step, state)

    if out.is_main:
        ref = toy2d(cfg.toy, 400, seed=60_000)
        names = [f"{t}_seed{s}" for t in tags for s in seeds[:3]]
        sets = [[(ref, "real"), (results[f"{n}_samples"].numpy(), n)] for n in names]
        titles = [
            f"{n}: {int(results[f'{n}_modes'])}/{k}, hq {results[f'{n}_hq']:.2f}" for n in names
        ]
        out.save_figure(_plot.panels(sets, titles, centres=centres), "samples.png")
        fig = _plot.curves(out.history, [f"modes_{t}" for t in tags],
                           f"modes covered (seed {cfg.seed})")  # fmt: skip
        out.save_figure(fig, "curves.png")
    return metrics


sampler = _image_gan.sampler  # kexue sample RUN (runs on --data)
interpolator = _image_gan.interpolator  # kexue sample RUN --interpolate K

__doc__ = statements_doc(__doc__, STATEMENTS)
