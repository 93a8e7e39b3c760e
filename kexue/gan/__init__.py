"""GANs and Lipschitz constraints: losses as plain functions of critic outputs, and evaluation."""

from kexue.gan.metrics import hq_fraction, mode_kl, mode_stats, modes_covered
from kexue.gan.wgan import clip_weights, dual_estimate, gradient_penalty, wgan_d_loss, wgan_g_loss

__all__ = [
    "clip_weights",
    "dual_estimate",
    "gradient_penalty",
    "hq_fraction",
    "mode_kl",
    "mode_stats",
    "modes_covered",
    "wgan_d_loss",
    "wgan_g_loss",
]
