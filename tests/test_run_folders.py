"""A run folder holds one run: mismatches are refused before anything is written, a complete
run is left alone, --overwrite starts afresh, Ctrl-C leaves a resumable folder, --data is
checked and fingerprinted, and reproduce --strict gates CI."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from kexue.cli import data_recipes, main
from kexue.runs import RunDir, atomic_write_text, data_fingerprint

SMOKE = ["--budget", "smoke", "--threads", "1"]


def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file's content hash and modification time: a finished run must not change."""
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "wgan"
    assert main(["run", "wgan", *SMOKE, "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.parametrize(
    ("extra", "differs"),
    [
        (["--seed", "3"], "seed 0 → 3"),
        (["--budget", "quick"], "budget smoke → quick"),
        (["--set", "gen_steps=7"], "gen_steps 5 → 7"),
    ],
)
def test_another_run_into_a_finished_folder_is_refused_untouched(finished, extra, differs, capsys):
    before = _snapshot(finished)
    assert main(["run", "wgan", *SMOKE, *extra, "--out", str(finished)]) == 2
    err = capsys.readouterr().err
    assert differs in err and "--overwrite" in err and err.count("\n") == 1
    assert _snapshot(finished) == before


def test_another_recipe_into_a_finished_folder_is_refused_untouched(finished, capsys):
    before = _snapshot(finished)
    assert main(["run", "gan-qp", *SMOKE, "--out", str(finished)]) == 2
    assert "slug wgan → gan-qp" in capsys.readouterr().err
    assert _snapshot(finished) == before


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["plain", "overwrite"])
def test_a_folder_that_is_no_run_is_refused_even_with_overwrite(tmp_path, overwrite, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["run", "wgan", *SMOKE, "--out", str(tmp_path), *overwrite]) == 2
    assert "holds no kexue run" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_complete_run_is_left_alone(finished, capsys):
    before = _snapshot(finished)
    assert main(["run", "wgan", *SMOKE, "--out", str(finished)]) == 0
    out, err = capsys.readouterr()
    assert "already complete; nothing to do" in err and "claims (smoke budget)" in out
    assert _snapshot(finished) == before


