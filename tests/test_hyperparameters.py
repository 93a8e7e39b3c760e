"""Constructors read like their articles: structure positional, hyperparameters keyword-only,
string options typed `Literal[...]` and refused with a message naming the allowed values."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing

import pytest
import torch
from torch import nn

from kexue import flows, latent, text, train
from kexue import nn as knn

PACKAGES = [
    "bert",
    "data",
    "flows",
    "gan",
    "graph",
    "latent",
    "nn",
    "seq",
    "stats",
    "text",
    "train",
]


def _classes() -> list[type]:
    out = []
    for pkg in PACKAGES:
        package = importlib.import_module(f"kexue.{pkg}")
        for name in package.__all__:
            obj = getattr(package, name)
            if (
                inspect.isclass(obj)
                and "__init__" in vars(obj)
                and not dataclasses.is_dataclass(obj)
            ):
                out.append(obj)
    return out


@pytest.mark.parametrize("cls", _classes(), ids=lambda c: c.__name__)
def test_hyperparameters_are_keyword_only(cls: type) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    positional = [p for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    # beyond the first two, a positional parameter is structure (no default), never a setting
    late = [p.name for p in positional[2:] if p.default is not p.empty]
    assert not late, f"{cls.__name__}: make {late} keyword-only"
    hints = typing.get_type_hints(cls.__init__)
    for p in positional:
        assert not isinstance(p.default, str), f"{cls.__name__}({p.name}=...) must be keyword-only"
        assert hints.get(p.name) is not str, f"{cls.__name__}.{p.name}: a Literal, not str"


def _conv() -> nn.Module:
    return nn.Conv2d(1, 2, 3, padding=1)


# (constructor call with one bad option, the allowed values its message must name)
BAD_OPTIONS = [
    (lambda: flows.Squeeze(order="x"), ("kexue", "glow")),
    (lambda: flows.Glow(coupling="x"), ("affine", "additive")),
    (lambda: flows.Glow(permutation="x"), ("lu", "conv", "shuffle", "reverse")),
    (lambda: flows.Glow(split_prior="x"), ("conditional", "standard")),
    (lambda: flows.Glow(scale_fn="x"), flows.SCALE_FNS),
    (lambda: flows.GlowStep(4, width=8, coupling="x"), ("affine", "additive")),
    (lambda: flows.FactorOut((2, 4, 4), nn.Identity(), prior="x"), ("conditional", "standard")),
    (lambda: flows.NICE(4, prior="x"), ("logistic", "normal")),
    (lambda: flows.NICE(4, permutation="x"), ("reverse", "shuffle")),
    (lambda: flows.NICE(4, out_activation="x"), ("relu",)),
    (lambda: flows.DiagonalScale(4, init="x"), ("zeros", "ddi")),
    (lambda: flows.AdditiveCoupling(2, _conv(), split="x"), ("evenodd", "half", "checkerboard")),
    (lambda: flows.AffineCoupling(2, _conv(), scale_fn="x"), flows.SCALE_FNS),
    (lambda: flows.RealNVP(4, mixing="x"), ("alternate", "reverse", "shuffle", "lu")),
    (lambda: flows.RealNVP(4, coupling="x"), ("affine", "additive")),
    (lambda: flows.RealNVP(4, split="x"), ("evenodd", "half")),
    (lambda: flows.RealNVP(4, scale_fn="x"), flows.SCALE_FNS),
    (lambda: flows.ResidualBlock(nn.Identity(), logdet="x"), ("series", "exact")),
    (lambda: flows.ResidualBlock(nn.Identity(), probe="x"), ("gaussian", "rademacher")),
    (lambda: flows.ResidualBlock(nn.Identity(), jacobian="x"), ("autograd", "explicit")),
    (lambda: flows.IResNet(2, logdet="x"), ("series", "exact")),
    (lambda: flows.ConvIResNet(logdet="x"), ("series", "exact")),
    (lambda: knn.Capsule(4, 2, 3, routing="x"), ("su", "sabour")),
    (lambda: knn.ONLSTMCell(3, 4, n_levels=2, master_input="x"), ("paper", "article")),
    (lambda: latent.TauSchedule(kind="x"), ("exp_per_step", "jang")),
    (lambda: latent.DeepInfoMax(latent.InfoMaxEncoder(), global_pair="x"), ("z_z", "feature_z")),
    (lambda: latent.DeepInfoMax(latent.InfoMaxEncoder(), local_estimator="x"), ("jsd", "infonce")),
    (lambda: text.LibraryEmbedding(3, 2, metric="x"), ("l2", "dot")),
    (lambda: text.MinEntropyLexicon(pair_norm="x").fit(["我们的"]), ("pairs", "chars")),
    (lambda: text.MinEntropyLexicon(redundancy="x").fit(["我们的"]), ("length",)),
    (lambda: train.EMA(nn.Linear(2, 2), init="x"), ("weights", "zeros")),
    (lambda: train.BestCheckpoint(mode="x"), ("max", "min")),
    (lambda: train.BestCheckpoint(tie="x"), ("ge", "gt")),
    (lambda: train.LrMultiplier(2.0, kind="x"), ("sgd", "adaptive")),
]


@pytest.mark.parametrize(("build", "allowed"), BAD_OPTIONS)
def test_a_bad_string_option_names_the_allowed_values(build, allowed) -> None:
    torch.manual_seed(0)
    with pytest.raises(ValueError) as err:
        build()
    message = str(err.value)
    assert "'x'" in message and all(a in message for a in allowed), message


def test_glow_step_has_one_random_source() -> None:
    params = inspect.signature(flows.GlowStep).parameters
    assert "generator" in params and "seed" not in params
    a = flows.GlowStep(
        4, width=8, permutation="shuffle", generator=torch.Generator().manual_seed(1)
    )
    b = flows.GlowStep(
        4, width=8, permutation="shuffle", generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(a.layers[1].index, b.layers[1].index)
