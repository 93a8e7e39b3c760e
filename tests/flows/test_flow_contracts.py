"""Contract tests over every bijector and flow model (float64), after zuko's test_transforms /
test_flows: round trip, log-det against slogdet of the autograd Jacobian, inverse log-det is the
negative, gradients reach every parameter, train/eval agreement after ActNorm init, save/load."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from kexue.flows import (
    NICE,
    SCALE_FNS,
    ActNorm,
    AdditiveCoupling,
    AffineCoupling,
    ConvIResNet,
    DiagonalScale,
    FactorOut,
    Flatten,
    Glow,
    GlowStep,
    InvertibleLinear,
    IResNet,
    MultiScaleRealNVP,
    RandomPermutation,
    RealNVP,
    ResidualBlock,
    Reverse,
    Sequential,
    SpectralNormConv2d,
    SpectralNormLinear,
    Squeeze,
    SwapHalves,
    brute_force_logabsdet,
)
from kexue.nn import MLP


def _conv(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(c_in, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, c_out, 3, padding=1)
    )


def _sn_mlp(d: int) -> nn.Module:
    return nn.Sequential(SpectralNormLinear(d, 16), nn.ELU(), SpectralNormLinear(16, d))


def _sn_conv(c: int) -> nn.Module:
    return nn.Sequential(
        SpectralNormConv2d(c, 8, 3, (4, 4)), nn.ELU(), SpectralNormConv2d(8, c, 3, (4, 4))
    )


VEC, IMG, IMG8 = (5,), (2, 4, 4), (1, 8, 8)

# name -> (factory, input shape); factories are deterministic under torch.manual_seed.
CASES = {
    "actnorm-vec": (lambda: ActNorm(5), VEC),
    "actnorm-img": (lambda: ActNorm(2), IMG),
    "actnorm-factor3": (lambda: ActNorm(2, logscale_factor=3.0), IMG),
    "invlinear-lu": (lambda: InvertibleLinear(5, lu=True), VEC),
    "invlinear-plain": (lambda: InvertibleLinear(5, lu=False), VEC),
    "inv1x1-lu": (lambda: InvertibleLinear(2, lu=True), IMG),
    "inv1x1-plain": (lambda: InvertibleLinear(2, lu=False), IMG),
    "reverse": (lambda: Reverse(5), VEC),
    "shuffle": (lambda: RandomPermutation(5, seed=3), VEC),
    "swap-halves": (lambda: SwapHalves(6), (6,)),
    "squeeze-kexue": (lambda: Squeeze(order="kexue"), IMG),
    "squeeze-glow": (lambda: Squeeze(order="glow"), IMG),
    "flatten": (lambda: Flatten(IMG), IMG),
    "flatten-channels-last": (lambda: Flatten(IMG, channels_last=True), IMG),
    "diag-scale": (lambda: DiagonalScale(5), VEC),
    "additive-evenodd": (
        lambda: AdditiveCoupling(5, MLP(3, 2, hidden=(8,)), split="evenodd", parity=0),
        VEC,
    ),
    "additive-half-minus": (
        lambda: AdditiveCoupling(5, MLP(3, 2, hidden=(8,)), split="half", parity=1, sign=-1),
        VEC,
    ),
    "additive-checker": (
        lambda: AdditiveCoupling(2, _conv(2, 2), split="checkerboard", parity=1),
        IMG,
    ),
    **{
        f"affine-{fn}-{'shift' if sf else 'scale'}first": (
            (
                lambda fn=fn, sf=sf: AffineCoupling(
                    5,
                    MLP(2, 6, hidden=(8,)),
                    split="evenodd",
                    parity=1,
                    scale_fn=fn,
                    shift_first=sf,
                )
            ),
            VEC,
        )
        for fn in SCALE_FNS
        for sf in (False, True)
    },
    "affine-channel": (
        lambda: AffineCoupling(
            2, _conv(1, 2), split="half", parity=0, scale_fn="sigmoid2", shift_first=True
        ),
        IMG,
    ),
    "affine-checker": (
        lambda: AffineCoupling(2, _conv(2, 4), split="checkerboard", parity=0, scale_fn="tanh"),
        IMG,
    ),
    "glow-step": (lambda: GlowStep(2, width=8), IMG),
    "factor-out-standard": (
        lambda: FactorOut(IMG, Sequential(Flatten((1, 4, 4))), prior="standard"),
        IMG,
    ),
    "glow-step-additive-shuffle": (
        lambda: GlowStep(
            4, width=8, coupling="additive", permutation="shuffle", actnorm_ddi=False
        ),
        (4, 2, 2),
    ),
    "factor-out": (lambda: FactorOut(IMG, Sequential(Flatten((1, 4, 4)))), IMG),
    "residual-fc": (lambda: ResidualBlock(_sn_mlp(3), logdet="exact"), (3,)),
    "residual-conv": (lambda: ResidualBlock(_sn_conv(2), logdet="exact"), IMG),
    "sequential": (lambda: Sequential(ActNorm(5), InvertibleLinear(5), Reverse(5)), VEC),
}
FLOWS = {
    "nice": (lambda: NICE(6, n_couplings=4, hidden=(16,)), (6,)),
    "nice-normal-compat": (
        lambda: NICE(
            6,
            n_couplings=4,
            hidden=(16,),
            prior="normal",
            scale_init="zeros",
            sign=-1,
            out_activation="relu",
        ),
        (6,),
    ),
    "realnvp": (lambda: RealNVP(2, n_couplings=4, hidden=(16,)), (2,)),
    "realnvp-lu-additive": (
        lambda: RealNVP(5, n_couplings=3, hidden=(16,), mixing="lu", coupling="additive"),
        (5,),
    ),
    "glow": (lambda: Glow(IMG8, levels=2, depth=2, width=8), IMG8),
    "glow-compat": (
        lambda: Glow(
            IMG8,
            levels=2,
            depth=2,
            width=8,
            coupling="additive",
            permutation="shuffle",
            actnorm_ddi=False,
        ),
        IMG8,
    ),
    "glow-standard-prior": (
        lambda: Glow(IMG8, levels=2, depth=1, width=8, split_prior="standard", permutation="conv"),
        IMG8,
    ),
    "realnvp-multiscale": (
        lambda: MultiScaleRealNVP(IMG, scales=2, width=8, blocks=1),
        IMG,
    ),
    "realnvp-multiscale-3": (
        lambda: MultiScaleRealNVP(IMG8, scales=3, width=4, blocks=1, scale_fn="softclamp"),
        IMG8,
    ),
    "iresnet": (lambda: IResNet(2, n_blocks=2, hidden=(16,)), (2,)),
    "conv-iresnet": (lambda: ConvIResNet(IMG8, n_blocks=2, width=8, logdet="exact"), IMG8),
}
ALL = {**CASES, **FLOWS}


def _ready(name: str) -> tuple[nn.Module, torch.Tensor]:
    """Build, run data-dependent init on one batch, perturb every parameter (so zero-initialised
    layers are not trivially the identity), and switch to eval mode."""
    factory, shape = ALL[name]
    torch.manual_seed(0)
    module = factory()
    x = torch.randn(6, *shape)
    if name == "nice-normal-compat":
        x = x.abs()
    module.train()
    module(x)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    module.eval()
    return module, x


@pytest.mark.parametrize("name", list(ALL))
def test_round_trip(name, f64):
    module, x = _ready(name)
    z, _ = module(x)
    x_back, _ = module.inverse(z)
    assert (x_back - x).abs().max() <= 1e-10


@pytest.mark.parametrize("name", list(ALL))
def test_logabsdet_matches_autograd_jacobian(name, f64):
    module, x = _ready(name)
    _, ld = module(x)
    assert ld.shape == (x.shape[0],)
    brute = brute_force_logabsdet(module, x)
    assert torch.allclose(ld, brute, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name", list(ALL))
def test_inverse_logabsdet_is_negative(name, f64):
    module, x = _ready(name)
    z, ld = module(x)
    _, ild = module.inverse(z)
    assert torch.allclose(ild, -ld, rtol=1e-8, atol=1e-9)
    if "residual" in name or "iresnet" in name:
        return  # the fixed-point inverse is computed without autograd; its Jacobian is not traced
    # and the inverse's own Jacobian agrees with what it returns
    brute = brute_force_logabsdet(lambda v: module.inverse(v), z[:2].detach())
    assert torch.allclose(ild[:2], brute, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name", list(ALL))
def test_gradients_reach_every_parameter(name, f64):
    module, x = _ready(name)
    module.train()
    x.requires_grad_(True)
    if name in FLOWS:
        loss = -module.log_prob(x).sum()
    else:
        z, ld = module(x)
        loss = 0.5 * z.pow(2).sum() - ld.sum()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for pname, p in module.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", list(ALL))
def test_train_and_eval_agree_after_init(name, f64):
    module, x = _ready(name)
    module.train()
    z_train, ld_train = module(x)
    module.eval()
    z_eval, ld_eval = module(x)
    assert torch.allclose(z_train, z_eval, atol=1e-8)
    assert torch.allclose(ld_train, ld_eval, atol=1e-8)


@pytest.mark.parametrize("name", list(ALL))
def test_save_load_round_trip(name, f64):
    module, x = _ready(name)
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    factory, _ = ALL[name]
    torch.manual_seed(123)  # a different random init, overwritten by the load
    other = factory()
    buf.seek(0)
    other.load_state_dict(torch.load(buf))
    other.eval()
    z1, ld1 = module(x)
    z2, ld2 = other(x)
    assert torch.equal(z1, z2) and torch.equal(ld1, ld2)
    # a loaded ActNorm must not re-initialise on its first training batch
    other.train()
    z3, _ = other(x + 1.0)
    module.train()
    z4, _ = module(x + 1.0)
    assert torch.allclose(z3, z4, atol=1e-10)


@pytest.mark.parametrize("name", list(FLOWS))
def test_flow_log_prob_and_sample_shapes(name, f64):
    module, x = _ready(name)
    assert module.log_prob(x).shape == (x.shape[0],)
    g = torch.Generator().manual_seed(0)
    s = module.sample(3, temperature=0.8, generator=g)
    assert s.shape == (3, *x.shape[1:]) and torch.isfinite(s).all()
    assert torch.isfinite(module.log_prob(s)).all()
    assert repr(module)
