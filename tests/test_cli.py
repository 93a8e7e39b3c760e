"""The command line: exit codes, one-line errors naming valid choices, list/show/reproduce."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kexue.articles import ARTICLES, Article
from kexue.cli import UsageError, execute, main, table_markdown
from kexue.report import write_report


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "no-such"], "unknown slug 'no-such'; valid: wgan, lipschitz"),
        (["show", "no-such"], "unknown slug 'no-such'; valid: wgan"),
        (["run", "wgan", "--set", "nope=1"], "unknown config key 'nope'; valid: "),
        (["run", "wgan", "--set", "gen_steps=many"], "--set gen_steps=many: expected int"),
        (["run", "wgan", "--set", "gen_steps"], "--set expects key=value"),
        (["reproduce", "--only", "no-such"], "--only no-such: not a theme or a slug"),
        (["reproduce", "--only", "GAN"], "(did you mean 'gan'?); themes: gan, flows"),
        (["run", "wgn"], "unknown slug 'wgn' (did you mean 'wgan'?)"),
        (["run", "gan_qp"], "(did you mean 'gan-qp'?)"),
        (["run", "wgan", "--set", "p=nope"], "--set p=nope: not one of eight_gaussians"),
        (["run", "wgan", "--set", "gen_steps=-5"], "--set gen_steps=-5: must be >= 1"),
        (["run", "wgan", "--set", "lr=0"], "--set lr=0.0: must be > 0"),
        (["run", "wgan", "--set", "lr=nan"], "nan is not a finite number"),
        (["run", "wgan", "--set", "gen_stepz=1"], "(did you mean 'gen_steps'?)"),
        (["run", "wgan", "--threads", "0"], "--threads 0: must be at least 1"),
        (["run", "wgan", "--checkpoint-every", "0"], "--checkpoint-every 0: must be at least 1"),
        (["run", "couplet", "--data", "/no/such/place"], "--data /no/such/place: no such file"),
        (["run", "dynamics-sgd", "--data", "."], "takes no --data (it trains on built-in data)"),
        (["run", "couplet", "--set", "data=."], "with --data PATH, not --set data="),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "x")] if argv[0] != "show" else argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_out_that_is_a_file_or_cannot_be_made(tmp_path, capsys):
    file = tmp_path / "f"
    file.write_text("x")
    assert main(["run", "wgan", "--out", str(file)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["run", "wgan", "--out", str(file / "sub")]) == 2
    assert "cannot create the folder" in capsys.readouterr().err
    assert file.read_text() == "x"


def test_docs_refuses_outside_a_checkout(tmp_path, capsys):
    assert main(["docs", "--root", str(tmp_path)]) == 2
    assert "is not a kexue checkout" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_planned_slug_is_a_usage_error(monkeypatch, tmp_path):
    # A row whose recipe module does not exist yet (every real row is built by now).
    planned = Article(99, "not-yet", "gan", "标题", "2020-01-01", 1, "kexue.gan.not_yet", "")
    assert not planned.ready and planned.status == "planned"
    monkeypatch.setattr("kexue.cli.get", lambda slug: planned)
    with pytest.raises(UsageError, match="'not-yet' is planned but not built yet; ready: wgan"):
        execute("not-yet", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_argparse_rejects_bad_budget():
    proc = subprocess.run(
        [sys.executable, "-m", "kexue", "run", "wgan", "--budget", "huge"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "invalid choice: 'huge'" in proc.stderr


def test_list_and_markdown(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(ARTICLES)
    assert (
        lines[0].split()[:2] == ["1", "wgan"] and "从Wasserstein距离、对偶理论到WGAN" in lines[0]
    )
    assert main(["list", "--markdown"]) == 0
    assert capsys.readouterr().out == table_markdown()


def test_show_prints_config_and_claims(capsys):
    assert main(["show", "wgan"]) == 0
    out = capsys.readouterr().out
    assert "https://kexue.fm/archives/6280" in out
    assert "gen_steps = 4000" in out and "critic_gp_certified_tightness >= 0.9" in out


def test_run_strict_exits_1_when_a_claim_fails(tmp_path, capsys):
    # At the quick budget with a critic trained for 5 steps, the 90% tightness cannot hold.
    argv = ["run", "wgan", "--budget", "quick", "--out", str(tmp_path), "--threads", "1"]
    argv += ["--set", "critic_steps=5", "--set", "gen_steps=2", "--set", "n_eval=100"]
    assert main(argv) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert claims and not claims[0]["pass"]
    assert main([*argv, "--strict"]) == 1
    assert "FAIL  critic_gp_certified_tightness = " in capsys.readouterr().out


def test_report_shows_successes_and_failures(tmp_path):
    assert main(["run", "wgan", "--budget", "smoke", "--out", str(tmp_path / "wgan")]) == 0
    broken = tmp_path / "lipschitz"
    broken.mkdir()
    (broken / "error.txt").write_text("Traceback: RuntimeError: boom")
    html, md = write_report(tmp_path, ["wgan", "lipschitz"], budget="smoke")
    page = html.read_text()
    assert "data:image/png;base64," in page and "http://" not in page.replace(
        "https://kexue.fm", ""
    )
    assert "RuntimeError: boom" in page and "failed" in page
    text = md.read_text()
    assert "| [wgan](#wgan) 从Wasserstein距离、对偶理论到WGAN | no claims at this budget |" in text
    assert "![critic](wgan/critic.png)" in text


def test_reproduce_runs_each_recipe_apart_and_reports_failures(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["reproduce", "--budget", "smoke", "--only", "wgan", "--out", str(out),
                 "--threads", "1"]) == 0  # fmt: skip
    assert (out / "wgan" / "metrics.json").exists()
    assert "wgan" in (out / "report.md").read_text()
    # A recipe that cannot finish (here: a timeout) is reported, and reproduce still succeeds.
    slow = tmp_path / "slow"
    assert main(["reproduce", "--budget", "smoke", "--only", "wgan", "--out", str(slow),
                 "--timeout", "0.5"]) == 0  # fmt: skip
    page = (slow / "report.html").read_text()
    assert "exit status timeout" in page and "The run failed" in page
    assert "report:" in capsys.readouterr().out


def test_list_into_a_closed_pipe_is_quiet():
    # The reader goes away before kexue writes (as `kexue list | head -1` does on long output).
    proc = subprocess.Popen(
        [sys.executable, "-m", "kexue", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 0
    assert "Traceback" not in err and "BrokenPipe" not in err
