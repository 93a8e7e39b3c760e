"""The reproduction report, built from run folders written by hand (the report is under test)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kexue.report import articles_markdown, write_report

PIPE_CLAIM = "|gap| shrinks: train | test accuracy\nstays close"


def _run(folder: Path, slug: str, metrics: dict, claims: list[dict], seed: int = 0) -> None:
    run = folder / slug
    run.mkdir(parents=True)
    config = {"slug": slug, "budget": "quick", "config": {"seed": seed}}
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (run / "claims.json").write_text(json.dumps(claims), encoding="utf-8")


def _claim(text: str, metric: str, measured: float, passed: bool) -> dict:
    return {"text": text, "metric": metric, "op": ">=", "threshold": 0.5,
            "measured": measured, "pass": passed}  # fmt: skip


@pytest.fixture
def report(tmp_path):
    """wgan: 30 metrics, two claims (one with pipes and a newline), one failing; hsic: no
    claims; gan-qp: crashed; glow: never ran (interrupted)."""
    metrics = {f"m{i:02d}": i / 7 for i in range(28)}
    metrics |= {"wall_time_s": 12.5, "w1_rel_error": 0.75}
    claims = [
        _claim(PIPE_CLAIM, "w1_rel_error", 0.75, True),
        _claim("the critic is 1-Lipschitz", "m03", 3 / 7, False),
    ]
    _run(tmp_path, "wgan", metrics, claims)
    _run(tmp_path, "hsic", {"power": 0.9, "wall_time_s": 1.0}, [])
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "gan-qp.error.txt").write_text("exit status 1\nRuntimeError: boom <b>")
    html, md = write_report(
        tmp_path, ["wgan", "hsic", "gan-qp", "glow"], "quick",
        command="kexue reproduce --budget quick --out runs/x", seed=7, partial=True,
    )  # fmt: skip
    return html.read_text(encoding="utf-8"), md.read_text(encoding="utf-8")


class _Checker(HTMLParser):
    """Collects the text and checks that every non-void tag closes in order."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []
        self.classes: dict[str, str] = {}  # text of a td -> its class
        self._td_class: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "td":
            self._td_class = dict(attrs).get("class")

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (self.stack[-3:], tag)
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self._td_class and self.stack and self.stack[-1] == "td":
            self.classes[data.strip()] = self._td_class


