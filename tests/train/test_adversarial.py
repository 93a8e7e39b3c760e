"""FGM/PGD on embeddings: restoration, ‖δ‖ = ε, the reference step by hand, and the
first-order equivalence with the gradient penalty (error O(ε²))."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from kexue.train import (
    fgm_delta,
    fgsm_delta,
    gradient_penalty,
    perturbed_output,
    perturbed_weight,
    pgd_delta,
)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(9, 4)
        self.out = nn.Linear(4, 2)

    def forward(self, ids):
        return self.out(torch.tanh(self.emb(ids)).mean(1))


def _setup():
    torch.manual_seed(0)
    m = Tiny().double()
    ids = torch.tensor([[1, 2, 3, 2], [4, 5, 1, 6]])  # token 2 repeats, token 1 in both samples
    y = torch.tensor([0, 1])
    return m, ids, y


def _loss(m, ids, y):
    return nn.functional.cross_entropy(m(ids), y)


def test_delta_norms():
    g = torch.randn(5, 3, 4)
    assert float(fgm_delta(g, 0.5).norm()) == pytest.approx(0.5, rel=1e-6)
    per = fgm_delta(g, 0.5, norm="per_sample")
    assert torch.allclose(per.reshape(5, -1).norm(dim=1), torch.full((5,), 0.5))
    assert torch.equal(fgsm_delta(g, 0.1).abs(), torch.full_like(g, 0.1))


def test_weight_restored_bit_for_bit_even_on_error():
    m, ids, y = _setup()
    before = m.emb.weight.detach().clone()
    (g,) = torch.autograd.grad(_loss(m, ids, y), m.emb.weight)
    delta = fgm_delta(g, 0.37)
    with pytest.raises(RuntimeError), perturbed_weight(m.emb.weight, delta):
        assert not torch.equal(m.emb.weight, before)
        raise RuntimeError
    assert torch.equal(m.emb.weight, before)
    # the recipe's path, in float32: a backward at E + δ, normal exit, E back bit for bit
    m32 = Tiny()
    before32 = m32.emb.weight.detach().clone()
    with perturbed_weight(m32.emb.weight, fgm_delta(torch.randn(9, 4), 0.37)):
        nn.functional.cross_entropy(m32(ids), y).backward()
    assert torch.equal(m32.emb.weight, before32)


def test_reference_fgm_step_by_hand():
    # the article's procedure with SGD: δ from the dense gradient, ordinary step at E + δ, restore
    m, ids, y = _setup()
    ref = Tiny().double()
    ref.load_state_dict(m.state_dict())
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    (g,) = torch.autograd.grad(_loss(m, ids, y), m.emb.weight)
    delta = fgm_delta(g, 0.5)
    with perturbed_weight(m.emb.weight, delta):
        opt.zero_grad()
        _loss(m, ids, y).backward()
    opt.step()
    # by hand, Keras order: add δ, compute grads, update the perturbed weights, subtract δ
    e = ref.emb.weight
    gg = torch.autograd.grad(_loss(ref, ids, y), e)[0]
    d = 0.5 * gg / (gg.norm() + 1e-8)
    with torch.no_grad():
        e.add_(d)
    grads = torch.autograd.grad(_loss(ref, ids, y), list(ref.parameters()))
    with torch.no_grad():
        for p, gp in zip(ref.parameters(), grads, strict=True):
            p.sub_(0.1 * gp)
        e.sub_(d)
    for p, q in zip(m.parameters(), ref.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-14)
    # untouched rows (tokens 0, 7, 8) get no perturbation
    assert torch.equal(delta[[0, 7, 8]], torch.zeros(3, 4, dtype=torch.float64))


def _slope(eps, errs):
    return float(np.polyfit(np.log(eps), np.log(errs), 1)[0])


def _params_grad(m, loss):
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(m.parameters()))])


@pytest.mark.parametrize("form", ["squared", "norm"])
def test_fgm_weight_equals_dense_gradient_penalty_to_first_order(form):
    m, ids, y = _setup()
    (g,) = torch.autograd.grad(_loss(m, ids, y), m.emb.weight)
    epsilons = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3]
    errs = []
    for eps in epsilons:
        delta = eps * g if form == "squared" else fgm_delta(g, eps)
        with perturbed_weight(m.emb.weight, delta):
            adv = _params_grad(m, _loss(m, ids, y))
        loss = _loss(m, ids, y)
        pen = _params_grad(m, loss + gradient_penalty(loss, m.emb.weight, eps, form=form))
        errs.append(float((adv - pen).norm()))
    assert _slope(epsilons, errs) == pytest.approx(2.0, abs=0.1)


def test_fgm_output_equals_per_position_penalty_but_weight_fgm_does_not():
    m, ids, y = _setup()
    epsilons = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3]
    errs_out, errs_weight = [], []
    for eps in epsilons:
        e = m.emb(ids)
        logits = m.out(torch.tanh(e).mean(1))
        loss = nn.functional.cross_entropy(logits, y)
        (g_e,) = torch.autograd.grad(loss, e, retain_graph=True)
        pen = _params_grad(m, loss + gradient_penalty(loss, e, eps))
        with perturbed_output(m.emb, eps * g_e):
            adv_out = _params_grad(m, _loss(m, ids, y))
        (g_w,) = torch.autograd.grad(_loss(m, ids, y), m.emb.weight)
        with perturbed_weight(m.emb.weight, eps * g_w):
            adv_w = _params_grad(m, _loss(m, ids, y))
        errs_out.append(float((adv_out - pen).norm()))
        errs_weight.append(float((adv_w - pen).norm()))
    assert _slope(epsilons, errs_out) == pytest.approx(2.0, abs=0.1)
    # repeated tokens share a row of E: weight-FGM has cross terms, so the error is O(ε)
    assert _slope(epsilons, errs_weight) == pytest.approx(1.0, abs=0.1)


def test_pgd_stays_in_the_ball_and_raises_the_loss():
    m, ids, y = _setup()
    before = m.emb.weight.detach().clone()
    delta = pgd_delta(lambda: _loss(m, ids, y), m.emb.weight, 0.2, alpha=0.1, steps=5)
    assert float(delta.norm()) <= 0.2 + 1e-12
    assert torch.equal(m.emb.weight, before)
    base = float(_loss(m, ids, y))
    with perturbed_weight(m.emb.weight, delta):
        assert float(_loss(m, ids, y)) > base
