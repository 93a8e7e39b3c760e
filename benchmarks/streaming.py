"""Streamed datasets at scale (issue 14): a 700 k-pair couplet folder and a 1 GiB title TSV
through `kexue.data.streaming`, against the list loaders the recipes used before.

Writes into a temporary folder, from the bundled data (../shared/data, or $KEXUE_DATA) by
repetition, each copy in its own seeded shuffle: `--pairs` couplets (in.txt / out.txt, the
lines exactly as bundled: characters separated by spaces) and a title TSV of at least
`--title-mib` MiB (the CSL rows of dev.tsv and test.tsv: task, abstract, title).

Then each row is a FRESH child process (its peak RSS is its own), torch at one thread:

    couplets, list     couplets(folder) + split_couplets               (the recipe before)
    couplets, stream   couplet_pairs(folder).split(): builds the index, saves its cache
    couplets, cached   couplet_pairs(folder).split(): the index from the cache
    titles, list       csl_split(file)                                 (title_data before)
    titles, stream     title_split(file): builds the index, saves its cache
    titles, cached     title_split(file): the index from the cache

and, after loading, the vocabulary (one pass over the training pairs: `char_counts` of both
strings for couplets, `CharVocab` of the truncated abstract + title for titles) and batches as
the recipes draw them: the couplet recipe's length-homogeneous batches (a length drawn in
proportion to its pairs, then `batch_size` of its pairs with replacement; `_by_length` on the
index's lengths, or on the list's) for one pass over the training pairs (ceil(n_train / 64)
batches), encoded to LongTensors; for titles `--title-batches` uniform batches of the
seq2seq-title recipe's size, truncated, encoded and padded (`pad_batch`). The cached rows load
only. Peak RSS is `ru_maxrss` of the child, after each phase; "RSS after imports" is what the
process held before touching the data (torch, numpy, kexue).

Run: .venv/bin/python benchmarks/streaming.py [--pairs 700000] [--title-mib 1024]
     [--title-batches 3000] [--loaders list,stream,cached] [--tmp /tmp]
     [--out docs/benchmarks_streaming.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import cpu_name, fmt_bytes, run_child, write_report

LOADERS = ("list", "stream", "cached")  # "cached" reads the cache that "stream" saved


def _raw_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


def _write_couplets(src: Path, folder: Path, n: int, seed: int = 0) -> int:
    """n pairs: the bundled pairs repeated, each copy shuffled by its own seed; the bytes."""
    firsts, seconds = _raw_lines(src / "in.txt"), _raw_lines(src / "out.txt")
    keep = [i for i, line in enumerate(firsts) if line.strip()]
    folder.mkdir(parents=True)
    with open(folder / "in.txt", "w", encoding="utf-8") as fa, \
         open(folder / "out.txt", "w", encoding="utf-8") as fb:  # fmt: skip
        done = 0
        for copy in range(math.ceil(n / len(keep))):
            order = np.random.default_rng(seed + copy).permutation(keep)[: n - done]
            fa.write("".join(firsts[i] + "\n" for i in order))
            fb.write("".join(seconds[i] + "\n" for i in order))
            done += len(order)
    return sum((folder / f).stat().st_size for f in ("in.txt", "out.txt"))


def _write_titles(src: Path, file: Path, mib: float, seed: int = 0) -> tuple[int, int]:
    """CSL rows repeated (each copy shuffled by its own seed) until the file holds `mib` MiB;
    (rows, bytes)."""
    rows = [line for name in ("dev.tsv", "test.tsv") for line in _raw_lines(src / name) if line]
    target, written, n, copy = int(mib * 2**20), 0, 0, 0
    with open(file, "w", encoding="utf-8") as f:
        while written < target:
            order = np.random.default_rng(seed + copy).permutation(len(rows))
            chunk = "".join(rows[i] + "\n" for i in order)
            f.write(chunk)
            written += len(chunk.encode())
            n += len(rows)
            copy += 1
    return n, file.stat().st_size


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, loader: str, path: Path, title_batches: int) -> dict[str, float]:
    """Runs in the fresh process: load, vocabulary, batches; what it measured."""
    import torch

    from kexue.data import char_counts, couplet_pairs, couplets, csl_split, title_split
    from kexue.recipes import couplet, seq2seq_title
    from kexue.recipes.couplet import _by_length
    from kexue.seq import CharVocab, pad_batch, split_couplets

    torch.set_num_threads(1)
    result: dict[str, float] = {"rss_imports_mib": _rss_mib()}  # before any data is touched
    clock = [time.perf_counter(), time.process_time()]

    def lap(name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        result[f"{name}_s"], result[f"{name}_cpu_s"] = wall - clock[0], cpu - clock[1]
        result[f"rss_{name}_mib"] = _rss_mib()
        clock[:] = [time.perf_counter(), time.process_time()]

    g = torch.Generator().manual_seed(0)
    if kind == "couplets":
        cfg = couplet.Config()
        if loader == "list":
            train = split_couplets(couplets(path))[0]
            lengths = np.array([len(a) for a, _ in train])
        else:
            train = couplet_pairs(path).split()[0]
            lengths = train.lengths
        result["n_train"] = len(train)
        lap("load")
        if loader == "cached":
            return result
        counts = char_counts(train)
        itos = ["<unk>", *sorted(c for c, k in counts.items() if k >= cfg.min_count)]
        stoi = {c: i for i, c in enumerate(itos)}
        lap("vocab")
        by_len = _by_length(lengths)  # the recipe's batching, as in kexue.recipes.couplet.run
        sizes = sorted(by_len)
        weights = torch.tensor([len(by_len[n]) for n in sizes], dtype=torch.float)
        batches = math.ceil(len(train) / cfg.batch_size)
        for _ in range(batches):
            pool = by_len[sizes[int(torch.multinomial(weights, 1, generator=g))]]
            pick = torch.randint(len(pool), (cfg.batch_size,), generator=g).tolist()
            batch = [train[pool[i]] for i in pick]
            x = torch.tensor([[stoi.get(c, 0) for c in a] for a, _ in batch])
            y = torch.tensor([[stoi.get(c, 0) for c in b] for _, b in batch])
            (x + y).sum()  # the trivial step
    else:
        cfg = seq2seq_title.Config()
        train = csl_split(path)[0] if loader == "list" else title_split(path)[0]
        result["n_train"] = len(train)
        lap("load")
        if loader == "cached":
            return result
        vocab = CharVocab((a[: cfg.max_source] + t for a, t in train), cfg.min_count)
        lap("vocab")
        batches = title_batches
        for _ in range(batches):
            idx = torch.randint(len(train), (cfg.batch_size,), generator=g).tolist()
            pairs = [train[i] for i in idx]
            x = pad_batch([vocab.encode(a[: cfg.max_source]) for a, _ in pairs])
            y = pad_batch([vocab.encode(t[: cfg.max_title], start_end=True) for _, t in pairs])
            (x.sum() + y.sum()).item()
    result["batches"] = batches
    lap("pass")
    return result


def _run_child(kind: str, loader: str, path: Path, title_batches: int) -> dict[str, float]:
    return run_child(__file__, kind, loader, str(path), "--title-batches", str(title_batches))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=700_000)
    parser.add_argument("--title-mib", type=float, default=1024)
    parser.add_argument("--title-batches", type=int, default=3000)
    parser.add_argument("--loaders", default=",".join(LOADERS), help="rows, comma-separated")
    parser.add_argument("--tmp", default=None, help="where the temporary folder goes (/tmp)")
    parser.add_argument("--out", default="docs/benchmarks_streaming.md")
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        kind, loader, path = args.child
        print(json.dumps(_child(kind, loader, Path(path), args.title_batches)))
        return
    from kexue.data import shared_data_dir

    shared = shared_data_dir()
    if shared is None:
        sys.exit("the bundled data (../shared/data or $KEXUE_DATA) is needed to build the sets")
    with tempfile.TemporaryDirectory(prefix="kexue-streaming-", dir=args.tmp) as tmp:
        t0 = time.perf_counter()
        folder, file = Path(tmp) / "couplets", Path(tmp) / "titles" / "titles.tsv"
        couplet_bytes = _write_couplets(shared / "couplets", folder, args.pairs)
        file.parent.mkdir()
        title_rows, title_bytes = _write_titles(shared / "csl_ts", file, args.title_mib)
        written = time.perf_counter() - t0
        print(f"wrote {args.pairs:,} pairs ({fmt_bytes(couplet_bytes)}) and "
              f"{title_rows:,} title rows ({fmt_bytes(title_bytes)}) in {written:.1f} s",
              flush=True)  # fmt: skip
        rows = []
        loaders = [x for x in LOADERS if x in args.loaders.split(",")]
        for kind, loader in [(k, x) for k in ("couplets", "titles") for x in loaders]:
            path = folder if kind == "couplets" else file
            rows.append({"kind": kind, "loader": loader,
                         **_run_child(kind, loader, path, args.title_batches)})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
        caches = {p.name: p.stat().st_size for p in Path(tmp).rglob(".kexue-cache/*.npz")}
    sizes = {"couplets": couplet_bytes, "titles": title_bytes}
    _report(args, rows, sizes, title_rows, caches, written)


def _report(args: argparse.Namespace, rows: list[dict], sizes: dict[str, int], title_rows: int,
            caches: dict[str, int], written: float) -> None:  # fmt: skip
    python = os.path.relpath(sys.executable) if sys.prefix != sys.base_prefix else "python"
    cpu = cpu_name()
    cache_of = {
        "couplets": sum(v for k, v in caches.items() if k.startswith(("in.txt", "out.txt"))),
        "titles": sum(v for k, v in caches.items() if k.startswith("titles.tsv")),
    }
    lines = [
        "# Streamed datasets at scale: `kexue.data.streaming` against the list loaders",
        "",
        f"Generated by `{python} benchmarks/streaming.py {shlex.join(sys.argv[1:])}` on "
        f"{datetime.date.today().isoformat()} (python {platform.python_version()}, "
        f"{os.cpu_count()} cores of an {cpu}, shared with other jobs: wall times are "
        "indicative, CPU seconds less so).",
        "",
        f"The data, written in {written:.0f} s into a temporary folder and removed afterwards: "
        f"{args.pairs:,} couplet pairs ({fmt_bytes(sizes['couplets'])} in in.txt + out.txt) "
        f"and a title TSV of {title_rows:,} CSL rows ({fmt_bytes(sizes['titles'])}), both the "
        "bundled data repeated, each copy in its own seeded shuffle. Index caches (.npz): "
        f"{fmt_bytes(cache_of['couplets'])} for the couplets, "
        f"{fmt_bytes(cache_of['titles'])} for the titles.",
        "",
        "Each row is a fresh child process (see the script's docstring): load = read the list, "
        "or build the index (stream) or read it from its cache (cached), and split; vocabulary "
        "= one pass over the training pairs; pass = the recipes' batches (couplets: one pass "
        f"over the training pairs, ceil(n_train / 64) batches; titles: {args.title_batches:,} "
        "batches of 32). Peak RSS is the child's high-water mark after the phase.",
        "",
        "| data | loader | training pairs | load s (CPU s) | peak RSS after load "
        "| vocabulary s (CPU s) | batches | pass s (CPU s) | batches/s | peak RSS "
        "| RSS after imports |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        loaded = f"{r['load_s']:,.1f} ({r['load_cpu_s']:,.1f})"
        if r["loader"] == "cached":
            rest = "| – | – | – | – "
            peak = r["rss_load_mib"]
        else:
            rest = (f"| {r['vocab_s']:,.1f} ({r['vocab_cpu_s']:,.1f}) | {r['batches']:,} "
                    f"| {r['pass_s']:,.1f} ({r['pass_cpu_s']:,.1f}) "
                    f"| {r['batches'] / r['pass_s']:,.0f} ")  # fmt: skip
            peak = r["rss_pass_mib"]
        lines.append(
            f"| {r['kind']} | {r['loader']} | {r['n_train']:,} | {loaded} "
            f"| {r['rss_load_mib']:,.0f} MiB {rest}| {peak:,.0f} MiB "
            f"| {r['rss_imports_mib']:,.0f} MiB |"
        )
    lines += ["", "Memory the data added to the process (peak RSS − RSS after imports):", ""]
    what = {"list": "", "stream": " (building the index)", "cached": " (opening it)"}
    for kind in ("couplets", "titles"):
        held = []
        for r in (r for r in rows if r["kind"] == kind):
            peak = r.get("rss_pass_mib", r["rss_load_mib"])  # a cached row only loads
            held.append(f"{r['loader']} {peak - r['rss_imports_mib']:,.0f} MiB{what[r['loader']]}")
        lines.append(f"- {kind} ({fmt_bytes(sizes[kind])} of text): {', '.join(held)}.")
    write_report(args.out, lines)


if __name__ == "__main__":
    main()
