"""Theme: train — adversarial training, layer-wise LR, callbacks, optimisers, losses/metrics,
optimisation dynamics, multi-task balancing (see kexue/articles.py)."""

from kexue.train.dynamics_holistic import (
    article_demo_grad,
    article_demo_loss,
    euler_flow,
    gradient_velocity,
    loss_rate,
    polyak_velocity,
    sign_velocity,
)
from kexue.train.dynamics_sgd import (
    beta_after_lr_decay,
    damped_ode_solution,
    gd_trajectory,
    gradient_flow_solution,
    heavy_ball_trajectory,
    langevin_stationary_log_density,
    momentum_coefficients,
    nesterov_coefficients,
    nesterov_trajectory,
    sgd_stationary_variance,
    stability_threshold,
)
from kexue.train.optimizers import SGD, Heun, SoftBatch, heun_amplification

__all__ = [
    "SGD",
    "Heun",
    "SoftBatch",
    "heun_amplification",
    "article_demo_grad",
    "article_demo_loss",
    "beta_after_lr_decay",
    "damped_ode_solution",
    "euler_flow",
    "gd_trajectory",
    "gradient_flow_solution",
    "gradient_velocity",
    "heavy_ball_trajectory",
    "langevin_stationary_log_density",
    "loss_rate",
    "momentum_coefficients",
    "nesterov_coefficients",
    "nesterov_trajectory",
    "polyak_velocity",
    "sgd_stationary_variance",
    "sign_velocity",
    "stability_threshold",
]
