"""Statistics: distances and dependence measures between samples."""

from kexue.stats import hsic as _hsic
from kexue.stats import intervals as _intervals
from kexue.stats import wasserstein as _wasserstein
from kexue.stats.hsic import *
from kexue.stats.intervals import *
from kexue.stats.wasserstein import *

# The public names are those of the modules' __all__ (each written once, in its module).
__all__: list[str] = []
__all__ += _hsic.__all__
__all__ += _intervals.__all__
__all__ += _wasserstein.__all__
