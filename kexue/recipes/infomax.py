r"""Recipe: unsupervised features by mutual-information maximisation (the author's Deep InfoMax).

Article: 深度学习的互信息：无监督提取特征, 2018-10-02, https://kexue.fm/archives/6024
         (math in kexue.latent.infomax)
Data:    kexue.data.digits, each 8×8 digit (x/16 − 0.5) pasted at a random offset on a 12×12
         canvas plus N(0, 0.2²) pixel noise (`canvas`, `noise`): raw pixels are no longer
         linearly separable (plain digits: 0.967 linear, too easy to compare with). kexue's fixed
         split, 1,437 train / 360 test digits, `train_copies` / `test_copies` placements each.
         With --data FOLDER: the user's images (class subfolders optional: they give the probes)
Run:     kexue run infomax                 (full, several minutes)
         kexue run infomax --budget quick  (about a minute)
         kexue run infomax --data shapes32/ --budget quick   (the reference loss, minutes)
         kexue run infomax --data cifar10/ --budget article  (infomax_cifar10.py's run; a GPU)
Writes:  probes.png (kNN-5 and linear-probe test accuracy per variant and baseline),
         curves.png (loss terms), retrieval.png (nearest training images of test queries),
         mu_hist.png (the reference variant's μ against N(0, 1)), checkpoint.safetensors;
         with --data: retrieval.png, curves.png (kexue.recipes._image_latent)

Encoders (`digits_small`: Conv32+pool, Conv64 → local map, Conv64+pool, Conv64, global
max-pool, μ and log σ² of size 64) trained without labels, on the same batches:
    reference     the article's loss: α = 0.5 global JS on (z̃, z̃) pairs, β = 1.5 local JS on
                  [C_ij, z̃], γ = 0.01 dimension-averaged KL prior (bojone/infomax)
    global_jsd    the global JS term alone (α = 1, β = 0): the article's "global only"
    local_jsd     the local JS term alone (α = 0, β = 1): the article's "local only"
    local_infonce DIM's local infoNCE with a separable critic (not in the article)
`mi=False` drops every MI term (α = β = 0, the prior alone): the sabotage switch.
Features are μ (BatchNorm in eval mode): test accuracy of a 5-NN vote (L2 and cosine, the
article's retrieval) and of a logistic regression on standardised features; baselines are raw
pixels, PCA-32 and the same encoder at random initialisation.
Claims (paired 95% bootstrap bounds over test images): the article's loss beats the random
encoder and raw pixels, on the linear probe and on cosine kNN; the loss falls and μ matches the
prior; local-only MI beats global-only MI (the article's "local MI is necessary").

On your images (`--data FOLDER`): the `reference` variant (the article's loss, α = 0.5, β = 1.5,
γ = 0.01) with the author's image encoder (kexue.latent.image_blocks: log2(S/4) pooled 3×3
conv blocks up to `img_width` channels, a 4×4 local map, two more blocks, global max-pool, μ
and log σ² of size `img_z`) on x/255 − ½, trained without labels through the shared image loop
(kexue.recipes._image_latent). On a folder with class subfolders the held-out images' μ is
probed as on digits (cosine and L2 5-NN, a linear probe on standardised features, the training
images as the probes' training set) against the same encoder at its random initialisation and
raw pixels; DATA_CLAIMS: the linear-probe gains over both (the claims above, judged at quick,
full and article); without class subfolders they are "not measured". Reported: μ's mean and
spread, the loss drop, retrieval.png (held-out queries, each followed by its 5 nearest training
images by cosine on μ, the article's retrieval).
Recorded: `kexue show infomax` prints the recorded full run (claims and metrics).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA

from kexue.data import digits
from kexue.latent import (
    DeepInfoMax,
    InfoMaxEncoder,
    image_blocks,
    knn_correct,
    linear_probe_accuracy,
    linear_probe_correct,
)
from kexue.recipes import _image_latent, _plot
from kexue.recipes._images import IMAGE_DATA, save_grid
from kexue.runs import (
    Claim,
    RunDir,
    Statement,
    make_accelerator,
    seed_everything,
    statements_doc,
)
from kexue.stats import paired_interval, record_interval

# The variants of the comparison (weights of the article's total loss and the estimators).
VARIANTS = {
    "reference": dict(alpha=0.5, beta=1.5, gamma=0.01, global_pair="z_z", local_estimator="jsd"),
    "global_jsd": dict(alpha=1.0, beta=0.0, gamma=0.01, global_pair="z_z", local_estimator="none"),
    "local_jsd": dict(alpha=0.0, beta=1.0, gamma=0.01, global_pair="none", local_estimator="jsd"),
    "local_infonce": dict(
        alpha=0.0, beta=1.0, gamma=0.01, global_pair="none", local_estimator="infonce"
    ),
}
PROBES = ("knn", "knn_cos", "linear")


DATA = IMAGE_DATA


@dataclass(frozen=True)
class Config(_image_latent.LatentImageOptions):
    seed: int = 0
    variants: tuple[str, ...] = ("reference", "global_jsd", "local_jsd", "local_infonce")
    mi: bool = True  # False: α = β = 0 in every variant, the prior alone (sabotage switch)
    canvas: int = 12  # each 8×8 digit at a random offset on a canvas×canvas image (8: as is)
    noise: float = 0.2  # std of the Gaussian pixel noise on the x/16 − 0.5 scale
    train_copies: int = 1  # placements of each training digit
    test_copies: int = 2  # placements of each test digit (the scored items)
    z_dim: int = 64
    critic_hidden: tuple[int, ...] = (128, 128)
    epochs: int = 20  # of the training images at batch 64
    batch_size: int = 64
    lr: float = 1e-3
    k: int = 5  # kNN neighbours
    pca_dim: int = 32
    n_train: int = 0  # 0: every training image; smoke runs use a subset
    baselines: bool = True  # raw pixels and PCA probes
    # --data FOLDER: the reference loss on images (the img_* fields of _image_latent set the
    # loop; img_width 0: img_z channels, the author's); mi and k apply as on digits
    img_z: int = 64
    img_critic_hidden: tuple[int, ...] = (128, 128)
    img_steps: int = 3000
    img_batch: int = 64


QUICK = {"epochs": 6, "variants": ("reference",), "img_steps": 800}
SMOKE = {
    "epochs": 1, "variants": ("reference", "local_jsd"), "critic_hidden": (32,),
    "n_train": 256, "img_size": 16, "img_steps": 3, "img_batch": 16, "img_eval": 16,
    "img_width": 16, "img_z": 16, "img_critic_hidden": (16,),
}  # fmt: skip
# The author's CIFAR-10 run (bojone/infomax infomax_cifar10.py): 32 px, z 256, conv blocks
# 64-128-256 | 256-256 (img_width 256), critics of three 256-wide layers, Adam 1e-3, batch 64,
# 50 epochs of 782 batches.
ARTICLE = {
    "img_size": 32,
    "img_z": 256,
    "img_width": 256,
    "img_critic_hidden": (256, 256, 256),
    "img_batch": 64,
    "img_lr": 1e-3,
    "img_steps": 39_100,
    "img_eval": 10_000,
}

_QF = ("quick", "full")
CLAIMS = (
    Claim("the article's loss: linear probe on μ beats the random encoder's (paired)",
          "reference_linear_gain_over_random", ">", 0.0, _QF, interval=True),
    Claim("the article's loss: linear probe on μ beats raw pixels (paired)",
          "reference_linear_gain_over_pixels", ">", 0.0, _QF, interval=True),
    Claim("the article's loss: cosine 5-NN on μ beats the random encoder's (paired)",
          "reference_knn_cos_gain_over_random", ">", 0.0, _QF, interval=True),
    Claim("the article's loss: cosine 5-NN on μ beats raw pixels (paired)",
          "reference_knn_cos_gain_over_pixels", ">", 0.0, _QF, interval=True),
    Claim("the reference loss decreases (first-epoch mean − last-epoch mean > 0)",
          "reference_loss_drop", ">", 0.0, _QF),
    Claim("reference μ matches the prior: |mean μ| ≤ 0.2",
          "reference_mu_mean_abs", "<=", 0.2, _QF),
    Claim("reference μ matches the prior: std μ ≥ 0.7", "reference_mu_std", ">=", 0.7, _QF),
    Claim("reference μ matches the prior: std μ ≤ 1.5", "reference_mu_std", "<=", 1.5, _QF),
    Claim("local MI is necessary: local-only JS beats global-only JS on cosine 5-NN (paired)",
          "local_jsd_minus_global_jsd_knn_cos", ">", 0.0, ("full",), interval=True),
    Claim("local infoNCE (DIM's estimator) beats the random encoder's linear probe by ≥ 0.3",
          "local_infonce_linear_gain_over_random", ">=", 0.3, ("full",), kind="goal",
          interval=True),
)  # fmt: skip

# On the user's images: the linear-probe claims above, also judged at the article budget; on a
# folder without class subfolders their metrics are missing, i.e. "not measured".
DATA_CLAIMS = tuple(
    dataclasses.replace(c, budgets=("quick", "full", "article"))
    for c in CLAIMS
    if c.metric in ("reference_linear_gain_over_random", "reference_linear_gain_over_pixels")
)

_T = "tests/latent/test_infomax.py::"
STATEMENTS = (
    Statement("features that single an image out of the data set (max I(X; Z)) are good "
              "features: they beat an untrained encoder", "claim",
              "reference_linear_gain_over_random"),
    Statement("… and the raw pixels they come from", "claim",
              "reference_linear_gain_over_pixels"),
    Statement("cosine nearest neighbours of the features are meaningful (the article's kNN "
              "retrieval)", "claim", "reference_knn_cos_gain_over_random"),
    Statement("… more than nearest neighbours in pixel space", "claim",
              "reference_knn_cos_gain_over_pixels"),
    Statement("the KL prior term makes μ match N(0, I) (the author's change to DIM): mean",
              "claim", "reference_mu_mean_abs"),
    Statement("… and spread", "claim", "reference_mu_std"),
    Statement("the total loss (JS estimates and the prior) is optimised end to end without a "
              "min-max", "claim", "reference_loss_drop"),
    Statement("local MI is necessary: local-only features retrieve better than global-only",
              "claim", "local_jsd_minus_global_jsd_knn_cos"),
    Statement("the JS bound with negative sampling is a binary cross-entropy", "test",
              _T + "test_jsd_loss_is_the_negative_log_likelihood_by_hand"),
    Statement("the optimal critic of that bound recovers the JS divergence", "test",
              _T + "test_optimal_critic_recovers_the_js_divergence"),
    Statement("the prior term is the VAE's KL of p(z|x) against N(0, I)", "test",
              _T + "test_prior_loss_is_the_dimension_averaged_kl"),
    Statement("kNN retrieval on CIFAR-10 and Tiny ImageNet (cosine; Euclidean similar)",
              "untestable", "the datasets are not available offline; digits stand in"),
)  # fmt: skip


def _images(split: str, cfg: Config, copies: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """`copies` placements of every digit of `split`: (N·copies, 1, canvas, canvas), labels."""
    data = digits(split)
    rng = np.random.default_rng(seed)
    imgs = np.tile(data.images / 16.0, (copies, 1, 1))
    n, c = len(imgs), cfg.canvas
    x = np.zeros((n, 1, c, c), dtype=np.float32)
    off = rng.integers(0, c - 8 + 1, size=(n, 2))
    for i, (r, col) in enumerate(off):
        x[i, 0, r : r + 8, col : col + 8] = imgs[i]
    x = x - 0.5 + cfg.noise * rng.standard_normal(x.shape).astype(np.float32)
    return torch.from_numpy(x), np.tile(data.labels, copies)


def _correct(
    f_tr: np.ndarray, y_tr: np.ndarray, f_te: np.ndarray, y_te: np.ndarray, k: int
) -> dict[str, np.ndarray]:
    """Per test item, 1.0 where each probe is right."""
    return {
        "knn": knn_correct(f_tr, y_tr, f_te, y_te, k=k),
        "knn_cos": knn_correct(f_tr, y_tr, f_te, y_te, k=k, metric="cosine"),
        "linear": linear_probe_correct(f_tr, y_tr, f_te, y_te),
    }


def _cosine_neighbours(f_train: np.ndarray, f_query: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) indices of each query's k nearest training features by cosine (the article's)."""
    f_trn = f_train / np.linalg.norm(f_train, axis=1, keepdims=True)
    f_qn = f_query / np.linalg.norm(f_query, axis=1, keepdims=True)
    return np.argsort(-f_qn @ f_trn.T, 1)[:, :k]


