"""The reproduction report: one HTML page (self-contained: figures inlined as base64) and one
Markdown page, built from the run folders that `kexue reproduce` filled.

Layout: a header (command, seed, budget, versions, device, date), a summary table (article,
claims passed/total, headline metric, wall time), then one section per article that ran: title,
date, link, figures, claims, metrics (long tables folded, headline metrics outside the fold), or
the error if it failed. Both pages come from the jinja2 templates in `kexue/templates/`.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import subprocess
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from kexue.articles import get
from kexue.runs import atomic_write_text, claims_summary, judge_claims

__all__ = [
    "collect",
    "write_report",
    "headline",
    "articles_markdown",
    "record_measurements",
    "rejudged",
    "format_number",
    "format_measured",
    "claims_markdown",
    "reported_markdown",
]

FOLD_ROWS = 12  # a metrics table longer than this is folded, headline metrics kept outside


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def format_number(value: Any) -> str:
    """A metric for people: 4 significant figures, scientific outside [1e-3, 1e5), — for None."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


def format_measured(claim: dict[str, Any]) -> str:
    """A judged claim's measured value, with its confidence interval when it has one:
    '0.1234 [0.1100, 0.1350]'."""
    text = format_number(claim["measured"])
    interval = claim.get("interval")
    if interval:
        text += f" [{format_number(interval[0])}, {format_number(interval[1])}]"
    elif "interval" in claim:
        text += " [no interval recorded]"
    return text


def _md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: `|` escaped, line breaks as <br>."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("|", "\\|").replace("\n", "<br>")


def _md_code(value: Any) -> str:
    """An inline code span that survives backticks inside the text."""
    text = str(value)
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def headline(claims: list[dict] | None, metrics: dict | None) -> str:
    """The first claim's metric as measured, else the first metric."""
    if claims:
        c = claims[0]
        return f"{c['metric']} = {format_number(c['measured'])}"
    if metrics:
        key = next(iter(metrics))
        return f"{key} = {format_number(metrics[key])}"
    return ""


def collect(folder: Path, slug: str) -> dict[str, Any]:
    """Everything the report shows about one run folder.

    The error is the failure note `kexue reproduce` left beside the run folders
    (`logs/SLUG.error.txt`), else the run's own `error.txt`.
    """
    folder = Path(folder)
    run = folder / slug
    error = next(
        (p for p in (folder / "logs" / f"{slug}.error.txt", run / "error.txt") if p.is_file()),
        None,
    )
    return {
        "slug": slug,
        "article": get(slug),
        "config": _read_json(run / "config.json"),
        "metrics": _read_json(run / "metrics.json"),
        "claims": _read_json(run / "claims.json"),
        "figures": sorted(run.glob("*.png")),
        "error": error.read_text(errors="replace") if error is not None else None,
    }


def _status(entry: dict[str, Any]) -> tuple[str, str]:
    """(css class, summary text): pass, fail, crashed, none (no claims) or notrun."""
    if entry["error"] is not None:
        return "crashed", "crashed"
    if entry["metrics"] is None:
        return "notrun", "not run"
    claims = entry["claims"] or []
    if not claims:
        return "none", "no claims at this budget"
    ok = all(bool(c["pass"]) for c in claims)
    return ("pass" if ok else "fail"), claims_summary(claims)


def _view(entry: dict[str, Any]) -> dict[str, Any]:
    """What the templates show of one entry, formatted."""
    a = entry["article"]
    status, summary = _status(entry)
    metrics = entry["metrics"] or {}
    claims = entry["claims"] or []
    rows = [(k, format_number(v)) for k, v in metrics.items()]
    head, rest = rows, []
    if len(rows) > FOLD_ROWS:
        # what the claims judge (else the summary's headline metric) and the wall time
        keep = {c["metric"] for c in claims} or {rows[0][0]}
        keep.add("wall_time_s")
        head = [r for r in rows if r[0] in keep]
        rest = [r for r in rows if r[0] not in keep]
    error = entry["error"].strip()[-3000:] if entry["error"] is not None else None
    longest = max((len(m) for m in re.findall(r"`+", error or "")), default=0)
    return {
        "slug": a.slug,
        "title": a.title,
        "date": a.date,
        "url": a.url,
        "module": a.module,
        "status": status,
        "summary": summary,
        "headline": headline(claims, metrics),
        "wall": format_number(metrics.get("wall_time_s")),
        "error": error,
        "fence": "`" * max(3, longest + 1),
        "figures": entry["figures"],
        "claims": [
            {
                "text": c["text"],
                "kind": c.get("kind", "article"),
                "metric": c["metric"],
                "measured": format_measured(c),
                "bar": f"{c['op']} {format_number(c['threshold'])}",
                "passed": bool(c["pass"]),
            }
            for c in claims
        ],
        "metrics_head": head,
        "metrics_rest": rest,
    }


