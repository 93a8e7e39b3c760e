"""The image loader at scale (issue 12): 30,000 JPEGs of 256 px through `kexue.data.image_folder`.

Writes `--n` synthetic JPEGs (quality 90) of `--size` px into a temporary folder: coloured
circles, squares and triangles on grey backgrounds with Gaussian noise, 12 class subfolders (as
`kexue.data.write_shapes`, but drawn directly at full size without supersampling, so 30,000 take
seconds, not an hour). Every image is distinct: shape, colour shade, position, radius, rotation
and background grey are drawn per image, and the noise is a random window of one of four
precomputed fields.

Then, for each `--workers` value, a FRESH child process (its peak RSS is the training process's
alone) loads the folder with `image_folder(folder, size=--load-size)` into an empty cache and
runs two epochs of a DataLoader (batch 64, shuffled, num_workers W) with a trivial step per batch.
Epoch 1 includes decoding every JPEG into the uint8 cache; the JPEG folder is then renamed away
for both passes, so they can only read the memory-mapped cache. Peak RSS is `ru_maxrss` of the
child (RUSAGE_SELF) and of its reaped worker processes (RUSAGE_CHILDREN). Bar: peak RSS < 1.5 GiB.

Run: .venv/bin/python benchmarks/images.py [--n 30000] [--size 256] [--load-size 64]
     [--workers 0,2] [--tmp /tmp] [--out docs/benchmarks_images.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import cpu_name, fmt_bytes, run_child, write_report

BATCH = 64
RSS_BAR_GIB = 1.5


def _write_jpegs(folder: Path, n: int, size: int, seed: int = 0) -> int:
    """n distinct synthetic JPEGs in 12 class subfolders; returns the bytes written."""
    from PIL import Image, ImageDraw

    from kexue.data import SHAPE_COLOURS, shapes_classes

    rng = np.random.default_rng(seed)
    names = shapes_classes()
    for name in names:
        (folder / name).mkdir(parents=True)
    fields = [rng.normal(0.0, 8.0, (2 * size, 2 * size, 1)).astype(np.float32) for _ in range(4)]
    total = 0
    for i in range(n):
        name = names[i % len(names)]
        shape, colour = name.split("-")
        grey = int(rng.integers(20, 110))
        im = Image.new("RGB", (size, size), (grey, grey, grey))
        draw = ImageDraw.Draw(im)
        radius = size * rng.uniform(0.18, 0.32)
        cx, cy = size * rng.uniform(0.35, 0.65, 2)
        fill = tuple(int(v * rng.uniform(0.8, 1.0)) for v in SHAPE_COLOURS[colour])
        if shape == "circle":
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill)
        else:
            corners = 4 if shape == "square" else 3
            turns = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(corners) / corners
            r = radius * (1.25 if shape == "square" else 1.35)
            draw.polygon([(cx + r * np.cos(t), cy + r * np.sin(t)) for t in turns], fill=fill)
        ox, oy = rng.integers(0, size, 2)
        noise = fields[i % 4][oy : oy + size, ox : ox + size]
        pixels = np.clip(np.asarray(im, np.float32) + noise, 0, 255).astype(np.uint8)
        path = folder / name / f"{i // len(names):05d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        total += path.stat().st_size
    return total


def _child(folder: Path, load_size: int, workers: int, cache: Path) -> dict[str, float]:
    """Runs in the fresh process: load, two epochs, and what it measured."""
    import torch
    from torch.utils.data import DataLoader

    import kexue.data.user_images as user_images
    from kexue.data import image_folder

    torch.set_num_threads(1)
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    decodes = [0]
    load_image = user_images.load_image

    def counted(*args: object, **kwargs: object) -> object:
        decodes[0] += 1
        return load_image(*args, **kwargs)

    user_images.load_image = counted  # the cache builder looks it up in its module
    t0, c0 = time.perf_counter(), time.process_time()
    ds = image_folder(folder, size=load_size, cache_dir=cache)
    build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    decoded_by_build = decodes[0]
    away = folder.with_name(folder.name + "-moved-away")
    os.rename(folder, away)  # the passes can only read the cache now
    try:
        g = torch.Generator().manual_seed(0)
        loader = DataLoader(ds, batch_size=BATCH, shuffle=True, generator=g,
                            num_workers=workers, drop_last=False)  # fmt: skip
        passes, cpu, seen = [], [], 0
        for _ in range(2):
            t0, c0 = time.perf_counter(), _cpu_with_workers()
            for x, _labels in loader:
                x.mean()  # the trivial step
                seen += len(x)
            passes.append(time.perf_counter() - t0)
            cpu.append(_cpu_with_workers() - c0)  # workers are reaped at the end of a pass
    finally:
        os.rename(away, folder)
    status = Path("/proc/self/status").read_text() if Path("/proc/self/status").exists() else ""
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    kib = lambda key: float(fields.get(key, "0 kB").split()[0]) / 1024  # noqa: E731
    n = len(ds)
    return {
        "n": n,
        "seen": seen,
        "workers": workers,
        "build_s": build,
        "pass1_s": passes[0],
        "pass2_s": passes[1],
        "epoch1_img_s": n / (build + passes[0]),
        "decode_img_s": n / build,
        "epoch2_img_s": n / passes[1],
        "decode_img_cpu_s": n / build_cpu,
        "epoch2_img_cpu_s": n / cpu[1],
        "decodes_in_build": decoded_by_build,
        "decodes_in_passes": decodes[0] - decoded_by_build,
        "memmap": isinstance(ds.pixels, np.memmap),
        "rss_after_imports_mib": rss_start,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_rss_workers_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "rss_anon_end_mib": kib("RssAnon"),
        "rss_file_end_mib": kib("RssFile"),
        "cache_bytes": sum(p.stat().st_size for p in cache.glob("*.npy")),
    }


def _cpu_with_workers() -> float:
    """CPU seconds of this process and of its reaped children (the DataLoader workers)."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _run_child(folder: Path, load_size: int, workers: int, cache: Path) -> dict[str, float]:
    return run_child(__file__, str(folder), "--load-size", str(load_size), "--workers",
                     str(workers), "--cache", str(cache))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30_000)
    parser.add_argument("--size", type=int, default=256, help="side of the generated JPEGs")
    parser.add_argument("--load-size", type=int, default=64, help="image_folder(size=...)")
    parser.add_argument("--workers", default="0,2", help="DataLoader num_workers, comma-separated")
    parser.add_argument("--tmp", default=None, help="where the temporary folder goes (/tmp)")
    parser.add_argument("--out", default="docs/benchmarks_images.md")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        result = _child(Path(args.child), args.load_size, int(args.workers), Path(args.cache))
        print(json.dumps(result))
        return
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="kexue-images-", dir=args.tmp) as tmp:
        folder = Path(tmp) / "jpegs"
        t0, c0 = time.perf_counter(), time.process_time()
        jpeg_bytes = _write_jpegs(folder, args.n, args.size)
        gen_wall, gen_cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"wrote {args.n} JPEGs ({fmt_bytes(jpeg_bytes)}) in {gen_wall:.1f} s", flush=True)
        rows = []
        for w in workers:
            cache = Path(tmp) / f"cache-w{w}"  # empty: each child decodes afresh
            rows.append(_run_child(folder, args.load_size, w, cache))
            print(json.dumps(rows[-1]), flush=True)
            shutil.rmtree(cache)
    _report(args, rows, jpeg_bytes, gen_wall, gen_cpu)


