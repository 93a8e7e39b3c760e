"""Latent-variable models, gradient estimators through sampling, dependence features."""

from kexue.latent.gumbel import (
    ESTIMATORS,
    TauSchedule,
    categorical_grad_samples,
    exact_categorical_grad,
    gumbel_max,
    gumbel_noise,
    gumbel_softmax,
    normal_rsample,
)

__all__ = [
    "ESTIMATORS",
    "TauSchedule",
    "categorical_grad_samples",
    "exact_categorical_grad",
    "gumbel_max",
    "gumbel_noise",
    "gumbel_softmax",
    "normal_rsample",
]
