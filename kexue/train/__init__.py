"""Theme: train — adversarial training, layer-wise LR, callbacks, optimisers, losses/metrics,
optimisation dynamics, multi-task balancing (see kexue/articles.py)."""

from kexue.train import adversarial as _adversarial
from kexue.train import callbacks as _callbacks
from kexue.train import dynamics_holistic as _dynamics_holistic
from kexue.train import dynamics_sgd as _dynamics_sgd
from kexue.train import layer_lr as _layer_lr
from kexue.train import losses_metrics as _losses_metrics
from kexue.train import multitask as _multitask
from kexue.train import optimizers as _optimizers
from kexue.train.adversarial import *
from kexue.train.callbacks import *
from kexue.train.dynamics_holistic import *
from kexue.train.dynamics_sgd import *
from kexue.train.layer_lr import *
from kexue.train.losses_metrics import *
from kexue.train.multitask import *
from kexue.train.optimizers import *

# The public names are those of the modules' __all__ (each written once, in its module).
__all__: list[str] = []
__all__ += _adversarial.__all__
__all__ += _callbacks.__all__
__all__ += _dynamics_holistic.__all__
__all__ += _dynamics_sgd.__all__
__all__ += _layer_lr.__all__
__all__ += _losses_metrics.__all__
__all__ += _multitask.__all__
__all__ += _optimizers.__all__
