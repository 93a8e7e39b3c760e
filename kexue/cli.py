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
import re
import shlex
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from kexue import __version__
from kexue.articles import ARTICLES, THEMES, Article, did_you_mean, get
from kexue.errors import InputError

__all__ = [
    "main",
    "execute",
    "UsageError",
    "RunInterrupted",
    "build_parser",
    "table_markdown",
    "recorded",
    "claims_for",
    "data_recipes",
    "summary_lines",
    "cmd_list",
    "cmd_show",
    "cmd_run",
    "cmd_reproduce",
    "cmd_docs",
]


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


PRECISIONS = ("no", "bf16", "fp16")


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
    spec = getattr(recipe, "DATA", None)
    if spec is None:
        print("\nData: built in (this recipe takes no --data)")
    else:
        print(f"\nData (--data PATH): {spec.format}\n  default: {spec.default}")
    from kexue.runs import field_rules

    print("\nConfig (full budget defaults; --set key=value to change):")
    for f in fields(recipe.Config):
        rules = field_rules(f)
        allowed = ""
        if "choices" in rules:
            allowed = f"  (one of {', '.join(map(str, rules['choices']))})"
        elif "min" in rules or "max" in rules:
            lo = (
                "> 0"
                if rules.get("min") == 5e-324
                else f">= {rules['min']}"
                if "min" in rules
                else ""
            )
            hi = f"<= {rules['max']}" if "max" in rules else ""
            allowed = f"  ({', '.join(x for x in (lo, hi) if x)})"
        print(f"  {f.name} = {f.default!r}{allowed}")
    for name in ("QUICK", "SMOKE"):
        print(f"{name.lower()} overrides: {getattr(recipe, name, {})}")
    print("\nClaims:")
    for c in getattr(recipe, "CLAIMS", ()):
        how = " (on its confidence bound)" if c.interval else ""
        kind = "goal: " if c.kind == "goal" else ""
        print(f"  [{'/'.join(c.budgets)}] {c.metric} {c.op} {c.threshold}{how}: {kind}{c.text}")
    reported = getattr(recipe, "REPORTED", ())
    if reported:
        print("\nThe article reports (context beside kexue's metric, not a claim):")
        for r in reported:
            print(f"  {r.quantity}: {r.value} ({r.setting}) — beside {r.metric} ({r.ours})")
    record = recorded().get(a.slug)
    if record:
        print(
            f"\nRecorded run ({record['budget']} budget, {record['started']}): {record['command']}"
        )
        result = {"metrics": record["metrics"], "claims": record["claims"], "out": "."}
        for line in summary_lines(recipe, result, record["budget"])[:-1]:
            print(f"  {line}")
    return 0