def _git_commit() -> str | None:
    """The short commit of the checkout kexue is imported from, or None (not a checkout)."""
    root = Path(__file__).resolve().parent.parent
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = proc.stdout.split()
    if proc.returncode != 0 or len(lines) != 2:
        return None
    # an installed kexue inside some other repository is not that repository's commit
    return lines[1] if Path(lines[0]).resolve() == root else None


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({os.cpu_count()} cores)"


def _header(
    entries: list[dict[str, Any]], budget: str, command: str | None, seed: int | None
) -> list[tuple[str, str]]:
    import torch

    import kexue

    if seed is None:  # the recipes' default: show the seeds the run folders recorded
        seeds = sorted(
            {
                str(e["config"]["config"]["seed"])
                for e in entries
                if isinstance(e["config"], dict)
                and isinstance(e["config"].get("config"), dict)
                and "seed" in e["config"]["config"]
            }
        )
        seed_text = ", ".join(seeds) + " (recipe default)" if seeds else "recipe default"
    else:
        seed_text = str(seed)
    return [
        ("command", command or "—"),
        ("seed", seed_text),
        ("budget", budget),
        ("kexue", kexue.__version__),
        ("git commit", _git_commit() or "—"),
        ("torch", torch.__version__),
        ("device", _device()),
        ("date", datetime.now().astimezone().isoformat(timespec="seconds")),
    ]


@cache
def _environments() -> tuple[Any, Any]:
    """The jinja2 environments: HTML (autoescaped) and Markdown (cells escaped by filter)."""
    import jinja2

    loader = jinja2.FileSystemLoader(Path(__file__).with_name("templates"))
    common = {
        "loader": loader,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
        "undefined": jinja2.StrictUndefined,
    }
    html_env = jinja2.Environment(autoescape=True, **common)
    html_env.filters["b64"] = lambda path: base64.b64encode(path.read_bytes()).decode("ascii")
    md_env = jinja2.Environment(autoescape=False, **common)  # Markdown: escaped per cell
    md_env.filters["cell"] = _md_cell
    md_env.filters["code"] = _md_code
    return html_env, md_env


def write_report(
    folder: str | Path,
    slugs: list[str],
    budget: str = "quick",
    *,
    command: str | None = None,
    seed: int | None = None,
    partial: bool = False,
) -> tuple[Path, Path]:
    """Write `report.html` and `report.md` into `folder` for the runs of `slugs`.

    Args:
        folder: the folder holding one run folder per slug (and `logs/`).
        slugs: the recipes to report, in order.
        budget: the budget they ran at.
        command: the command that made the runs, shown in the header.
        seed: the seed given on that command line (None: the recipes' default).
        partial: the reproduction was interrupted: say so; recipes with neither metrics nor an
            error are listed as "not run" (they always are).

    Returns:
        The paths of the HTML and the Markdown report.
    """
    folder = Path(folder)
    entries = [collect(folder, slug) for slug in slugs]
    context = {
        "budget": budget,
        "header": _header(entries, budget, command, seed),
        "partial": partial,
        "entries": [_view(e) for e in entries],
    }
    html_env, md_env = _environments()
    html_path, md_path = folder / "report.html", folder / "report.md"
    atomic_write_text(html_path, html_env.get_template("report.html.j2").render(context))
    atomic_write_text(md_path, md_env.get_template("report.md.j2").render(context))
    return html_path, md_path


