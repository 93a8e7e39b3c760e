"""kexue.nn.Ensemble: K networks under one vmap train exactly as if alone (same outputs, same
gradients, same Adam step as separate networks); the gan-qp recipe trains its toy seeds so."""

from __future__ import annotations

import copy

import torch
from torch import nn

from kexue.gan import gan_qp_d_loss
from kexue.nn import MLP, Ensemble


def _critic(hidden: tuple[int, ...]) -> nn.Module:
    """The gan-qp recipe's toy critic: an MLP 2 -> hidden -> 1 with LeakyReLU(0.2)."""
    return MLP(2, 1, hidden=hidden, activation=lambda: nn.LeakyReLU(0.2))


def test_ensemble_members_train_as_if_alone() -> None:
    torch.manual_seed(0)
    alone = [_critic((16, 16)) for _ in range(3)]
    ens = Ensemble([copy.deepcopy(m) for m in alone])
    g = torch.Generator().manual_seed(1)
    x_real, x_fake = torch.randn(3, 32, 2, generator=g), torch.randn(3, 32, 2, generator=g)

    # forward: member k on slice k
    out = ens(x_real)
    for k, m in enumerate(alone):
        torch.testing.assert_close(out[k], m(x_real[k]))

    # one Adam step on the summed per-member losses vs one step per separate network
    loss_k = torch.vmap(gan_qp_d_loss)(ens(x_real), ens(x_fake), x_real, x_fake)
    opt = torch.optim.Adam(ens.parameters(), lr=1e-2, betas=(0.5, 0.999))
    opt.zero_grad()
    loss_k.sum().backward()
    opt.step()
    for k, m in enumerate(alone):
        loss = gan_qp_d_loss(m(x_real[k]), m(x_fake[k]), x_real[k], x_fake[k])
        torch.testing.assert_close(loss_k[k], loss)
        opt_k = torch.optim.Adam(m.parameters(), lr=1e-2, betas=(0.5, 0.999))
        opt_k.zero_grad()
        loss.backward()
        opt_k.step()
        after = dict(zip(ens.names, (p[k] for p in ens.stacked), strict=True))
        for name, p in m.named_parameters():
            torch.testing.assert_close(after[name], p)
