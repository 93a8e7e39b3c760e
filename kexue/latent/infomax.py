r"""Deep InfoMax as the author re-derives it: JS mutual information, global + local, a KL prior.

Article:  深度学习的互信息：无监督提取特征 — 苏剑林, 2018-10-02
URL:      https://kexue.fm/archives/6024
Original: bojone/infomax, infomax_cifar10.py
See also: Hjelm et al. 2019, Learning deep representations by mutual information estimation and
          maximization (DIM, arXiv 1808.06670); van den Oord et al. 2018 (infoNCE)

A good feature z of x lets you pick x out of the data set: maximise I(X; Z) under a prior term
KL(p(z) ‖ q(z)), q = N(0, I). Since E_x KL(p(z|x) ‖ q) = I(X; Z) + KL(p(z) ‖ q), the loss
−I + λ·KL(p(z) ‖ q) becomes −(1 + λ)·I + λ·E_x KL(p(z|x) ‖ q) (the VAE's KL, computable). I is
a KL between p(z|x)p̃(x) and p(z)p̃(x); swapping it for the bounded JS divergence and its f-GAN
variational form gives negative sampling (positives: (x, z_x); negatives: x with the z of another
image of the batch):

    JS ≈ max_T E_pos log σ(T) + E_neg log(1 − σ(T))          (up to the constant log 4, halved)
    L = −α·JS_global(x, z) − (β/hw)·Σ_ij JS_local(C_ij(x), z) + γ·E_x KL(p(z|x) ‖ N(0, I))

with C_ij the h×w×c intermediate feature map and T_local a stack of 1×1 convolutions on
[C_ij, z]. `jsd_loss` is the bracket with its sign flipped (a binary cross-entropy);
`local_infonce_loss` is DIM's infoNCE alternative (not in the article) used as an ablation.

Symbols: x (B, 1, H, W); C (B, c, h, w) local map; μ, logvar (B, Z); z̃ = μ + σ ε (B, Z).

Deviations from the article:
    - Negatives come from a derangement (the batch rolled by a random non-zero offset) instead
      of a random shuffle, whose fixed points would pair a code with its own image as a negative.
    - The reference code pairs the noisy code with itself for the global term ([z̃, z̃] vs
      [z̃, shuffled z̃], `global_pair="z_z"`); DIM's pairing with the flattened feature map is
      `global_pair="feature_z"`.
    - The prior term is the per-dimension mean of the KL (as in the reference code), so γ is a
      per-dimension weight.
    - Sized for 8×8 digits: two conv blocks to a 4×4 local map, two more to the code (the CIFAR
      code has three and two blocks with 64–256 channels); `image_blocks` gives the author's
      layout for an image side and width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.latent.gumbel import normal_rsample
from kexue.latent.vae import gaussian_kl_per_dim

__all__ = [
    "DeepInfoMax",
    "GlobalCritic",
    "InfoMaxEncoder",
    "LocalCritic",
    "SeparableLocalCritic",
    "derangement",
    "image_blocks",
    "jsd_loss",
    "js_from_loss",
    "knn_accuracy",
    "knn_correct",
    "linear_probe_accuracy",
    "linear_probe_correct",
    "local_infonce_loss",
    "prior_kl_loss",
]

GlobalPair = Literal["z_z", "feature_z", "none"]
LocalEstimator = Literal["jsd", "infonce", "none"]


def derangement(n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """A permutation of range(n) without fixed points: a roll by a random offset in [1, n−1]."""
    if n < 2:
        raise ValueError(f"a derangement needs n >= 2, got {n}")
    shift = int(torch.randint(1, n, (1,), generator=generator))
    return torch.roll(torch.arange(n), shift)


def jsd_loss(pos_logits: Tensor, neg_logits: Tensor) -> Tensor:
    """−(E_pos log σ(T) + E_neg log(1 − σ(T))) = E_pos softplus(−T) + E_neg softplus(T), scalar.

    The negative of the article's JS negative-sampling bound (the reference's binary
    cross-entropy without its 1e-6 epsilon); its minimum over T is log 4 − 2·JS(P, Q).
    """
    return F.softplus(-pos_logits).mean() + F.softplus(neg_logits).mean()


def js_from_loss(loss: Tensor | float) -> float:
    """The JS-divergence estimate (nats, in [0, log 2]) implied by a `jsd_loss` value."""
    return float(np.log(2.0) - float(loss) / 2)


def local_infonce_loss(z_emb: Tensor, f_emb: Tensor) -> Tensor:
    """DIM's local infoNCE: each (image b, location l) scores z_b against its own feature f_{b,l}
    (positive) and every location of every other image (negatives).

    Args:
        z_emb: (B, D) embedded codes.
        f_emb: (B, D, L) embedded local features.

    Returns:
        mean over (b, l) of −log softmax of the positive among [positive, B·L − L negatives].
    """
    b, _, n_loc = f_emb.shape
    scores = torch.einsum("bd,cdl->bcl", z_emb, f_emb)  # (B, B, L): z_b · f_{c,l}
    pos = scores.diagonal(dim1=0, dim2=1).T  # (B, L)
    mask = torch.eye(b, dtype=torch.bool)[:, :, None].expand(b, b, n_loc)
    neg = scores.masked_fill(mask, float("-inf")).reshape(b, 1, b * n_loc).expand(b, n_loc, -1)
    logits = torch.cat([pos[:, :, None], neg], 2)  # (B, L, 1 + B·L)
    return (torch.logsumexp(logits, -1) - pos).mean()


def prior_kl_loss(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) averaged over batch AND dimensions (the reference code's prior)."""
    return gaussian_kl_per_dim(mu, logvar).mean()


