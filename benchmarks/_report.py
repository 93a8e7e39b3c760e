"""Shared report tail of the benchmark scripts (imported as `_report`: each script runs with
benchmarks/ on its path)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from kexue.runs import atomic_write_text


def write_report(path: str | os.PathLike[str], lines: Iterable[str]) -> str:
    """Join the Markdown `lines`, write them (atomically) to `path`, print them; the text."""
    text = "\n".join(lines)
    atomic_write_text(path, text)
    print(text)
    return text


def run_child(script: str, *args: str) -> dict[str, float]:
    """Run `script --child ARGS…` in a fresh Python (its own peak RSS) and return the JSON
    object it printed last."""
    cmd = [sys.executable, script, "--child", *args]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def fmt_bytes(n: float) -> str:
    """A byte count in KiB, MiB or GiB."""
    if n < 2**20:
        return f"{n / 2**10:,.0f} KiB"
    return f"{n / 2**20:,.0f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def cpu_name() -> str:
    """The processor's model name (Linux's /proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
