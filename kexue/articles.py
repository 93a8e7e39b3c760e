"""The mission table: one row per article slug (37 rows of the design, 40 slugs).

This is a literal table on purpose: it can be grepped, it has no import-order effects, and
`tests/test_articles.py` keeps it in step with the module headers, the recipes and the tests.
A row is *ready* when its recipe module exists; until then `kexue list` shows it as planned.
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ARTICLES", "THEMES", "Article", "get", "by_theme", "did_you_mean"]

# Each theme and the packages its articles' modules live in. A theme's own package comes first;
# `stats` and `graph` hold the dependence measures and community detection as standalone
# libraries (`kexue.stats.hsic`, `kexue.graph.infomap`), and `nn` the blocks shared across themes
# (conditional layer norm, ON-LSTM, capsules, smoothing), as the design's layout prescribes.
THEMES: dict[str, tuple[str, ...]] = {
    "gan": ("kexue.gan",),
    "flows": ("kexue.flows",),
    "latent": ("kexue.latent", "kexue.stats"),
    "text": ("kexue.text", "kexue.graph"),
    "train": ("kexue.train", "kexue.nn"),
    "seq": ("kexue.seq", "kexue.nn"),
    "bert": ("kexue.bert", "kexue.nn"),
}


@dataclass(frozen=True)
class Article:
    """One slug of the mission table.

    Attributes:
        row: the row of the design table (several slugs may share a row).
        slug: recipe name, as typed on the command line (`kexue run SLUG`).
        theme: one of `THEMES` (whose value names the packages the theme's modules live in).
        title: the article's title, verbatim.
        date: publication date, YYYY-MM-DD.
        archive: kexue.fm archive id.
        module: the module implementing the article's math.
        what: what is built, in a line.
    """

    row: int
    slug: str
    theme: str
    title: str
    date: str
    archive: int
    module: str
    what: str

    @property
    def url(self) -> str:
        return f"https://kexue.fm/archives/{self.archive}"

    @property
    def recipe(self) -> str:
        return "kexue.recipes." + self.slug.replace("-", "_")

    @property
    def ready(self) -> bool:
        """True when the recipe module exists (the slice has been built)."""
        return importlib.util.find_spec(self.recipe) is not None

    @property
    def status(self) -> str:
        return "ready" if self.ready else "planned"


# fmt: off
A = Article
ARTICLES: tuple[Article, ...] = (
    A(1, "wgan", "gan", "从Wasserstein距离、对偶理论到WGAN", "2019-01-20", 6280,
      "kexue.gan.wgan", "exact W1 by assignment/LP vs the critic's dual estimate; WGAN, WGAN-GP"),
    A(2, "lipschitz", "gan", "深度学习中的Lipschitz约束：泛化与生成模型", "2018-10-07", 6051,
      "kexue.gan.lipschitz", "spectral normalisation, spectral-norm regularisation, gradient penalty"),
    A(3, "f-gan", "gan", "f-GAN简介：GAN模型的生产车间", "2018-09-29", 6016,
      "kexue.gan.f_gan", "every f-divergence of the table as a GAN objective"),
    A(4, "gan-qp", "gan", "不用L约束又不会梯度消失的GAN，了解一下？", "2018-11-20", 6163,
      "kexue.gan.gan_qp", "GAN-QP objective (L1/L2), vs SGAN/WGAN-GP/hinge"),
    A(5, "bigan-qp", "gan", "BiGAN-QP：简单清晰的编码&生成模型", "2018-12-10", 6214,
      "kexue.gan.bigan_qp", "encoder + generator under the QP objective; reconstructions"),
    A(6, "energy-gan", "gan", "能量视角下的GAN模型（一）：GAN＝“挖坑”＋“跳坑”", "2019-01-30", 6316,
      "kexue.gan.energy", "critic as energy, gradient penalty as smoothness; 2D demo"),
    A(7, "vi-unified", "gan", "用变分推断统一理解生成模型（VAE、GAN、AAE、ALI）", "2018-07-18", 5716,
      "kexue.gan.vi_unified", "the unified VI objective; AAE, ALI; the proposed GAN regulariser"),
    A(8, "gan-papers", "gan", "【学习清单】最近比较重要的GAN进展论文", "2018-12-26", 6240,
      "kexue.gan.papers", "the reading list mapped to what kexue offers"),
    A(9, "nice", "flows", "细水长flow之NICE：流模型的基本概念与实现", "2018-08-11", 5776,
      "kexue.flows.nice", "additive coupling, scaling layer; bits/dim"),
    A(9, "realnvp", "flows", "细水长flow之RealNVP与Glow：流模型的传承与升华", "2018-08-26", 5807,
      "kexue.flows.realnvp", "affine coupling, masks, squeeze, multi-scale"),
    A(9, "glow", "flows", "细水长flow之RealNVP与Glow：流模型的传承与升华", "2018-08-26", 5807,
      "kexue.flows.glow", "actnorm, invertible 1x1 (LU) convolution"),
    A(10, "iresnet", "flows", "细水长flow之可逆ResNet：极致的暴力美学", "2019-03-21", 6482,
      "kexue.flows.iresnet", "contractive residual blocks, fixed-point inverse, series log-det"),
    A(11, "f-vae", "flows", "细水长flow之f-VAEs：Glow与VAEs的联姻", "2018-09-21", 5977,
      "kexue.flows.f_vae", "a VAE whose decoder is a conditional flow"),
    A(12, "gumbel", "latent", "漫谈重参数：从正态分布到Gumbel Softmax", "2019-06-10", 6705,
      "kexue.latent.gumbel", "reparameterisation, Gumbel-max/softmax, score function; discrete VAE"),
    A(13, "hsic", "latent", "HSIC简介：一个有意思的判断相关性的思路", "2019-08-26", 6910,
      "kexue.stats.hsic", "HSIC, permutation test, HSIC-bottleneck training"),
    A(14, "vae-geometry", "latent", "变分自编码器（六）：从几何视角来理解VAE的尝试", "2020-09-10", 7725,
      "kexue.latent.vae_geometry", "VAE latent map, posterior ellipses, decoding along lines"),
    A(15, "vib", "latent", "从变分编码、信息瓶颈到正态分布：论遗忘的重要性", "2018-11-27", 6181,
      "kexue.latent.vib", "variational information bottleneck classifier; beta sweep"),
    A(16, "infomax", "latent", "深度学习的互信息：无监督提取特征", "2018-10-02", 6024,
      "kexue.latent.infomax", "Deep InfoMax; KNN / linear-probe evaluation"),
    A(17, "word-discovery", "text", "最小熵原理（二）：“当机立断”之词库构建", "2018-04-24", 5476,
      "kexue.text.word_discovery", "n-gram counts, PMI merges, word discovery and segmentation"),
    A(18, "templates", "text", "最小熵原理（三）：“飞象过河”之句模版和语言结构", "2018-05-30", 5577,
      "kexue.text.templates", "sentence templates from non-adjacent associations"),
    A(19, "word-vectors", "text", "最小熵原理（四）：“物以类聚”之从图书馆到词向量", "2018-12-02", 6191,
      "kexue.text.word_vectors", "word vectors from the minimum-entropy (PMI) objective"),
    A(20, "infomap", "text", "最小熵原理（五）：“层层递进”之社区发现与聚类", "2019-10-19", 7006,
      "kexue.graph.infomap", "the map equation and InfoMap; word clustering"),
    A(21, "adversarial", "train", "对抗训练浅谈：意义、方法和思考（附Keras实现）", "2020-03-01", 7234,
      "kexue.train.adversarial", "FGM/PGD on embeddings; the gradient-penalty equivalent"),
    A(22, "layer-lr", "train", "“让Keras更酷一些！”：分层的学习率和自由的梯度", "2019-03-10", 6418,
      "kexue.train.layer_lr", "layer-wise learning rates, free gradient transforms"),
    A(23, "callbacks", "train", "“让Keras更酷一些！”：精巧的层与花式的回调", "2018-08-06", 5765,
      "kexue.train.callbacks", "EMA weights, warm-up schedules, evaluate-and-keep-best"),
    A(24, "optimizers", "train", "“让Keras更酷一些！”：小众的自定义优化器", "2018-09-08", 5879,
      "kexue.train.optimizers", "gradient accumulation (soft batch), hand-written SGD variants"),
    A(25, "losses-metrics", "train", "“让Keras更酷一些！”：随意的输出和灵活的归一化", "2019-01-27",
      6311, "kexue.train.losses_metrics", "losses inside layers, metrics, weights, progress bar"),
    A(26, "dynamics-sgd", "train", "从动力学角度看优化算法（一）：从SGD到动量加速", "2018-06-27", 5655,
      "kexue.train.dynamics_sgd", "SGD/momentum/Nesterov as ODE discretisations"),
    A(27, "dynamics-holistic", "train", "从动力学角度看优化算法（三）：一个更整体的视角", "2019-01-08",
      6261, "kexue.train.dynamics_holistic", "the holistic gradient-flow view"),
    A(28, "multitask", "train", "多任务学习漫谈（二）：行梯度之事", "2022-02-08", 8896,
      "kexue.train.multitask", "gradient-norm weighting, normalisation, min-norm direction"),
    A(29, "smoothing", "train", "函数光滑化杂谈：不可导函数的可导逼近", "2019-05-20", 6620,
      "kexue.nn.smoothing", "smooth max/argmax/top-k, soft accuracy and F1 losses"),
    A(30, "seq2seq-title", "seq", "玩转Keras之seq2seq自动生成标题", "2018-09-01", 5861,
      "kexue.seq.seq2seq", "seq2seq with attention, beam search; title generation"),
    A(31, "bidirectional-decoding", "seq", "seq2seq之双向解码", "2019-08-09", 6877,
      "kexue.seq.bidirectional", "synchronous bidirectional decoding"),
    A(32, "couplet", "seq", "基于CNN和序列标注的对联机器人", "2019-01-14", 6270,
      "kexue.seq.couplet", "CNN sequence labeller for couplets"),
    A(33, "on-lstm", "seq", "ON-LSTM：用有序神经元表达层次结构", "2019-05-28", 6621,
      "kexue.nn.on_lstm", "cumax, master gates, chunked ON-LSTM; tree induction"),
    A(34, "capsule", "seq", "再来一顿贺岁宴：从K-Means到Capsule", "2018-02-12", 5112,
      "kexue.nn.capsule", "dynamic routing as clustering, capsule layer"),
    A(35, "conditional-ln", "bert", "基于Conditional Layer Normalization的条件文本生成", "2019-12-14",
      7124, "kexue.nn.conditional_ln", "conditional LayerNorm; class-conditional UniLM generation"),
    A(36, "lic2020", "bert", "bert4keras在手，baseline我有：百度LIC2020", "2020-04-02", 7321,
      "kexue.bert.lic2020", "relation/event extraction and reading-comprehension baselines"),
    A(37, "albert-electra", "bert", "用ALBERT和ELECTRA之前，请确认你真的了解它们", "2020-10-29", 7846,
      "kexue.bert.albert_electra", "ALBERT/ELECTRA loading and the article's checks"),
    A(37, "mlm-dropout", "bert", "Dropout视角下的MLM和MAE：一些新的启发", "2021-11-29", 8770,
      "kexue.bert.mlm_dropout", "the dropout-consistent MLM"),
)
del A
# fmt: on

_BY_SLUG = {a.slug: a for a in ARTICLES}


def get(slug: str) -> Article:
    """The row of `slug`; `KeyError` naming the valid slugs otherwise."""
    try:
        return _BY_SLUG[slug]
    except KeyError:
        hint = did_you_mean(slug, _BY_SLUG)
        raise KeyError(f"unknown slug {slug!r}{hint}; valid: {', '.join(_BY_SLUG)}") from None


def did_you_mean(word: str, valid: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest valid word (case-insensitive, via difflib), or ''."""
    lowered = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


def by_theme(theme: str) -> tuple[Article, ...]:
    return tuple(a for a in ARTICLES if a.theme == theme)