def run(cfg: Config, out: RunDir) -> dict[str, float]:
    if cfg.data is not None:  # the user's images: the reference loss (recipes._image_latent)
        return _run_images(cfg, out)
    g = seed_everything(cfg.seed)
    acc = make_accelerator()
    x_tr, y_tr = _images("train", cfg, cfg.train_copies, seed=cfg.seed)
    x_te, y_te = _images("test", cfg, cfg.test_copies, seed=10_000 + cfg.seed)
    if cfg.n_train:
        x_tr, y_tr = x_tr[: cfg.n_train], y_tr[: cfg.n_train]

    models: dict[str, tuple] = {}
    for name in cfg.variants:
        torch.manual_seed(cfg.seed)  # the same encoder initialisation for every variant
        encoder = InfoMaxEncoder(z_dim=cfg.z_dim)
        weights = dict(VARIANTS[name])
        if not cfg.mi:
            weights.update(alpha=0.0, beta=0.0)
        model = DeepInfoMax(encoder, critic_hidden=cfg.critic_hidden, **weights)
        # one Adam on encoder and critics: both sides maximise the same bound (no min-max)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        models[name] = acc.prepare(model, opt)
    torch.manual_seed(cfg.seed)
    random_encoder = InfoMaxEncoder(z_dim=cfg.z_dim).eval()  # the untrained baseline
    state = {f"{name}_{i}": obj for name, objs in models.items() for i, obj in enumerate(objs)}
    state["rng"] = g
    start = out.restore(state)

    per_epoch = len(x_tr) // cfg.batch_size
    steps = cfg.epochs * per_epoch
    for step in out.progress(range(start, steps), "infomax variants"):
        idx = torch.randint(len(x_tr), (cfg.batch_size,), generator=g)  # shared by the variants
        row = {}
        for name, (model, opt) in models.items():
            model.train()
            terms = model.losses(x_tr[idx], generator=g)
            opt.zero_grad()
            acc.backward(terms["total"])
            opt.step()
            for key, value in terms.items():
                row[f"{name}_{key}"] = value.item()
        out.log(step, **row)
        out.maybe_checkpoint(step + 1, state)
    out.save_checkpoint(steps, state)

    # ---- evaluation on μ (BatchNorm in eval mode)
    metrics: dict[str, float] = {}
    features: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with torch.no_grad():
        for name, (model, _) in models.items():
            enc = acc.unwrap_model(model).encoder.eval()
            features[name] = (enc(x_tr)[0].numpy(), enc(x_te)[0].numpy())
        features["random_encoder"] = (
            random_encoder(x_tr)[0].numpy(),
            random_encoder(x_te)[0].numpy(),
        )
    raw_tr, raw_te = x_tr.flatten(1).numpy(), x_te.flatten(1).numpy()
    features["raw_pixels"] = (raw_tr, raw_te)  # the claims' second baseline, always scored
    if cfg.baselines:
        pca = PCA(cfg.pca_dim, random_state=cfg.seed).fit(raw_tr)
        features["pca"] = (pca.transform(raw_tr), pca.transform(raw_te))
    correct = {n: _correct(f_tr, y_tr, f_te, y_te, cfg.k) for n, (f_tr, f_te) in features.items()}
    for name, probes in correct.items():
        for key, right in probes.items():
            metrics[f"{name}_{key}"] = float(right.mean())
    # The spec's calibration (random encoder: linear 0.32 on plain digits) matched a probe on
    # unstandardised features, whose tiny scale the L2 penalty crushes; reported for comparison.
    rf_tr, rf_te = features["random_encoder"]
    metrics["random_encoder_linear_unstandardised"] = linear_probe_accuracy(
        rf_tr, y_tr, rf_te, y_te, standardize=False
    )

    def paired(key: str, a: np.ndarray, b: np.ndarray) -> None:
        record_interval(metrics, key, (a - b).mean(), paired_interval(a, b, seed=cfg.seed))

    for name in cfg.variants:
        for probe in ("linear", "knn_cos"):
            for base, short in (("random_encoder", "random"), ("raw_pixels", "pixels")):
                paired(f"{name}_{probe}_gain_over_{short}", correct[name][probe],
                       correct[base][probe])  # fmt: skip
        mu = features[name][0]
        metrics[f"{name}_mu_mean_abs"] = float(abs(mu.mean()))
        metrics[f"{name}_mu_std"] = float(mu.std())
        totals = [r[f"{name}_total"] for r in out.history if f"{name}_total" in r]
        if len(totals) >= 2 * per_epoch:
            first, last = np.mean(totals[:per_epoch]), np.mean(totals[-per_epoch:])
            metrics[f"{name}_loss_drop"] = float(first - last)
    if "local_jsd" in cfg.variants and "global_jsd" in cfg.variants:
        for probe in PROBES:
            paired(f"local_jsd_minus_global_jsd_{probe}", correct["local_jsd"][probe],
                   correct["global_jsd"][probe])  # fmt: skip

    if out.is_main:
        names = list(features)
        groups = {n: [metrics[f"{n}_{p}"] for p in PROBES] for n in names}
        fig = _plot.bars(groups, ["kNN-5 L2", "kNN-5 cosine", "linear probe"],
                         "test accuracy of frozen features", "accuracy")  # fmt: skip
        out.save_figure(fig, "probes.png")
        keys = [f"{n}_local" for n in cfg.variants] + [f"{n}_global" for n in cfg.variants[:1]]
        out.save_figure(_plot.curves(out.history, keys, "InfoMax loss terms"), "curves.png")
        best = cfg.variants[0]  # the article's loss
        f_tr, f_te = features[best]
        queries = np.arange(0, len(x_te), max(1, len(x_te) // 8))[:8]
        nearest = _cosine_neighbours(f_tr, f_te[queries], cfg.k)
        rows = [
            (
                np.concatenate([x_te[q, 0].numpy()[None], x_tr[nearest[i], 0].numpy()]) + 0.5,
                f"query {i}",
            )
            for i, q in enumerate(queries)
        ]
        title = f"{best}: test query, then its {cfg.k} nearest train images (cosine)"
        out.save_figure(_plot.image_rows(rows, title), "retrieval.png")
        hist = [(features[n][0].ravel(), n) for n in cfg.variants[:1]]
        hist.append((np.random.default_rng(0).normal(size=hist[0][0].size), "N(0, 1)"))
        out.save_figure(_plot.histogram(hist, "μ coordinates (train)", "μ"), "mu_hist.png")
    return metrics


# ----------------------------------------------------------------------------- --data FOLDER
def _image_encoder(cfg: Config) -> InfoMaxEncoder:
    c, size, _ = _image_latent.image_shape(cfg)
    local, top = image_blocks(size, _image_latent.width_of(cfg, cfg.img_z))
    return InfoMaxEncoder(c, local_blocks=local, global_blocks=top, z_dim=cfg.img_z)


def _run_images(cfg: Config, out: RunDir) -> dict[str, float]:
    """The reference loss's encoder on cfg.data; μ probed against a random encoder and pixels."""
    weights = dict(VARIANTS["reference"])
    if not cfg.mi:
        weights.update(alpha=0.0, beta=0.0)

    def build() -> DeepInfoMax:  # the encoder's weights are drawn first, as the baseline's
        return DeepInfoMax(_image_encoder(cfg), critic_hidden=cfg.img_critic_hidden, **weights)

    def step_fn(name: str, model: torch.nn.Module, x: torch.Tensor, step: int,
                g: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
        terms = model.losses(x, generator=g)
        return terms["total"], {f"{name}_{k}": v.item() for k, v in terms.items()}

    trained = _image_latent.run_arms(
        cfg, out, {"reference": build}, step_fn, _image_latent.centred, kind="infomax (reference)"
    )
    torch.manual_seed(cfg.seed)
    random_encoder = _image_encoder(cfg).to(trained.device).eval()  # its initial weights
    metrics = dict(trained.metrics)
    x_tr, y_tr = trained.train_images(cfg.seed)
    x_te, y_te = trained.test_images(cfg.img_eval)
    inputs_tr, inputs_te = _image_latent.centred(x_tr), _image_latent.centred(x_te)
    features: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, enc in (("reference", trained.arms["reference"].encoder),
                      ("random_encoder", random_encoder)):  # fmt: skip
        mu = [_image_latent.encode_all(lambda x, e=enc: e(x)[0], v, trained.device).numpy()
              for v in (inputs_tr, inputs_te)]  # fmt: skip
        features[name] = (mu[0], mu[1])
    features["raw_pixels"] = (inputs_tr.flatten(1).numpy(), inputs_te.flatten(1).numpy())
    mu = features["reference"][0]
    metrics["reference_mu_mean_abs"] = float(abs(mu.mean()))
    metrics["reference_mu_std"] = float(mu.std())
    per_epoch = max(1, int(metrics["n_train"]) // cfg.img_batch)
    totals = [r["reference_total"] for r in out.history if "reference_total" in r]
    if len(totals) >= 2 * per_epoch:
        first, last = np.mean(totals[:per_epoch]), np.mean(totals[-per_epoch:])
        metrics["reference_loss_drop"] = float(first - last)

    # the probes, on the images of class subfolders (a folder without them measures none)
    tr, te = y_tr >= 0, y_te >= 0
    if len(np.unique(y_tr[tr])) >= 2 and te.any():
        metrics["n_classes"] = float(len(np.unique(y_tr[tr])))
        correct = {n: _correct(f[0][tr], y_tr[tr], f[1][te], y_te[te], cfg.k)
                   for n, f in features.items()}  # fmt: skip
        for name, probes in correct.items():
            for key, right in probes.items():
                metrics[f"{name}_{key}"] = float(right.mean())
        for probe in ("linear", "knn_cos"):
            for base, short in (("random_encoder", "random"), ("raw_pixels", "pixels")):
                a, b = correct["reference"][probe], correct[base][probe]
                key = f"reference_{probe}_gain_over_{short}"
                record_interval(metrics, key, float((a - b).mean()),
                                paired_interval(a, b, seed=cfg.seed))  # fmt: skip

    if out.is_main:
        queries = np.arange(0, len(x_te), max(1, len(x_te) // 8))[:8]
        nearest = _cosine_neighbours(features["reference"][0], features["reference"][1][queries],
                                     cfg.k)  # fmt: skip
        rows = [torch.cat([x_te[q : q + 1], x_tr[nearest[i]]]) for i, q in enumerate(queries)]
        # each row: a held-out query, then its k nearest training images (cosine on μ)
        save_grid(out, "retrieval.png", torch.cat(rows), nrow=1 + cfg.k)
        keys = ["reference_total", "reference_global", "reference_local", "reference_prior"]
        out.save_figure(_plot.curves(out.history, keys, "InfoMax loss terms"), "curves.png")
    return metrics


__doc__ = statements_doc(__doc__, STATEMENTS)
