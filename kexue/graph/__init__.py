"""Theme: graph — flow models, the map equation, InfoMap."""

from kexue.graph import infomap as _infomap
from kexue.graph import mapequation as _mapequation
from kexue.graph.infomap import *
from kexue.graph.mapequation import *

# The public names are those of the modules' __all__ (each written once, in its module).
__all__: list[str] = []
__all__ += _infomap.__all__
__all__ += _mapequation.__all__
