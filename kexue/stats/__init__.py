"""Statistics: distances and dependence measures between samples."""

from kexue.stats.hsic import (
    HSICTestResult,
    gram,
    hsic,
    hsic_from_grams,
    hsic_test,
    median_bandwidth,
    normalized_hsic,
    torch_gram,
    torch_normalized_hsic,
)
from kexue.stats.wasserstein import w1_exact, w1_lp

__all__ = [
    "HSICTestResult",
    "gram",
    "hsic",
    "hsic_from_grams",
    "hsic_test",
    "median_bandwidth",
    "normalized_hsic",
    "torch_gram",
    "torch_normalized_hsic",
    "w1_exact",
    "w1_lp",
]
