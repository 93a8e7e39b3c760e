"""The `kexue` command: list | show SLUG | run SLUG | reproduce | docs.

Exit status: 0 when the command ran (whatever the claims), 1 when a run failed (or, with
`--strict`, when a claim failed), 2 for bad usage (unknown slug, key or value), with a one-line
message naming the valid choices.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from kexue import __version__
from kexue.articles import ARTICLES, THEMES, Article, get

__all__ = ["main", "execute"]


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def _article(slug: str) -> Article:
    try:
        return get(slug)
    except KeyError as err:
        raise UsageError(err.args[0]) from None


def _recipe(article: Article) -> ModuleType:
    if not article.ready:
        ready = ", ".join(a.slug for a in ARTICLES if a.ready)
        raise UsageError(f"{article.slug!r} is planned but not built yet; ready: {ready}")
    try:
        return importlib.import_module(article.recipe)
    except ModuleNotFoundError as err:
        if err.name and not err.name.startswith("kexue"):
            extra = "nlp" if err.name == "transformers" else "bench"
            raise UsageError(
                f"{article.slug!r} needs the {err.name!r} package: pip install 'kexue[{extra}]'"
            ) from None
        raise


# ----------------------------------------------------------------------------- list / show
def table_markdown(metrics_by_slug: dict[str, str] | None = None) -> str:
    """The mission table as Markdown (README and docs/articles.md are generated from it)."""
    head = "| # | slug | theme | article | date | module | status |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    if metrics_by_slug is not None:
        lines = [head[:-1] + " measured (full budget) |", "|---|---|---|---|---|---|---|---|"]
    for a in ARTICLES:
        row = (
            f"| {a.row} | `{a.slug}` | {a.theme} | [{a.title}]({a.url}) | {a.date} | "
            f"`{a.module}` | {a.status} |"
        )
        if metrics_by_slug is not None:
            row += f" {metrics_by_slug.get(a.slug, '')} |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def cmd_list(args: argparse.Namespace) -> int:
    if args.markdown:
        print(table_markdown(), end="")
        return 0
    for a in ARTICLES:
        print(f"{a.row:>2}  {a.slug:<23} {a.theme:<7} {a.date}  {a.status:<8} {a.title}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    a = _article(args.slug)
    print(f"{a.title}  ({a.date})  {a.url}")
    print(f"row {a.row}, theme {a.theme}: {a.what}")
    print(f"module: {a.module}   recipe: {a.recipe}   status: {a.status}")
    if not a.ready:
        return 0
    recipe = importlib.import_module(a.recipe)
    print()
    print(inspect.getdoc(recipe) or "")
    print("\nConfig (full budget defaults; --set key=value to change):")
    for f in fields(recipe.Config):
        print(f"  {f.name} = {f.default!r}")
    for name in ("QUICK", "SMOKE"):
        print(f"{name.lower()} overrides: {getattr(recipe, name, {})}")
    print("\nClaims:")
    for c in getattr(recipe, "CLAIMS", ()):
        print(f"  [{'/'.join(c.budgets)}] {c.metric} {c.op} {c.threshold}: {c.text}")
    return 0


# ----------------------------------------------------------------------------- run
def _budget_overrides(recipe: ModuleType, budget: str) -> dict[str, Any]:
    return {"full": {}, "quick": getattr(recipe, "QUICK", {}), "smoke": recipe.SMOKE}[budget]


def _versions() -> dict[str, str]:
    import numpy
    import torch

    return {
        "kexue": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


def execute(
    slug: str,
    *,
    budget: str = "full",
    out: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    sets: list[str] | tuple[str, ...] = (),
    data: str | None = None,
    threads: int | None = None,
    checkpoint_every: int = 500,
) -> dict[str, Any]:
    """Run the recipe of `slug` into a run folder; return {"metrics", "claims", "out"}.

    Raises:
        UsageError: unknown slug, unknown key or badly typed value.
        NonFiniteLossError: the loss diverged (the last good checkpoint is kept).
    """
    import torch
    from accelerate import PartialState

    from kexue.runs import RunDir, config_dict, judge_claims, resolve_config

    article = _article(slug)
    recipe = _recipe(article)
    extra = {} if seed is None else {"seed": seed}
    try:
        cfg = resolve_config(recipe.Config, _budget_overrides(recipe, budget), sets, **extra)
    except ValueError as err:
        raise UsageError(str(err)) from None
    out = Path(out) if out is not None else Path("runs") / article.slug
    state = PartialState(cpu=not torch.cuda.is_available())
    if threads is not None:
        torch.set_num_threads(threads)
    run = RunDir(
        out,
        is_main=state.is_main_process,
        budget=budget,
        data=data,
        checkpoint_every=checkpoint_every,
    )
    run.write_json(
        "config.json",
        {
            "slug": article.slug,
            "title": article.title,
            "budget": budget,
            "config": config_dict(cfg),
            "world_size": state.num_processes,
            "distributed_type": getattr(
                state.distributed_type, "value", str(state.distributed_type)
            ),
            "backend": state.backend,
            "data": data,
            "versions": _versions(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    (run.path / "error.txt").unlink(missing_ok=True) if run.is_main else None
    start = time.perf_counter()
    try:
        metrics = recipe.run(cfg, run)
    except BaseException:
        run.write_text("error.txt", traceback.format_exc())
        run.write_history()
        raise
    metrics = {k: float(v) for k, v in metrics.items()}
    metrics["wall_time_s"] = round(time.perf_counter() - start, 3)
    claims = judge_claims(getattr(recipe, "CLAIMS", ()), metrics, budget)
    # Strict JSON has no NaN/inf: a non-finite metric is written as null.
    run.write_json(
        "metrics.json", {k: v if math.isfinite(v) else None for k, v in metrics.items()}
    )
    run.write_json("claims.json", claims)
    run.write_history()
    state.wait_for_everyone()
    return {"metrics": metrics, "claims": claims, "out": str(run.path)}


def cmd_run(args: argparse.Namespace) -> int:
    from kexue.runs import NonFiniteLossError

    try:
        result = execute(
            args.slug,
            budget=args.budget,
            out=args.out,
            seed=args.seed,
            sets=args.set or (),
            data=args.data,
            threads=args.threads,
            checkpoint_every=args.checkpoint_every,
        )
    except NonFiniteLossError as err:
        print(f"kexue run {args.slug}: {err}", file=sys.stderr)
        return 1
    import torch
    from accelerate import PartialState

    if not PartialState(cpu=not torch.cuda.is_available()).is_main_process:
        return 0
    print(json.dumps(result["metrics"], indent=2))
    failed = [c for c in result["claims"] if not c["pass"]]
    for c in result["claims"]:
        mark = "PASS" if c["pass"] else "FAIL"
        print(f"[{mark}] {c['metric']} = {c['measured']} {c['op']} {c['threshold']}: {c['text']}")
    print(f"run folder: {result['out']}")
    return 1 if (args.strict and failed) else 0


# ----------------------------------------------------------------------------- reproduce
def _select(only: list[str] | None) -> list[Article]:
    if not only:
        return [a for a in ARTICLES if a.ready]
    chosen: list[Article] = []
    for name in only:
        if name in THEMES:
            chosen += [a for a in ARTICLES if a.theme == name and a.ready]
        else:
            a = _article(name)
            if not a.ready:
                _recipe(a)  # raises the 'planned' UsageError
            chosen.append(a)
    return list(dict.fromkeys(chosen))


def cmd_reproduce(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from kexue.report import write_report

    articles = _select(args.only)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(articles, desc=f"reproduce ({args.budget})", unit="recipe")
    for a in bar:
        bar.set_postfix_str(a.slug)
        folder = out / a.slug
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "kexue", "run", a.slug, "--budget", args.budget]
        cmd += ["--out", str(folder)]
        if args.seed is not None:
            cmd += ["--seed", str(args.seed)]
        if args.threads is not None:
            cmd += ["--threads", str(args.threads)]
        # A subprocess per recipe: a crash, a hang or a leak in one cannot take the others down.
        with open(folder / "log.txt", "wb") as log:
            try:
                proc = subprocess.run(
                    cmd, stdout=log, stderr=subprocess.STDOUT, timeout=args.timeout
                )
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
        if code != 0 and not (folder / "error.txt").exists():
            tail = (folder / "log.txt").read_text(errors="replace")[-4000:]
            (folder / "error.txt").write_text(f"exit status {code}\n{tail}")
    html, md = write_report(out, [a.slug for a in articles], budget=args.budget)
    print(f"report: {html}\n        {md}")
    return 0


# ----------------------------------------------------------------------------- docs
def cmd_docs(args: argparse.Namespace) -> int:
    """Regenerate README's article table and docs/articles.md (merging run folders first)."""
    from kexue.report import articles_markdown, record_measurements
    from kexue.runs import atomic_write_json, atomic_write_text

    root = Path(args.root)
    measured_path = root / "docs" / "measured.json"
    measured = json.loads(measured_path.read_text()) if measured_path.exists() else {}
    for folder in args.runs or ():
        updated = record_measurements(measured, folder)
        print(f"{folder}: recorded {', '.join(updated) or 'nothing'}")
    atomic_write_json(measured_path, dict(sorted(measured.items())))
    atomic_write_text(root / "docs" / "articles.md", articles_markdown(measured))
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    marker = "| # | slug | theme |"
    if marker not in text:
        raise UsageError(f"{readme} has no article table to replace (a line starting {marker!r})")
    start = text.index(marker)
    lines = text[start:].split("\n")
    end = start + len(
        "\n".join(lines[: next(i for i, ln in enumerate(lines) if not ln.startswith("|"))])
    )
    atomic_write_text(readme, text[:start] + table_markdown().rstrip("\n") + text[end:])
    print(f"wrote {readme}, {root / 'docs' / 'articles.md'}, {measured_path}")
    return 0


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kexue", description="The Scientific Spaces (kexue.fm) articles, runnable."
    )
    parser.add_argument("--version", action="version", version=f"kexue {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="the article table")
    p.add_argument("--markdown", action="store_true", help="print it as a Markdown table")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="an article's recipe: docstring, config, claims")
    p.add_argument("slug")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("run", help="run one recipe into a run folder")
    p.add_argument("slug")
    p.add_argument("--budget", choices=("smoke", "quick", "full"), default="full")
    p.add_argument("--out", help="run folder (default runs/SLUG); an existing one is resumed")
    p.add_argument("--seed", type=int)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a Config field")
    p.add_argument("--data", help="path to the data set, where the recipe takes one")
    p.add_argument("--strict", action="store_true", help="exit 1 when a claim fails")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads per process (default 1: the recipes' models are small, and "
        "one thread per process is fastest on a few cores; raise it for larger models)",
    )
    p.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("reproduce", help="run many recipes and write a report")
    p.add_argument("--budget", choices=("smoke", "quick", "full"), default="quick")
    p.add_argument("--only", nargs="+", metavar="SLUG|THEME")
    p.add_argument("--out", default="runs/reproduce")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, default=1, help="torch threads per recipe (default 1)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per recipe")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("docs", help="regenerate README's table and docs/articles.md")
    p.add_argument("--runs", nargs="+", metavar="DIR", help="run folders to record first")
    p.add_argument("--root", default=".", help="the checkout (default: here)")
    p.set_defaults(func=cmd_docs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as err:
        print(f"kexue: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `kexue list | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
