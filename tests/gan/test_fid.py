"""FID and KID: FID(x, x) = 0 and grows with a shift; KID's MMD² matches the brute-force
U-statistic, is 0 in expectation for one distribution (and can be negative) and clearly
positive for two; Inception weights and torch-fidelity fail with errors that name them."""

from __future__ import annotations

import builtins
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from kexue.data import shapes_array
from kexue.errors import InputError
from kexue.gan import (
    fid_kid,
    frechet_distance,
    image_features,
    inception_features,
    kid_from_features,
    polynomial_mmd2,
)


def _random_convnet(seed: int = 0):
    """A fixed, seeded random conv net as the feature map: uint8 (N, 3, H, W) → (N, 16)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.Tanh(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ).eval()  # fmt: skip

    def features(x: torch.Tensor) -> torch.Tensor:
        assert x.dtype == torch.uint8 and x.shape[1] == 3
        return net(x.float() / 127.5 - 1)

    return features


@pytest.fixture(scope="module")
def shapes():
    images, _ = shapes_array(480, size=16, seed=0)  # (N, H, W, 3) uint8
    return images


def _brute_force_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    k = lambda a, b: (a @ b / x.shape[1] + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_is_the_u_statistic() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 4)), rng.standard_normal((9, 4)) + 0.3
    assert polynomial_mmd2(x, y) == pytest.approx(_brute_force_mmd2(x, y), rel=1e-10)


def test_mmd2_is_unbiased_for_one_distribution_and_positive_for_two() -> None:
    rng = np.random.default_rng(1)
    same = [polynomial_mmd2(rng.standard_normal((50, 8)), rng.standard_normal((50, 8)))
            for _ in range(400)]  # fmt: skip
    shifted = [polynomial_mmd2(rng.standard_normal((50, 8)), rng.standard_normal((50, 8)) + 0.5)
               for _ in range(100)]  # fmt: skip
    se = np.std(same) / np.sqrt(len(same))  # independent replicates: an honest standard error
    assert abs(np.mean(same)) < 4 * se
    assert min(same) < 0 < max(same)  # unbiased, so not clipped at 0
    assert np.mean(shifted) > 10 * np.std(same)
    # the biased V-statistic (diagonals kept) sits clearly above 0 on the same kind of draws
    x, y = rng.standard_normal((50, 8)), rng.standard_normal((50, 8))
    k = lambda a, b: (a @ b.T / 8 + 1) ** 3  # noqa: E731
    assert k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean() > 10 * se


def test_fid_of_a_set_with_itself_is_zero(shapes) -> None:
    scores = fid_kid(shapes, shapes, features=_random_convnet(), kid_subsets=10,
                     kid_subset_size=100)  # fmt: skip
    assert abs(scores["fid"]) < 1e-6
    assert scores["kid"] > 0  # identical subsets are not independent draws


def test_fid_grows_with_a_shift_and_kid_separates_distributions(shapes) -> None:
    feats = _random_convnet()
    a, b = shapes[:240], shapes[240:]  # two draws of one distribution
    brighter = lambda d: np.clip(b.astype(np.int16) + d, 0, 255).astype(np.uint8)  # noqa: E731
    same, small, large = (fid_kid(a, x, features=feats, kid_subsets=50, kid_subset_size=100)
                          for x in (b, brighter(20), brighter(60)))  # fmt: skip
    assert same["fid"] < small["fid"] < large["fid"]
    assert small["fid"] > 2 * same["fid"]
    assert abs(same["kid"]) < 0.2 * small["kid"] < 0.2 * large["kid"]


def test_image_layouts_and_dtypes_give_the_same_features(shapes) -> None:
    feats = _random_convnet()
    nhwc = shapes[:20]
    nchw = torch.from_numpy(nhwc).permute(0, 3, 1, 2)
    unit = nchw.float() / 127.5 - 1  # float images in [−1, 1] round back to the same uint8
    ref = image_features(nhwc, feats, batch_size=7)
    assert np.allclose(image_features(nchw, feats), ref)
    assert np.allclose(image_features(unit, feats), ref, atol=1e-6)
    grey = image_features(nchw[:, :1], feats)  # one channel is repeated to three
    assert np.allclose(grey, image_features(nchw[:, :1].expand(-1, 3, -1, -1), feats))


def test_kid_subsets_are_seeded_and_clamped() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((30, 4)), rng.standard_normal((40, 4))
    assert kid_from_features(x, y, subsets=5, seed=3) == kid_from_features(x, y, subsets=5, seed=3)
    # subset_size above the set sizes is clamped to 30: every subset of x is all of x
    mean, _ = kid_from_features(x, x, subsets=3, subset_size=1000)
    assert mean == pytest.approx(polynomial_mmd2(x, x))


def test_fid_is_frechet_distance_of_the_features(shapes) -> None:
    feats = _random_convnet()
    a, b = shapes[:100], shapes[100:200]
    scores = fid_kid(a, b, features=feats, kid_subsets=2, kid_subset_size=50)
    expected = frechet_distance(image_features(a, feats), image_features(b, feats))
    assert scores["fid"] == pytest.approx(expected)


def test_missing_weights_file_is_an_input_error_naming_it(tmp_path) -> None:
    missing = tmp_path / "inception.pth"
    with pytest.raises(InputError, match="inception.pth"):
        inception_features(missing)
    with pytest.raises(InputError, match="inception.pth"):
        fid_kid(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 8, 3), np.uint8),
                weights=missing)  # fmt: skip


def test_missing_torch_fidelity_names_the_package(tmp_path, monkeypatch) -> None:
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"")
    real_import = builtins.__import__

    def no_fidelity(name, *args, **kwargs):
        if name.startswith("torch_fidelity"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fidelity)
    with pytest.raises(ImportError, match="pip install torch-fidelity") as info:
        inception_features(weights)
    assert isinstance(info.value, InputError)  # the CLI prints it as one line (exit 2)


def test_exactly_one_feature_source() -> None:
    x = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="exactly one"):
        fid_kid(x, x)
    with pytest.raises(ValueError, match="exactly one"):
        fid_kid(x, x, features=_random_convnet(), weights="w.pth")


def test_inception_wrapper_calls_torch_fidelity_as_documented(tmp_path, monkeypatch) -> None:
    """A stand-in torch_fidelity module records how the wrapper builds and calls the extractor
    (the real package cannot be installed beside this torch)."""
    import sys
    import types

    weights = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    weights.write_bytes(b"")
    seen = {}

    class FakeInception(nn.Module):
        def __init__(self, name, features_list, feature_extractor_weights_path=None):
            super().__init__()
            seen.update(name=name, features=features_list, path=feature_extractor_weights_path)

        def forward(self, x):
            assert x.dtype == torch.uint8  # torch-fidelity's contract
            return (x.float().mean((2, 3)),)  # a tuple, one entry per requested feature

    module = types.ModuleType("torch_fidelity.feature_extractor_inceptionv3")
    module.FeatureExtractorInceptionV3 = FakeInception
    monkeypatch.setitem(sys.modules, "torch_fidelity", types.ModuleType("torch_fidelity"))
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", module)
    images = np.random.default_rng(0).integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    scores = fid_kid(images, images, weights, kid_subsets=2)
    assert seen == {"name": "inception-v3-compat", "features": ["2048"], "path": str(weights)}
    assert abs(scores["fid"]) < 1e-6
