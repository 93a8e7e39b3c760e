r"""Recipe: the GAN reading list — every technique kexue says it offers imports, and the list's
"stabilise training first" message on the Dirac GAN (R1, Roth et al.'s regulariser).

Article: 【学习清单】最近比较重要的GAN进展论文 (see kexue.gan.papers: its `PAPERS` table maps
         each paper to what kexue offers)
Data:    none (the Dirac GAN: data δ₀, generator δ_θ, critic D(x) = ψx)
Run:     kexue run gan-papers                 (full; seconds)
         kexue run gan-papers --budget quick
         kexue run gan-papers --budget smoke  (claims not judged)
Writes:  config.json metrics.json claims.json history.csv checkpoint.safetensors
         dirac.png (the (θ, ψ) trajectories per regulariser)

Part 1 resolves every dotted name in `PAPERS[i].offers` (names that implement the paper; a
paper kexue does not offer lists its nearest kexue names in `PAPERS[i].related`, not counted).
Part 2 is the example of Mescheder et al. (1801.04406, listed twice by the article):
alternating gradient steps on the non-saturating SGAN with D(x) = ψx, real data at 0 and the
generator a point mass at θ. Unregularised, the iterates circle the equilibrium (0, 0) and
approach it only sublinearly; with R1 (γ/2)ψ² or Roth et al.'s regulariser they converge
linearly.
Claims: with R1 the Dirac GAN reaches the equilibrium, without a regulariser it is still away
from it after the same number of steps. That every offered name imports, and that a paper
counts as offered only when its note does not say "not offered", are unit tests
(tests/gan/test_papers.py); missing_offered_names stays a reported metric.
Recorded: `kexue show gan-papers` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from kexue.gan import PAPERS, r1_penalty, roth_regularizer, sgan_d_loss, sgan_g_loss
from kexue.recipes import _plot
from kexue.runs import Claim, RunDir, Statement, seed_everything, statements_doc

REGULARISERS = ("none", "r1", "roth")


@dataclass(frozen=True)
class Config:
    seed: int = 0
    steps: int = 3000
    lr: float = 0.1
    gamma: float = 1.0
    theta0: float = 1.0
    psi0: float = 1.0


QUICK = {"steps": 2000}
SMOKE = {"steps": 20}

CLAIMS = (
    Claim("Dirac GAN with R1 converges to the equilibrium (distance < 0.05)",
          "dirac_r1_final_distance", "<", 0.05, ("quick", "full")),
    Claim("Dirac GAN without regulariser is still ≥ 0.05 away after the same number of steps",
          "dirac_none_final_distance", ">=", 0.05, ("quick", "full")),
)  # fmt: skip

T = "tests/gan/test_papers.py::"
STATEMENTS = (
    Statement("the list: eleven entries in two sections, ten distinct papers (Mescheder et al. "
              "twice)", "test", T + "test_eleven_entries_and_docs_table_lists_them"),
    Statement("what kexue offers for each paper imports; IntroVAE, CT-GAN, PGGAN, VDB and "
              "StyleGAN are not offered and not counted as offered", "test",
              T + "test_offered_only_when_the_note_does_not_say_not_offered"),
    Statement("Mescheder et al.: a simpler zero-centred penalty (R1) makes training converge",
              "claim", "dirac_r1_final_distance"),
    Statement("Mescheder et al.: unregularised GAN training does not converge (Dirac GAN)",
              "claim", "dirac_none_final_distance"),
    Statement("R1 is a special case of WGAN-div", "test",
              "tests/gan/test_energy.py::test_r1_on_quadratic_energy_by_hand"),
    Statement("Roth et al. derive a gradient regulariser from input noise, valid for every "
              "f-GAN", "test", T + "test_roth_regularizer_linear_critic_by_hand"),
    Statement("PGGAN, IntroVAE, BigGAN, VDB and StyleGAN generate 1024-px (or 128-512 px) "
              "images", "untestable",
              "high-resolution face/ImageNet training needs GPUs and datasets not available "
              "offline"),
    Statement("TTUR: different learning rates instead of different step counts stabilise "
              "training", "untestable",
              "offered as gan-qp's lr_d_scale, but no TTUR-vs-steps comparison is run here"),
    Statement("spectral normalisation is the most elegant L constraint; GAN frameworks are "
              "essentially complete since WGAN, the open problem is training dynamics",
              "untestable", "opinions of the author, with no quantity to check"),
)  # fmt: skip


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    seed_everything(cfg.seed)
    missing = 0
    for paper in PAPERS:
        for dotted in paper.offers:
            module, _, name = dotted.rpartition(".")
            try:
                getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError):
                missing += 1
    metrics: dict[str, float] = {
        "missing_offered_names": float(missing),
        "offered_names": float(sum(len(p.offers) for p in PAPERS)),
        "papers_with_an_offer": float(sum(bool(p.offers) for p in PAPERS)),
    }

    x_real = torch.zeros(1, 1)
    paths = {}
    for reg in REGULARISERS:
        theta = torch.tensor([[cfg.theta0]], requires_grad=True)  # G = δ_θ
        psi = torch.tensor([cfg.psi0], requires_grad=True)  # D(x) = ψx

        def critic(x: torch.Tensor, psi: torch.Tensor = psi) -> torch.Tensor:
            return x[:, 0] * psi

        opt_d = torch.optim.SGD([psi], lr=cfg.lr)
        opt_g = torch.optim.SGD([theta], lr=cfg.lr)
        path = []
        for i in out.progress(range(cfg.steps), f"dirac gan {reg}"):
            d_loss = sgan_d_loss(critic(x_real), critic(theta.detach()))
            if reg == "r1":
                d_loss = d_loss + r1_penalty(critic, x_real, gamma=cfg.gamma)
            elif reg == "roth":
                d_loss = d_loss + roth_regularizer(critic, x_real, theta.detach(), gamma=cfg.gamma)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = sgan_g_loss(critic(theta))
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            path.append((float(theta), float(psi)))
            if i % 50 == 0:
                out.log(i, **{f"{reg}_distance": math.hypot(*path[-1])})
        paths[reg] = np.array(path)
        metrics[f"dirac_{reg}_final_distance"] = math.hypot(*path[-1])
        metrics[f"dirac_{reg}_final_theta"] = path[-1][0]
    out.save_checkpoint(cfg.steps, {"paths": {k: torch.from_numpy(v) for k, v in paths.items()}})

    if out.is_main:
        sets = [
            (paths[r], f"{r}: final distance {metrics[f'dirac_{r}_final_distance']:.3f}")
            for r in REGULARISERS
        ]
        fig = _plot.scatter(sets, "Dirac GAN: (θ, ψ) iterates, equilibrium at (0, 0)",
                            lim=2.0, centres=np.zeros((1, 2)))  # fmt: skip
        out.save_figure(fig, "dirac.png")
    return metrics


__doc__ = statements_doc(__doc__, STATEMENTS)
