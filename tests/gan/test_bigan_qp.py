"""BiGAN-QP: the distance uses both parts; stop-gradient routing of the guide terms."""

from __future__ import annotations

import pytest
import torch

from kexue.gan import bigan_qp_d_loss, bigan_qp_distance, bigan_qp_g_loss, bigan_recon_losses
from kexue.nn import MLP


def test_distance_is_pixel_plus_latent_mean_l1() -> None:
    x_r, x_f = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    z_r, z_f = torch.tensor([[0.0, 0.0, 3.0]]), torch.tensor([[0.0, 0.0, 0.0]])
    assert float(bigan_qp_distance(x_r, z_r, x_f, z_f)) == pytest.approx(1.5 + 1.0)


def test_losses_by_hand() -> None:
    t_r, t_f = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0])
    x = torch.zeros(2, 2)
    z = torch.zeros(2, 1)
    x_f = torch.tensor([[1.0, 1.0], [2.0, 2.0]])  # pixel distance 1, 2; latent 0
    want = ((-1 + 1 / 20) + (1 + 1 / 40)) / 2
    assert float(bigan_qp_d_loss(t_r, t_f, x, z, x_f, z)) == pytest.approx(want)
    assert float(bigan_qp_g_loss(t_r, t_f)) == pytest.approx(0.0)


def test_stop_gradient_routing() -> None:
    torch.manual_seed(0)
    enc, gen = MLP(4, 2, hidden=(8,)), MLP(2, 4, hidden=(8,))
    x, z = torch.randn(5, 4), torch.randn(5, 2)
    z_term, x_term = bigan_recon_losses(enc, gen, x, z)
    z_term.backward()
    assert all(p.grad is None for p in gen.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters())
    enc.zero_grad(set_to_none=True)
    x_term.backward()
    assert all(p.grad is None for p in enc.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.parameters())
    # values: the two mean squared errors computed directly
    with torch.no_grad():
        assert float(z_term) == pytest.approx(float(((z - enc(gen(z))) ** 2).mean()))
        assert float(x_term) == pytest.approx(float(((x - gen(enc(x))) ** 2).mean()))


def test_critic_step_leaves_encoder_and_generator_unchanged() -> None:
    torch.manual_seed(0)
    enc, gen, crit = MLP(4, 2, hidden=(8,)), MLP(2, 4, hidden=(8,)), MLP(6, 1, hidden=(8,))
    before = [p.clone() for p in [*enc.parameters(), *gen.parameters()]]
    opt = torch.optim.SGD(crit.parameters(), lr=0.1)
    x, z = torch.randn(5, 4), torch.randn(5, 2)
    with torch.no_grad():
        z_r, x_f = enc(x), gen(z)
    loss = bigan_qp_d_loss(
        crit(torch.cat([x, z_r], 1)), crit(torch.cat([x_f, z], 1)), x, z_r, x_f, z
    )
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = [*enc.parameters(), *gen.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert all(p.grad is None for p in [*enc.parameters(), *gen.parameters()])


def test_without_stop_gradient_both_terms_train_both_nets() -> None:
    torch.manual_seed(0)
    enc, gen = MLP(4, 2, hidden=(8,)), MLP(2, 4, hidden=(8,))
    x, z = torch.randn(5, 4), torch.randn(5, 2)
    z_term, x_term = bigan_recon_losses(enc, gen, x, z, stop_gradient=False)
    for term in (z_term, x_term):
        enc.zero_grad(set_to_none=True)
        gen.zero_grad(set_to_none=True)
        term.backward()
        for net in (enc, gen):
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    with torch.no_grad():  # same values as with the stop-gradients
        sg = bigan_recon_losses(enc, gen, x, z)
    assert float(z_term) == pytest.approx(float(sg[0]))
    assert float(x_term) == pytest.approx(float(sg[1]))
