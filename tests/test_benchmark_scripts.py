"""The benchmark scripts run end to end at smoke size and write their Markdown tables (their
real runs, 30,000 JPEGs, minutes of GPU training, a 1 GiB corpus, are not tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kexue.data import shared_data_dir

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_image_loader_benchmark_smoke(tmp_path) -> None:
    out = tmp_path / "loader.md"
    done = _run("images.py", "--n", "48", "--size", "32", "--load-size", "16", "--workers",
                "2", "--tmp", str(tmp_path), "--out", str(out), tmp=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| 2 |")]  # 2 workers
    assert len(rows) == 1 and "| 48 |" in rows[0], text
    assert "**PASS** (a `numpy.memmap`, no decoder call in the passes)" in text
    assert [p.name for p in tmp_path.iterdir()] == ["loader.md"]  # the JPEG folder is gone


def test_gpu_benchmark_smoke_on_cpu(tmp_path) -> None:
    out = tmp_path / "gpu.md"
    # fp32 only: each variant adds seconds; bf16 and compile were checked by hand (CPU smoke)
    done = _run("images_gpu.py", "--smoke", "--variants", "fp32", "--out", str(out), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    for arm in ("gan-qp-64", "gan-qp-128", "wgan-gp-128", "glow-64", "f-vae-64"):
        row = next(r for r in text.splitlines() if r.startswith(f"| {arm} |"))
        assert "| fp32 |" in row and "Error" not in row and "non-finite" not in row, row
    assert "--smoke" in text and "per critic step" in text


def test_bert_benchmark_smoke(tmp_path) -> None:
    out = tmp_path / "bert.md"
    done = _run("bert.py", "--smoke", "--out", str(out), tmp=tmp_path)  # a tiny BERT, 1 thread
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    for loop in ("kexue train_step", "HF Trainer.train()", "plain HF loop"):
        row = next(r for r in text.splitlines() if f"| {loop} |" in r)
        rate = float(row.split("|")[4])
        assert rate > 0, row
    assert "Fine-tuning throughput" in text and "--smoke" in text


@pytest.mark.skipif(shared_data_dir() is None, reason="../shared/data is absent")
def test_streaming_benchmark_smoke(tmp_path) -> None:
    out = tmp_path / "streaming.md"
    # two of the three loaders: each row is a child process that imports torch (seconds)
    done = _run("streaming.py", "--pairs", "3000", "--title-mib", "1", "--title-batches", "5",
                "--loaders", "stream,cached", "--tmp", str(tmp_path), "--out", str(out),
                tmp=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    rows = [r for r in text.splitlines() if r.startswith(("| couplets |", "| titles |"))]
    assert [r.split(" | ")[:3] for r in rows] == [
        ["| couplets", "stream", "2,390"], ["| couplets", "cached", "2,390"],
        ["| titles", "stream", "1,800"], ["| titles", "cached", "1,800"],
    ]  # fmt: skip
    assert "3,000 couplet pairs" in text and "--title-batches 5" in text
    assert [p.name for p in tmp_path.iterdir()] == ["streaming.md"]  # the data folder is gone
