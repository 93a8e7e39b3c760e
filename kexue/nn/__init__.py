"""Blocks shared by several themes (the rule of three): small MLPs and conv nets."""

from kexue.nn.mlp import MLP

__all__ = ["MLP"]
