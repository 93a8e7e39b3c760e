"""The reproduction report: one HTML page (self-contained: figures inlined as base64) and one
Markdown page, built from the run folders that `kexue reproduce` filled.

Layout: a summary table (article, claims passed/total, headline metric, wall time), then one
section per article: title, date, link, figures, metrics, claims, or the error if it failed.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

from kexue.articles import get
from kexue.runs import atomic_write_text

__all__ = ["collect", "write_report", "headline"]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


def headline(claims: list[dict] | None, metrics: dict | None) -> str:
    """The first claim's metric as measured, else the first metric."""
    if claims:
        c = claims[0]
        return f"{c['metric']} = {_fmt(c['measured'])}"
    if metrics:
        key = next(iter(metrics))
        return f"{key} = {_fmt(metrics[key])}"
    return ""


def collect(folder: Path, slug: str) -> dict[str, Any]:
    """Everything the report shows about one run folder."""
    run = folder / slug
    error = run / "error.txt"
    return {
        "slug": slug,
        "article": get(slug),
        "config": _read_json(run / "config.json"),
        "metrics": _read_json(run / "metrics.json"),
        "claims": _read_json(run / "claims.json"),
        "figures": sorted(run.glob("*.png")),
        "error": error.read_text(errors="replace") if error.exists() else None,
    }


def _claims_summary(entry: dict[str, Any]) -> str:
    if entry["error"] is not None or entry["metrics"] is None:
        return "failed"
    claims = entry["claims"] or []
    if not claims:
        return "no claims at this budget"
    return f"{sum(c['pass'] for c in claims)}/{len(claims)}"


