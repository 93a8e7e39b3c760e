"""Theme: graph — flow models, the map equation, InfoMap."""

from kexue.graph.infomap import InfoMap, infomap, infomap_flow
from kexue.graph.mapequation import (
    Flow,
    compute_flow,
    map_equation,
    multilevel_codelength,
    two_level_codelength,
)

__all__ = [
    "Flow",
    "InfoMap",
    "compute_flow",
    "infomap",
    "infomap_flow",
    "map_equation",
    "multilevel_codelength",
    "two_level_codelength",
]
