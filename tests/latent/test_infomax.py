"""Deep InfoMax pieces: JS loss and infoNCE against naive loops, derangements, shapes,
the total loss as the weighted sum, feature probes."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from kexue.latent import (
    DeepInfoMax,
    InfoMaxEncoder,
    LocalCritic,
    derangement,
    gaussian_kl,
    js_from_loss,
    jsd_loss,
    knn_accuracy,
    linear_probe_accuracy,
    local_infonce_loss,
    prior_kl_loss,
)


def _sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def test_jsd_loss_is_the_negative_log_likelihood_by_hand():
    pos, neg = [0.5, -1.0, 2.0], [0.3, -2.0]
    by_hand = -(
        sum(math.log(_sigmoid(t)) for t in pos) / 3
        + sum(math.log(1 - _sigmoid(t)) for t in neg) / 2
    )
    assert abs(float(jsd_loss(torch.tensor(pos), torch.tensor(neg))) - by_hand) < 1e-6


def test_optimal_critic_recovers_the_js_divergence(f64):
    # discrete P, Q: the optimal T = log p/q; the bound then equals 2·JS − log 4
    p = torch.tensor([0.5, 0.3, 0.2])
    q = torch.tensor([0.1, 0.3, 0.6])
    t = (p / q).log()
    m = (p + q) / 2
    js = 0.5 * (p * (p / m).log()).sum() + 0.5 * (q * (q / m).log()).sum()
    # E_P softplus(−T) and E_Q softplus(T) as weighted means
    loss = (p * torch.nn.functional.softplus(-t)).sum() + (
        q * torch.nn.functional.softplus(t)
    ).sum()
    assert abs(js_from_loss(loss) - float(js)) < 1e-12
    # and the module's unweighted means agree on an equally weighted sample version
    pos = t.repeat_interleave((p * 10).round().long())
    neg = t.repeat_interleave((q * 10).round().long())
    assert abs(float(jsd_loss(pos, neg)) - float(loss)) < 1e-12


def test_local_infonce_against_a_naive_loop(f64):
    g = torch.Generator().manual_seed(0)
    b, d, n_loc = 4, 3, 5
    z, f = torch.randn(b, d, generator=g), torch.randn(b, d, n_loc, generator=g)
    total = 0.0
    for i in range(b):
        for j in range(n_loc):
            pos = float(z[i] @ f[i, :, j])
            negs = [float(z[i] @ f[c, :, k]) for c in range(b) if c != i for k in range(n_loc)]
            lse = math.log(math.exp(pos) + sum(math.exp(s) for s in negs))
            total += lse - pos
    assert abs(float(local_infonce_loss(z, f)) - total / (b * n_loc)) < 1e-10


@given(n=st.integers(2, 50), seed=st.integers(0, 1000))
def test_derangement_has_no_fixed_points(n, seed):
    perm = derangement(n, generator=torch.Generator().manual_seed(seed))
    assert sorted(perm.tolist()) == list(range(n))
    assert not (perm == torch.arange(n)).any()


def test_prior_loss_is_the_dimension_averaged_kl():
    mu, logvar = torch.randn(6, 8), torch.randn(6, 8)
    assert torch.allclose(prior_kl_loss(mu, logvar), gaussian_kl(mu, logvar).mean() / 8)


def test_encoder_and_critic_shapes():
    enc = InfoMaxEncoder(z_dim=16)
    mu, logvar, c = enc(torch.randn(5, 1, 8, 8))
    assert mu.shape == logvar.shape == (5, 16) and c.shape == (5, 64, 4, 4)
    critic = LocalCritic(16, 64, hidden=(32,))
    assert critic(c, mu).shape == (5, 4, 4)


def test_local_critic_scores_each_position_independently(f64):
    # a 1×1-conv critic at (i, j) sees only [C_ij, z]
    critic = LocalCritic(3, 2, hidden=(8, 8))
    c, z = torch.randn(1, 2, 3, 3), torch.randn(1, 3)
    full = critic(c, z)
    single = critic(c[:, :, 1:2, 2:3], z)
    assert torch.allclose(full[:, 1, 2], single[:, 0, 0])


def test_total_loss_is_the_weighted_sum_and_gradients_flow():
    torch.manual_seed(0)
    for pair, local in (("z_z", "jsd"), ("feature_z", "infonce"), ("none", "jsd")):
        model = DeepInfoMax(
            InfoMaxEncoder(z_dim=8), alpha=0.5, beta=1.5, gamma=0.01, global_pair=pair,
            local_estimator=local, critic_hidden=(16, 16),
        )  # fmt: skip
        terms = model.losses(torch.randn(6, 1, 8, 8), generator=torch.Generator().manual_seed(0))
        expected = 0.5 * terms["global"] + 1.5 * terms["local"] + 0.01 * terms["prior"]
        assert torch.allclose(terms["total"], expected)
        terms["total"].backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing, (pair, local, missing)


def test_probes_separate_separable_features():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    f = rng.normal(size=(120, 5)) + 5 * np.eye(3, 5)[y]
    assert knn_accuracy(f[::2], y[::2], f[1::2], y[1::2]) == 1.0
    assert knn_accuracy(f[::2], y[::2], f[1::2], y[1::2], metric="cosine") > 0.9
    assert linear_probe_accuracy(f[::2], y[::2], f[1::2], y[1::2]) == 1.0
    noise = rng.normal(size=(120, 5))
    assert linear_probe_accuracy(noise[::2], y[::2], noise[1::2], y[1::2]) < 0.7


def test_unstandardised_probe_underfits_tiny_features():
    # the L2 penalty crushes features of scale 1e-4 unless they are standardised first
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 60)
    f = (rng.normal(size=(180, 5)) + 4 * np.eye(3, 5)[y]) * 1e-4
    args = (f[::2], y[::2], f[1::2], y[1::2])
    assert linear_probe_accuracy(*args) > 0.95
    assert linear_probe_accuracy(*args, standardize=False) < 0.6
