"""Run folders: atomic writes, checkpoints, kill-and-resume equality, the NaN guard."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from kexue.cli import main
from kexue.runs import (
    Claim,
    NonFiniteLossError,
    Parts,
    RunDir,
    atomic_write_text,
    judge_claims,
    make_accelerator,
    prepare_arms,
    resolve_config,
    start_parts,
)

ROOT = Path(__file__).resolve().parents[1]


def test_atomic_write_keeps_the_old_file_when_the_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    atomic_write_text(path, "old")

    def broken_replace(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left


def test_checkpoint_round_trip_restores_every_kind_of_state(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    g = torch.Generator().manual_seed(5)
    torch.rand(3, generator=g)
    rng = np.random.default_rng(7)
    rng.random(2)
    extra = {"best": 0.5, "names": ["a", "b"]}
    run = RunDir(tmp_path)
    run.log(0, loss=1.0)
    run.log(1, loss=0.5)
    run.save_checkpoint(2, {"net": net, "opt": opt, "g": g, "rng": rng, "extra": extra})

    net2 = torch.nn.Linear(3, 2)
    opt2 = torch.optim.Adam(net2.parameters(), lr=1e-2)
    g2, rng2, extra2 = torch.Generator(), np.random.default_rng(0), {}
    run2 = RunDir(tmp_path)
    step = run2.restore({"net": net2, "opt": opt2, "g": g2, "rng": rng2, "extra": extra2})
    assert step == 2 and [r["step"] for r in run2.history] == [0, 1]
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), net2.parameters(), strict=True))
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"][0]["betas"] == tuple(s2["param_groups"][0]["betas"])
    assert torch.equal(s1["state"][0]["exp_avg"], s2["state"][0]["exp_avg"])
    assert torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=g2))
    assert rng.random() == rng2.random()
    assert extra2 == extra


def test_restore_refuses_a_checkpoint_of_another_run(tmp_path):
    run = RunDir(tmp_path)
    run.save_checkpoint(1, {"a": torch.nn.Linear(1, 1)})
    with pytest.raises(ValueError, match="another run"):
        RunDir(tmp_path).restore({"b": torch.nn.Linear(1, 1)})


def test_nan_is_refused_and_the_last_good_checkpoint_kept(tmp_path):
    net = torch.nn.Linear(2, 1)
    run = RunDir(tmp_path)
    run.log(0, loss=1.0)
    run.save_checkpoint(1, {"net": net})
    before = (tmp_path / "checkpoint.safetensors").read_bytes()
    with pytest.raises(NonFiniteLossError, match="loss = nan at step 1"):
        run.log(1, loss=float("nan"))
    with torch.no_grad():
        net.weight.fill_(float("inf"))
    with pytest.raises(
        NonFiniteLossError, match="non-finite weights or optimizer state at step 2"
    ):
        run.save_checkpoint(2, {"net": net})
    assert (tmp_path / "checkpoint.safetensors").read_bytes() == before


def test_claims_are_judged_per_budget_and_missing_metrics_fail():
    claims = [
        Claim("a", "x", ">=", 1.0, ("quick", "full")),
        Claim("b", "y", "<", 0.1),
        Claim("c", "z", "<=", 2.0),
    ]
    quick = judge_claims(claims, {"x": 1.0}, "quick")
    assert [(c["text"], c["pass"]) for c in quick] == [("a", True)]
    full = judge_claims(claims, {"x": 0.5, "y": float("nan")}, "full")
    assert [c["pass"] for c in full] == [False, False, False]
    assert judge_claims(claims, {}, "smoke") == []
    with pytest.raises(ValueError, match="op"):
        Claim("d", "x", "=>", 1.0)


def test_user_data_claims_leave_a_missing_metric_unmeasured_but_fail_a_bad_one():
    claims = [Claim("a", "x", ">=", 1.0), Claim("b", "y", ">=", 1.0), Claim("c", "z", "<", 0.0)]
    judged = judge_claims(claims, {"x": 2.0, "z": float("nan")}, "full", missing="unmeasured")
    assert [c["pass"] for c in judged] == [True, None, False]
    assert judged[1]["measured"] is None
    with pytest.raises(ValueError, match="missing"):
        judge_claims(claims, {}, "full", missing="skip")


@dataclass(frozen=True)
class _Cfg:
    seed: int = 0
    lr: float = 0.1
    steps: int = 10
    hidden: tuple[int, ...] = (4, 4)
    fast: bool = False
    name: str = "a"


def test_resolve_config_converts_types_and_names_valid_keys():
    cfg = resolve_config(_Cfg, {"steps": 3}, ["lr=0.5", "hidden=8,16", "fast=true", "name=b"])
    assert cfg == _Cfg(lr=0.5, steps=3, hidden=(8, 16), fast=True, name="b")
    with pytest.raises(ValueError, match="unknown config key 'nope'; valid: seed, lr"):
        resolve_config(_Cfg, {}, ["nope=1"])
    with pytest.raises(ValueError, match="steps=ten: expected int"):
        resolve_config(_Cfg, {}, ["steps=ten"])
    with pytest.raises(ValueError, match="expected a boolean"):
        resolve_config(_Cfg, {}, ["fast=maybe"])


# ----------------------------------------------------------------------------- end to end
RESUME_ARGS = [
    "--budget", "smoke", "--threads", "1", "--checkpoint-every", "10",
    "--set", "critic_steps=150", "--set", "gen_steps=50", "--set", "n_critic=1",
    "--set", "n_eval=100", "--set", "critic_hidden=32,32", "--set", "gan_hidden=32,32",
]  # fmt: skip


def _kexue(*args: str) -> list[str]:
    return [sys.executable, "-m", "kexue", *args]


def _metrics(folder: Path) -> dict:
    m = json.loads((folder / "metrics.json").read_text())
    m.pop("wall_time_s")
    return m


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("straight") / "run"
    subprocess.run(
        _kexue("run", "wgan", "--out", str(out), *RESUME_ARGS), check=True, capture_output=True
    )
    return out


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
def test_a_run_killed_mid_training_resumes_to_the_same_metrics(straight, sig, tmp_path):
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_kexue("run", "wgan", "--out", str(killed), *RESUME_ARGS),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    ckpt = killed / "checkpoint.safetensors"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(sig)
    assert proc.wait() == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    assert ckpt.exists() and not (killed / "metrics.json").exists(), "not killed mid-training"
    done = subprocess.run(_kexue("run", "wgan", "--out", str(killed), *RESUME_ARGS),
                          check=True, capture_output=True, text=True)  # fmt: skip
    assert _metrics(killed) == _metrics(straight)
    assert "run folder" in done.stdout and "resuming from step" in done.stderr
    rows = (killed / "history.csv").read_text().splitlines()
    assert len(rows) == 1 + 200  # header + one row per step, none lost or doubled


def test_a_diverging_run_stops_clearly(tmp_path, capsys):
    out = tmp_path / "nan"
    argv = ["run", "wgan", "--out", str(out), "--budget", "smoke", "--set", "critic_lr=1e30"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "= nan at step 0; stopping: no checkpoint had been written yet" in err
    assert "Traceback" not in err
    assert (out / "error.txt").exists() and not (out / "metrics.json").exists()


def test_divergence_after_a_good_checkpoint_keeps_it(tmp_path, capsys):
    out = tmp_path / "run"
    # The critic part checkpoints every 5 steps; the GAN part's absurd learning rate diverges.
    argv = ["run", "wgan", "--out", str(out), "--budget", "smoke", "--checkpoint-every", "5"]
    assert main([*argv, "--set", "lr=1e30"]) == 1
    err = capsys.readouterr().err
    assert "at step 20; stopping: the last good checkpoint" in err and "Traceback" not in err
    tensors = load_file(str(out / "checkpoint.safetensors"))
    assert all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())


def test_torchrun_launches_two_processes_and_only_rank0_writes(tmp_path):
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "kexue", "run", "wgan",
         "--budget", "smoke", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["world_size"] == 2
    assert config["distributed_type"] == "MULTI_CPU" and config["backend"] == "gloo"
    assert proc.stdout.count("run folder:") == 1  # rank 1 prints and writes nothing
    assert not list(out.glob(".*.tmp"))


def test_torchrun_on_an_image_folder_decodes_it_once(tmp_path, shapes_folder):
    """Two ranks on an image folder: rank 0 builds the cache while rank 1 waits, both train
    (DDP over gloo) and only rank 0 writes the run folder and the image model."""
    data = tmp_path / "shapes"
    shutil.copytree(shapes_folder, data, ignore=shutil.ignore_patterns(".kexue-cache"))
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "kexue", "run", "gan-qp",
         "--data", str(data), "--budget", "smoke", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["world_size"] == 2 and config["distributed_type"] == "MULTI_CPU"
    assert proc.stdout.count("run folder:") == 1
    cache = list((data / ".kexue-cache").iterdir())
    assert sorted(p.suffix for p in cache) == [".json", ".npy"]  # one cache, no leftovers
    assert (out / "image_model.safetensors").is_file() and not list(out.glob(".*.tmp"))


def test_log_next_numbers_rows_on_across_a_resume(tmp_path):
    run = RunDir(tmp_path)
    run.log_next(loss=1.0)
    run.log_next(loss=0.5)
    run.save_checkpoint(run.next_step, {"extra": {"part": 1}})
    again = RunDir(tmp_path)
    assert again.restore({"extra": {}}) == 2 and again.next_step == 2
    again.log_next(loss=0.25)
    assert [r["step"] for r in again.history] == [0, 1, 2]


def _run_parts(folder: Path, trained: list[str], stop_after: str | None = None) -> dict:
    """A recipe of three parts: each "trains" (draws from the checkpointed generator) once."""
    out = RunDir(folder)
    g = torch.Generator().manual_seed(0)
    results: dict[str, object] = {}
    state = {"results": results, "rng": g}
    out.restore(state)
    parts = Parts(out, results, state)
    for key in ("a", "b", "c"):
        if not parts.done(key):
            trained.append(key)
            out.log_next(value=1.0)
            parts.finish(key, {f"{key}_value": float(torch.rand(1, generator=g))})
        if key == stop_after:
            return results  # a simulated kill: everything after this checkpoint is lost
    return results


def test_parts_finished_before_a_stop_are_skipped_and_keep_their_results(tmp_path):
    straight: list[str] = []
    want = _run_parts(tmp_path / "straight", straight)
    first: list[str] = []
    before = _run_parts(tmp_path / "stopped", first, stop_after="a")
    again: list[str] = []
    after = _run_parts(tmp_path / "stopped", again)
    assert straight == ["a", "b", "c"] and first == ["a"] and again == ["b", "c"]
    assert after["a_value"] == before["a_value"]  # restored, not recomputed
    assert after == want  # the generator's state rode along with the results
    finished: list[str] = []
    assert _run_parts(tmp_path / "stopped", finished) == want and finished == []
    with pytest.raises(ValueError, match="state"):
        Parts(RunDir(tmp_path / "x"), {}, {"rng": torch.Generator()})


def test_start_parts_seeds_per_process_and_restores_finished_parts(tmp_path):
    g, acc, parts, results, state = start_parts(3, RunDir(tmp_path))
    assert acc.process_index == 0 and state == {"results": results, "rng": g}
    want = torch.rand(2, generator=torch.Generator().manual_seed(3 * 1000))
    assert torch.equal(torch.rand(2, generator=g), want)  # the stream of seed * 1000 + rank
    parts.finish("a", {"a_value": 1.5})
    g2, _, parts2, results2, _ = start_parts(3, RunDir(tmp_path))
    assert parts2.done("a") and results2["a_value"] == 1.5
    assert torch.equal(g2.get_state(), g.get_state())  # the stream goes on where it was


def test_prepare_arms_prepares_each_model_and_restores_the_state(tmp_path):
    acc, g = make_accelerator(), torch.Generator().manual_seed(0)
    models = {"a": torch.nn.Linear(2, 1), "b": torch.nn.Linear(2, 1)}
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.1) for k, m in models.items()}
    out = RunDir(tmp_path)
    state, start = prepare_arms(acc, models, opts, g, out)
    assert start == 0 and list(state) == ["model_a", "model_b", "opt_a", "opt_b", "rng"]
    assert state["model_a"] is models["a"] and state["opt_b"] is opts["b"]
    out.save_checkpoint(5, state)
    again = {"a": torch.nn.Linear(2, 1), "b": torch.nn.Linear(2, 1)}
    opts2 = {k: torch.optim.SGD(m.parameters(), lr=0.1) for k, m in again.items()}
    _, start2 = prepare_arms(acc, again, opts2, torch.Generator(), RunDir(tmp_path))
    assert start2 == 5 and torch.equal(again["a"].weight, models["a"].weight)


def test_claim_kinds_are_judged_and_counted_apart():
    with pytest.raises(ValueError, match="claim kind 'check'"):
        Claim("t", "m", ">=", 1.0, kind="check")
    from kexue.runs import claims_summary

    claims = [Claim("a", "x", ">=", 1.0, ("quick",)), Claim("b", "y", "<", 0.0, ("quick",)),
              Claim("g", "z", "==", 2, ("quick",), kind="goal")]  # fmt: skip
    judged = judge_claims(claims, {"x": 2.0, "y": 1.0, "z": 2.0}, "quick")
    assert [c["kind"] for c in judged] == ["article", "article", "goal"]
    assert claims_summary(judged) == "article 1/2 · goal 1/1"
    assert claims_summary([{**judged[0], "pass": None}]) == ""  # not judged, not counted


def test_mixed_precision_autocasts_and_switches_within_one_process():
    """bf16 autocast on a prepared model, then a plain run in the same process (accelerate keeps
    one precision per process unless kexue resets it)."""
    seen = []

    class Probe(torch.nn.Linear):  # records the dtype inside forward (prepare casts outputs back)
        def forward(self, x):
            y = super().forward(x)
            seen.append(y.dtype)
            return y

    layer = Probe(3, 3)
    acc = make_accelerator(mixed_precision="bf16")
    assert acc.mixed_precision == "bf16"
    acc.prepare(layer)(torch.randn(2, 3))
    plain = make_accelerator()
    assert plain.mixed_precision == "no"
    plain.prepare(Probe(3, 3))(torch.randn(2, 3))
    assert seen == [torch.bfloat16, torch.float32]


def test_run_records_its_mixed_precision_and_refuses_fp16_without_a_gpu(tmp_path, capsys):
    argv = ["run", "wgan", "--budget", "smoke", "--quiet", "--set", "critic_steps=2", "--set",
            "gen_steps=1"]  # fmt: skip
    before = os.environ.get("ACCELERATE_MIXED_PRECISION")
    assert main([*argv, "--out", str(tmp_path / "bf16"), "--mixed-precision", "bf16"]) == 0
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["mixed_precision"] == "bf16"
    assert os.environ.get("ACCELERATE_MIXED_PRECISION") == before  # restored after the run
    assert main([*argv, "--out", str(tmp_path / "plain")]) == 0
    assert json.loads((tmp_path / "plain" / "config.json").read_text())["mixed_precision"] == "no"
    if not torch.cuda.is_available():
        capsys.readouterr()
        assert main([*argv, "--out", str(tmp_path / "fp16"), "--mixed-precision", "fp16"]) == 2
        assert "fp16 needs a GPU" in capsys.readouterr().err
        assert not (tmp_path / "fp16").exists()


def test_a_claim_about_another_arm_is_left_out_of_the_judgement():
    """`Claim.when`: a run whose Config has another value for the field is not judged on it."""
    from types import SimpleNamespace

    from kexue.cli import claims_for

    lstm_only = Claim("prior helps", "gain", ">", 0.0, ("quick",), when=(("model", "lstm"),))
    both = Claim("copies", "copy", ">", 0.5, ("quick",))
    recipe = SimpleNamespace(CLAIMS=(lstm_only, both))
    assert claims_for(recipe, None, {"model": "unilm"}) == ((both,), "fail")
    assert claims_for(recipe, None, {"model": "lstm"}) == ((lstm_only, both), "fail")
    assert claims_for(recipe, None) == ((lstm_only, both), "fail")  # no config: all of them


def test_set_takes_several_pairs_after_one_flag(tmp_path):
    out = tmp_path / "run"
    argv = ["run", "wgan", "--budget", "smoke", "--quiet", "--out", str(out)]
    assert main([*argv, "--set", "critic_steps=2", "gen_steps=1", "--set", "n_eval=50"]) == 0
    used = json.loads((out / "config.json").read_text())["config"]
    assert (used["critic_steps"], used["gen_steps"], used["n_eval"]) == (2, 1, 50)