def _parse(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == []
    return checker


def _cells(row: str) -> list[str]:
    return re.split(r"(?<!\\)\|", row.strip())[1:-1]


def _tables(md: str) -> list[list[str]]:
    tables, current = [], []
    for line in md.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


def test_header_shows_how_the_report_was_made(report):
    html, md = report
    text = " ".join(_parse(html).text)
    import torch

    import kexue

    for page in (text, md):
        assert "kexue reproduce --budget quick --out runs/x" in page
        assert kexue.__version__ in page and torch.__version__ in page
        assert re.search(r"seed\W+7", page)
        assert "git commit" in page and "device" in page and "date" in page
        assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", page)
        assert "cpu (" in page or "cuda" in page.lower() or "NVIDIA" in page


def test_markdown_escapes_pipes_and_newlines_so_every_row_has_its_cells(report):
    _, md = report
    tables = _tables(md)
    assert tables
    for table in tables:
        widths = {len(_cells(row)) for row in table}
        assert len(widths) == 1, table
    row = next(line for line in md.splitlines() if "shrinks" in line)
    assert len(_cells(row)) == 6  # claim, kind, metric, measured, bar, pass
    assert r"\|gap\| shrinks: train \| test accuracy<br>stays close" in row


def test_statuses_and_colours(report):
    html, md = report
    classes = _parse(html).classes
    assert classes["no claims at this budget"] == "none"  # grey, not a pass
    assert classes["article 1/2"] == "fail"
    assert classes["crashed"] == "crashed"
    assert classes["not run"] == "notrun"
    css = html[html.index("<style>") : html.index("</style>")]
    assert re.search(r"\.pass\{color:#1a7f37", css)
    assert re.search(r"\.none,\.notrun\{color:#6e7781\}", css)
    assert "RuntimeError: boom &lt;b&gt;" in html  # escaped, shown in the crashed section
    hsic_row = (
        "| [hsic](#hsic) HSIC简介：一个有意思的判断相关性的思路 | no claims at this budget |"
    )
    assert hsic_row in md


def test_long_metrics_table_is_folded_with_headline_metrics_outside(report):
    html, md = report
    section = html[html.index('<section id="wgan">') : html.index("</section>")]
    outside, inside = section.split("<details>")
    for key in ("wall_time_s", "w1_rel_error", "m03"):  # claimed metrics and the wall time
        assert f"<code>{key}</code>" in outside and f"<code>{key}</code>" not in inside
    assert "<code>m00</code>" in inside and "<code>m00</code>" not in outside
    assert "27 more metrics" in inside
    md_section = md[md.index("## wgan") : md.index("## hsic")]
    outside, inside = md_section.split("<details><summary>27 more metrics</summary>\n\n|")
    assert "`wall_time_s`" in outside and "`m00`" in inside and "`m00`" not in outside
    assert "\n\n</details>" in inside
    # the short table of hsic is not folded
    assert "<details>" not in html[html.index('<section id="hsic">') :].split("</section>")[0]


def test_partial_report_says_so_and_lists_what_did_not_run(report):
    html, md = report
    for page in (html, md):
        assert "Interrupted" in page
        assert "not run" in page
        assert "glow" in page and "## glow" not in page and 'id="glow"' not in page
    assert "| glow " in md


def test_report_without_partial_has_no_interruption_note(tmp_path):
    _run(tmp_path, "hsic", {"power": 0.9}, [])
    html, md = write_report(tmp_path, ["hsic"], "smoke")
    assert "Interrupted" not in html.read_text() and "Interrupted" not in md.read_text()
    assert "recipe default" in md.read_text()  # no --seed: the recorded seeds


def test_long_metrics_table_without_claims_keeps_its_headline_metric_outside(tmp_path):
    _run(tmp_path, "hsic", {f"m{i:02d}": float(i) for i in range(20)} | {"wall_time_s": 2.0}, [])
    _, md = write_report(tmp_path, ["hsic"], "smoke")
    outside, inside = md.read_text().split("<details>")
    assert "`m00`" in outside and "`wall_time_s`" in outside and "`m01`" in inside


def test_figures_are_shown_at_natural_size_up_to_the_page_width(tmp_path):
    _run(tmp_path, "hsic", {"power": 0.9}, [])
    (tmp_path / "hsic" / "power.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    html, md = write_report(tmp_path, ["hsic"], "smoke")
    page = html.read_text()
    assert "max-width:48%" not in page and "max-width:100%" in page
    assert "data:image/png;base64," in page
    assert "![power](hsic/power.png)" in md.read_text()


def test_articles_markdown_escapes_pipes():
    claim = _claim(PIPE_CLAIM, "w1_rel_error", 0.75, True)
    run = {"budget": "quick", "seed": 0, "command": "kexue run wgan", "started": "2024",
           "claims": [claim], "metrics": {"w1_rel_error": 0.75}}  # fmt: skip
    measured = {"wgan": run}
    text = articles_markdown(measured)
    for table in _tables(text):
        assert len({len(_cells(row)) for row in table}) == 1


def test_plotting_leaves_the_matplotlib_backend_alone(tmp_path):
    code = f"""
import matplotlib
matplotlib.use("svg")
import kexue, numpy as np
from kexue.recipes import _plot
from kexue.runs import RunDir
fig = _plot.arm_curves([{{"step": 0, "a": 1.0}}, {{"step": 1, "b": 2.0}}], ["a", "b"])
RunDir({str(tmp_path)!r}).save_figure(fig, "c.png")
_plot.scatter([(np.zeros((3, 2)), "x")])
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert "matplotlib.pyplot" not in __import__("sys").modules
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


def test_arm_curves_start_each_arm_at_zero():
    from kexue.recipes import _plot

    history = [{"step": i, "a": 1.0} for i in range(3)]  # arm a, then arm b, then a again
    history += [{"step": 3 + i, "b": 2.0} for i in range(4)]
    history += [{"step": 7 + i, "a": 3.0} for i in range(2)]
    fig = _plot.arm_curves(history, ["a", "b"], every=10, first=5)
    lines = fig.axes[0].get_lines()
    xs = [list(line.get_xdata()) for line in lines]
    assert xs == [[5, 15, 25], [5, 15], [5, 15, 25, 35]]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()


def test_recorded_runs_are_judged_on_the_recipes_current_claims():
    from kexue.recipes import wgan
    from kexue.report import rejudged

    record = {"budget": "full", "claims": [{"text": "an old claim", "metric": "gone"}],
              "metrics": {"critic_gp_certified_tightness": 0.95}}  # fmt: skip
    judged = rejudged("wgan", record)
    assert [c["text"] for c in judged] == [c.text for c in wgan.CLAIMS]  # the old one left
    by_metric = {c["metric"]: c for c in judged}
    assert by_metric["critic_gp_certified_tightness"]["pass"] is True
    assert by_metric["gan_modes_covered"]["pass"] is None  # not measured: not a failure


def test_interval_claims_show_their_interval_in_the_report_and_docs():
    from kexue.report import format_measured

    judged = {"measured": 0.0058, "interval": [0.00029, 0.0113]}
    assert format_measured(judged) == "0.0058 [2.900e-04, 0.0113]"
    assert format_measured({"measured": 0.5, "interval": None}) == "0.5 [no interval recorded]"
    assert format_measured({"measured": 0.5}) == "0.5"


def test_an_interval_claim_on_a_run_without_its_interval_is_not_judged():
    from kexue.recipes import templates
    from kexue.report import rejudged

    (claim,) = templates.CLAIMS
    record = {"budget": "full", "claims": [], "metrics": {claim.metric: 0.5}}
    (judged,) = rejudged("templates", record)
    assert judged["pass"] is None  # recorded before the claim took an interval
    record["metrics"] |= {f"{claim.metric}_lo": 0.1, f"{claim.metric}_hi": 0.9}
    assert rejudged("templates", record)[0]["pass"] is True


def test_runs_on_user_data_are_not_recorded_as_the_recipes_experiment(tmp_path):
    import json

    from kexue.report import record_measurements

    for name, data in (("own", None), ("user", "/data/faces")):
        run = tmp_path / name / "wgan"
        run.mkdir(parents=True)
        config = {"slug": "wgan", "budget": "full", "config": {"seed": 0}, "data": data}
        (run / "config.json").write_text(json.dumps(config))
        (run / "metrics.json").write_text(json.dumps({"m": 1.0}))
    measured: dict = {}
    assert record_measurements(measured, tmp_path / "user") == [] and measured == {}
    assert record_measurements(measured, tmp_path / "own") == ["wgan"]


def test_reported_numbers_name_recorded_metrics_and_show_beside_them():
    """Each article number a recipe declares (`REPORTED`) names a metric its recorded run has,
    and docs/articles.md prints both with their settings."""
    import importlib

    from kexue.articles import ARTICLES
    from kexue.cli import recorded
    from kexue.report import reported_markdown

    measured = recorded()
    seen = 0
    for a in ARTICLES:
        if not a.ready:
            continue
        reported = getattr(importlib.import_module(a.recipe), "REPORTED", ())
        record = measured.get(a.slug)
        for r in reported:
            assert r.setting.startswith("article") and r.ours.startswith("kexue"), r
            if record is not None and record["budget"] == "full":
                assert r.metric in record["metrics"], (a.slug, r.metric)
        if reported and record is not None:
            lines = reported_markdown(a.slug, record)
            assert len(lines) == 5 + len(reported) + 1 and lines[-1] == ""
            seen += 1
    assert seen >= 3
    lic = reported_markdown("lic2020", {"budget": "smoke", "metrics": {"re_f1": 0.25}})
    assert "| relation extraction, SPO F1 | 0.68 |" in lic[5] and "0.25 (smoke)" in lic[5]
    assert "not measured" in lic[6]
