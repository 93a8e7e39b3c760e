r"""Recipe: Lipschitz constraints — critics with a known W1, SN's σ, WGAN on 8 Gaussians,
spectral-norm regularisation and the generalisation gap.

Article: 深度学习中的Lipschitz约束：泛化与生成模型 (see kexue.gan.lipschitz)
Data:    kexue.data.toy2d eight_gaussians (p) and p shifted by t = (0.5, 0) (q): W1 = ‖t‖ = 0.5
         exactly on held-out samples; kexue.data.digits for the generalisation part;
         with --data FOLDER: the user's images (class subfolders optional)
Run:     kexue run lipschitz                 (full)
         kexue run lipschitz --budget quick  (about a minute)
         kexue run lipschitz --budget smoke  (a few seconds; claims not judged)
         kexue run lipschitz --data shapes32/ [--set img_loss=wgan-gp]   (WGAN-SN on DCGAN
                                              nets, or the WGAN-GP it is compared with)
         kexue run lipschitz --data celeba/ --budget article   (the author's 64-px WGAN-SN)
         kexue sample runs/lipschitz -n 64 [--interpolate 8]   (from a run on --data)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         critics.png (each critic over p and q), samples.png (WGAN per constraint, first
         seed), curves.png (certified bounds while training), gan_curves.png (W1 per seed);
         with --data: samples.png, curves.png, image_model.safetensors (kexue.recipes._image_gan)

Part 1 trains critics alone between p and q, one per Lipschitz device: weight clipping,
WGAN-GP (λ = 10), the author's one-sided GP, SN (PyTorch's persistent power iteration), SN
recomputed from ones every call (the author's Keras variant) and SN as a post-step projection
(the Keras-constraint pitfall). Each critic's dual estimate is certified: est/L̂ with L̂ its
largest slope over all pairs of held-out points, a lower bound on the exact W1 = 0.5. Part 2
trains a WGAN on eight_gaussians with clip / GP / SN critics on `gan_seeds` = 3 seeds (Adam
2e-4 (0.5, 0.9) for GP and SN alike, 5 : 1, 3 000 generator steps; 600 steps at 1e-4 left
every arm at 0–1 modes), scoring W1 to held-out data every 250 steps: the mean of that curve
measures how fast an arm converges, the last point how well; CPU time per step is
`time.process_time`. Part 3 trains a small digits classifier with and without λΣ‖W‖₂² and
reports the train-test gap (the article's first half).
Claims: the GP and SN critics' certified bounds reach 0.9·W1; a GP step costs more CPU than
an SN step; SN converges faster and ends better than GP (seed intervals of SN − GP; quick
trains one seed for 250 steps, so there they fail for want of an interval and of training);
both arms learn 8/8 modes (goal); spectral-norm regularisation
raises test accuracy (paired over test digits). The persistent SN's σ against the SVD's is
reported (sn_sigma_max_abs_err) and checked in tests/gan/test_lipschitz.py.
With --data, the article's image experiment: a WGAN whose critic has every weight spectrally
normalised (`img_loss` wgan-sn, no penalty) on DCGAN's convolutional nets trains on the folder;
`--set img_loss=wgan-gp` trains the WGAN-GP it is compared with on the same nets (its critic
without BatchNorm). `train_cpu_s` times the training of each. DATA_CLAIMS judge class coverage
on folders with class subfolders.
Recorded: `kexue show lipschitz` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kexue.data import digits, mode_centres, toy2d
from kexue.gan import (
    certified_lower_bound,
    clip_weights,
    digits_to_unit,
    evaluate_toy_generator,
    gradient_norm_penalty,
    lipschitz_upper_bound,
    project_spectral_,
    spectral_norm,
    spectral_norm_estimate,
    spectral_norm_penalty,
    w1_noise_floor,
    wgan_d_loss,
    wgan_g_loss,
)
from kexue.nn import MLP
from kexue.recipes import _gan, _image_gan, _plot
from kexue.recipes._image_gan import DCGANImageOptions
from kexue.recipes._images import IMAGE_DATA
from kexue.runs import Claim, Parts, RunDir, Statement, param, start_parts, statements_doc
from kexue.stats import paired_interval, record_interval, seed_interval, w1_exact

if TYPE_CHECKING:
    from accelerate import Accelerator

CRITIC_ARMS = ("clip", "gp", "one_sided_gp", "sn", "sn_fresh", "sn_project")
GAN_ARMS = ("clip", "gp", "sn")

DATA = IMAGE_DATA


@dataclass(frozen=True)
class Config(DCGANImageOptions):
    seed: int = 0
    # With --data: the author's wgan_sn_celeba.py (Adam(2e-4, 0.5), 5 critic steps) on DCGAN's
    # nets at CPU widths, a critic twice the generator's width (gan-qp's finding).
    img_loss: str = param("wgan-sn", choices=("wgan-sn", "wgan-gp"))
    img_betas: tuple[float, float] = (0.5, 0.999)
    img_n_d: int = 5
    img_steps: int = 1200
    toy: str = param("eight_gaussians", choices=("eight_gaussians", "twentyfive_gaussians"))
    shift: float = 0.5  # q = p + (shift, 0): W1 = shift exactly
    n_eval: int = 1000
    batch_size: int = 256
    hidden: tuple[int, ...] = (128, 128)
    critic_steps: int = 2000
    lr: float = 1e-4  # Adam (0.5, 0.9) for the GP/SN critics of part 1
    clip: float = 0.01
    clip_lr: float = 5e-5  # RMSProp, as in WGAN
    lam: float = 10.0
    gen_steps: int = 3000  # WGAN generator steps (SN and GP reach 8/8 modes by ~1 500)
    gan_lr: float = 2e-4  # Adam (0.5, 0.9), WGAN-GP's settings, both nets, GP and SN alike
    gan_seeds: int = 3  # seeds seed, seed+1, …: the SN-vs-GP claims are on seed intervals
    gan_eval_every: int = 250  # generator steps between two W1 scores (the convergence curve)
    n_critic: int = 5
    gan_hidden: tuple[int, ...] = (128, 128, 128)
    gan_lam: float = 0.1  # gan_toy.py's λ for the 2-D WGAN-GP
    reg_train: int = 300  # digits used to train the classifier (a small set overfits)
    reg_epochs: int = 300
    reg_lam: float = 0.01


QUICK = {"critic_steps": 300, "gen_steps": 250, "gan_seeds": 1, "reg_epochs": 60,
         "n_eval": 500,
         "img_steps": 150, "img_width": 32, "img_critic_width": 64, "img_eval": 500,
         "img_clf_epochs": 1}  # fmt: skip
SMOKE = {"critic_steps": 5, "gen_steps": 2, "gan_seeds": 2, "gan_eval_every": 1,
         "n_eval": 100, "batch_size": 64, "reg_epochs": 1, "hidden": (32, 32),
         "gan_hidden": (32, 32),
         "img_steps": 3, "img_width": 16, "img_critic_width": 16, "img_batch": 16,
         "img_eval": 16, "img_every": 2, "img_n_d": 2, "img_clf_epochs": 1}  # fmt: skip

# The article's own code (linked from it): bojone/gan keras/wgan_sn_celeba.py, 64 px, z 100,
# batch 64, Adam(2e-4, 0.5) for both nets, 5 critic steps, DCGAN's 5×5 nets (critic 64-…-512,
# generator 512-…-64), every critic kernel divided by its spectral norm. His critic also kept
# BatchNorm (its scale normalised too) and Keras's LeakyReLU slope 0.3; DCGANCritic's
# "spectral" form has no BatchNorm and slope 0.2.
ARTICLE = {
    **_image_gan.DCGAN_ARTICLE,
    "img_loss": "wgan-sn",
    "img_n_d": 5,
}

_QF = ("quick", "full")
CLAIMS = (
    Claim("GP critic: certified lower bound est/L̂ ≥ 0.9·W1",
          "gp_tightness", ">=", 0.9, _QF),
    Claim("SN critic: certified lower bound est/L̂ ≥ 0.9·W1",
          "sn_tightness", ">=", 0.9, _QF),
    Claim("a WGAN step with the gradient penalty costs more CPU time than one with SN",
          "gan_gp_over_sn_cpu_time", ">", 1.0, _QF),
    Claim("WGAN-SN converges faster than WGAN-GP: lower W1 along training (mean of the W1 "
          "curve, SN − GP < 0 over seeds)", "gan_sn_minus_gp_w1_auc", "<", 0.0, _QF,
          interval=True),
    Claim("WGAN-SN ends better than WGAN-GP: lower final W1 (SN − GP < 0 over seeds)",
          "gan_sn_minus_gp_w1", "<", 0.0, _QF, interval=True),
    Claim("WGAN-GP covers 8/8 modes on every seed (the comparison's arms learn)",
          "gan_gp_min_modes", ">=", 8, _QF, kind="goal"),
    Claim("WGAN-SN covers 8/8 modes on every seed (the comparison's arms learn)",
          "gan_sn_min_modes", ">=", 8, _QF, kind="goal"),
    Claim("spectral-norm regularisation raises test accuracy (paired over test digits)",
          "reg_test_acc_gain", ">", 0.0, _QF, interval=True),
)  # fmt: skip

DATA_CLAIMS = (_image_gan.COVERAGE_CLAIM,)

_T = "tests/gan/test_lipschitz.py::"
STATEMENTS = (
    Statement("‖W‖₂ ≤ ‖W‖_F: the Frobenius bound (L2 regularisation) is the coarser constraint",
              "test", _T + "test_spectral_below_frobenius"),
    Statement("power iteration u ← Wv/‖Wv‖, v ← Wᵀu/‖Wᵀu‖ gives σ = uᵀWv, the spectral norm",
              "test", _T + "test_power_iteration_matches_svd"),
    Statement("replacing every W by W/‖W‖₂ (activation slopes ≤ 1) makes f 1-Lipschitz "
              "whatever its parameters", "test", _T + "test_sn_mlp_is_1_lipschitz"),
    Statement("spectral-norm regularisation λ‖W‖₂² improves generalisation (the cited paper)",
              "claim", "reg_test_acc_gain"),
    Statement("a WGAN critic under a gradient penalty approximates the 1-Lipschitz dual (its "
              "W1 estimate is certified)", "claim", "gp_tightness"),
    Statement("a WGAN critic under spectral normalisation satisfies the L-constraint (its W1 "
              "estimate is certified)", "claim", "sn_tightness"),
    Statement("WGAN-SN reaches the same quality in fewer epochs than WGAN-GP", "claim",
              "gan_sn_minus_gp_w1_auc"),
    Statement("WGAN-SN's final result is somewhat better than WGAN-GP's", "claim",
              "gan_sn_minus_gp_w1"),
    Statement("each gradient-penalty step is slower (second-order gradients, two passes)",
              "claim", "gan_gp_over_sn_cpu_time"),
    Statement("the gradient penalty fails with many classes (conditional generation), its "
              "interpolates falling where the constraint is needed", "untestable",
              "needs a many-class conditional image GAN; the 2-D toy has no classes to mix"),
    Statement("a Keras kernel_constraint applies SN after the update instead of in the forward "
              "pass (the fix edits Keras' add_weight)", "untestable",
              "Keras-specific; the post-step projection arm (sn_project) is reported, not "
              "claimed: it differs from SN only in when σ is divided out"),
    Statement("SN-WGAN on CelebA (the author's wgan_sn_celeba.py samples)", "untestable",
              "needs CelebA and GPU-scale training, unavailable offline (`kexue run lipschitz "
              "--data CELEBA --budget article` trains it where they are)"),
)  # fmt: skip


def _critic(hidden: tuple[int, ...]) -> nn.Module:
    return MLP(2, 1, hidden=hidden, activation=lambda: nn.LeakyReLU(0.2))


def _constrained(arm: str, hidden: tuple[int, ...]) -> nn.Module:
    net = _critic(hidden)
    if arm == "sn":
        spectral_norm(net, state="persistent")
    elif arm == "sn_fresh":
        spectral_norm(net, state="fresh")
    elif arm == "sn_project":
        project_spectral_(net)
    return net


def _critic_step(
    arm: str,
    cfg: Config,
    critic: nn.Module,
    x_real: torch.Tensor,
    x_fake: torch.Tensor,
    g: torch.Generator,
) -> torch.Tensor:
    loss = wgan_d_loss(critic(x_real), critic(x_fake))
    if arm == "gp":
        loss = loss + cfg.lam * gradient_norm_penalty(critic, x_real, x_fake, generator=g)
    elif arm == "one_sided_gp":
        loss = loss + cfg.lam * gradient_norm_penalty(
            critic, x_real, x_fake, one_sided=True, generator=g
        )
    return loss


def _after_step(arm: str, cfg: Config, critic: nn.Module) -> None:
    if arm == "clip":
        clip_weights(critic, cfg.clip)
    elif arm == "sn_project":
        project_spectral_(critic)


def _train_wgan(
    arm: str,
    seed: int,
    cfg: Config,
    pool: torch.Tensor,
    ref: np.ndarray,
    acc: Accelerator,
    out: RunDir,
    parts: Parts,
    key: str,
) -> None:
    """One WGAN with the `arm` critic, seeded `seed`; scores its W1 every `gan_eval_every`
    generator steps (the mean of that curve is `w1_auc`: lower = converged sooner)."""
    torch.manual_seed(seed)
    gen = MLP(2, 2, hidden=cfg.gan_hidden)
    disc = _constrained(arm, cfg.gan_hidden)
    if arm == "clip":
        opt_d = torch.optim.RMSprop(disc.parameters(), lr=cfg.clip_lr)
        opt_g = torch.optim.RMSprop(gen.parameters(), lr=cfg.clip_lr)
    else:
        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.gan_lr, betas=(0.5, 0.9))
        opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.gan_lr, betas=(0.5, 0.9))
    gen, disc, opt_g, opt_d = acc.prepare(gen, disc, opt_g, opt_d)
    tg = torch.Generator().manual_seed(seed)
    gan_cfg = Config(**{**cfg.__dict__, "lam": cfg.gan_lam})
    curve, cpu = [], 0.0
    for i in out.progress(range(cfg.gen_steps), f"arm {key}"):
        t0 = time.process_time()  # CPU time of this process: the arms run one after another
        for _ in range(cfg.n_critic):
            x_real = pool[torch.randint(len(pool), (cfg.batch_size,), generator=tg)]
            with torch.no_grad():
                x_fake = gen(torch.randn(cfg.batch_size, 2, generator=tg))
            d_loss = _critic_step(arm, gan_cfg, disc, x_real, x_fake, tg)
            opt_d.zero_grad()
            acc.backward(d_loss)
            opt_d.step()
            _after_step(arm, cfg, disc)
        g_loss = wgan_g_loss(disc(gen(torch.randn(cfg.batch_size, 2, generator=tg))))
        opt_g.zero_grad()
        acc.backward(g_loss)
        opt_g.step()
        cpu += time.process_time() - t0
        if (i + 1) % cfg.gan_eval_every == 0 or i == cfg.gen_steps - 1:
            _, scores = evaluate_toy_generator(acc.unwrap_model(gen), cfg.toy, n=cfg.n_eval,
                                               ref=ref)  # fmt: skip
            curve.append(scores["w1"])
            out.log_next(**{f"gan_{arm}_w1": scores["w1"]})
    _gan.finish_toy_arm(parts, key, acc.unwrap_model(gen), cfg.toy, n=cfg.n_eval, ref=ref,
                        extra={f"{key}_w1_auc": float(np.mean(curve)),
                               f"{key}_cpu_ms_per_step": 1000 * cpu / cfg.gen_steps})  # fmt: skip


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    if cfg.data is not None:  # the user's images: WGAN-SN on DCGAN nets (kexue.recipes._image_gan)
        return _image_gan.run_image_gan(cfg, out, name="lipschitz")
    _, acc, parts, results, state = start_parts(cfg.seed, out)
    log = out.log_next

    shift = torch.tensor([cfg.shift, 0.0])
    x_p = toy2d(cfg.toy, cfg.n_eval, seed=10_000 + cfg.seed).astype(np.float64)
    x_q = x_p + shift.numpy()  # translation: W1 = ‖t‖ exactly
    w1 = w1_exact(x_p, x_q)
    tp, tq = torch.from_numpy(x_p).float(), torch.from_numpy(x_q).float()
    pool = torch.from_numpy(toy2d(cfg.toy, 100_000, seed=cfg.seed))
    metrics: dict[str, float] = {"w1_exact": w1}
    critics: dict[str, nn.Module] = {}

    # ---- part 1: critics alone between p and q = p + t
    for arm in CRITIC_ARMS:
        torch.manual_seed(cfg.seed)
        critic = _constrained(arm, cfg.hidden)
        if arm == "clip":
            opt = torch.optim.RMSprop(critic.parameters(), lr=cfg.clip_lr)
        else:
            opt = torch.optim.Adam(critic.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
        critic, opt = acc.prepare(critic, opt)
        critics[arm] = critic
        key = f"critic_{arm}"
        if parts.done(key):
            critic.load_state_dict(results[f"{key}_state"])
            continue
        tg = torch.Generator().manual_seed(cfg.seed)
        t0 = time.process_time()  # CPU time of this process: the arms run one after another
        for i in out.progress(range(cfg.critic_steps), f"arm {key}"):
            x_real = pool[torch.randint(len(pool), (cfg.batch_size,), generator=tg)]
            x_fake = pool[torch.randint(len(pool), (cfg.batch_size,), generator=tg)] + shift
            loss = _critic_step(arm, cfg, critic, x_real, x_fake, tg)
            opt.zero_grad()
            acc.backward(loss)
            opt.step()
            _after_step(arm, cfg, critic)
            if i % 100 == 0 or i == cfg.critic_steps - 1:
                with torch.no_grad():
                    s_p, s_q = critic(tp), critic(tq)
                cert = certified_lower_bound(s_p, s_q, x_p, x_q)
                log(**{f"{arm}_certified": cert["certified_lb"], f"{arm}_est": cert["est"]})
        seconds = time.process_time() - t0  # includes the certified bounds logged every 100
        critic.eval()
        with torch.no_grad():
            s_p, s_q = critic(tp), critic(tq)
        cert = certified_lower_bound(s_p, s_q, x_p, x_q)
        values = {
            f"{arm}_est": cert["est"],
            f"{arm}_L_hat": cert["L_hat"],
            f"{arm}_certified_lb": cert["certified_lb"],
            f"{arm}_tightness": cert["certified_lb"] / w1,
            f"{arm}_ms_per_step": 1000 * seconds / cfg.critic_steps,
            f"{arm}_lipschitz_upper_bound": lipschitz_upper_bound(acc.unwrap_model(critic)),
        }
        if arm == "sn":
            # σ the persistent parametrisation divides by vs the SVD's. One train-mode forward
            # without an update first: it runs the layer's power-iteration step on the current
            # weights (the last optimiser step changed them after u, v were last refined).
            critic.train()
            with torch.no_grad():
                critic(tp)
            critic.eval()
            errs, errs_100 = [], []
            for layer in acc.unwrap_model(critic):
                if isinstance(layer, nn.Linear):
                    w_orig = layer.parametrizations.weight.original.detach()
                    sigma_svd = float(torch.linalg.matrix_norm(w_orig, 2))
                    sigma_used = float(w_orig.norm() / layer.weight.detach().norm())
                    errs.append(abs(sigma_used - sigma_svd))
                    u = layer.parametrizations.weight[0]._u  # continue from the layer's u
                    sigma_100, _, _ = spectral_norm_estimate(w_orig, n_iter=100, u=u.clone())
                    errs_100.append(abs(float(sigma_100) - sigma_svd))
            values["sn_sigma_max_abs_err"] = max(errs)
            values["sn_sigma_100_iter_max_abs_err"] = max(errs_100)
        parts.finish(key, {**values, f"{key}_state": acc.unwrap_model(critic).state_dict()})
    for arm in CRITIC_ARMS:
        for m in ("est", "L_hat", "certified_lb", "tightness", "ms_per_step",
                  "lipschitz_upper_bound"):  # fmt: skip
            metrics[f"{arm}_{m}"] = results[f"{arm}_{m}"]
    metrics["sn_sigma_max_abs_err"] = results["sn_sigma_max_abs_err"]
    metrics["sn_sigma_100_iter_max_abs_err"] = results["sn_sigma_100_iter_max_abs_err"]
    metrics["gp_over_sn_time"] = metrics["gp_ms_per_step"] / metrics["sn_ms_per_step"]

    # ---- part 2: WGAN on the toy with each constraint, `gan_seeds` seeds per arm
    centres = mode_centres(cfg.toy)
    ref = toy2d(cfg.toy, cfg.n_eval, seed=30_000 + cfg.seed)
    metrics["gan_w1_floor"] = w1_noise_floor(cfg.toy, cfg.n_eval, seed=cfg.seed)
    seeds = [cfg.seed + k for k in range(cfg.gan_seeds)]
    samples, per_seed = {}, {}
    for arm in GAN_ARMS:
        for seed in seeds:
            key = f"gan_{arm}_s{seed}"
            if not parts.done(key):
                _train_wgan(arm, seed, cfg, pool, ref, acc, out, parts, key)
        per_seed[arm] = {
            m: np.array([float(results[f"gan_{arm}_s{s}_{m}"]) for s in seeds])
            for m in ("modes", "hq", "w1", "w1_auc", "cpu_ms_per_step")
        }
        for m, v in per_seed[arm].items():
            metrics[f"gan_{arm}_{m}"] = float(v.mean())
        metrics[f"gan_{arm}_min_modes"] = float(per_seed[arm]["modes"].min())
        samples[arm] = results[f"gan_{arm}_s{seeds[0]}_samples"].numpy()
    for m in ("w1", "w1_auc"):  # SN − GP, paired by seed (same init seed, batches, codes)
        diff = per_seed["sn"][m] - per_seed["gp"][m]
        metrics[f"gan_sn_minus_gp_{m}"] = float(diff.mean())
        if len(seeds) >= 2:
            record_interval(metrics, f"gan_sn_minus_gp_{m}", diff.mean(), seed_interval(diff))
    metrics["gan_gp_over_sn_cpu_time"] = (
        metrics["gan_gp_cpu_ms_per_step"] / metrics["gan_sn_cpu_ms_per_step"]
    )

    # ---- part 3: spectral-norm regularisation and the generalisation gap (digits)
    train, test = digits("train"), digits("test")
    x_tr = torch.from_numpy(digits_to_unit(train.images[: cfg.reg_train]))
    y_tr = torch.from_numpy(train.labels[: cfg.reg_train])
    x_te, y_te = torch.from_numpy(digits_to_unit(test.images)), torch.from_numpy(test.labels)
    for lam in (0.0, cfg.reg_lam):
        key = f"reg_{lam:g}"
        if not parts.done(key):
            torch.manual_seed(cfg.seed)
            clf = MLP(64, 10, hidden=(256, 256))
            opt = torch.optim.Adam(clf.parameters(), lr=1e-3)
            clf, opt = acc.prepare(clf, opt)
            for _ in out.progress(range(cfg.reg_epochs), f"arm {key}"):
                loss = F.cross_entropy(clf(x_tr), y_tr)
                if lam > 0:
                    loss = loss + spectral_norm_penalty(clf, lam)
                opt.zero_grad()
                acc.backward(loss)
                opt.step()
            with torch.no_grad():
                tr = float((clf(x_tr).argmax(1) == y_tr).float().mean())
                right = (clf(x_te).argmax(1) == y_te).float()  # per test digit
                te = float(right.mean())
                loss_tr = float(F.cross_entropy(clf(x_tr), y_tr))
                loss_te = float(F.cross_entropy(clf(x_te), y_te))
            parts.finish(key, {
                f"{key}_train_acc": tr, f"{key}_test_acc": te,
                f"{key}_loss_gap": loss_te - loss_tr,
                f"{key}_lipschitz_upper_bound": lipschitz_upper_bound(acc.unwrap_model(clf)),
                f"{key}_right": right,
            })  # fmt: skip
        for m in ("train_acc", "test_acc", "loss_gap", "lipschitz_upper_bound"):
            metrics[f"{key}_{m}"] = results[f"{key}_{m}"]
    right_reg = results[f"reg_{cfg.reg_lam:g}_right"].numpy()
    right_0 = results["reg_0_right"].numpy()
    record_interval(metrics, "reg_test_acc_gain", (right_reg - right_0).mean(),
                    paired_interval(right_reg, right_0, seed=cfg.seed))  # fmt: skip
    out.save_checkpoint(out.next_step, state)

    if out.is_main:
        fields = []
        for arm in CRITIC_ARMS:
            crit = acc.unwrap_model(critics[arm]).eval()

            def field(points: np.ndarray, crit: nn.Module = crit) -> np.ndarray:
                with torch.no_grad():
                    return crit(torch.from_numpy(points)).squeeze(1).numpy()

            fields.append(field)
        sets = [[(x_p[:400], "p"), (x_q[:400], "q = p + t")]] * len(CRITIC_ARMS)
        titles = [
            f"{a}: est/L̂ = {metrics[f'{a}_certified_lb']:.3f} (W1 {w1:.2f})" for a in CRITIC_ARMS
        ]
        out.save_figure(_plot.panels(sets, titles, fields=fields), "critics.png")
        sets = [[(ref[:500], "real"), (samples[a], "WGAN")] for a in GAN_ARMS]
        s0 = seeds[0]
        titles = [
            f"WGAN-{a} (seed {s0}): {int(results[f'gan_{a}_s{s0}_modes'])}/8, "
            f"W1 {results[f'gan_{a}_s{s0}_w1']:.3f}"
            for a in GAN_ARMS
        ]
        out.save_figure(_plot.panels(sets, titles, centres=centres), "samples.png")
        fig = _plot.arm_curves(out.history, [f"gan_{a}_w1" for a in GAN_ARMS],
                               "WGAN: W1 to held-out data (each seed a line)",
                               {"noise floor": metrics["gan_w1_floor"]},
                               xlabel="generator step", every=cfg.gan_eval_every,
                               first=cfg.gan_eval_every, last=cfg.gen_steps)  # fmt: skip
        out.save_figure(fig, "gan_curves.png")
        keys = [f"{a}_certified" for a in CRITIC_ARMS]
        fig = _plot.arm_curves(out.history, keys, "certified lower bound est/L̂", {"W1": w1},
                               xlabel="critic step of each arm", every=100,
                               last=cfg.critic_steps - 1)  # fmt: skip
        out.save_figure(fig, "curves.png")
    return metrics


sampler = _image_gan.sampler  # kexue sample RUN (runs on --data)
interpolator = _image_gan.interpolator  # kexue sample RUN --interpolate K

__doc__ = statements_doc(__doc__, STATEMENTS)