def recorded() -> dict[str, Any]:
    """The recorded runs (`kexue/measured.json`, shipped with the package; `kexue docs --runs`
    adds to it)."""
    from importlib.resources import files

    return json.loads(files("kexue").joinpath("measured.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- run
def _budget_overrides(recipe: ModuleType, budget: str) -> dict[str, Any]:
    if budget == "article":
        if getattr(recipe, "ARTICLE", None) is None:
            with_article = [a.slug for a in ARTICLES if a.ready
                            and getattr(_recipe(a), "ARTICLE", None) is not None]  # fmt: skip
            raise UsageError(
                f"{recipe.__name__.rsplit('.', 1)[-1].replace('_', '-')} has no article budget "
                f"(the article's scale); recipes with one: {', '.join(with_article) or 'none'}"
            )
        return recipe.ARTICLE
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


class RunInterrupted(Exception):
    """Ctrl-C during a run: the folder keeps its last checkpoint and resumes from it."""

    def __init__(self, step: int | None, checkpoint: int | None) -> None:
        at = "before the first step" if step is None else f"at step {step}"
        kept = (
            "no checkpoint had been written yet"
            if checkpoint is None
            else f"the last checkpoint is at step {checkpoint}"
        )
        super().__init__(f"interrupted {at}; {kept}; run the same command to resume")


def data_recipes() -> list[str]:
    """The slugs whose recipe takes `--data` (declares a module-level `DATA`)."""
    slugs = []
    for a in ARTICLES:
        if not a.ready:
            continue
        try:
            recipe = importlib.import_module(a.recipe)
        except ImportError:
            continue
        if getattr(recipe, "DATA", None) is not None:
            slugs.append(a.slug)
    return slugs


def _data_sets(
    article: Article, recipe: ModuleType, data: str | None, sets: list[str]
) -> list[str]:
    """Check `--data` (exists, and the recipe takes data) and turn it into a `--set`."""
    spec = getattr(recipe, "DATA", None)
    if spec is not None and any(item.split("=", 1)[0].strip() == spec.field for item in sets):
        raise UsageError(f"pass {article.slug}'s data with --data PATH, not --set {spec.field}=")
    if data is None:
        return sets
    if spec is None:
        raise UsageError(
            f"{article.slug!r} takes no --data (it trains on built-in data); "
            f"recipes that take --data: {', '.join(data_recipes())}"
        )
    path = Path(data).expanduser()
    if not path.exists():
        raise UsageError(
            f"--data {data}: no such file or folder ({article.slug} reads {spec.format})"
        )
    return [*sets, f"{spec.field}={path.resolve()}"]


def claims_for(
    recipe: ModuleType, data: str | None, config: Mapping[str, Any] | None = None
) -> tuple[tuple[Any, ...], str]:
    """The claims a run is judged by, and what a missing metric means.

    On the user's data (`--data`), a recipe that measures other things there declares
    `DATA_CLAIMS`; a metric the user's data cannot give (class coverage on a folder without
    class subfolders) is then "not measured", not a failure. Otherwise `CLAIMS`. With the run's
    `config`, claims about other Config values (`Claim.when`: another model arm) are left out.
    """
    if data is not None and getattr(recipe, "DATA_CLAIMS", None) is not None:
        claims, missing = tuple(recipe.DATA_CLAIMS), "unmeasured"
    else:
        claims, missing = tuple(getattr(recipe, "CLAIMS", ())), "fail"
    if config is not None:
        claims = tuple(c for c in claims if c.applies(config))
    return claims, missing


# Metrics that time the run: a re-evaluation keeps the original ones (it trained nothing).
_TIMING = re.compile(
    r"(^|_)(ms|seconds|sec|speedup|time|latency)(_|$)|(?<!log)_s(_|$)|_(step|cost)_ratio$"
)


def _identity(config: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same run: slug, budget, Config, data, kexue version, processes."""
    return {
        "slug": config.get("slug"),
        "budget": config.get("budget"),
        "config": json.loads(json.dumps(config.get("config"))),
        "data": (config.get("data_fingerprint") or {}).get("listing_sha256"),
        "kexue": (config.get("versions") or {}).get("kexue"),
        "world_size": config.get("world_size", 1),
    }


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    if old["slug"] != new["slug"]:
        return [f"slug {old['slug']} → {new['slug']}"]  # the Config fields differ wholesale
    diffs = []
    for key in ("budget", "kexue", "world_size"):
        if old[key] != new[key]:
            diffs.append(f"{key} {old[key]} → {new[key]}")
    old_cfg, new_cfg = old["config"] or {}, new["config"] or {}
    for key in dict.fromkeys([*old_cfg, *new_cfg]):
        if old_cfg.get(key, "—") != new_cfg.get(key, "—"):
            diffs.append(f"{key} {old_cfg.get(key, '—')} → {new_cfg.get(key, '—')}")
    if old["data"] != new["data"]:
        diffs.append("data (another file listing)")
    if len(diffs) > 8:
        diffs = [*diffs[:8], f"and {len(diffs) - 8} more"]
    return diffs


def _folder_state(out: Path, config: dict[str, Any]) -> tuple[str, list[str]]:
    """Read-only look at `out`: ("new" | "resume" | "complete" | "other" | "foreign", reasons).

    "other" is another kexue run (--overwrite may replace it); "foreign" is a folder that holds
    no kexue run, which kexue never deletes.

    Raises:
        UsageError: `out` is a file, or cannot be read.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file, not a folder")
    if not out.exists():
        return "new", []
    entries = {p.name for p in out.iterdir()}
    if not entries:
        return "new", []
    saved = out / "config.json"
    if not saved.exists():
        return "foreign", [f"{out} is not empty and holds no kexue run (no config.json)"]
    try:
        old = json.loads(saved.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return "foreign", [f"{saved} cannot be read ({err})"]
    if not isinstance(old, dict) or "slug" not in old:
        return "foreign", [f"{saved} is not a kexue run's config (no slug)"]
    diffs = _differences(_identity(old), _identity(config))
    if diffs:
        return "other", diffs
    done = {"metrics.json", "claims.json"} <= entries and "error.txt" not in entries
    return ("complete" if done else "resume"), []


def _make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out {out}: cannot create the folder ({err.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: the folder is not writable")


def _set_aside(out: Path) -> None:
    """Remove a run folder for --overwrite: one atomic rename, then delete the renamed copy."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    aside = out.with_name(f".{out.name}.replaced-{stamp}")
    os.replace(out, aside)
    shutil.rmtree(aside, ignore_errors=True)


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
    overwrite: bool = False,
    re_evaluate: bool = False,
    progress: bool | None = False,
    say: Any = None,
    mixed_precision: str | None = None,
) -> dict[str, Any]:
    """Run the recipe of `slug` into a run folder; return {"metrics", "claims", "out", "status"}.

    A folder that holds the same run (slug, budget, seed, Config, data, kexue version) is resumed
    from its checkpoint, or left alone when complete (status "complete"; `re_evaluate` runs the
    evaluation again and keeps the original timings). A folder holding another run is refused
    unless `overwrite`, which removes it first. Nothing is written before these checks.

    `mixed_precision` ("no", "bf16", "fp16") turns on accelerate's autocast for every model
    the recipe prepares (None: as `accelerate launch --mixed_precision` set it, else none).

    Raises:
        UsageError: unknown slug, key or value; bad --data, --out, --threads; another run;
            fp16 without a GPU.
        NonFiniteLossError: the loss diverged (the last good checkpoint is kept).
        RunInterrupted: Ctrl-C; the folder resumes from its last checkpoint.
    """
    article = _article(slug)
    recipe = _recipe(article)
    if threads is not None and threads < 1:
        raise UsageError(f"--threads {threads}: must be at least 1")
    if checkpoint_every < 1:
        raise UsageError(f"--checkpoint-every {checkpoint_every}: must be at least 1")
    if mixed_precision is not None:
        if mixed_precision not in PRECISIONS:
            allowed = ", ".join(PRECISIONS)
            raise UsageError(f"--mixed-precision {mixed_precision}: one of {allowed}")
        import torch

        if mixed_precision == "fp16" and not torch.cuda.is_available():
            raise UsageError("--mixed-precision fp16 needs a GPU; on a CPU use bf16 or no")
        previous = os.environ.get("ACCELERATE_MIXED_PRECISION")
        os.environ["ACCELERATE_MIXED_PRECISION"] = mixed_precision
        try:
            return execute(slug, budget=budget, out=out, seed=seed, sets=sets, data=data,
                           threads=threads, checkpoint_every=checkpoint_every,
                           overwrite=overwrite, re_evaluate=re_evaluate, progress=progress,
                           say=say)  # fmt: skip
        finally:
            if previous is None:
                os.environ.pop("ACCELERATE_MIXED_PRECISION", None)
            else:
                os.environ["ACCELERATE_MIXED_PRECISION"] = previous
    sets = _data_sets(article, recipe, data, list(sets))
    extra = {} if seed is None else {"seed": seed}

    import torch
    from accelerate import PartialState

    from kexue.runs import RunDir, config_dict, data_fingerprint, judge_claims, resolve_config

    try:
        cfg = resolve_config(recipe.Config, _budget_overrides(recipe, budget), sets, **extra)
    except ValueError as err:
        raise UsageError(str(err)) from None
    spec = getattr(recipe, "DATA", None)
    data_path = getattr(cfg, spec.field) if spec is not None else None
    out = Path(out) if out is not None else Path("runs") / article.slug
    config = {
        "slug": article.slug,
        "title": article.title,
        "budget": budget,
        "config": config_dict(cfg),
        "data": data_path,
        "data_fingerprint": data_fingerprint(data_path) if data_path else None,
        "versions": _versions(),
    }
    state = PartialState(cpu=not torch.cuda.is_available())
    config["world_size"] = state.num_processes  # each process draws its own batches
    config["mixed_precision"] = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    status, diffs = _folder_state(out, config)
    if status == "foreign":
        raise UsageError(
            f"--out {out}: {diffs[0]}; kexue writes runs only into new, empty or run folders "
            f"and never deletes other files (--overwrite included)"
        )
    if status == "other" and not overwrite:
        raise UsageError(
            f"--out {out} holds another run ({'; '.join(diffs)}); choose another --out, or "
            f"pass --overwrite to remove it and start afresh"
        )
    if threads is not None:
        torch.set_num_threads(threads)
    if overwrite and status != "new":
        if state.is_main_process:
            _set_aside(out)
        status = "new"
    state.wait_for_everyone()
    fresh = status == "new"  # a folder this command starts (nothing of an earlier run in it)
    if state.is_main_process:
        _make_folder(out)
    if status == "complete" and not re_evaluate:
        if say is not None and state.is_main_process:
            say(f"{out}: already complete; nothing to do (--re-evaluate to evaluate again)")
        return {
            "metrics": json.loads((out / "metrics.json").read_text(encoding="utf-8")),
            "claims": json.loads((out / "claims.json").read_text(encoding="utf-8")),
            "out": str(out),
            "status": "complete",
            "data": data_path,
            "config": config["config"],
        }
    run = RunDir(
        out,
        is_main=state.is_main_process,
        budget=budget,
        data=data_path,
        checkpoint_every=checkpoint_every,
        progress=progress,
        say=say,
    )
    previous = None
    if status == "new":
        config.update(
            distributed_type=getattr(state.distributed_type, "value", str(state.distributed_type)),
            backend=state.backend,
            started=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        run.write_json("config.json", config)
    elif status == "complete":
        previous = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    (run.path / "error.txt").unlink(missing_ok=True) if run.is_main else None
    start = time.perf_counter()
    try:
        metrics = recipe.run(cfg, run)
    except KeyboardInterrupt:
        run.write_history()
        raise RunInterrupted(run.last_step, run.checkpoint_step) from None
    except BaseException as err:
        run.write_text("error.txt", traceback.format_exc())
        run.write_history()
        users = isinstance(err, InputError) or (
            isinstance(err, FileNotFoundError) and data_path is not None
        )
        if users:
            # The user's data or files (--data, a checkpoint folder), not our code. A run that
            # never reached a checkpoint leaves no folder behind, so the same command works once
            # the input is mended.
            if fresh and run.is_main and not (run.path / "checkpoint.safetensors").exists():
                for name in ("config.json", "error.txt", "history.csv"):
                    (run.path / name).unlink(missing_ok=True)
                if not any(run.path.iterdir()):
                    run.path.rmdir()
            raise UsageError(str(err)) from None
        raise
    metrics = {k: float(v) for k, v in metrics.items()}
    metrics["wall_time_s"] = round(time.perf_counter() - start, 3)
    if previous is not None:  # a re-evaluation trains nothing: its timings are not the run's
        metrics.update({k: v for k, v in previous.items() if _TIMING.search(k) and v is not None})
    declared, missing = claims_for(recipe, data_path, config["config"])
    claims = judge_claims(declared, metrics, budget, missing=missing)
    # Strict JSON has no NaN/inf: a non-finite metric is written as null.
    run.write_json(
        "metrics.json", {k: v if math.isfinite(v) else None for k, v in metrics.items()}
    )
    run.write_json("claims.json", claims)
    run.write_history()
    state.wait_for_everyone()
    return {"metrics": metrics, "claims": claims, "out": str(run.path), "status": "ran",
            "data": data_path, "config": config["config"]}  # fmt: skip


def summary_lines(recipe: ModuleType, result: dict[str, Any], budget: str) -> list[str]:
    """The end of a run: the claims judged, those not judged at this budget, headline metrics."""
    from kexue.report import format_measured, format_number

    metrics = result["metrics"]
    declared, _ = claims_for(recipe, result.get("data"), result.get("config"))
    lines = [f"claims ({budget} budget):"] if declared else []
    for c in result["claims"]:
        mark = {True: "PASS", False: "FAIL", None: "----"}[c["pass"]]
        bar = f"{c['op']} {format_number(c['threshold'])}"
        kind = "goal: " if c.get("kind") == "goal" else ""
        note = " (not measured on this data)" if c["pass"] is None else ""
        lines.append(
            f"  {mark}  {c['metric']} = {format_measured(c)} ({bar}){note}: {kind}{c['text']}"
        )
    for c in declared:
        if budget not in c.budgets:
            judged = "/".join(c.budgets)
            value = format_number(metrics.get(c.metric))
            lines.append(
                f"  ----  {c.metric} = {value} (not judged at {budget}; at {judged}): {c.text}"
            )
    keys = [k for k in metrics if k != "wall_time_s"][:5] if not result["claims"] else []
    keys.append("wall_time_s")
    lines.append("metrics: " + ", ".join(f"{k} = {format_number(metrics.get(k))}" for k in keys))
    lines.append(f"({len(metrics)} metrics in {Path(result['out']) / 'metrics.json'})")
    return lines


def cmd_run(args: argparse.Namespace) -> int:
    from kexue.runs import NonFiniteLossError

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

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
            overwrite=args.overwrite,
            re_evaluate=args.re_evaluate,
            progress=None if not args.quiet else False,
            say=None if args.quiet else say,
            mixed_precision=args.mixed_precision,
        )
    except NonFiniteLossError as err:
        print(f"kexue run {args.slug}: {err}", file=sys.stderr)
        return 1
    except RunInterrupted as err:
        print(f"kexue run {args.slug}: {err}", file=sys.stderr)
        return 130
    import torch
    from accelerate import PartialState

    if not PartialState(cpu=not torch.cuda.is_available()).is_main_process:
        return 0
    recipe = _recipe(_article(args.slug))
    for line in summary_lines(recipe, result, args.budget):
        print(line)
    print(f"run folder: {result['out']}")
    failed = [c for c in result["claims"] if c["pass"] is False]
    return 1 if (args.strict and failed) else 0


# ----------------------------------------------------------------------------- reproduce
def _select(only: list[str] | None) -> list[Article]:
    if not only:
        return [a for a in ARTICLES if a.ready]
    chosen: list[Article] = []
    for name in only:
        if name in THEMES:
            chosen += [a for a in ARTICLES if a.theme == name and a.ready]
            continue
        if name not in {a.slug for a in ARTICLES}:
            hint = did_you_mean(name, [*THEMES, *(a.slug for a in ARTICLES)])
            raise UsageError(
                f"--only {name}: not a theme or a slug{hint}; themes: {', '.join(THEMES)}; "
                f"slugs: see `kexue list`"
            )
        a = _article(name)
        if not a.ready:
            _recipe(a)  # raises the 'planned' UsageError
        chosen.append(a)
    return list(dict.fromkeys(chosen))


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Each recipe in its own process; a report at the end, or of what finished on Ctrl-C.

    Exit status with --strict: 3 when a recipe crashed (or timed out), else 1 when a claim
    failed, else 0. Without --strict: 0 unless interrupted (130).
    """
    from tqdm import tqdm

    from kexue.report import write_report
    from kexue.runs import atomic_write_text

    articles = _select(args.only)
    out = Path(args.out)
    logs = out / "logs"
    _make_folder(logs)
    command = "kexue " + " ".join(map(shlex.quote, args.argv))
    crashed: list[str] = []
    failed: list[str] = []
    finished: list[str] = []
    bar = tqdm(
        articles,
        desc=f"reproduce ({args.budget})",
        unit="recipe",
        disable=True if args.quiet else None,
    )
    try:
        for a in bar:
            bar.set_postfix_str(a.slug)
            folder = out / a.slug
            # Logs and failure notes live beside the run folders, never in them: a finished or
            # foreign run folder must not change.
            log_path, failure = logs / f"{a.slug}.log", logs / f"{a.slug}.error.txt"
            failure.unlink(missing_ok=True)
            cmd = [sys.executable, "-m", "kexue", "run", a.slug, "--budget", args.budget]
            cmd += ["--out", str(folder), "--quiet"]
            if args.seed is not None:
                cmd += ["--seed", str(args.seed)]
            if args.threads is not None:
                cmd += ["--threads", str(args.threads)]
            if args.overwrite:
                cmd += ["--overwrite"]
            # A subprocess per recipe: a crash, a hang or a leak in one cannot take the others
            # down.
            with open(log_path, "wb") as log:
                try:
                    proc = subprocess.run(
                        cmd, stdout=log, stderr=subprocess.STDOUT, timeout=args.timeout
                    )
                    code: int | str = proc.returncode
                except subprocess.TimeoutExpired:
                    code = "timeout"
            if code == 130:
                raise KeyboardInterrupt
            finished.append(a.slug)
            if code != 0:
                tail = log_path.read_text(errors="replace")[-4000:]
                atomic_write_text(failure, f"exit status {code}\n{tail}")
            claims_file = folder / "claims.json"
            if code != 0 or not claims_file.exists():
                crashed.append(a.slug)
            elif not all(c["pass"] for c in json.loads(claims_file.read_text(encoding="utf-8"))):
                failed.append(a.slug)
            if bar.disable and not args.quiet:  # no terminal (a log): one line per recipe
                outcome = "ok"
                if a.slug in failed:
                    outcome = "a claim failed"
                if a.slug in crashed:
                    outcome = "crashed"
                print(f"[{len(finished)}/{len(articles)}] {a.slug}: {outcome}", file=sys.stderr)
    except KeyboardInterrupt:
        bar.close()
        html, md = write_report(
            out, [a.slug for a in articles], budget=args.budget, command=command,
            seed=args.seed, partial=True,
        )  # fmt: skip
        print(
            f"interrupted after {len(finished)} of {len(articles)} recipes; partial report: "
            f"{html}\nrun the same command to resume",
            file=sys.stderr,
        )
        return 130
    html, md = write_report(
        out, [a.slug for a in articles], budget=args.budget, command=command, seed=args.seed
    )
    print(f"report: {html}\n        {md}")
    if crashed:
        print(f"crashed: {', '.join(crashed)}", file=sys.stderr)
    if failed:
        print(f"a claim failed: {', '.join(failed)}", file=sys.stderr)
    if args.strict:
        return 3 if crashed else 1 if failed else 0
    return 0


# ----------------------------------------------------------------------------- docs
def cmd_docs(args: argparse.Namespace) -> int:
    """Regenerate README's article table and docs/articles.md (merging run folders first)."""
    from kexue.report import articles_markdown, claims_markdown, record_measurements
    from kexue.runs import atomic_write_json, atomic_write_text

    root = Path(args.root)
    project = root / "pyproject.toml"
    if not (project.is_file() and 'name = "kexue"' in project.read_text(encoding="utf-8")):
        raise UsageError(
            f"{root.resolve()} is not a kexue checkout (no pyproject.toml naming kexue); "
            f"run `kexue docs` in the checkout, or pass --root"
        )
    measured_path = root / "kexue" / "measured.json"
    measured = json.loads(measured_path.read_text()) if measured_path.exists() else {}
    for folder in args.runs or ():
        updated = record_measurements(measured, folder)
        print(f"{folder}: recorded {', '.join(updated) or 'nothing'}")
    atomic_write_json(measured_path, dict(sorted(measured.items())))
    atomic_write_text(root / "docs" / "articles.md", articles_markdown(measured))
    atomic_write_text(root / "docs" / "claims.md", claims_markdown(measured))
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
    print(f"wrote {readme}, {root / 'docs' / 'articles.md'}, docs/claims.md, {measured_path}")
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
    p.add_argument(
        "--budget",
        choices=("smoke", "quick", "full", "article"),
        default="full",
        help="smoke (seconds), quick (about 30 s), full (at most 10 min on 2 CPU cores), "
        "article (the article's architecture and hyperparameters at its scale: a GPU and --data)",
    )
    p.add_argument("--out", help="run folder (default runs/SLUG); an existing one is resumed")
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--set",
        action="extend",
        nargs="+",
        metavar="KEY=VALUE",
        help="override Config fields (--set a=1 b=2, or --set a=1 --set b=2)",
    )
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
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="remove a folder that holds another run (other slug, budget, seed, --set, data or "
        "kexue version) and start afresh",
    )
    p.add_argument(
        "--re-evaluate",
        action="store_true",
        help="evaluate a complete run again from its final checkpoint (timings are kept)",
    )
    p.add_argument(
        "--mixed-precision",
        choices=PRECISIONS,
        help="autocast every model the recipe trains (accelerate's mixed precision; bf16 runs on "
        "CPUs too, fp16 needs a GPU; default: as `accelerate launch` set it, else no)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or notes on stderr")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("reproduce", help="run many recipes and write a report")
    p.add_argument("--budget", choices=("smoke", "quick", "full"), default="quick")
    p.add_argument("--only", nargs="+", metavar="SLUG|THEME")
    p.add_argument("--out", default="runs/reproduce")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, default=1, help="torch threads per recipe (default 1)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per recipe")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a claim failed, 3 when a recipe crashed (for CI gates)",
    )
    p.add_argument("--overwrite", action="store_true", help="passed on to each `kexue run`")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("docs", help="regenerate README's table and docs/articles.md")
    p.add_argument("--runs", nargs="+", metavar="DIR", help="run folders to record first")
    p.add_argument("--root", default=".", help="the checkout (default: here)")
    p.set_defaults(func=cmd_docs)

    from kexue.tools import add_tool_parsers

    add_tool_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except (UsageError, InputError) as err:
        print(f"kexue: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kexue: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `kexue list | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
