r"""Recipe: gradient descent, momentum and Nesterov checked numerically as ODE/SDE discretisations.

Article: 从动力学角度看优化算法（一）：从SGD到动量加速 (see kexue.train.dynamics_sgd)
Data:    quadratics L = ½ Σ a_i θ_i² (float64); Gaussian gradient noise for SGD
Run:     kexue run dynamics-sgd                 (full, well under a minute)
         kexue run dynamics-sgd --budget quick
Writes:  config.json metrics.json claims.json history.csv orders.png speedup.png

1. torch.optim.SGD(momentum, nesterov) is the article's recurrence (16) and its Θ-form Nesterov
   to float64 round-off.
2. Orders of accuracy on a damped quadratic: GD against the gradient flow (4) (slope 1); momentum
   with (15)'s α, β and v₀ = γη(−γ/2) against the damped ODE (10) (slope 2: the leapfrog scheme
   is second order); both Nesterov forms (18)/(20) are measured and reported.
3. Stability limits found by bisection against 2/a, 2(1+β)/a, 2(1+β)/((1+2β)a).
4. SGD as a noisy ODE: the stationary variance of SGD with gradient noise σ²/B on ½aθ² equals
   the AR(1) value γσ²/(Ba(2 − γa)) (→ the Gibbs/Langevin temperature γσ²/2B): smaller batches
   and larger learning rates mean hotter noise; (γ, B) and (2γ, 2B) agree while γa ≪ 1.
5. Momentum accelerates: iterations to reach ‖θ‖ < 1e-6 grow like κ for tuned GD and like √κ
   for tuned heavy ball (log-log slopes).
Claims: items 2–5, within ± 0.1 of the slopes (2, 5) and within 1–3% of the formulas (3, 4);
the article's "Nesterov is second order too" fails here (slope ≈ 1; see the recipe's notes).
Checks (in the tests): item 1, to round-off (reported).
Recorded: `kexue show dynamics-sgd` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from kexue.recipes import _plot
from kexue.runs import Claim, RunDir, Statement, seed_everything, statements_doc
from kexue.train import (
    damped_ode_solution,
    gd_trajectory,
    gradient_flow_solution,
    heavy_ball_trajectory,
    momentum_coefficients,
    nesterov_coefficients,
    nesterov_trajectory,
    sgd_stationary_variance,
    stability_threshold,
)


@dataclass(frozen=True)
class Config:
    seed: int = 0
    lam: float = 1.0  # friction λ of (10)
    t_end: float = 2.0
    k_min: int = 4  # step sizes γ = 2^-k, k = k_min .. k_max
    k_max: int = 10
    n_chains: int = 40_000  # SGD chains for the stationary variance
    n_sgd_steps: int = 1500
    batch_size: int = 4
    kappas: tuple[int, ...] = (10, 100, 1000, 10_000)
    n_bisect: int = 22  # bisection halvings for the stability limits
    bisect_steps: int = 2000  # iterations before declaring divergence
    relax: float = 8.0  # SGD runs at least relax/(γa) steps (relaxation times)


QUICK = {"k_max": 9, "n_chains": 20_000, "kappas": (10, 100, 1000)}
SMOKE = {
    "k_max": 6, "n_chains": 2000, "n_sgd_steps": 100, "kappas": (10, 100),
    "n_bisect": 6, "bisect_steps": 200, "relax": 1.0,
}  # fmt: skip

CLAIMS = (
    Claim("GD is the Euler scheme of the gradient flow: first order (slope 1 ± 0.1)",
          "order_gd_abs_err", "<=", 0.1, ("quick", "full")),
    Claim("momentum is the leapfrog scheme of θ'' + λθ' = −∇L: second order (slope 2 ± 0.1)",
          "order_heavy_ball_abs_err", "<=", 0.1, ("quick", "full")),
    Claim("Nesterov (the article's form (20)) is second order like momentum (slope ≥ 1.9)",
          "order_nesterov_article", ">=", 1.9, ("quick", "full")),
    Claim("stability limits by bisection within 1% of the formulas (worst relative error)",
          "stability_worst_rel_err", "<=", 0.01, ("quick", "full")),
    Claim("SGD stationary variance within 3% of γσ²/(Ba(2−γa)) for γa ∈ {0.01, 0.1, 1}",
          "sgd_variance_worst_rel_err", "<=", 0.03, ("quick", "full")),
    Claim("tuned GD needs O(κ) iterations (log-log slope 1 ± 0.1)",
          "speedup_gd_slope_abs_err", "<=", 0.1, ("quick", "full")),
    Claim("tuned heavy ball needs O(√κ) iterations (log-log slope 0.5 ± 0.1)",
          "speedup_hb_slope_abs_err", "<=", 0.1, ("quick", "full")),
)  # fmt: skip


def _quad_grad(a: torch.Tensor):  # noqa: ANN202 - a closure factory
    return lambda th: a * th


def _torch_sgd(a: torch.Tensor, th0: torch.Tensor, lr: float, mu: float, nesterov: bool, n: int):  # noqa: ANN202
    p = torch.nn.Parameter(th0.clone())
    opt = torch.optim.SGD([p], lr=lr, momentum=mu, nesterov=nesterov)
    out = [p.detach().clone()]
    for _ in range(n):
        opt.zero_grad()
        (0.5 * (a * p * p).sum()).backward()
        opt.step()
        out.append(p.detach().clone())
    return torch.stack(out)


def _slope(x: list[float], y: list[float]) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def _diverges(method: str, lr: float, mu: float, a: float = 10.0, n: int = 2000) -> bool:
    th = torch.tensor([1.0], dtype=torch.float64)
    grad = _quad_grad(torch.tensor([a], dtype=torch.float64))
    if method == "gd":
        tr = gd_trajectory(grad, th, lr, n)
    elif method == "heavy_ball":
        tr = heavy_ball_trajectory(grad, th, lr, mu, n)
    elif method == "nesterov":
        tr = nesterov_trajectory(grad, th, lr, mu, n)
    else:  # heun: θ ← θ − ½lr[g(θ) + g(θ − lr g(θ))]
        x = th.clone()
        for _ in range(n):
            x = x - 0.5 * lr * (grad(x) + grad(x - lr * grad(x)))
        tr = x[None]
    return not float(tr[-1].abs()) <= 1.0  # inf/nan diverge too


def _iterations_to(tol: float, step, th0: torch.Tensor, max_iter: int = 200_000) -> int:  # noqa: ANN001
    th, prev = th0.clone(), th0.clone()
    for n in range(1, max_iter + 1):
        th, prev = step(th, prev), th
        if float(th.norm()) < tol:
            return n
    return max_iter


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    seed_everything(cfg.seed)
    f64 = torch.float64
    a = torch.tensor([1.0, 4.0], dtype=f64)
    th0 = torch.tensor([1.0, -0.5], dtype=f64)
    grad = _quad_grad(a)
    metrics: dict[str, float] = {}

    # 1. torch's optimiser is the article's recurrence
    hb_ref = heavy_ball_trajectory(grad, th0, 0.05, 0.8, 200)
    metrics["torch_momentum_max_diff"] = float(
        (_torch_sgd(a, th0, 0.05, 0.8, False, 200) - hb_ref).abs().max()
    )
    big, v = th0.clone(), torch.zeros(2, dtype=f64)
    nest_ref = [big.clone()]
    for _ in range(200):  # Θ_{n+1} = Θ_n + βv_{n+1} − α∇L(Θ_n), v_{n+1} = βv_n − α∇L(Θ_n)
        g_big = grad(big)
        v = 0.8 * v - 0.05 * g_big
        big = big + 0.8 * v - 0.05 * g_big
        nest_ref.append(big.clone())
    metrics["torch_nesterov_max_diff"] = float(
        (_torch_sgd(a, th0, 0.05, 0.8, True, 200) - torch.stack(nest_ref)).abs().max()
    )

    # 2. orders of accuracy
    gammas = [2.0**-k for k in range(cfg.k_min, cfg.k_max + 1)]
    flow = gradient_flow_solution(a, th0, cfg.t_end)
    ode, _ = damped_ode_solution(a, cfg.lam, th0, torch.zeros(2, dtype=f64), cfg.t_end)
    errs: dict[str, list[float]] = {
        "gd": [],
        "heavy_ball": [],
        "nesterov_std": [],
        "nesterov_article": [],
    }
    for i, gam in enumerate(gammas):
        n = round(cfg.t_end / gam)
        v0 = (gam * gam / 2) * grad(th0)  # v₀ = γ η(−γ/2) for η(0) = 0
        errs["gd"].append(float((gd_trajectory(grad, th0, gam, n)[-1] - flow).norm()))
        al, be = momentum_coefficients(gam, cfg.lam)
        tr = heavy_ball_trajectory(grad, th0, al, be, n, v0=v0)
        errs["heavy_ball"].append(float((tr[-1] - ode).norm()))
        al, be = nesterov_coefficients(gam, cfg.lam)
        for name, look in (("nesterov_std", "standard"), ("nesterov_article", "article")):
            tr = nesterov_trajectory(grad, th0, al, be, n, lookahead=look, v0=v0)
            errs[name].append(float((tr[-1] - ode).norm()))
        out.log(i, gamma=gam, **{f"err_{k}": v[-1] for k, v in errs.items()})
    for k, v in errs.items():
        metrics[f"order_{k}"] = _slope(gammas, v)
    metrics["order_gd_abs_err"] = abs(metrics["order_gd"] - 1)
    metrics["order_heavy_ball_abs_err"] = abs(metrics["order_heavy_ball"] - 2)

    # 3. stability limits by bisection (a = 10)
    worst = 0.0
    for method, mu in (("gd", 0.0), ("heun", 0.0), ("heavy_ball", 0.5), ("heavy_ball", 0.9),
                       ("nesterov", 0.5), ("nesterov", 0.9)):  # fmt: skip
        lo, hi = 1e-4, 2.0
        for _ in range(cfg.n_bisect):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if _diverges(method, mid, mu, n=cfg.bisect_steps) else (mid, hi)
        want = stability_threshold(10.0, method, mu)  # type: ignore[arg-type]
        metrics[f"stability_{method}_{mu:g}"] = lo
        worst = max(worst, abs(lo - want) / want)
    metrics["stability_worst_rel_err"] = worst

    # 4. SGD noise: stationary variance of the AR(1)
    g = torch.Generator().manual_seed(cfg.seed)
    worst = 0.0
    variances = {}
    for ga, bsz in ((0.01, cfg.batch_size), (0.02, 2 * cfg.batch_size), (0.1, cfg.batch_size),
                    (0.5, cfg.batch_size), (1.0, 2 * cfg.batch_size),
                    (1.0, cfg.batch_size)):  # fmt: skip
        n_steps = max(cfg.n_sgd_steps, int(cfg.relax / ga))
        th = torch.zeros(cfg.n_chains, dtype=f64)
        for _ in out.progress(range(n_steps), f"sgd chains lr {ga:g} B {bsz}"):
            noise = torch.randn(cfg.n_chains, generator=g, dtype=f64)
            th = th - ga * (th + math.sqrt(1.0 / bsz) * noise)  # a = 1, σ² = 1
        variances[(ga, bsz)] = float(th.var())
        want = sgd_stationary_variance(1.0, ga, 1.0, bsz)
        metrics[f"sgd_var_lr{ga:g}_B{bsz}"] = variances[(ga, bsz)]
        metrics[f"sgd_var_lr{ga:g}_B{bsz}_formula"] = want
        if bsz == cfg.batch_size and ga in (0.01, 0.1, 1.0):
            worst = max(worst, abs(variances[(ga, bsz)] - want) / want)
    metrics["sgd_variance_worst_rel_err"] = worst
    metrics["linear_scaling_ratio_small_lr"] = (
        variances[(0.02, 2 * cfg.batch_size)] / variances[(0.01, cfg.batch_size)]
    )
    metrics["linear_scaling_ratio_large_lr"] = (
        variances[(1.0, 2 * cfg.batch_size)] / variances[(0.5, cfg.batch_size)]
    )

    # 5. acceleration: iterations to 1e-6 against the condition number
    iters_gd, iters_hb = [], []
    for kappa in cfg.kappas:
        eig = torch.tensor([1.0 / kappa, 1.0], dtype=f64)
        start = torch.ones(2, dtype=f64)
        lr_gd = 2 / (1 + 1 / kappa)
        iters_gd.append(_iterations_to(1e-6, lambda th, _p: th - lr_gd * eig * th, start))  # noqa: B023
        sq = math.sqrt(kappa)
        lr_hb, mu = 4 / (1 + 1 / sq) ** 2, ((sq - 1) / (sq + 1)) ** 2
        iters_hb.append(
            _iterations_to(1e-6, lambda th, p: th - lr_hb * eig * th + mu * (th - p), start)  # noqa: B023
        )
    for kappa, n_gd, n_hb in zip(cfg.kappas, iters_gd, iters_hb, strict=True):
        metrics[f"iters_gd_kappa{kappa}"] = float(n_gd)
        metrics[f"iters_hb_kappa{kappa}"] = float(n_hb)
    metrics["speedup_gd_slope"] = _slope(list(cfg.kappas), iters_gd)
    metrics["speedup_hb_slope"] = _slope(list(cfg.kappas), iters_hb)
    metrics["speedup_gd_slope_abs_err"] = abs(metrics["speedup_gd_slope"] - 1)
    metrics["speedup_hb_slope_abs_err"] = abs(metrics["speedup_hb_slope"] - 0.5)

    if out.is_main:
        rows = [
            {
                "step": -math.log2(gam),
                **{f"log10_err_{k}": math.log10(v[i]) for k, v in errs.items()},
            }
            for i, gam in enumerate(gammas)
        ]
        fig = _plot.curves(rows, [f"log10_err_{k}" for k in errs],
                           "log10 error at t = 2 against the exact ODE solutions",
                           xlabel="log2(1/γ)")  # fmt: skip
        out.save_figure(fig, "orders.png")
        rows = [
            {
                "step": math.log10(k),
                "log10_iters_gd": math.log10(a_),
                "log10_iters_hb": math.log10(b_),
            }
            for k, a_, b_ in zip(cfg.kappas, iters_gd, iters_hb, strict=True)
        ]
        fig = _plot.curves(rows, ["log10_iters_gd", "log10_iters_hb"],
                           "iterations to ‖θ‖ < 1e-6 (tuned GD vs tuned heavy ball)",
                           xlabel="log10 κ")  # fmt: skip
        out.save_figure(fig, "speedup.png")
    return metrics


STATEMENTS = (
    Statement("gradient descent is the Euler scheme of θ' = −∇L: first-order accurate", "claim",
              "order_gd_abs_err"),
    Statement("momentum is the leapfrog scheme of θ'' + λθ' = −∇L: second-order accurate",
              "claim", "order_heavy_ball_abs_err"),
    Statement("Nesterov, a trapezoid-like scheme, is second order like momentum", "claim",
              "order_nesterov_article"),
    Statement("the schemes are stable up to γa = 2, 2(1 + β), 2(1 + β)/(1 + 2β)", "claim",
              "stability_worst_rel_err"),
    Statement("SGD is GD plus Gaussian noise: its stationary spread grows with the learning "
              "rate and shrinks with the batch (temperature γσ²/2B)", "claim",
              "sgd_variance_worst_rel_err"),
    Statement("momentum accelerates: step γ with learning rate α ≈ γ² (tuned heavy ball needs "
              "O(√κ) iterations)", "claim", "speedup_hb_slope_abs_err"),
    Statement("… while tuned gradient descent needs O(κ)", "claim", "speedup_gd_slope_abs_err"),
    Statement("the frameworks' momentum and Nesterov updates are the article's recurrences",
              "test", "tests/train/test_dynamics_sgd.py::"
              "test_torch_sgd_momentum_and_nesterov_are_the_articles_recurrences"),
    Statement("the momentum coefficients of eq. (15) from γ and the friction λ", "test",
              "tests/train/test_dynamics_sgd.py::test_momentum_coefficients_match_eq15"),
    Statement("SGD's noise helps it escape sharp minima and generalise", "untestable",
              "a qualitative remark; the article itself says it gives no precise answer"),
)  # fmt: skip

__doc__ = statements_doc(__doc__, STATEMENTS)
