"""RealNVP: the scale parametrisations, both orders of the affine coupling, masks, and a short
training run on the 8 Gaussians (spec §2, §8)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from kexue.data import toy2d
from kexue.flows import SCALE_FNS, AffineCoupling, MultiScaleRealNVP, RealNVP
from kexue.nn import MLP


def test_scale_parametrisations_follow_their_formulas(f64):
    raw = 4 * torch.randn(1000)
    layer = AffineCoupling(2, MLP(1, 2, hidden=(4,)), scale_fn="exp")
    expected = {
        "exp": raw,
        "tanh": torch.tanh(raw),  # λ = 1 at init
        "sigmoid2": torch.log(torch.sigmoid(raw + 2)),
        "softclamp": 2 * 0.636619772 * torch.atan(raw / 2),
        "nflows": torch.log(torch.sigmoid(raw + 2) + 1e-3),
        "zuko": raw / (1 + (raw / math.log(1e-3)).abs()),
    }
    for fn in SCALE_FNS:
        layer = AffineCoupling(2, MLP(1, 2, hidden=(4,)), scale_fn=fn)
        assert torch.allclose(layer.log_scale(raw), expected[fn], atol=1e-8), fn
    bounded = AffineCoupling(2, MLP(1, 2, hidden=(4,)), scale_fn="softclamp").log_scale(1e6 * raw)
    assert bounded.abs().max() <= 2.0


def test_shift_first_and_scale_first_share_the_logdet_but_not_the_map(f64):
    torch.manual_seed(0)
    a = AffineCoupling(
        4, MLP(2, 4, hidden=(8,)), split="half", parity=0, scale_fn="exp", shift_first=False
    )
    b = AffineCoupling(
        4, MLP(2, 4, hidden=(8,)), split="half", parity=0, scale_fn="exp", shift_first=True
    )
    b.load_state_dict(a.state_dict())
    torch.nn.init.normal_(a.net[-1].weight)
    b.load_state_dict(a.state_dict())
    x = torch.randn(8, 4)
    (za, lda), (zb, ldb) = a(x), b(x)
    assert torch.allclose(lda, ldb) and not torch.allclose(za, zb)
    logs, t = a.net(x[:, :2]).chunk(2, 1)
    assert torch.allclose(za[:, 2:], x[:, 2:] * logs.exp() + t)
    assert torch.allclose(zb[:, 2:], (x[:, 2:] + t) * logs.exp())


@pytest.mark.parametrize("parity", [0, 1])
def test_checkerboard_keeps_the_conditioning_squares(parity, f64):
    net = torch.nn.Conv2d(1, 2, 3, padding=1)
    layer = AffineCoupling(1, net, split="checkerboard", parity=parity, scale_fn="exp")
    x = torch.randn(2, 1, 4, 4)
    z, _ = layer(x)
    ij = torch.arange(4).view(-1, 1) + torch.arange(4).view(1, -1)
    keep = (ij % 2) == parity
    assert torch.equal(z[..., keep], x[..., keep]) and not torch.allclose(
        z[..., ~keep], x[..., ~keep]
    )


def test_realnvp_learns_eight_gaussians_quickly():
    torch.manual_seed(0)
    data = torch.from_numpy(toy2d("wide_eight_gaussians", 20_000, seed=0))
    test = torch.from_numpy(toy2d("wide_eight_gaussians", 5000, seed=1))
    model = RealNVP(2, n_couplings=8, hidden=(64, 64))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(600):
        loss = model.nll(data[torch.randint(len(data), (256,), generator=g)])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        # best single Gaussian: ln(2πe·4.125) ≈ 4.26 nats; the spec's gate is < 3.8
        assert model.nll(test).item() < 3.8


def test_multiscale_realnvp_starts_as_a_pixel_permutation(f64):
    """Zero-initialised s,t networks and uninitialised ActNorms: every coupling is the
    identity, so the model is squeezes and factor-outs only, a permutation of the pixels with
    the standard normal on every factored-out half (the paper's prior)."""
    model = MultiScaleRealNVP((3, 16, 16), scales=3, width=8, blocks=1).eval()
    x = torch.randn(2, 3, 16, 16)
    z, ld = model(x)
    assert torch.equal(z.sort(1).values, x.flatten(1).sort(1).values)
    assert torch.equal(ld, torch.zeros(2))
    assert torch.allclose(model.log_prob(x), Normal(0.0, 1.0).log_prob(x).flatten(1).sum(1))


def test_multiscale_realnvp_layout_and_bad_sizes():
    # scale 1: 3 checkerboard couplings on 3 channels, squeeze, 3 channel couplings on 12; scale
    # 2: on 6 and 24; scale 3 (the last): 4 checkerboard couplings on 12 channels
    model = MultiScaleRealNVP((3, 32, 32), scales=3, width=8, blocks=1)
    layout = []
    for m in model.modules():
        if isinstance(m, AffineCoupling):
            first = next(c for c in m.net.modules() if isinstance(c, torch.nn.Conv2d))
            # the checkerboard net sees [x ⊙ b, b]; the channel net sees half the channels
            c = first.in_channels - 1 if m.split == "checkerboard" else 2 * first.in_channels
            layout.append((m.split, c))
    checker, half = "checkerboard", "half"
    assert (
        layout
        == [(checker, 3)] * 3
        + [(half, 12)] * 3
        + [(checker, 6)] * 3
        + [(half, 24)] * 3
        + [(checker, 12)] * 4
    )
    with pytest.raises(ValueError, match="halve"):
        MultiScaleRealNVP((3, 12, 12), scales=4)