def _markdown(entries: list[dict[str, Any]], budget: str) -> str:
    lines = [f"# kexue reproduction report ({budget} budget)", ""]
    lines += ["| article | claims passed | headline | wall time (s) |", "|---|---|---|---|"]
    for e in entries:
        a = e["article"]
        wall = _fmt((e["metrics"] or {}).get("wall_time_s"))
        lines.append(
            f"| [{a.slug}](#{a.slug}) {a.title} | {_claims_summary(e)} | "
            f"{headline(e['claims'], e['metrics'])} | {wall} |"
        )
    for e in entries:
        a = e["article"]
        lines += ["", f'<a id="{a.slug}"></a>', f"## {a.slug}: {a.title}", ""]
        lines += [f"{a.date} · [{a.url}]({a.url}) · module `{a.module}`", ""]
        if e["error"]:
            lines += ["**The run failed:**", "", "```", e["error"].strip()[-3000:], "```"]
            continue
        for fig in e["figures"]:
            lines.append(f"![{fig.stem}]({a.slug}/{fig.name})")
        if e["claims"]:
            lines += ["", "| claim | metric | measured | bar | pass |", "|---|---|---|---|---|"]
            for c in e["claims"]:
                mark = "PASS" if c["pass"] else "FAIL"
                lines.append(
                    f"| {c['text']} | `{c['metric']}` | {_fmt(c['measured'])} | "
                    f"{c['op']} {_fmt(c['threshold'])} | {mark} |"
                )
        if e["metrics"]:
            lines += ["", "| metric | value |", "|---|---|"]
            lines += [f"| `{k}` | {_fmt(v)} |" for k, v in e["metrics"].items()]
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;
font-size:.9em}th{background:#f3f3f3}.pass{color:#1a7f37;font-weight:600}
.fail{color:#c62828;font-weight:600}img{max-width:48%;margin:.3em;border:1px solid #eee}
pre{background:#fff3f3;padding:.8em;overflow-x:auto;font-size:.8em}section{margin-top:2.5em}
"""


def _html(entries: list[dict[str, Any]], budget: str) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>kexue report ({esc(budget)})</title><style>{_CSS}</style></head><body>",
        f"<h1>kexue reproduction report <small>({esc(budget)} budget)</small></h1>",
        "<table><tr><th>article</th><th>claims passed</th><th>headline</th>"
        "<th>wall time (s)</th></tr>",
    ]
    for e in entries:
        a = e["article"]
        summary = _claims_summary(e)
        cls = (
            "fail"
            if summary == "failed" or (e["claims"] and not all(c["pass"] for c in e["claims"]))
            else "pass"
        )
        wall = _fmt((e["metrics"] or {}).get("wall_time_s"))
        parts.append(
            f"<tr><td><a href='#{a.slug}'>{esc(a.slug)}</a> {esc(a.title)}</td>"
            f"<td class='{cls}'>{esc(summary)}</td>"
            f"<td>{esc(headline(e['claims'], e['metrics']))}</td><td>{wall}</td></tr>"
        )
    parts.append("</table>")
    for e in entries:
        a = e["article"]
        parts.append(f"<section id='{a.slug}'><h2>{esc(a.slug)}: {esc(a.title)}</h2>")
        parts.append(
            f"<p>{a.date} · <a href='{a.url}'>{a.url}</a> · module <code>{a.module}</code></p>"
        )
        if e["error"]:
            parts.append(
                f"<p class='fail'>The run failed:</p><pre>{esc(e['error'][-3000:])}</pre>"
            )
            parts.append("</section>")
            continue
        for fig in e["figures"]:
            data = base64.b64encode(fig.read_bytes()).decode("ascii")
            parts.append(f"<img alt='{esc(fig.stem)}' src='data:image/png;base64,{data}'>")
        if e["claims"]:
            parts.append(
                "<table><tr><th>claim</th><th>metric</th><th>measured</th><th>bar</th>"
                "<th>pass</th></tr>"
            )
            for c in e["claims"]:
                mark = (
                    "<span class='pass'>PASS</span>"
                    if c["pass"]
                    else "<span class='fail'>FAIL</span>"
                )
                parts.append(
                    f"<tr><td>{esc(c['text'])}</td><td><code>{esc(c['metric'])}</code></td>"
                    f"<td>{_fmt(c['measured'])}</td><td>{esc(c['op'])} {_fmt(c['threshold'])}</td>"
                    f"<td>{mark}</td></tr>"
                )
            parts.append("</table>")
        if e["metrics"]:
            parts.append("<table><tr><th>metric</th><th>value</th></tr>")
            parts += [
                f"<tr><td><code>{esc(k)}</code></td><td>{_fmt(v)}</td></tr>"
                for k, v in e["metrics"].items()
            ]
            parts.append("</table>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(folder: str | Path, slugs: list[str], budget: str = "quick") -> tuple[Path, Path]:
    """Write `report.html` and `report.md` into `folder` for the runs of `slugs`."""
    folder = Path(folder)
    entries = [collect(folder, slug) for slug in slugs]
    html_path, md_path = folder / "report.html", folder / "report.md"
    atomic_write_text(html_path, _html(entries, budget))
    atomic_write_text(md_path, _markdown(entries, budget))
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

    Each entry keeps the budget, seed, the command that reproduces it, the claims as judged and
    the metrics, so the numbers in the docs always come from a run. Returns the slugs updated.
    """
    updated = []
    for config_path in sorted(Path(folder).glob("*/config.json")):
        run = config_path.parent
        config, metrics = _read_json(config_path), _read_json(run / "metrics.json")
        if not config or metrics is None or (run / "error.txt").exists():
            continue
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


def articles_markdown(measured: dict[str, Any]) -> str:
    """docs/articles.md: the mission table with measured headline numbers, then per-article
    claims and metrics as recorded."""
    from kexue.articles import ARTICLES

    head = [
        "# The articles and their measured results",
        "",
        "Generated by `kexue docs` from `docs/measured.json`, which records finished runs",
        "(`kexue docs --runs DIR` merges the run folders under DIR). Each number comes from the",
        "run named beside it; the command reproduces it.",
        "",
        "| # | slug | article | date | status | claims passed | headline |",
        "|---|---|---|---|---|---|---|",
    ]
    body: list[str] = []
    for a in ARTICLES:
        m = measured.get(a.slug)
        passed = headline_text = ""
        if m:
            claims = m["claims"]
            passed = f"{sum(c['pass'] for c in claims)}/{len(claims)} ({m['budget']})"
            headline_text = headline(claims, m["metrics"])
        head.append(
            f"| {a.row} | `{a.slug}` | [{a.title}]({a.url}) | {a.date} | {a.status} | "
            f"{passed} | {headline_text} |"
        )
        if not m:
            continue
        body += ["", f"## {a.slug}: {a.title}", "", f"`{m['command']}` ({m['started']})", ""]
        if m["claims"]:
            body += ["| claim | measured | bar | pass |", "|---|---|---|---|"]
            for c in m["claims"]:
                body.append(
                    f"| {c['text']} | {_fmt(c['measured'])} | {c['op']} {_fmt(c['threshold'])} | "
                    f"{'PASS' if c['pass'] else 'FAIL'} |"
                )
            body.append("")
        body.append("Metrics: " + ", ".join(f"`{k}` = {_fmt(v)}" for k, v in m["metrics"].items()))
    return "\n".join(head + body) + "\n"
