"""Theme: flows — NICE, RealNVP, Glow, i-ResNet, f-VAE (see kexue/articles.py).

Every bijector and flow is an nn.Module with `forward(x) -> (z, logabsdet)` (data → latent) and
`inverse(z) -> (x, logabsdet)`; flow models add `log_prob(x)`, `nll(x)` and `sample(n)`.
"""

from kexue.flows.core import (
    ActNorm,
    Bijector,
    Flatten,
    Flow,
    InvertibleLinear,
    RandomPermutation,
    Reverse,
    Sequential,
    Squeeze,
    StandardLogistic,
    StandardNormal,
    SwapHalves,
    bits_per_dim,
    brute_force_logabsdet,
    nats_to_bpd,
)
from kexue.flows.f_vae import FVAE, ResidualStep, conditional_flow_loss, decoder, encoder
from kexue.flows.glow import FactorOut, Glow, GlowStep, conv_net
from kexue.flows.iresnet import (
    ConvIResNet,
    IResNet,
    ResidualBlock,
    SpectralNormConv2d,
    SpectralNormLinear,
    exact_logdet,
    fixed_point_inverse,
    power_series_logdet,
    series_error_bound,
    series_logdet_from_jacobian,
)
from kexue.flows.nice import NICE, AdditiveCoupling, Coupling, DiagonalScale, zero_last_layer
from kexue.flows.realnvp import SCALE_FNS, AffineCoupling, RealNVP

__all__ = [
    "NICE",
    "SCALE_FNS",
    "ActNorm",
    "AdditiveCoupling",
    "AffineCoupling",
    "Bijector",
    "ConvIResNet",
    "Coupling",
    "DiagonalScale",
    "FVAE",
    "FactorOut",
    "Flatten",
    "Flow",
    "Glow",
    "GlowStep",
    "IResNet",
    "InvertibleLinear",
    "RandomPermutation",
    "RealNVP",
    "ResidualBlock",
    "ResidualStep",
    "Reverse",
    "Sequential",
    "SpectralNormConv2d",
    "SpectralNormLinear",
    "Squeeze",
    "StandardLogistic",
    "StandardNormal",
    "SwapHalves",
    "bits_per_dim",
    "brute_force_logabsdet",
    "conditional_flow_loss",
    "conv_net",
    "decoder",
    "encoder",
    "exact_logdet",
    "fixed_point_inverse",
    "nats_to_bpd",
    "power_series_logdet",
    "series_error_bound",
    "series_logdet_from_jacobian",
    "zero_last_layer",
]
