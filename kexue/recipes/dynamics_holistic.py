r"""Recipe: the loss-rate view dL/dt = ⟨∇L, θ'⟩ — gradient, sign and Polyak flows, and the
article's one-dimensional demo where the truncated Polyak flow escapes a local minimum.

Article: 从动力学角度看优化算法（三）：一个更整体的视角 (see kexue.train.dynamics_holistic)
Data:    the article's f(x) = x(x − 1)(x − 3)² + 1.62276; an over-parameterised least-squares
         problem on kexue.data.digits (n_samples images, 64 pixels, zero-mean targets), whose
         minimum is 0 as the article assumes
Run:     kexue run dynamics-holistic                 (full, seconds)
         kexue run dynamics-holistic --budget quick
Writes:  config.json metrics.json claims.json history.csv demo.png flows.png

1. The demo (x₀ = 4, h = 0.01, 2500 Euler steps, M = 1000): gradient descent stops at the local
   minimum x = 3; the truncated flow −sign(f')·min(1/|f'|, M)·f ends near the global x ≈ 0.41.
2. Along Euler trajectories of the three flows on the least-squares loss, the measured loss rate
   (finite differences) equals −λ‖∇L‖², −‖∇L‖₁ and −L.
3. The Polyak flow θ' = −∇L·L/‖∇L‖² gives L(t) = L(0)e^{−t} (Euler with h = 1e-4 up to t = 5;
   at h = 1e-3 the Euler error is reported too).
4. The sign flow (RMSprop's core) has no fixed point: its speed stays √(number of coordinates
   with a non-zero gradient) to the end (pixels that are 0 in every image have none).
Claims: item 1 (the dynamics decide it). Items 2–3 hold by construction (the chain rule, and
dL/dt = −L for the Polyak flow): unit tests, reported here; item 4 is reported.
Recorded: `kexue show dynamics-holistic` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from kexue.recipes import _plot
from kexue.recipes._train import digits_tensors
from kexue.runs import Claim, RunDir, Statement, seed_everything, statements_doc
from kexue.train import (
    article_demo_grad,
    article_demo_loss,
    euler_flow,
    gradient_velocity,
    loss_rate,
    polyak_velocity,
    sign_velocity,
)


@dataclass(frozen=True)
class Config:
    seed: int = 0
    demo_h: float = 0.01  # the article's step
    demo_steps: int = 2500  # the article's H
    demo_m: float = 1000.0  # the article's truncation M
    n_samples: int = 32  # < 64 pixels: least squares can reach 0
    h: float = 1e-3
    polyak_h: float = 1e-4  # Euler's O(h) error: L(t)/L(0) vs e^{-t} needs a finer step
    t_end: float = 5.0


QUICK: dict = {}
SMOKE = {"demo_steps": 300, "t_end": 0.5, "polyak_h": 1e-3}

CLAIMS = (
    Claim("gradient descent from x₀ = 4 stops at the local minimum x = 3 (|x − 3|)",
          "demo_gd_dist_to_3", "<=", 0.01, ("quick", "full")),
    Claim("the truncated flow ends near the global minimum x ≈ 0.41 (|x − 0.41|)",
          "demo_truncated_dist_to_0.41", "<=", 0.05, ("quick", "full")),
    Claim("… with f close to its minimum 0 (f(x_end))",
          "demo_truncated_final_loss", "<=", 1e-3, ("quick", "full")),
)  # fmt: skip
# The loss rates (dL/dt = ⟨∇L, θ'⟩, the chain rule) and the Polyak flow's L(0)e^{−t} (dL/dt = −L by
# construction) are identities of the flows: unit tests, reported here as metrics.


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    seed_everything(cfg.seed)
    f64 = torch.float64
    metrics: dict[str, float] = {}

    # 1. the article's 1-D demo
    x0 = torch.tensor([4.0], dtype=f64)
    gd = euler_flow(lambda x: -article_demo_grad(x), x0, cfg.demo_h, cfg.demo_steps)

    def truncated(x: torch.Tensor) -> torch.Tensor:
        return polyak_velocity(article_demo_grad(x), article_demo_loss(x).sum(), cfg.demo_m)

    tr = euler_flow(truncated, x0, cfg.demo_h, cfg.demo_steps)
    metrics["demo_gd_final_x"] = float(gd[-1])
    metrics["demo_gd_dist_to_3"] = abs(float(gd[-1]) - 3)
    metrics["demo_gd_final_loss"] = float(article_demo_loss(gd[-1]))
    metrics["demo_truncated_final_x"] = float(tr[-1])
    metrics["demo_truncated_dist_to_0.41"] = abs(float(tr[-1]) - 0.41)
    metrics["demo_truncated_final_loss"] = float(article_demo_loss(tr[-1]))
    for i in range(0, cfg.demo_steps + 1, 10):
        out.log(i, t=i * cfg.demo_h, x_gd=float(gd[i]), x_truncated=float(tr[i]))

    # 2-4. flows on an over-parameterised least squares (min L = 0)
    x, _ = digits_tensors("train", f64)
    x = x[: cfg.n_samples]
    gen = torch.Generator().manual_seed(cfg.seed)
    y = torch.randn(cfg.n_samples, generator=gen, dtype=f64)

    def loss_fn(w: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x @ w - y).pow(2).mean()

    def grad_fn(w: torch.Tensor) -> torch.Tensor:
        return x.T @ (x @ w - y) / cfg.n_samples

    flows = {
        "gradient": lambda w: gradient_velocity(grad_fn(w), 1.0),
        "sign": lambda w: sign_velocity(grad_fn(w)),
        "polyak": lambda w: polyak_velocity(grad_fn(w), loss_fn(w)),
    }
    w0 = torch.zeros(64, dtype=f64)
    n = round(cfg.t_end / cfg.h)
    worst = 0.0
    curves: dict[str, list[float]] = {}
    for name, vel in flows.items():
        traj = euler_flow(vel, w0, cfg.h, n)
        losses = torch.stack([loss_fn(w) for w in traj])
        curves[name] = losses.tolist()
        for k in (0, n // 2, n - 1):  # loss rate at a few points: formula vs finite difference
            w, v = traj[k], vel(traj[k])
            eps = 1e-6
            fd = (loss_fn(w + eps * v) - loss_fn(w - eps * v)) / (2 * eps)
            want = {"gradient": -grad_fn(w).pow(2).sum(), "sign": -grad_fn(w).abs().sum(),
                    "polyak": -loss_fn(w)}[name]  # fmt: skip
            got = loss_rate(grad_fn(w), v)
            worst = max(worst, abs(float(fd - want)) / abs(float(want)),
                        abs(float(got - want)) / abs(float(want)))  # fmt: skip
        metrics[f"{name}_final_loss_ratio"] = float(losses[-1] / losses[0])
        if name == "sign":
            speeds = (traj[1:] - traj[:-1]).norm(dim=-1) / cfg.h
            metrics["sign_final_speed"] = float(speeds[-1])
            active = int((grad_fn(traj[-2]) != 0).sum())
            metrics["sign_active_coordinates"] = float(active)
            metrics["sign_final_speed_over_sqrt_active"] = float(speeds[-1]) / math.sqrt(active)
    metrics["loss_rate_worst_rel_err"] = worst
    metrics["polyak_exp_rel_err_coarse_h"] = abs(
        metrics["polyak_final_loss_ratio"] / math.exp(-cfg.t_end) - 1
    )
    fine = euler_flow(flows["polyak"], w0, cfg.polyak_h, round(cfg.t_end / cfg.polyak_h))
    ratio = float(loss_fn(fine[-1]) / loss_fn(w0))
    metrics["polyak_exp_rel_err"] = abs(ratio / math.exp(-cfg.t_end) - 1)

    if out.is_main:
        fig = _plot.curves(out.history, ["x_gd", "x_truncated"],
                           "f(x) = x(x−1)(x−3)² + 1.62276 from x₀ = 4",
                           {"global min 0.41": 0.41, "local min 3": 3.0})  # fmt: skip
        out.save_figure(fig, "demo.png")
        step = max(1, n // 200)
        rows = [
            {
                "step": k * cfg.h,
                **{f"log10_L_{nm}": math.log10(max(c[k], 1e-300)) for nm, c in curves.items()},
                "log10_L0_exp_minus_t": math.log10(curves["polyak"][0]) - k * cfg.h / math.log(10),
            }
            for k in range(0, n + 1, step)
        ]
        fig = _plot.curves(rows, [*(f"log10_L_{nm}" for nm in curves), "log10_L0_exp_minus_t"],
                           "least squares: log10 L(t) under each flow", xlabel="t")  # fmt: skip
        out.save_figure(fig, "flows.png")
    return metrics


STATEMENTS = (
    Statement("from x₀ = 4, gradient descent converges to the local minimum x = 3", "claim",
              "demo_gd_dist_to_3"),
    Statement("the truncated flow −sign(f')·min(1/|f'|, M)·f escapes it and ends near the "
              "global minimum x ≈ 0.41", "claim", "demo_truncated_dist_to_0.41"),
    Statement("… where f is close to its minimum 0", "claim", "demo_truncated_final_loss"),
    Statement("dL/dt = ⟨∇L, θ'⟩: −λ‖∇L‖² for gradient flow, −‖∇L‖₁ for the sign flow, −L for "
              "θ' = −∇L·L/‖∇L‖² (each checked against finite differences)", "test",
              "tests/train/test_dynamics_holistic.py::"
              "test_loss_rate_matches_finite_differences_for_each_flow"),
    Statement("the flow θ' = −∇L·L/‖∇L‖² gives L(t) = L(0)e^{−t} → 0", "test",
              "tests/train/test_dynamics_holistic.py::test_polyak_flow_decays_as_exp_minus_t"),
    Statement("the sign flow (RMSprop's core) never stops; the untruncated flow has a "
              "singularity where ∇L = 0", "test", "tests/train/test_dynamics_holistic.py::"
              "test_sign_flow_never_stops_and_untruncated_raises"),
    Statement("escaping every local minimum needs M and the step count so large that the method "
              "has no practical value", "untestable",
              "a judgement about cost, with no criterion to measure against"),
)  # fmt: skip

__doc__ = statements_doc(__doc__, STATEMENTS)