def _report(args: argparse.Namespace, rows: list[dict], jpeg_bytes: int, gen_wall: float,
            gen_cpu: float) -> None:  # fmt: skip
    python = os.path.relpath(sys.executable) if sys.prefix != sys.base_prefix else "python"
    cpu = cpu_name()
    peak = max(max(r["peak_rss_mib"], r["peak_rss_workers_mib"]) for r in rows)
    summed = max(r["peak_rss_mib"] + r["peak_rss_workers_mib"] for r in rows)
    ok_rss = peak < RSS_BAR_GIB * 1024
    ok_cache = all(r["decodes_in_passes"] == 0 and r["memmap"] for r in rows)
    lines = [
        "# The image loader at scale: `kexue.data.image_folder` on a folder of JPEGs",
        "",
        f"Generated by `{python} benchmarks/images.py {shlex.join(sys.argv[1:])}` on "
        f"{datetime.date.today().isoformat()} (python {platform.python_version()}, "
        f"{os.cpu_count()} cores of an {cpu}, shared with other jobs: times are indicative).",
        "",
        f"The folder: {args.n:,} distinct synthetic JPEGs of {args.size}×{args.size} px "
        f"(quality 90, {fmt_bytes(jpeg_bytes)} in all; 12 class subfolders of coloured shapes "
        "on noisy grey backgrounds, drawn directly at full size), generated in "
        f"{gen_wall:.1f} s wall ({gen_cpu:.1f} CPU s) into a temporary folder and removed "
        "afterwards.",
        "",
        "Each row is a fresh child process: "
        f"`image_folder(folder, size={args.load_size})` into an empty cache, then two epochs "
        f"of `DataLoader(ds, batch_size={BATCH}, shuffle=True, "
        "num_workers=W)` with a trivial step per batch (`x.mean()`). Epoch 1 = decoding every "
        "JPEG into the uint8 cache + the first pass; epoch 2 = the second pass. The JPEG folder "
        "is renamed away during both passes, so they read the memory-mapped cache only (decoder "
        "calls counted in the child: all in the build, none in the passes). Peak RSS: `ru_maxrss` "
        "of the child (self) and of its reaped DataLoader workers; it includes the pages of the "
        "memory-mapped cache the process touched (file-backed and reclaimable; RssFile at the end "
        "counts them with the shared libraries, RssAnon is the process's own memory).",
        "",
        "Wall-clock rates suffer from the other jobs on this machine; the CPU-second rates "
        "(`getrusage` user + system time of the child and its workers) do not.",
        "",
        "| num_workers | images | epoch 1 img/s (decode + pass) | decode img/s (img/CPU-s) "
        "| epoch 2 img/s (img/CPU-s) | cache file | peak RSS (child) | peak RSS (workers) "
        "| RSS after imports | RssAnon / RssFile at end | decoder calls in passes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workers']} | {r['n']:,} | {r['epoch1_img_s']:,.0f} "
            f"| {r['decode_img_s']:,.0f} ({r['decode_img_cpu_s']:,.0f}) "
            f"| {r['epoch2_img_s']:,.0f} ({r['epoch2_img_cpu_s']:,.0f}) "
            f"| {fmt_bytes(r['cache_bytes'])} "
            f"| {r['peak_rss_mib']:,.0f} MiB | {r['peak_rss_workers_mib']:,.0f} MiB "
            f"| {r['rss_after_imports_mib']:,.0f} MiB "
            f"| {r['rss_anon_end_mib']:,.0f} / {r['rss_file_end_mib']:,.0f} MiB "
            f"| {r['decodes_in_passes']} |"
        )
    lines += [
        "",
        f"Bar (issue 12): peak RSS < {RSS_BAR_GIB} GiB — **{'PASS' if ok_rss else 'FAIL'}** "
        f"(highest: {peak:,.0f} MiB; the child's and its workers' peaks summed, an over-count "
        f"since they share the cache's pages: {summed:,.0f} MiB); epoch 2 reads from the cache — "
        f"**{'PASS' if ok_cache else 'FAIL'}** (a `numpy.memmap`, no decoder call in the passes).",
        "",
    ]
    write_report(args.out, lines)


if __name__ == "__main__":
    main()
