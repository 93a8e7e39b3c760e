"""Statistics: distances and dependence measures between samples."""

from kexue.stats.wasserstein import w1_exact, w1_lp

__all__ = ["w1_exact", "w1_lp"]