# ----------------------------------------------------------------------------- docs/articles.md
def _command(slug: str, budget: str, used: dict[str, Any]) -> str:
    """The command that reproduces a run: its budget, seed and every --set it differed by."""
    import importlib
    from dataclasses import asdict

    from kexue.runs import resolve_config

    cmd = f"kexue run {slug} --budget {budget} --seed {used.get('seed', 0)}"
    try:
        recipe = importlib.import_module(get(slug).recipe)
        overrides = {"full": {}, "quick": getattr(recipe, "QUICK", {}), "smoke": recipe.SMOKE}
        defaults = json.loads(json.dumps(asdict(resolve_config(recipe.Config, overrides[budget]))))
    except Exception:  # noqa: BLE001 - a recipe that no longer imports: keep the plain command
        return cmd
    for key, value in used.items():
        if key != "seed" and defaults.get(key) != value:
            text = ",".join(map(str, value)) if isinstance(value, list) else value
            cmd += f" --set {key}={text}"
    return cmd


def record_measurements(measured: dict[str, Any], folder: str | Path) -> list[str]:
    """Merge the finished runs under `folder` (one sub-folder per slug) into `measured`.

    Runs on `--data` are left out: the docs record each recipe's own experiment.

    Each entry keeps the budget, seed, the command that reproduces it, the claims as judged and
    the metrics, so the numbers in the docs always come from a run. Returns the slugs updated.
    """
    updated = []
    for config_path in sorted(Path(folder).glob("*/config.json")):
        run = config_path.parent
        config, metrics = _read_json(config_path), _read_json(run / "metrics.json")
        if not config or metrics is None or (run / "error.txt").exists():
            continue
        if config.get("data") is not None:
            continue  # a run on the user's --data is not the recipe's recorded experiment
        slug, budget = config["slug"], config["budget"]
        seed = config["config"].get("seed", 0)
        previous = measured.get(slug)
        if previous and previous["budget"] == "full" and budget != "full":
            continue  # a full-budget record is never replaced by a smaller budget
        measured[slug] = {
            "budget": budget,
            "seed": seed,
            "command": _command(slug, budget, config["config"]),
            "started": config.get("started"),
            "claims": _read_json(run / "claims.json") or [],
            "metrics": metrics,
        }
        updated.append(slug)
    return updated


