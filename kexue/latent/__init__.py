"""Latent-variable models, gradient estimators through sampling, dependence features."""

from kexue.latent import gumbel as _gumbel
from kexue.latent import image_vae as _image_vae
from kexue.latent import infomax as _infomax
from kexue.latent import vae as _vae
from kexue.latent import vae_geometry as _vae_geometry
from kexue.latent import vib as _vib
from kexue.latent.gumbel import *
from kexue.latent.image_vae import *
from kexue.latent.infomax import *
from kexue.latent.vae import *
from kexue.latent.vae_geometry import *
from kexue.latent.vib import *

# The public names are those of the modules' __all__ (each written once, in its module).
__all__: list[str] = []
__all__ += _gumbel.__all__
__all__ += _image_vae.__all__
__all__ += _infomax.__all__
__all__ += _vae.__all__
__all__ += _vae_geometry.__all__
__all__ += _vib.__all__
