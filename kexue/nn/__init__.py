"""Blocks shared by several themes (the rule of three): small MLPs, smooth functions."""

from kexue.nn import capsule as _capsule
from kexue.nn import conditional_ln as _conditional_ln
from kexue.nn import mlp as _mlp
from kexue.nn import on_lstm as _on_lstm
from kexue.nn import smoothing as _smoothing
from kexue.nn.capsule import *
from kexue.nn.conditional_ln import *
from kexue.nn.mlp import *
from kexue.nn.on_lstm import *
from kexue.nn.smoothing import *

# The public names are those of the modules' __all__ (each written once, in its module).
__all__: list[str] = []
__all__ += _capsule.__all__
__all__ += _conditional_ln.__all__
__all__ += _mlp.__all__
__all__ += _on_lstm.__all__
__all__ += _smoothing.__all__