def _conv_block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def image_blocks(
    img_size: int, width: int
) -> tuple[tuple[tuple[int, bool], ...], tuple[tuple[int, bool], ...]]:
    """(local_blocks, global_blocks) of the author's image encoders for an S×S image: log2(S/4)
    pooled blocks whose channels double up to `width` (a 4×4 local map), then two blocks of
    `width` without pooling. S = 32, width 256: 64-128-256 | 256-256 (infomax_cifar10.py);
    S = 64: 32-64-128-256 | 256-256 (infomax_tiny_imagenet.py)."""
    if img_size < 8 or img_size & (img_size - 1):
        raise ValueError(f"img_size must be a power of 2 >= 8, got {img_size}")
    pools = int(np.log2(img_size // 4))
    if width < 2 ** (pools - 1):
        raise ValueError(f"width {width} is below 2^{pools - 1} (one channel per block)")
    local = tuple((width // 2 ** (pools - 1 - i), True) for i in range(pools))
    return local, ((width, False), (width, False))


class InfoMaxEncoder(nn.Module):
    """Conv blocks to a local map C, more conv blocks, global max-pool, then μ and log σ² heads.

    Each block is Conv 3×3 'same' → BatchNorm → LeakyReLU(0.2) → optional MaxPool 2.

    Args:
        in_channels: image channels.
        local_blocks: (channels, pool) per block up to the local map.
        global_blocks: (channels, pool) per block after it.
        z_dim: Z.

    `forward(x)` returns (μ (B, Z), logvar (B, Z), C (B, c, h, w)).
    """

    def __init__(
        self,
        in_channels: int = 1,
        *,
        local_blocks: Sequence[tuple[int, bool]] = ((32, True), (64, False)),
        global_blocks: Sequence[tuple[int, bool]] = ((64, True), (64, False)),
        z_dim: int = 64,
    ) -> None:
        super().__init__()
        blocks, c = [], in_channels
        for c_out, pool in local_blocks:
            blocks.append(_conv_block(c, c_out, pool))
            c = c_out
        self.local = nn.Sequential(*blocks)
        self.local_channels = c
        blocks = []
        for c_out, pool in global_blocks:
            blocks.append(_conv_block(c, c_out, pool))
            c = c_out
        self.top = nn.Sequential(*blocks)
        self.mu = nn.Linear(c, z_dim)
        self.logvar = nn.Linear(c, z_dim)
        self.z_dim = z_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c = self.local(x)  # (B, c, h, w)
        h = self.top(c).amax(dim=(2, 3))  # global max-pool, (B, c')
        return self.mu(h), self.logvar(h), c


class GlobalCritic(nn.Module):
    """T_global: an MLP on a concatenated pair (B, P) -> (B,) logits (ReLU hidden layers)."""

    def __init__(self, in_features: int, *, hidden: Sequence[int] = (256, 256, 256)) -> None:
        super().__init__()
        sizes = [in_features, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))

    def forward(self, pair: Tensor) -> Tensor:
        return self.net(pair).squeeze(-1)


class LocalCritic(nn.Module):
    """T_local: 1×1 convolutions on [C_ij, z] (z tiled over the map).

    Shapes: C (B, c, h, w), z (B, Z) -> logits (B, h, w).
    """

    def __init__(
        self, z_dim: int, channels: int, *, hidden: Sequence[int] = (256, 256, 256)
    ) -> None:
        super().__init__()
        sizes = [z_dim + channels, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Conv2d(a, b, 1), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Conv2d(sizes[-1], 1, 1))

    def forward(self, c: Tensor, z: Tensor) -> Tensor:
        tiled = z[:, :, None, None].expand(-1, -1, *c.shape[2:])  # (B, Z, h, w)
        return self.net(torch.cat([c, tiled], 1)).squeeze(1)


class SeparableLocalCritic(nn.Module):
    """DIM's separable critic T(C_ij, z) = φ(C_ij)·ψ(z), for the all-pairs infoNCE.

    `forward(c, z)` returns (ψ(z) (B, D), φ(C) (B, D, h·w)).
    """

    def __init__(self, z_dim: int, channels: int, *, dim: int = 128, hidden: int = 256) -> None:
        super().__init__()
        self.psi = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.phi = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, dim, 1)
        )

    def forward(self, c: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.psi(z), self.phi(c).flatten(2)


class DeepInfoMax(nn.Module):
    """Encoder plus critics, and the article's total loss α·global + β·local + γ·prior.

    Args:
        encoder: an InfoMaxEncoder.
        alpha, beta, gamma: weights of the global MI, local MI and prior terms (reference:
            0.5, 1.5, 0.01).
        global_pair: "z_z" (reference: [z̃, z̃] vs [z̃, z̃_perm]), "feature_z" (DIM:
            [flatten C, z̃] vs [flatten C_perm, z̃]) or "none".
        local_estimator: "jsd" (the article's, concatenation critic), "infonce" (DIM's,
            separable critic) or "none".
        local_hw: h·w of the local map (needed for the "feature_z" critic's input size).
    """

    def __init__(
        self,
        encoder: InfoMaxEncoder,
        *,
        alpha: float = 0.5,
        beta: float = 1.5,
        gamma: float = 0.01,
        global_pair: GlobalPair = "z_z",
        local_estimator: LocalEstimator = "jsd",
        local_hw: int = 16,
        critic_hidden: Sequence[int] = (256, 256, 256),
    ) -> None:
        super().__init__()
        if global_pair not in ("z_z", "feature_z", "none"):
            raise ValueError(f"unknown global_pair {global_pair!r}; valid: z_z, feature_z, none")
        if local_estimator not in ("jsd", "infonce", "none"):
            raise ValueError(
                f"unknown local_estimator {local_estimator!r}; valid: jsd, infonce, none"
            )
        self.encoder = encoder
        z, c = encoder.z_dim, encoder.local_channels
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        self.global_pair, self.local_estimator = global_pair, local_estimator
        self.global_critic: nn.Module | None = None
        if global_pair == "z_z":
            self.global_critic = GlobalCritic(2 * z, hidden=critic_hidden)
        elif global_pair == "feature_z":
            self.global_critic = GlobalCritic(c * local_hw + z, hidden=critic_hidden)
        self.local_critic: nn.Module | None = None
        if local_estimator == "jsd":
            self.local_critic = LocalCritic(z, c, hidden=critic_hidden)
        elif local_estimator == "infonce":
            self.local_critic = SeparableLocalCritic(z, c, hidden=critic_hidden[0])

    def losses(self, x: Tensor, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """The loss terms on a batch: "global", "local", "prior" and "total" (scalars)."""
        mu, logvar, c = self.encoder(x)
        z = normal_rsample(mu, logvar, generator=generator)
        zero = mu.new_zeros(())
        out = {"global": zero, "local": zero, "prior": prior_kl_loss(mu, logvar)}
        if self.global_critic is not None:
            perm = derangement(len(x), generator=generator)
            if self.global_pair == "z_z":
                pos, neg = torch.cat([z, z], 1), torch.cat([z, z[perm]], 1)
            else:
                flat = c.flatten(1)
                pos, neg = torch.cat([flat, z], 1), torch.cat([flat[perm], z], 1)
            out["global"] = jsd_loss(self.global_critic(pos), self.global_critic(neg))
        if self.local_estimator == "jsd":
            perm = derangement(len(x), generator=generator)  # independent of the global one
            out["local"] = jsd_loss(self.local_critic(c, z), self.local_critic(c[perm], z))
        elif self.local_estimator == "infonce":
            out["local"] = local_infonce_loss(*self.local_critic(c, z))
        out["total"] = (
            self.alpha * out["global"] + self.beta * out["local"] + self.gamma * out["prior"]
        )
        return out


def knn_correct(
    f_train: np.ndarray,
    y_train: np.ndarray,
    f_test: np.ndarray,
    y_test: np.ndarray,
    *,
    k: int = 5,
    metric: Literal["euclidean", "cosine"] = "euclidean",
) -> np.ndarray:
    """Per test item, 1.0 where a k-nearest-neighbour vote over the training features is right."""
    from sklearn.neighbors import KNeighborsClassifier

    clf = KNeighborsClassifier(n_neighbors=k, metric=metric).fit(f_train, y_train)
    return (clf.predict(f_test) == y_test).astype(float)


def knn_accuracy(
    f_train: np.ndarray,
    y_train: np.ndarray,
    f_test: np.ndarray,
    y_test: np.ndarray,
    *,
    k: int = 5,
    metric: Literal["euclidean", "cosine"] = "euclidean",
) -> float:
    """Test accuracy of a k-nearest-neighbour vote over the training features."""
    return float(knn_correct(f_train, y_train, f_test, y_test, k=k, metric=metric).mean())


def linear_probe_correct(
    f_train: np.ndarray,
    y_train: np.ndarray,
    f_test: np.ndarray,
    y_test: np.ndarray,
    *,
    max_iter: int = 3000,
    standardize: bool = True,
) -> np.ndarray:
    """Per test item, 1.0 where a logistic regression (default C = 1) on frozen features is right.

    `standardize=False` fits on the raw features: with the L2 penalty, tiny-scale features
    (e.g. a random encoder's) then underfit, which says nothing about their content.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if standardize:
        scaler = StandardScaler().fit(f_train)
        f_train, f_test = scaler.transform(f_train), scaler.transform(f_test)
    clf = LogisticRegression(max_iter=max_iter).fit(f_train, y_train)
    return (clf.predict(f_test) == y_test).astype(float)


def linear_probe_accuracy(
    f_train: np.ndarray,
    y_train: np.ndarray,
    f_test: np.ndarray,
    y_test: np.ndarray,
    *,
    max_iter: int = 3000,
    standardize: bool = True,
) -> float:
    """Test accuracy of `linear_probe_correct`."""
    return float(
        linear_probe_correct(
            f_train, y_train, f_test, y_test, max_iter=max_iter, standardize=standardize
        ).mean()
    )
