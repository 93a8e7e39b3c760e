"""GANs and Lipschitz constraints: losses as plain functions of critic outputs, and evaluation."""

from kexue.gan import bigan_qp as _bigan_qp
from kexue.gan import energy as _energy
from kexue.gan import evaluate as _evaluate
from kexue.gan import f_gan as _f_gan
from kexue.gan import fid as _fid
from kexue.gan import gan_qp as _gan_qp
from kexue.gan import lipschitz as _lipschitz
from kexue.gan import losses as _losses
from kexue.gan import metrics as _metrics
from kexue.gan import nets as _nets
from kexue.gan import papers as _papers
from kexue.gan import vi_unified as _vi_unified
from kexue.gan import wgan as _wgan
from kexue.gan.bigan_qp import *
from kexue.gan.energy import *
from kexue.gan.evaluate import *
from kexue.gan.f_gan import *
from kexue.gan.fid import *
from kexue.gan.gan_qp import *
from kexue.gan.lipschitz import *
from kexue.gan.losses import *
from kexue.gan.metrics import *
from kexue.gan.nets import *
from kexue.gan.papers import *
from kexue.gan.vi_unified import *
from kexue.gan.wgan import *

# The public names are those of the modules' __all__ (each written once, in its module).
__all__: list[str] = []
__all__ += _bigan_qp.__all__
__all__ += _energy.__all__
__all__ += _evaluate.__all__
__all__ += _nets.__all__
__all__ += _f_gan.__all__
__all__ += _gan_qp.__all__
__all__ += _lipschitz.__all__
__all__ += _losses.__all__
__all__ += _metrics.__all__
__all__ += _papers.__all__
__all__ += _vi_unified.__all__
__all__ += _wgan.__all__
__all__ += _fid.__all__