def rejudged(slug: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The recipe's current claims judged on a recorded run's metrics.

    A recorded run keeps its metrics; its claims are read again from the recipe, so a claim
    that became a unit test leaves the docs and every claim carries its kind. A claim whose
    metric the recorded run did not measure (or whose interval it did not record) is listed
    with `pass` None (not judged), never as a failure. A recipe that no longer imports keeps
    its claims as recorded.
    """
    import importlib

    try:
        recipe = importlib.import_module(get(slug).recipe)
    except Exception:  # noqa: BLE001 - an unimportable recipe: show what was recorded
        return record["claims"]
    metrics = {k: (math.nan if v is None else v) for k, v in record["metrics"].items()}
    claims = getattr(recipe, "CLAIMS", ())
    judged = judge_claims(claims, metrics, record["budget"])
    for c in judged:
        # a metric the run did not measure, or an interval claim on a run that recorded no
        # interval (made before the claim judged one): not judged, never a failure
        if c["metric"] not in metrics or ("interval" in c and c["interval"] is None):
            c["pass"] = None
    return judged


def reported_markdown(slug: str, record: dict[str, Any]) -> list[str]:
    """The article's reported numbers (the recipe's `REPORTED`) beside the recorded run's, each
    labelled with its setting; no lines when the recipe declares none."""
    import importlib

    reported = getattr(importlib.import_module(get(slug).recipe), "REPORTED", ())
    if not reported:
        return []
    lines = [
        "The article's numbers beside kexue's (different models and data, so context, not a",
        "comparison):",
        "",
        "| quantity | article | article's setting | kexue | kexue's setting |",
        "|---|---|---|---|---|",
    ]
    for r in reported:
        ours = record["metrics"].get(r.metric)
        budget = record["budget"]
        measured = "not measured" if ours is None else f"{format_number(ours)} ({budget})"
        lines.append(
            f"| {_md_cell(r.quantity)} | {format_number(r.value)} | {_md_cell(r.setting)} | "
            f"{measured} | {_md_cell(r.ours)} |"
        )
    return [*lines, ""]


def articles_markdown(measured: dict[str, Any]) -> str:
    """docs/articles.md: the mission table with measured headline numbers, then per-article
    claims (the recipes' current claims, judged on the recorded metrics) and metrics."""
    from kexue.articles import ARTICLES

    judged = {slug: rejudged(slug, m) for slug, m in measured.items()}
    everything = [c for claims in judged.values() for c in claims]
    head = [
        "# The articles and their measured results",
        "",
        "Generated by `kexue docs` from `kexue/measured.json`, which records finished runs",
        "(`kexue docs --runs DIR` merges the run folders under DIR). Each number comes from the",
        "run named beside it; the command reproduces it. The claims are the recipes' current",
        "ones, judged on the recorded metrics: article claims (what the article states) and goals",
        "(aims beyond the article, parity with a peer) are counted apart; identities and",
        "bookkeeping are unit tests, not claims.",
        "",
        f"Passed, over all recorded runs: {claims_summary(everything)}.",
        "",
        "| # | slug | article | date | status | claims passed | headline |",
        "|---|---|---|---|---|---|---|",
    ]
    body: list[str] = []
    for a in ARTICLES:
        m = measured.get(a.slug)
        passed = headline_text = ""
        if m:
            claims = judged[a.slug]
            summary = claims_summary(claims) or "no claims"
            passed = f"{summary} ({m['budget']})"
            headline_text = headline(claims, m["metrics"])
        head.append(
            f"| {a.row} | `{a.slug}` | [{_md_cell(a.title)}]({a.url}) | {a.date} | {a.status} | "
            f"{passed} | {_md_cell(headline_text)} |"
        )
        if not m:
            continue
        body += ["", f"## {a.slug}: {a.title}", "", f"`{m['command']}` ({m['started']})", ""]
        if judged[a.slug]:
            body += ["| claim | kind | measured | bar | pass |", "|---|---|---|---|---|"]
            for c in judged[a.slug]:
                verdict = {True: "PASS", False: "FAIL", None: "not measured"}[c["pass"]]
                body.append(
                    f"| {_md_cell(c['text'])} | {c.get('kind', 'article')} | "
                    f"{_md_cell(format_measured(c))} | "
                    f"{_md_cell(c['op'])} {_md_cell(format_number(c['threshold']))} | {verdict} |"
                )
            body.append("")
        body += reported_markdown(a.slug, m)
        body.append(
            "Metrics: " + ", ".join(f"`{k}` = {format_number(v)}" for k, v in m["metrics"].items())
        )
    return "\n".join(head + body) + "\n"


def claims_markdown(measured: dict[str, Any]) -> str:
    """docs/claims.md: per article, each checkable statement (the recipe's `STATEMENTS`) and
    where it is checked: a claim (with its recorded verdict), a unit test, not testable (why),
    or measured and failing here (why)."""
    import importlib

    from kexue.articles import ARTICLES

    counts: dict[str, int] = {}
    body: list[str] = []
    for a in ARTICLES:
        if not a.ready:
            continue
        recipe = importlib.import_module(a.recipe)
        statements = getattr(recipe, "STATEMENTS", ())
        verdicts: dict[str, list[str]] = {}
        record = measured.get(a.slug)
        if record:
            for c in rejudged(a.slug, record):
                mark = {True: "PASS", False: "FAIL", None: "not measured"}[c["pass"]]
                verdicts.setdefault(c["metric"], []).append(f"{mark} ({format_measured(c)})")
        body += ["", f"## {a.slug}: {a.title}", ""]
        if not statements:
            body.append("No statements listed yet.")
            continue
        body += ["| statement | checked by | where / why | recorded |", "|---|---|---|---|"]
        for s in statements:
            counts[s.status] = counts.get(s.status, 0) + 1
            where = f"`{s.where}`" if s.status in ("claim", "test") else s.where
            seen = "; ".join(verdicts.get(s.where, [])) if s.status == "claim" else ""
            if s.status == "claim" and record and not seen:
                seen = "not judged at " + record["budget"]
            body.append(
                f"| {_md_cell(s.text)} | {s.status} | {_md_cell(where)} | {_md_cell(seen)} |"
            )
    total = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("claim", "test", "untestable", "fails"))
    head = [
        "# The articles' checkable statements and where each is checked",
        "",
        "Generated by `kexue docs` from each recipe's `STATEMENTS` (also listed at the end of",
        "`kexue show SLUG`). A statement is checked by a recipe claim (the verdict is the",
        "recorded run's, from `kexue/measured.json`, judged with the current claims), by a unit",
        "test, is not testable offline or at this scale (why), or was measured and does not",
        "reproduce (why).",
        "",
        f"Statements: {total}.",
    ]
    return "\n".join(head + body) + "\n"
