r"""The text, graph and dependence tools on the user's own files: thin commands over the library.

    kexue words CORPUS… -o lexicon.txt         kexue.text.discover_words (cohesion or MEP II)
    kexue segment --lexicon lexicon.txt FILE…   kexue.text.UnigramSegmenter, streamed
    kexue templates CORPUS… -o templates.tsv    kexue.text.TemplateFinder
    kexue vectors CORPUS… -o vectors.txt        kexue.text.word_vectors (the library cost S)
    kexue communities GRAPH -o OUT_DIR          kexue.graph.InfoMap → infomap's .clu and .tree
    kexue hsic X.csv Y.csv                      kexue.stats.hsic_test

Formats are those of the tools users already have: a lexicon is jieba's dictionary format
(`word count`, one per line, `jieba.load_userdict` reads it); vectors are word2vec's text format
(gensim's `KeyedVectors.load_word2vec_format` reads it); communities are infomap's `.clu` and
`.tree` files (infomap reads them back with `--cluster-data`). Every output is written atomically
(a temporary file renamed into place), so a failed run leaves nothing half-written. Problems with
the input are one line naming the file and line, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kexue.errors import InputError

# The library (torch, numpy, the readers) loads inside each command, so `kexue --help` and the
# other subcommands start fast.

__all__ = [
    "GENERATORS",
    "add_tool_parsers",
    "cmd_generate",
    "cmd_communities",
    "cmd_hsic",
    "cmd_reconstruct",
    "cmd_sample",
    "cmd_segment",
    "cmd_templates",
    "cmd_vectors",
    "cmd_words",
]


# ----------------------------------------------------------------------------- shared
def _progress(texts: Iterable[str], desc: str, quiet: bool) -> Iterator[str]:
    """Pass texts through, drawing characters/s on stderr when it is a terminal."""
    if quiet or not sys.stderr.isatty():
        yield from texts
        return
    from tqdm import tqdm

    with tqdm(desc=desc, unit="char", unit_scale=True, file=sys.stderr) as bar:
        for text in texts:
            bar.update(len(text))
            yield text


def _corpus_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("corpus", nargs="+", help="text files, folders (read recursively) or - (stdin)")
    p.add_argument("--encoding", default="utf-8", help="e.g. utf-8 (default), gb18030")
    p.add_argument(
        "--documents",
        choices=("lines", "files"),
        default="lines",
        help="one text per line (default) or per file",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _texts(args: argparse.Namespace, desc: str) -> Iterator[str]:
    from kexue.data.userfiles import iter_corpus

    return _progress(
        iter_corpus(args.corpus, encoding=args.encoding, documents=args.documents),
        desc,
        args.quiet,
    )


def _is_punct(token: str) -> bool:
    return all(unicodedata.category(c)[0] in "PSZ" for c in token)


def _tokenised(args: argparse.Namespace, desc: str) -> Iterator[list[str]]:
    """Sentences as word lists: segmented with --lexicon, else split at whitespace (a corpus
    segmented already, e.g. by jieba)."""
    if args.lexicon:
        from kexue.data.userfiles import read_lexicon
        from kexue.text.segment import UnigramSegmenter

        seg = UnigramSegmenter().fit(read_lexicon(args.lexicon, encoding=args.encoding))
        for text in _texts(args, desc):
            yield [w for w in seg.segment(text) if w.strip()]
    else:
        for text in _texts(args, desc):
            yield text.split()


# ----------------------------------------------------------------------------- words
def cmd_words(args: argparse.Namespace) -> int:
    from kexue.text.word_discovery import discover_words

    options: dict[str, Any] = {"min_count": args.min_count}
    if args.method == "cohesion":
        options.update(n=args.n, thresholds=tuple(args.thresholds))
    else:
        options.update(min_pmi=args.min_pmi)
    distributed = args.workers is not None or args.scheduler is not None
    if distributed and args.method != "cohesion":
        raise InputError("--workers/--scheduler count the n-grams of --method cohesion only")
    try:
        if args.method == "cohesion" and not distributed and "-" not in args.corpus:
            # files are read again on each pass: memory bounded by a shard and the n-gram table
            lexicon = discover_words(lambda: _texts(args, "reading"), **options)
        else:
            texts = list(_texts(args, "reading"))
            if distributed:
                options["table"] = _dask_table(args, texts, options["n"], args.min_count)
            lexicon = discover_words(texts, method=args.method, **options)
    except ValueError as err:
        raise InputError(f"{', '.join(args.corpus)}: {err}") from None
    ranked = sorted(lexicon.items(), key=lambda kv: (-kv[1], kv[0]))
    text = "".join(f"{w} {c}\n" for w, c in ranked)
    _write(args.output, text)
    _note(args, f"{len(ranked):,} words → {args.output or 'stdout'}")
    return 0


def _dask_table(args: argparse.Namespace, texts: list[str], n: int, min_count: int) -> Any:
    """The cohesion pipeline's n-gram table counted on a Dask cluster: `--scheduler ADDRESS`
    (an existing cluster) or `--workers N` (a local one). Exact: equal to the local counts."""
    try:
        import dask.bag as db
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError(
            "--workers/--scheduler need dask: pip install 'dask[bag,distributed]'"
        ) from None
    from kexue.text.ngrams import count_ngrams_dask

    mins = [1] + [min_count] * (n - 1)
    partitions = max(1, min(len(texts), 4 * (args.workers or 8)))
    if args.scheduler is not None:
        with Client(args.scheduler):
            return count_ngrams_dask(db.from_sequence(texts, npartitions=partitions), n, mins)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):  # fmt: skip
        return count_ngrams_dask(db.from_sequence(texts, npartitions=partitions), n, mins)


def _write(output: str | None, text: str) -> None:
    from kexue.runs import atomic_write_text

    if output in (None, "-"):
        sys.stdout.write(text)
    else:
        atomic_write_text(output, text)


def _note(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


# ----------------------------------------------------------------------------- segment
def _offsets(text: str, tokens: list[str]) -> list[list[Any]]:
    spans, pos = [], 0
    for tok in tokens:
        start = text.find(tok, pos)
        start = pos if start < 0 else start
        spans.append([tok, start, start + len(tok)])
        pos = start + len(tok)
    return spans


def cmd_segment(args: argparse.Namespace) -> int:
    from kexue.data.userfiles import iter_corpus, read_lexicon
    from kexue.text.segment import (
        NUMBER,
        UnigramSegmenter,
        mask_numbers,
        read_scored_lexicon,
        unmask_numbers,
    )

    if args.scored_lexicon:  # word-discovery's lexicon_best.txt: `word count bonus`
        lexicon, bonus = read_scored_lexicon(args.scored_lexicon, encoding=args.encoding)
    else:
        lexicon, bonus = read_lexicon(args.lexicon, encoding=args.encoding), {}
    # A lexicon learnt on number-masked text (<NUM> words) segments number-masked text.
    masked = any("<NUM>" in w for w in lexicon)
    if masked:
        lexicon = {w.replace("<NUM>", NUMBER): c for w, c in lexicon.items()}
        bonus = {w.replace("<NUM>", NUMBER): b for w, b in bonus.items()}
    seg = UnigramSegmenter(word_bonus=bonus or None).fit(lexicon)
    out = sys.stdout
    for text in iter_corpus(args.files or ["-"], encoding=args.encoding):
        if masked:
            plain, numbers = mask_numbers(text)
            words = unmask_numbers(seg.segment(plain), numbers)
        else:
            words = seg.segment(text)
        tokens = [t for t in words if t.strip()]
        if args.format == "jsonl":
            record = {"text": text, "tokens": _offsets(text, tokens)}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            out.write(args.delimiter.join(tokens) + "\n")
    out.flush()
    return 0


# ----------------------------------------------------------------------------- templates
def cmd_templates(args: argparse.Namespace) -> int:
    from kexue.text.templates import TemplateFinder

    pieces: list[list[str]] = []
    for words in _tokenised(args, "reading"):
        cur: list[str] = []
        for w in words + ["。"]:  # pieces run between punctuation, as in the article
            if _is_punct(w):
                if cur:
                    pieces.append(cur)
                cur = []
            else:
                cur.append(w)
    if not pieces:
        raise InputError(f"{', '.join(args.corpus)}: no words outside punctuation")
    finder = TemplateFinder(
        window=args.window, min_count=args.min_count, min_pmi=args.min_pmi
    ).fit(pieces)
    rows = finder.templates_.most_common()
    lines = ["count\ttemplate"] + [
        f"{c}\t{' '.join(w if w is not None else 'X' for w in t)}" for t, c in rows
    ]
    _write(args.output, "\n".join(lines) + "\n")
    _note(args, f"{len(rows):,} templates (X marks a slot) → {args.output or 'stdout'}")
    return 0


# ----------------------------------------------------------------------------- vectors
def cmd_vectors(args: argparse.Namespace) -> int:
    import torch

    from kexue.runs import atomic_write_text
    from kexue.text.word_vectors import (
        LibraryEmbedding,
        cooccurrence,
        library_cost_epoch,
        top_words,
    )

    sentences = list(_tokenised(args, "reading"))
    vocab = top_words(
        sentences, args.vocab_size, {w for s in sentences for w in s if _is_punct(w)}
    )
    if len(vocab) < 2:
        raise InputError(f"{', '.join(args.corpus)}: fewer than 2 distinct words")
    counts = cooccurrence(sentences, vocab, args.window)
    if counts.sum() == 0:
        raise InputError(f"{', '.join(args.corpus)}: no two vocabulary words share a window")
    dense = torch.tensor(counts.toarray(), dtype=torch.float32)
    p_ij = dense / dense.sum()
    g = torch.Generator().manual_seed(args.seed)
    model = LibraryEmbedding(
        len(vocab), args.dim, metric=args.metric, two_sets=args.metric == "dot", generator=g
    )
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    epochs: Iterable[int] = range(args.epochs)
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        epochs = tqdm(epochs, desc="epochs", file=sys.stderr)
    for _ in epochs:
        order = torch.randperm(len(vocab), generator=g)
        library_cost_epoch(model, opt, p_ij, order, args.rows_per_batch)
    vectors = model.vectors()
    lines = [f"{len(vocab)} {vectors.shape[1]}"]
    lines += [
        f"{w} " + " ".join(f"{v:.6g}" for v in row) for w, row in zip(vocab, vectors, strict=True)
    ]
    atomic_write_text(args.output, "\n".join(lines) + "\n")
    _note(args, f"{len(vocab):,} vectors of dimension {vectors.shape[1]} → {args.output}")
    return 0


# ----------------------------------------------------------------------------- communities
def _infomap_ids(nodes: list[Any]) -> dict[Any, int]:
    """infomap's node ids: the nodes' own when all are positive integers, else 1..n in order."""
    import numpy as np

    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in nodes):
        return {v: int(v) for v in nodes}
    return {v: i for i, v in enumerate(nodes, 1)}


def _header(args: argparse.Namespace, levels: int, n_modules: int, codelength: float,
            flow_model: str) -> str:  # fmt: skip
    from kexue import __version__

    return (
        f"# kexue {__version__} (infomap's file format)\n"
        f"# {' '.join(['kexue', *getattr(args, 'argv', ['communities'])])}\n"
        f"# trials {args.trials}\n# seed {args.seed}\n"
        f"# partitioned into {levels} levels with {n_modules} top modules\n"
        f"# codelength {codelength:.6g} bits\n# flow model {flow_model}\n"
    )


def cmd_communities(args: argparse.Namespace) -> int:
    from kexue.data.userfiles import read_graph
    from kexue.graph.infomap import InfoMap
    from kexue.runs import atomic_write_text

    if args.hierarchical and args.two_level:
        raise InputError("--two-level and --hierarchical exclude each other")
    graph = read_graph(args.graph, directed=args.directed, encoding=args.encoding)
    model = InfoMap(
        random_state=args.seed,
        num_trials=args.trials,
        markov_time=args.markov_time,
        directed=args.directed,
        hierarchical=args.hierarchical,
    ).fit(graph)
    nodes = list(model.nodes_)
    ids = _infomap_ids(nodes)
    paths = [tuple(int(m) for m in p) for p in model.paths_]  # 1-based module path per node
    flow = model.node_flow_
    flow_model = "directed" if args.directed else "undirected"
    levels = int(getattr(model, "num_levels_", 2))
    head = _header(args, levels, int(model.n_modules_), float(model.codelength_), flow_model)
    order = sorted(range(len(nodes)), key=lambda i: (paths[i], -flow[i], ids[nodes[i]]))
    clu = [head + "# module level 1\n# node_id module flow"]
    clu += [f"{ids[nodes[i]]} {paths[i][0]} {flow[i]:.6g}" for i in order]
    tree = [head + "# path flow name node_id"]
    rank: dict[tuple[int, ...], int] = {}
    for i in order:
        rank[paths[i]] = rank.get(paths[i], 0) + 1
        name = str(nodes[i]).replace('"', "'")
        path = ":".join(map(str, (*paths[i], rank[paths[i]])))
        tree.append(f'{path} {flow[i]:.6g} "{name}" {ids[nodes[i]]}')
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: is a file; give a folder for the .clu and .tree files")
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.graph).stem
    written = []
    if "clu" in args.formats:
        atomic_write_text(out / f"{stem}.clu", "\n".join(clu) + "\n")
        written.append(str(out / f"{stem}.clu"))
    if "tree" in args.formats:
        atomic_write_text(out / f"{stem}.tree", "\n".join(tree) + "\n")
        written.append(str(out / f"{stem}.tree"))
    print(
        f"{len(nodes):,} nodes, {model.n_modules_} top modules, {levels} levels, codelength "
        f"{model.codelength_:.6f} bits (one module: {model.one_level_codelength_:.6f}); "
        f"wrote {', '.join(written)}"
    )
    return 0


# ----------------------------------------------------------------------------- hsic
def cmd_hsic(args: argparse.Namespace) -> int:
    from kexue.data.userfiles import read_matrix
    from kexue.stats.hsic import hsic_test

    x, y = read_matrix(args.x), read_matrix(args.y)
    if len(x) != len(y):
        raise InputError(f"{args.x} has {len(x)} rows, {args.y} has {len(y)}: rows must pair up")
    if len(x) < 6:
        raise InputError(f"{args.x}: the test needs at least 6 rows, got {len(x)}")
    bandwidth: Any = args.bandwidth
    if bandwidth != "median":
        try:
            bandwidth = float(bandwidth)
        except ValueError:
            raise InputError(f"--bandwidth {bandwidth!r}: 'median' or a positive number") from None
        if not bandwidth > 0:
            raise InputError(f"--bandwidth {bandwidth}: must be > 0")
    res = hsic_test(
        x,
        y,
        alpha=args.alpha,
        n_permutations=args.permutations,
        seed=args.seed,
        kernel=args.kernel,
        bandwidth=bandwidth,
        method=args.method,
    )
    record = {
        "n": len(x),
        "statistic": res.statistic,
        "pvalue": res.pvalue,
        "reject": bool(res.reject),
        "alpha": args.alpha,
        "method": res.method,
        "kernel": args.kernel,
        "bandwidth_x": res.bandwidths[0],
        "bandwidth_y": res.bandwidths[1],
    }
    if args.json:
        print(json.dumps(record))
    else:
        for key, value in record.items():
            print(f"{key}\t{value}")
    return 0


# ----------------------------------------------------------------------------- generate
def _couplet_generator(run: Path, config: dict[str, Any]) -> Any:
    """A function first line → second line from a couplet run folder alone."""
    import torch
    from safetensors.torch import load_file

    from kexue.seq.couplet import CoupletCNN, constrained_decode

    itos = json.loads((run / "vocab.json").read_text(encoding="utf-8"))["itos"]
    stoi = {c: i for i, c in enumerate(itos)}
    cfg = config["config"]
    model = CoupletCNN(len(itos), d=cfg["d"], n_blocks=cfg["n_blocks"], dropout=cfg["dropout"])
    model.load_state_dict(load_file(str(run / "generator.safetensors")))
    model.eval()

    def generate(first: str, **_: Any) -> str:
        # a second line is tagged position by position: its length is the first line's
        text = "".join(first.split())
        if not text:
            return ""
        x = torch.tensor([[stoi.get(c, 0) for c in text]])
        with torch.no_grad():
            ids = constrained_decode(model(x), x)[0].tolist()
        return "".join(itos[i] for i in ids)

    return generate


def _title_generator(run: Path, config: dict[str, Any]) -> Any:
    """A function abstract → title by beam search, from a seq2seq-title run folder (the prior
    model, or the UniLM BERT of a `model=unilm` run) or a bidirectional-decoding one (L2R and
    R2L beams meet), alone."""
    cfg = config["config"]
    if cfg.get("model", "lstm") == "unilm":
        return _unilm_title_generator(run, cfg)
    from safetensors.torch import load_file

    from kexue.seq.bidirectional import BiSeq2Seq
    from kexue.seq.seq2seq import CharVocab, Seq2Seq

    vocab = CharVocab.from_itos(json.loads((run / "vocab.json").read_text("utf-8"))["itos"])
    sizes = {k: cfg[k] for k in ("emb", "d", "heads", "head_dim")}
    bidirectional = config["slug"] == "bidirectional-decoding"
    if bidirectional:
        model: Any = BiSeq2Seq(len(vocab), **sizes)
    else:
        model = Seq2Seq(len(vocab), **sizes, prior=cfg.get("method", "prior") == "prior")
    model.load_state_dict(load_file(str(run / "generator.safetensors")))
    model.eval()

    def generate(
        text: str, beam_size: int | None = None, max_len: int | None = None, **_: Any
    ) -> str:
        x = vocab.encode(text[: cfg["max_source"]])
        if not x:
            return ""
        beam, length = beam_size or cfg["beam_size"], max_len or cfg["max_title"]
        if bidirectional:
            best, _ = model.generate_bidirectional(x, beam, length)
        else:
            best = model.generate(x, beam_size=beam, max_len=length)
        return vocab.decode(best.tokens)

    return generate


def _unilm_title_generator(run: Path, cfg: dict[str, Any]) -> Any:
    """A function abstract → title from a seq2seq-title `model=unilm` run folder alone (its BERT,
    config and vocabulary, `UniLMSeq2Seq.load`): beam search, or one sample with top-k/top-p
    drawn from a generator seeded by the run's seed (the same command prints the same titles)."""
    import torch

    from kexue.bert import UniLMSeq2Seq

    model = UniLMSeq2Seq.load(run)
    gen = torch.Generator().manual_seed(cfg.get("seed", 0))

    def generate(
        text: str, beam_size: int | None = None, max_len: int | None = None,
        top_k: int | None = None, top_p: float | None = None, **_: Any,
    ) -> str:  # fmt: skip
        text = text[: cfg["max_source"]]
        if not text.strip():
            return ""
        length = max_len or cfg["max_title"]
        if model.max_len - length < 2:  # [CLS] [SEP] at least
            raise InputError(f"--max-len {length}: the model has {model.max_len} positions in "
                             "all, source included; ask for fewer tokens")  # fmt: skip
        best = model.generate(text, beam_size=beam_size or cfg["beam_size"], max_len=length,
                              top_k=top_k, top_p=top_p, generator=gen)  # fmt: skip
        return model.decode(best.tokens)

    return generate


