"""Blocks shared by several themes (the rule of three): small MLPs, smooth functions."""

from kexue.nn.capsule import Capsule, dynamic_routing, margin_loss, squash
from kexue.nn.conditional_ln import (
    ConditionalLayerNorm,
    conditional_layer_norm,
    conditioned,
    make_conditional,
)
from kexue.nn.mlp import MLP, Ensemble
from kexue.nn.on_lstm import (
    ONLSTM,
    ONLSTMCell,
    build_tree,
    cumax,
    right_branching,
    tree_brackets,
    unlabeled_f1,
)
from kexue.nn.smoothing import (
    smooth_abs,
    smooth_max,
    smooth_min,
    smooth_relu,
    soft_accuracy,
    soft_accuracy_loss,
    soft_argmax,
    soft_f1,
    soft_f1_binary,
    soft_f1_loss,
    soft_kmax,
    soft_onehot,
)

__all__ = [
    "MLP",
    "Ensemble",
    "ConditionalLayerNorm",
    "conditional_layer_norm",
    "conditioned",
    "make_conditional",
    "ONLSTM",
    "ONLSTMCell",
    "Capsule",
    "build_tree",
    "cumax",
    "dynamic_routing",
    "margin_loss",
    "right_branching",
    "squash",
    "tree_brackets",
    "unlabeled_f1",
    "smooth_abs",
    "smooth_max",
    "smooth_min",
    "smooth_relu",
    "soft_accuracy",
    "soft_accuracy_loss",
    "soft_argmax",
    "soft_f1",
    "soft_f1_binary",
    "soft_f1_loss",
    "soft_kmax",
    "soft_onehot",
]
