"""Theme: flows — NICE, RealNVP, Glow, i-ResNet, f-VAE (see kexue/articles.py).

Every bijector and flow is an nn.Module with `forward(x) -> (z, logabsdet)` (data → latent) and
`inverse(z) -> (x, logabsdet)`; flow models add `log_prob(x)`, `nll(x)` and `sample(n)`.
"""

from kexue.flows import core as _core
from kexue.flows import f_vae as _f_vae
from kexue.flows import glow as _glow
from kexue.flows import iresnet as _iresnet
from kexue.flows import nice as _nice
from kexue.flows import realnvp as _realnvp
from kexue.flows.core import *
from kexue.flows.f_vae import *
from kexue.flows.glow import *
from kexue.flows.iresnet import *
from kexue.flows.nice import *
from kexue.flows.realnvp import *

# The public names are those of the modules' __all__ (each written once, in its module).
__all__: list[str] = []
__all__ += _core.__all__
__all__ += _f_vae.__all__
__all__ += _glow.__all__
__all__ += _iresnet.__all__
__all__ += _nice.__all__
__all__ += _realnvp.__all__
