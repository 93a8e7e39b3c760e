"""Output-free loss, hook metrics, the fixed-init spectral norm, progress-bar averaging."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from kexue.train import (
    OutputFreeAutoencoder,
    RunningMean,
    add_spectral_norm_fixed_init,
    hidden_sq_norm,
    max_norm_,
    spectral_norm_fixed_init,
    track_activation,
)


def _keras_sn(kernel: np.ndarray, r: int = 5) -> float:
    # the article's SpectralNormalization.spectral_norm transcribed to numpy
    w = kernel.reshape(-1, kernel.shape[-1])
    u = np.ones((1, w.shape[0]))
    for _ in range(r):
        v = u @ w
        v = v / np.sqrt((v**2).sum())
        u = v @ w.T
        u = u / np.sqrt((u**2).sum())
    return float((u @ w @ v.T).sum())


def test_spectral_norm_matches_the_keras_transcription():
    torch.manual_seed(0)
    lin = nn.Linear(7, 5)
    kernel = lin.weight.detach().T.numpy().astype(np.float64)  # Keras kernel (in, out)
    ours = float(spectral_norm_fixed_init(lin.weight.detach().double()))
    assert ours == pytest.approx(_keras_sn(kernel), rel=1e-10)
    conv_k = torch.randn(3, 3, 4, 6, dtype=torch.float64)  # Keras conv kernel (h, w, in, out)
    got = float(spectral_norm_fixed_init(conv_k, layout="keras"))
    assert got == pytest.approx(_keras_sn(conv_k.numpy()), rel=1e-10)


def test_spectral_norm_accuracy_depends_on_the_gap():
    g = torch.Generator().manual_seed(0)
    q1, _ = torch.linalg.qr(torch.randn(64, 64, generator=g, dtype=torch.float64))
    q2, _ = torch.linalg.qr(torch.randn(64, 64, generator=g, dtype=torch.float64))
    s = torch.linspace(1.0, 0.01, 64, dtype=torch.float64)
    s[0] = 3.0  # σ₂/σ₁ = 1/3: five iterations are plenty
    w = q1 @ torch.diag(s) @ q2.T
    exact = float(torch.linalg.matrix_norm(w, ord=2))
    assert float(spectral_norm_fixed_init(w)) == pytest.approx(exact, rel=1e-3)
    s[0] = 1.01  # tiny gap: the fixed-init estimate falls short (always from below)
    w = q1 @ torch.diag(s) @ q2.T
    est = float(spectral_norm_fixed_init(w))
    assert est <= float(torch.linalg.matrix_norm(w, ord=2)) + 1e-12


def test_parametrized_layer_has_unit_spectral_norm_estimate():
    torch.manual_seed(0)
    lin = add_spectral_norm_fixed_init(nn.Linear(8, 8).double(), r=50)
    assert float(torch.linalg.matrix_norm(lin.weight, ord=2)) == pytest.approx(1.0, rel=1e-4)
    lin(torch.randn(2, 8, dtype=torch.float64)).sum().backward()
    assert lin.parametrizations.weight.original.grad is not None


def test_output_free_loss_and_hook_metric():
    torch.manual_seed(0)
    ae = OutputFreeAutoencoder(6, 4)
    store: list[float] = []
    handle = track_activation(ae.encoder, hidden_sq_norm, store)
    x = torch.rand(10, 6)
    out = ae(x)
    assert float(out["loss"]) == pytest.approx(float(((out["recon"] - x) ** 2).mean()))
    h = torch.relu(ae.encoder[0](x)).detach()
    assert store[-1] == pytest.approx(
        float(sum((h[b] ** 2).sum() for b in range(10)) / 10), rel=1e-6
    )
    handle.remove()
    ae(x)
    assert len(store) == 1


def test_running_mean_is_keras_progbar_averaging():
    bar = RunningMean(stateful=["lr"])
    seq = [(1.0, 0.1), (3.0, 0.2), (2.0, 0.3)]
    for loss, lr in seq:
        shown = bar.update(1, loss=loss, lr=lr)
    assert shown["loss"] == pytest.approx(2.0) and shown["lr"] == 0.3
    bar.reset()
    bar.update(10, loss=1.0)
    assert bar.update(30, loss=3.0)["loss"] == pytest.approx(2.5)


def test_running_mean_matches_keras_progbar_rule_on_a_random_sequence():
    # Keras' Progbar.update, transcribed: v·(current − seen) summed, over the steps seen;
    # a stateful value is shown as last given
    rng = np.random.default_rng(0)
    bar, sums, current, seen = RunningMean(stateful=["lr"]), [0.0, 0], 0, 0
    for _ in range(50):
        n = int(rng.integers(1, 5))
        current += n
        loss, lr = float(rng.normal()), float(rng.random())
        shown = bar.update(n, loss=loss, lr=lr)
        sums = [sums[0] + loss * (current - seen), sums[1] + current - seen]
        seen = current
        assert abs(shown["loss"] - sums[0] / sums[1]) <= 1e-12
        assert shown["lr"] == lr


def test_max_norm_constraint():
    w = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    max_norm_(w, 1.0)
    assert torch.allclose(w.norm(dim=1), torch.tensor([1.0, 0.5]), atol=1e-6)