def _cln_generator(run: Path, config: dict[str, Any]) -> Any:
    """A function label → sampled review from a conditional-ln run folder alone."""
    import torch
    import transformers as hf
    from safetensors.torch import load_file

    from kexue.bert import CharTokenizer, lm_step, tiny_config
    from kexue.bert.backbone import CLS, MASK, PAD, SEP, UNK
    from kexue.nn import make_conditional
    from kexue.seq import sample

    tok = CharTokenizer.from_itos(json.loads((run / "vocab.json").read_text("utf-8"))["itos"])
    cfg = config["config"]
    conf = tiny_config("bert", len(tok) + 2, hidden=cfg["hidden"], layers=cfg["layers"],
                       heads=cfg["heads"], max_position=cfg["maxlen"] + 4)  # fmt: skip
    if (run / "generator_config.json").is_file():  # a run from a pretrained checkpoint
        conf = hf.BertConfig.from_dict(json.loads((run / "generator_config.json").read_text()))
    model = hf.BertForMaskedLM(conf)
    make_conditional(model, cond_dim=cfg["cond_dim"])
    label_emb = torch.nn.Embedding(2, cfg["cond_dim"])
    weights = load_file(str(run / "generator.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in weights.items() if k.startswith("model.")})
    label_emb.load_state_dict({k[6:]: v for k, v in weights.items() if k.startswith("label.")})
    model.eval()
    banned = [PAD, UNK, CLS, MASK, len(tok), len(tok) + 1]
    gen = torch.Generator().manual_seed(cfg.get("seed", 0))

    def generate(label: str, max_len: int | None = None, top_k: int | None = None,
                 top_p: float | None = None, **_: Any) -> str:  # fmt: skip
        if label.strip() not in ("0", "1"):
            raise InputError(
                f"a conditional-ln input is a label, 0 (negative) or 1, got {label!r}"
            )
        with torch.no_grad():
            c = label_emb(torch.tensor([int(label)]))
            (hyp,) = sample(
                lm_step(model, conditional=True),
                [CLS],
                1,
                (max_len or cfg["maxlen"]) + 1,
                SEP,
                gen,
                state=c,
                top_k=top_k,
                top_p=cfg["top_p"] if top_p is None else top_p,
                banned=banned,
            )
        return tok.decode(hyp.tokens)

    return generate


GENERATORS = {
    "bidirectional-decoding": _title_generator,
    "conditional-ln": _cln_generator,
    "couplet": _couplet_generator,
    "seq2seq-title": _title_generator,
}


def cmd_generate(args: argparse.Namespace) -> int:
    run = Path(args.run_dir)
    config_path = run / "config.json"
    if not config_path.is_file():
        raise InputError(f"{run}: not a run folder (no config.json)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    slug = config.get("slug")
    if slug not in GENERATORS:
        raise InputError(
            f"{run}: a {slug} run; generate reads runs of {', '.join(sorted(GENERATORS))}"
        )
    missing = [f for f in ("generator.safetensors", "vocab.json") if not (run / f).is_file()]
    if missing:
        raise InputError(f"{run}: {', '.join(missing)} missing (the run has not finished?)")
    generate = GENERATORS[slug](run, config)
    if args.input is not None:
        inputs: Iterable[str] = [args.input]
    else:
        from kexue.data.userfiles import iter_corpus

        inputs = iter_corpus(args.files or ["-"], encoding=args.encoding)
    if args.beam_size is not None and args.beam_size < 1:
        raise InputError(f"--beam-size must be ≥ 1, got {args.beam_size}")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise InputError(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.top_k is not None and args.top_k < 1:
        raise InputError(f"--top-k must be ≥ 1, got {args.top_k}")
    for text in inputs:
        output = generate(
            text,
            beam_size=args.beam_size,
            max_len=args.max_len,
            top_k=args.top_k,
            top_p=args.top_p,
        )
        if args.format == "jsonl":
            print(json.dumps({"input": text, "output": output}, ensure_ascii=False))
        else:
            print(output)
    return 0


# ----------------------------------------------------------------------------- sample
def _trained_run(run: Path, hook: str, weights: tuple[str, ...]) -> tuple[str, Any]:
    """(slug, recipe) of a finished run folder whose recipe has `hook` (sampler, ...)."""
    import importlib

    from kexue.articles import ARTICLES, get

    if not (run / "config.json").is_file():
        raise InputError(f"{run}: not a run folder (no config.json)")
    slug = json.loads((run / "config.json").read_text(encoding="utf-8")).get("slug")
    try:
        recipe = importlib.import_module(get(slug).recipe)
    except (KeyError, ValueError):
        raise InputError(f"{run}: unknown slug {slug!r} in config.json") from None
    if not hasattr(recipe, hook):
        able = sorted(a.slug for a in ARTICLES
                      if a.ready and hasattr(importlib.import_module(a.recipe), hook))  # fmt: skip
        raise InputError(f"{run}: a {slug} run; this command reads runs of {', '.join(able)}")
    if not any((run / w).is_file() for w in weights):
        raise InputError(f"{run}: {' or '.join(weights)} missing (the run has not finished?)")
    return slug, recipe


def _write_images(path: str, images: Any, title: str, nrow: int) -> None:
    """(n, H, W, C) images in [0, 1] as a pixel grid; (n, H, W) digits as a titled figure."""
    import io

    from kexue.recipes import _images, _plot
    from kexue.runs import atomic_write_bytes

    if images.ndim == 4:
        atomic_write_bytes(path, _images.grid_png(images, nrow))
        return
    fig = _plot.image_grid(images, title, nrow=nrow, size=images.shape[-1], vmin=0.0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


_SAMPLER_WEIGHTS = ("sampler.safetensors", "image_model.safetensors")


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    run = Path(args.run_dir)
    slug, recipe = _trained_run(run, "sampler", _SAMPLER_WEIGHTS)
    if args.n < 1 or args.temperature <= 0:
        raise InputError(f"-n must be ≥ 1 and --temperature > 0, got {args.n}, {args.temperature}")
    g = torch.Generator().manual_seed(args.seed)
    if args.interpolate:
        if not hasattr(recipe, "interpolator"):
            raise InputError(
                f"{run}: --interpolate reads runs of recipes with an interpolator "
                f"(GANs, flows and VAEs trained on --data); {slug} has none"
            )
        images = recipe.interpolator(run)(args.n, args.interpolate, args.temperature, g)
        nrow = args.interpolate
        what = f"{args.n} interpolations of {args.interpolate} steps"
    else:
        images = recipe.sampler(run)(args.n, args.temperature, g)
        nrow = args.nrow
        what = f"{args.n} samples"
    title = f"{slug}: {what} at T = {args.temperature:g} (seed {args.seed})"
    _write_images(args.out, images, title, nrow)
    print(f"wrote {args.out} ({what} of {images.shape[1]}×{images.shape[2]})")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    import numpy as np

    from kexue.data.user_images import load_image

    run = Path(args.run_dir)
    slug, recipe = _trained_run(run, "reconstructor", ("image_model.safetensors",))
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))["config"]
    size, crop, mode = config["img_size"], config.get("img_crop") or None, config["img_mode"]
    originals = []
    for name in args.images:
        try:
            originals.append(load_image(Path(name), size, crop, mode)[0])
        except ValueError as err:
            raise InputError(f"{name}: {err}") from None
        except FileNotFoundError:
            raise InputError(f"{name}: no such file") from None
    pixels = np.stack(originals)
    recon = recipe.reconstructor(run)(pixels)
    pairs = np.stack([pixels / 255.0, recon], 1).reshape(-1, *recon.shape[1:])
    _write_images(args.out, pairs, f"{slug}: image, reconstruction", 2 * args.nrow)
    for name, a, b in zip(args.images, pixels / 255.0, recon, strict=True):
        print(f"{name}\tmse {float(((a - b) ** 2).mean()):.5f}")
    print(f"wrote {args.out} ({len(pixels)} images beside their reconstructions)")
    return 0


# ----------------------------------------------------------------------------- parsers
def _example(text: str) -> dict[str, Any]:
    return {
        "epilog": f"example:\n  {text}",
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def add_tool_parsers(sub: argparse._SubParsersAction) -> None:
    """Register words, segment, templates, vectors, communities and hsic."""
    p = sub.add_parser(
        "words",
        help="build a lexicon from a raw corpus (no dictionary needed)",
        description="Word discovery (最小熵原理（二）): cohesion (当机立断) or MEP II. Writes "
        "`word count` per line, most frequent first: jieba's dictionary format "
        "(jieba.load_userdict reads it; kexue segment --lexicon too).",
        **_example(
            "kexue words corpus.txt -o lexicon.txt && kexue segment --lexicon lexicon.txt new.txt"
        ),
    )
    _corpus_args(p)
    p.add_argument("-o", "--output", help="lexicon file (default stdout)")
    p.add_argument("--method", choices=("cohesion", "mep"), default="cohesion")
    p.add_argument("--n", type=int, default=4, help="longest n-gram counted (cohesion)")
    p.add_argument("--min-count", type=int, default=4, help="least count of a kept n-gram/word")
    p.add_argument(
        "--thresholds",
        type=float,
        nargs="+",
        default=[0, 0, 2, 4, 6],
        help="cohesion thresholds θ by n-gram length (the article's 0 0 2 4 6)",
    )
    p.add_argument("--min-pmi", type=float, default=2.0, help="least PMI of a merge (mep)")
    p.add_argument("--workers", type=int, help="count on a local Dask cluster of N processes")
    p.add_argument("--scheduler", help="count on this Dask cluster (tcp://host:8786)")
    p.set_defaults(func=cmd_words)

    p = sub.add_parser(
        "segment",
        help="segment text with a lexicon (streaming, to stdout)",
        description="Minimum-information (unigram Viterbi) segmentation with a lexicon in "
        "jieba's dictionary format (`word [count] [tag]`).",
        **_example("cat news.txt | kexue segment --lexicon lexicon.txt --format jsonl"),
    )
    p.add_argument("files", nargs="*", help="text files or folders (default: stdin)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--lexicon", help="word [count] per line (jieba's dictionary format)")
    source.add_argument(
        "--scored-lexicon",
        help="word count bonus per line: the model `kexue run word-discovery` chose on dev lines "
        "(lexicon_best.txt, with its autonomy bonus and function-character penalty)",
    )
    p.add_argument("--encoding", default="utf-8")
    p.add_argument(
        "--format",
        choices=("text", "jsonl"),
        default="text",
        help="text: words joined by --delimiter; jsonl: {text, tokens: [[w, start, end]]}",
    )
    p.add_argument("--delimiter", default=" ")
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser(
        "templates",
        help="find sentence templates in a corpus",
        description="Sentence templates (最小熵原理（三）): paths of strongly associated words; "
        "writes count<TAB>template with X for each slot. The corpus is segmented with --lexicon, "
        "else taken as whitespace-separated words.",
        **_example("kexue templates segmented.txt -o templates.tsv"),
    )
    _corpus_args(p)
    p.add_argument("-o", "--output", help="templates file (default stdout)")
    p.add_argument("--lexicon", help="segment with this lexicon (else split at whitespace)")
    p.add_argument("--window", type=int, default=3)
    p.add_argument("--min-count", type=int, default=20)
    p.add_argument("--min-pmi", type=float, default=2.0)
    p.set_defaults(func=cmd_templates)

    p = sub.add_parser(
        "vectors",
        help="train word vectors with the library cost (word2vec text format)",
        description="Word vectors (最小熵原理（四）): minimise S = −Σ p(i,j) ln q(j|i) over "
        "the co-occurrence table. Writes word2vec's text format (gensim's "
        "KeyedVectors.load_word2vec_format reads it). The corpus is segmented with --lexicon, "
        "else taken as whitespace-separated words.",
        **_example("kexue vectors segmented.txt -o vectors.txt --dim 100"),
    )
    _corpus_args(p)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--lexicon", help="segment with this lexicon (else split at whitespace)")
    p.add_argument("--vocab-size", type=int, default=5000, help="most frequent words kept")
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--rows-per-batch", type=int, default=500)
    p.add_argument(
        "--metric",
        choices=("dot", "l2"),
        default="dot",
        help="dot: two vector sets (skip-gram); l2: one set, the library's distance",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_vectors)

    p = sub.add_parser(
        "communities",
        help="InfoMap communities of a graph (infomap's .clu and .tree files)",
        description="InfoMap (最小熵原理（五）), two-level or --hierarchical. Reads an edge "
        "list (u v [weight]), Pajek .net, or GML/GraphML/GEXF; writes OUT_DIR/NAME.clu and "
        "NAME.tree as infomap does (infomap reads them back with --cluster-data).",
        **_example("kexue communities network.txt -o out/ --trials 10 --seed 1"),
    )
    p.add_argument("graph")
    p.add_argument("-o", "--output", required=True, help="folder for the .clu and .tree files")
    p.add_argument("--directed", action="store_true")
    p.add_argument("--two-level", action="store_true", help="two-level search (the default)")
    p.add_argument("--hierarchical", action="store_true",
                   help="multilevel search: modules split recursively (层层递进)")  # fmt: skip
    p.add_argument("--trials", type=int, default=1)
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--markov-time", type=float, default=1.0)
    p.add_argument("--encoding", default="utf-8")
    p.add_argument("--formats", nargs="+", choices=("clu", "tree"), default=["clu", "tree"])
    p.set_defaults(func=cmd_communities)

    p = sub.add_parser(
        "hsic",
        help="HSIC independence test of two paired tables",
        description="HSIC (HSIC简介): the biased statistic, its p-value by permutations or the "
        "Gamma approximation, and the bandwidths used. X and Y are CSV/TSV tables with one row "
        "per sample (a non-numeric first row is a header).",
        **_example("kexue hsic x.csv y.csv --method gamma"),
    )
    p.add_argument("x")
    p.add_argument("y")
    p.add_argument("--method", choices=("permutation", "gamma"), default="permutation")
    p.add_argument("--permutations", type=int, default=499)
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--kernel", choices=("gaussian", "laplace", "linear"), default="gaussian")
    p.add_argument("--bandwidth", default="median", help="'median' or a number σ")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="one JSON object instead of key<TAB>value")
    p.set_defaults(func=cmd_hsic)

    p = sub.add_parser(
        "generate",
        help="generate with a trained run (couplets, titles, label-conditioned reviews)",
        description="Generation from a finished run folder alone (its config, weights and "
        "vocabulary): couplet (input: a first line), seq2seq-title and bidirectional-decoding (an "
        "abstract; beam search), "
        "conditional-ln (a label, 0 or 1; nucleus sampling). Reads --input, or one input per "
        "line from files or stdin.",
        **_example("kexue generate runs/couplet --input 春回大地千山秀"),
    )
    p.add_argument("run_dir")
    p.add_argument("files", nargs="*", help="inputs, one per line (default: stdin)")
    p.add_argument("--input", help="one input text")
    p.add_argument("--beam-size", type=int, help="beam width (the title runs; 1 = greedy)")
    p.add_argument("--max-len", type=int, help="longest output (title and conditional-ln runs)")
    p.add_argument("--top-k", type=int, help="sample from the k likeliest (conditional-ln)")
    p.add_argument("--top-p", type=float, help="nucleus sampling mass (conditional-ln)")
    p.add_argument("--format", choices=("text", "jsonl"), default="text")
    p.add_argument("--encoding", default="utf-8")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "sample",
        help="draw samples from a trained run into an image grid (GANs, flows, VAEs)",
        description="Samples from a finished run folder alone (its config and weights: "
        "sampler.safetensors of the digits flows, image_model.safetensors of a run on --data "
        "images), drawn at a temperature (the prior's standard deviation) and saved as a PNG "
        "grid; --interpolate K draws rows of K images between two random codes.",
        **_example("kexue sample runs/glow -n 64 --temperature 0.8 --out grid.png"),
    )
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=64, help="number of samples or rows (default 64)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nrow", type=int, default=8, help="images per row of the grid")
    p.add_argument("--interpolate", type=int, metavar="K", help="rows of K interpolated images")
    p.add_argument("--out", default="samples.png")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser(
        "reconstruct",
        help="encode and decode images with a trained run (BiGAN-QP, VAEs, flows on --data)",
        description="Each image is centre-cropped and resized as the run's data was, encoded "
        "and decoded by the run's model; the grid shows each image beside its reconstruction, "
        "and the mean squared error per image (pixels in [0, 1]) is printed.",
        **_example("kexue reconstruct runs/bigan-qp face1.png face2.jpg --out recon.png"),
    )
    p.add_argument("run_dir")
    p.add_argument("images", nargs="+")
    p.add_argument("--nrow", type=int, default=4, help="pairs per row of the grid")
    p.add_argument("--out", default="reconstructions.png")
    p.set_defaults(func=cmd_reconstruct)