def test_re_evaluate_keeps_the_original_timings(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "wgan", *SMOKE, "--out", str(out)]) == 0
    first = json.loads((out / "metrics.json").read_text())
    config = (out / "config.json").read_bytes()
    assert main(["run", "wgan", *SMOKE, "--out", str(out), "--re-evaluate"]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again == first  # same final checkpoint, same evaluation, original wall time
    assert (out / "config.json").read_bytes() == config  # 'started' is the original


def test_overwrite_starts_afresh(finished, tmp_path):
    out = tmp_path / "copy"
    out.mkdir()
    for p in finished.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    assert main(["run", "wgan", *SMOKE, "--seed", "3", "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "config.json").read_text())["config"]["seed"] == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".copy.replaced")]


def test_resume_says_where_it_resumes(tmp_path):
    notes: list[str] = []
    run = RunDir(tmp_path, say=notes.append)
    for step in run.progress(range(0, 10), "critic"):
        run.log(step, loss=1.0)
        if step == 3:
            run.save_checkpoint(step + 1, {"extra": {"a": 1}})
            break
    again = RunDir(tmp_path, say=notes.append)
    assert again.restore({"extra": {}}) == 4
    assert notes == ["resuming from step 4 of 10 (critic)"]


def test_ctrl_c_leaves_a_resumable_folder_and_exits_130(tmp_path):
    out = tmp_path / "run"
    args = ["run", "wgan", "--out", str(out), "--budget", "smoke", "--checkpoint-every", "20"]
    args += ["--set", "critic_steps=100000"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kexue", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ckpt = out / "checkpoint.safetensors"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted at step" in err and "run the same command to resume" in err
    assert "Traceback" not in err and not (out / "error.txt").exists()
    assert ckpt.exists() and not (out / "metrics.json").exists()


def test_atomic_writes_get_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640


# ----------------------------------------------------------------------------- --data
def _couplets(folder: Path, firsts: list[str], seconds: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "in.txt").write_text("\n".join(firsts) + "\n", encoding="utf-8")
    (folder / "out.txt").write_text("\n".join(seconds) + "\n", encoding="utf-8")
    return folder


def test_data_feeds_the_recipe_and_is_fingerprinted(tmp_path, capsys):
    chars = "春风得意海阔天空山高水长花好月圆江河湖雨雪云霞"
    firsts = [" ".join(chars[(i + k) % len(chars)] for k in range(4)) for i in range(60)]
    firsts = [f + " " + chars[i % 7] for i, f in enumerate(firsts)]  # 60 distinct lines
    data = _couplets(tmp_path / "pairs", firsts, firsts[::-1])
    out = tmp_path / "run"
    assert main(["run", "couplet", *SMOKE, "--data", str(data), "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["data"] == str(data.resolve())
    assert config["data_fingerprint"] == data_fingerprint(data)
    assert config["data_fingerprint"]["files"] == 2
    # The same folder with other data is another run.
    (data / "in.txt").write_text("春 风\n", encoding="utf-8")
    assert main(["run", "couplet", *SMOKE, "--data", str(data), "--out", str(out)]) == 2
    assert "data (another file listing)" in capsys.readouterr().err


def test_too_little_data_is_a_clear_error(tmp_path, capsys):
    data = _couplets(tmp_path / "few", ["春风", "海阔"], ["秋月", "山高"])
    assert main(["run", "couplet", *SMOKE, "--data", str(data), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "split empty" in err and err.count("\n") == 1


def test_bad_data_is_one_line_naming_file_and_line(tmp_path, capsys):
    data = _couplets(tmp_path / "bad", ["春风", "海阔天"], ["秋月", "山高"])
    assert main(["run", "couplet", *SMOKE, "--data", str(data), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "out.txt, line 2" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()  # nothing half-written: mend the data, run again


def test_hidden_files_are_not_data(tmp_path):
    data = _couplets(tmp_path / "pairs", ["春风"], ["秋月"])
    before = data_fingerprint(data)
    (data / ".kexue-cache").mkdir()
    (data / ".kexue-cache" / "decoded.npy").write_bytes(b"0" * 100)  # kexue's own image cache
    assert data_fingerprint(data) == before


def test_article_budget_is_refused_by_recipes_without_one(tmp_path, capsys):
    assert main(["run", "dynamics-sgd", "--budget", "article", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "dynamics-sgd has no article budget" in err and "recipes with one:" in err
    assert not (tmp_path / "r").exists()


def test_data_recipes_are_the_ones_that_declare_it():
    # containment: recipes join the list as they learn to take --data
    assert set(data_recipes()) >= {
        "couplet",
        "seq2seq-title",
        "bidirectional-decoding",
        "lic2020",
        "glow",
        "realnvp",
        "nice",
        "f-vae",
    }


# ----------------------------------------------------------------------------- reproduce --strict
def test_reproduce_strict_exit_codes(tmp_path, capsys):
    out = tmp_path / "rep"
    base = ["reproduce", "--budget", "smoke", "--only", "wgan", "--out", str(out), "--quiet"]
    assert main([*base, "--strict"]) == 0  # smoke judges no claim, nothing crashed
    # A failed claim (written into the finished run: the gate reads claims.json, not the run).
    claims = [
        {"text": "t", "metric": "m", "op": ">=", "threshold": 1.0, "measured": 0.0, "pass": False}
    ]
    (out / "wgan" / "claims.json").write_text(json.dumps(claims))
    assert main([*base, "--strict"]) == 1
    assert main(base) == 0
    # A crashed recipe: the run folder holds another run, so `kexue run` refuses (exit 2).
    crashed = tmp_path / "crash"
    assert main(["run", "lipschitz", *SMOKE, "--out", str(crashed / "wgan"), "--quiet"]) == 0
    capsys.readouterr()
    strict = ["reproduce", "--budget", "smoke", "--only", "wgan", "--out", str(crashed)]
    assert main([*strict, "--strict", "--quiet"]) == 3
    assert "crashed: wgan" in capsys.readouterr().err


def test_torch_threads_are_not_left_changed_by_a_usage_error():
    threads = torch.get_num_threads()
    assert main(["run", "wgan", "--threads", "0"]) == 2
    assert torch.get_num_threads() == threads


def test_a_bad_image_is_one_line_naming_it_and_leaves_no_run_folder(
    tmp_path, capsys, shapes_folder
):
    import shutil

    data = tmp_path / "images"
    shutil.copytree(shapes_folder, data, ignore=shutil.ignore_patterns(".*"))
    good = next((data / "circle-red").glob("*.png")).read_bytes()
    (data / "circle-red" / "broken.png").write_bytes(good[: len(good) // 2])
    out = tmp_path / "run"
    assert main(["run", "gan-qp", *SMOKE, "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "broken.png: cannot decode" in err and err.count("\n") == 1
    assert not out.exists()  # nothing half-written: mend the folder, run again


def test_a_missing_checkpoint_folder_is_one_line_and_leaves_no_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "conditional-ln", *SMOKE, "--set", f"pretrained={tmp_path / 'none'}"]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is not a local checkpoint folder" in err and err.count("\n") == 1
    assert not out.exists()
