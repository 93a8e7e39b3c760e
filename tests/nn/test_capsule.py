"""Capsules: squash, routing against a naive loop, permutation invariance, K-means limit."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kexue.nn import Capsule, dynamic_routing, margin_loss, squash


def naive_routing(u_hat, routings, mode, a=0.5):
    """Per-example, per-capsule Python loops over the same definitions."""
    B, k, n, d = u_hat.shape
    out = torch.zeros(B, k, d, dtype=u_hat.dtype)
    for b in range(B):
        logits = [[0.0] * n for _ in range(k)]
        for t in range(routings):
            o = []
            for j in range(k):
                acc = torch.zeros(d, dtype=u_hat.dtype)
                for i in range(n):
                    den = sum(torch.exp(torch.tensor(logits[jj][i])) for jj in range(k))
                    acc = acc + torch.exp(torch.tensor(logits[j][i])) / den * u_hat[b, j, i]
                o.append(acc)
            if mode == "sabour":
                o = [v * (v @ v) / (a + v @ v) / (v @ v).sqrt() for v in o]
                if t < routings - 1:
                    logits = [
                        [logits[j][i] + float(o[j] @ u_hat[b, j, i]) for i in range(n)]
                        for j in range(k)
                    ]
            elif t < routings - 1:
                o = [v / v.norm() for v in o]
                logits = [[float(o[j] @ u_hat[b, j, i]) for i in range(n)] for j in range(k)]
        if mode == "su":
            o = [v * (v @ v) / (a + v @ v) / (v @ v).sqrt() for v in o]
        out[b] = torch.stack(o)
    return out


@pytest.mark.parametrize("mode", ["su", "sabour"])
@pytest.mark.parametrize("routings", [1, 2, 3])
def test_routing_matches_a_naive_loop(mode, routings):
    u_hat = torch.randn(
        2, 3, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(routings)
    )
    fast = dynamic_routing(u_hat, routings, mode)
    torch.testing.assert_close(fast, naive_routing(u_hat, routings, mode), atol=1e-6, rtol=1e-6)


@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=8))
def test_squash_keeps_direction_and_norm_below_one(v):
    v = torch.tensor(v, dtype=torch.float64)
    s = squash(v)
    assert s.norm() < 1
    n2 = float(v @ v)
    assert s.norm().item() == pytest.approx(n2 / (0.5 + n2 + 1e-7), rel=1e-6, abs=1e-9)
    if n2 > 1e-6:
        assert float(s @ v) >= 0


def test_one_routing_is_the_squashed_uniform_average():
    u_hat = torch.randn(2, 4, 6, 3)
    torch.testing.assert_close(dynamic_routing(u_hat, 1), squash(u_hat.mean(2) * 6 / 4))


def test_shared_weights_are_permutation_invariant_unshared_not():
    torch.manual_seed(0)
    u = torch.randn(2, 7, 5)
    perm = torch.randperm(7)
    shared = Capsule(5, 3, 4, shared=True)
    torch.testing.assert_close(shared(u), shared(u[:, perm]), atol=1e-6, rtol=1e-5)
    full = Capsule(5, 3, 4, shared=False, n_in=7)
    assert not torch.allclose(full(u), full(u[:, perm]), atol=1e-4)


def test_large_scale_gives_one_hot_assignments():
    """K absorbed into W: scaled predictions make routing a hard clustering (K-means limit)."""
    g = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(2, 8, generator=g), dim=-1)
    members = torch.tensor([0, 0, 0, 1, 1])
    u = centres[members] + 0.05 * torch.randn(5, 8, generator=g)
    u_hat = (50 * u)[None, None].repeat(1, 2, 1, 1)  # shared W = identity, two outputs
    u_hat[0, 0] = u_hat[0, 0] + 0  # same predictions for both output capsules...
    # ...but start them apart: route once by hand from the two centres
    b = torch.einsum("kd,nd->kn", centres, 50 * u)
    c = b.softmax(0)
    assert torch.equal(c.argmax(0), members) and (c.max(0).values > 0.99).all()


def test_gradients_flow_through_routing_and_margin_loss():
    torch.manual_seed(0)
    layer = Capsule(5, 3, 4)
    v = layer(torch.randn(2, 6, 5))
    loss = margin_loss(v.norm(dim=-1), torch.eye(3)[[0, 2]])
    loss.backward()
    assert layer.weight.grad.abs().sum() > 0


def test_margin_loss_by_hand():
    lengths = torch.tensor([[0.95, 0.5]])
    t = torch.tensor([[1.0, 0.0]])
    assert margin_loss(lengths, t).item() == pytest.approx(0.25 * 0.4**2)


def test_more_members_give_a_longer_output():
    # the centre is Σ_i c_ij û_ij, a sum: duplicating every input keeps the assignments and
    # doubles the pre-squash centre, so each output capsule grows ('小弟越多，势力越大'),
    # where a K-means mean would not move
    torch.manual_seed(0)
    u_hat = torch.randn(2, 3, 5, 4, dtype=torch.float64) * 0.3
    once = dynamic_routing(u_hat, 3, "su").norm(dim=-1)
    twice = dynamic_routing(torch.cat([u_hat, u_hat], 2), 3, "su").norm(dim=-1)
    assert bool((twice > once).all())
