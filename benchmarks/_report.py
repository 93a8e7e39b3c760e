"""Shared report tail of the benchmark scripts (imported as `_report`: each script runs with
benchmarks/ on its path)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from kexue.runs import atomic_write_text


def write_report(path: str | os.PathLike[str], lines: Iterable[str]) -> str:
    """Join the Markdown `lines`, write them (atomically) to `path`, print them; the text."""
    text = "\n".join(lines)
    atomic_write_text(path, text)
    print(text)
    return text
