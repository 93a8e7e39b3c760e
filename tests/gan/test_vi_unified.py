"""VI view: the joint-KL identity, the optimal-D substitution, the anchor regulariser, ALI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kexue.gan import (
    aae_encoder_loss,
    ali_d_loss,
    ali_g_loss,
    anchor_regularizer,
    joint_kl_decomposition,
)


def test_joint_kl_decomposition_identity_and_inequality() -> None:
    rng = np.random.default_rng(0)
    for _ in range(10):
        p = rng.dirichlet(np.ones(12)).reshape(3, 4)
        q = rng.dirichlet(np.ones(12)).reshape(3, 4)
        t = joint_kl_decomposition(p, q)
        assert t["joint"] == pytest.approx(t["marginal"] + t["conditional"], rel=1e-12)
        assert t["joint"] >= t["marginal"] - 1e-12 and t["conditional"] >= 0


def test_optimal_d_substitution_identity() -> None:
    # ∫ q log[q/((1 − D)p̃)] = −E_q log D + KL(q‖q°) with D = p̃/(p̃ + q°)
    rng = np.random.default_rng(1)
    p, q, q_old = (rng.dirichlet(np.ones(7)) for _ in range(3))
    d = p / (p + q_old)
    lhs = (q * np.log(q / ((1 - d) * p))).sum()
    rhs = -(q * np.log(d)).sum() + (q * np.log(q / q_old)).sum()
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_anchor_regularizer_zero_at_anchor_with_zero_gradient() -> None:
    w = torch.randn(3, 2, requires_grad=True)
    z = torch.randn(5, 3)
    anchor = (z @ w).detach()
    reg = anchor_regularizer(z @ w, anchor, lam=5.0)
    (g,) = torch.autograd.grad(reg, w)
    assert float(reg) == 0.0 and float(g.abs().max()) == 0.0
    x = (z @ w) + 1.0
    assert float(anchor_regularizer(x, anchor, lam=5.0)) == pytest.approx(5.0)


def test_regulariser_acts_from_the_second_step_of_a_round() -> None:
    # One SGD step from the anchor is the same with and without the regulariser (zero
    # gradient there); the second step on the same anchor is pulled back toward it.
    torch.manual_seed(0)
    z, target = torch.randn(16, 3), torch.randn(16, 2)
    w0 = torch.randn(3, 2)
    anchor = z @ w0

    def two_steps(lam: float) -> list[torch.Tensor]:
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.SGD([w], lr=0.1)
        seen = []
        for _ in range(2):
            x = z @ w
            loss = ((x - target) ** 2).mean() + anchor_regularizer(x, anchor, lam=lam)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen.append(w.detach().clone())
        return seen

    (a1, a2), (b1, b2) = two_steps(0.0), two_steps(5.0)
    assert torch.equal(a1, b1)
    assert float((z @ b2 - anchor).norm()) < float((z @ a2 - anchor).norm())


def test_anchor_is_stop_gradient() -> None:
    a = torch.randn(4, 2, requires_grad=True)
    b = torch.randn(4, 2, requires_grad=True)
    anchor_regularizer(a, b, lam=1.0).backward()
    assert b.grad is None and a.grad is not None


def test_ali_losses_by_hand() -> None:
    e, g = torch.tensor([0.3, -1.0]), torch.tensor([2.0, 0.1])
    log_d = lambda v: F.logsigmoid(v)  # noqa: E731
    log_1md = lambda v: F.logsigmoid(-v)  # noqa: E731
    assert float(ali_g_loss(e, g)) == pytest.approx(float(-log_d(e).mean() - log_d(g).mean()))
    mm = float(log_d(e).mean() + log_1md(g).mean())
    assert float(ali_g_loss(e, g, mode="minimax")) == pytest.approx(mm)
    sw = float(-log_1md(e).mean() - log_d(g).mean())
    assert float(ali_g_loss(e, g, mode="swap")) == pytest.approx(sw)
    assert float(ali_d_loss(e, g)) == pytest.approx(float(-log_d(e).mean() - log_1md(g).mean()))
    x, xr = torch.zeros(2, 3), torch.ones(2, 3)
    assert float(aae_encoder_loss(e, x, xr, lam=2.0)) == pytest.approx(
        float(-log_d(e).mean()) + 2.0
    )
