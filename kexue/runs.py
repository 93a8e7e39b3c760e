"""Run folders: configs, metrics, claims, history, checkpoints; atomic, resumable, NaN-safe.

A run folder holds::

    config.json              the resolved Config, budget, seed, world size, versions
    metrics.json             flat {name: number}, returned by the recipe's `run`
    claims.json              each claim: text, metric, op, threshold, measured, pass
    history.csv              one row per logged step
    *.png                    figures
    checkpoint.safetensors   every tensor of the training state; the rest (step, history,
                             non-tensor state) rides in the file's metadata, so one rename
                             commits a checkpoint whole
    error.txt                present only when the run failed

Every write goes to a temporary file in the same folder, is fsynced, then renamed over the
target, so a kill at any moment leaves either the old file or the new one, never half of one.
Only the main process writes; the others keep state in memory (distributed runs).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from kexue.articles import did_you_mean

__all__ = [
    "BUDGETS",
    "CLAIM_KINDS",
    "Claim",
    "DataSpec",
    "NonFiniteLossError",
    "Parts",
    "RunDir",
    "STATEMENT_STATUSES",
    "Reported",
    "Statement",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "claims_summary",
    "statements_doc",
    "config_dict",
    "data_fingerprint",
    "field_rules",
    "judge_claims",
    "make_accelerator",
    "param",
    "prepare_arms",
    "resolve_config",
    "seed_everything",
    "start_parts",
]

CHECKPOINT = "checkpoint.safetensors"
Budget = Literal["smoke", "quick", "full", "article"]
# `article`: the article's own architecture and hyperparameters at its scale (a recipe's ARTICLE
# dict), for a GPU and the user's data; tests run only a smoke of its wiring.
BUDGETS: tuple[str, ...] = ("smoke", "quick", "full", "article")


# ----------------------------------------------------------------------------- atomic writes
def _umask() -> int:
    # The only portable way to read the umask is to set it; put it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file 0600; give it the mode a plain open() would (0666 & ~umask).
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # The rename itself is durable only once the directory entry is on disk.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default)
    atomic_write_text(path, text + "\n")


# ----------------------------------------------------------------------------- seeding
def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a fresh `torch.Generator` seeded the same way.

    Recipes should draw their data and noise from the returned generator (or ones derived from
    it) so that its state can be checkpointed and a resumed run continues the same stream.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def make_accelerator(**kwargs: Any) -> Any:
    """An `accelerate.Accelerator` on the GPU when there is one, else on the CPU.

    Without `cpu=True`, accelerate treats a CPU-only torchrun launch as a single process; with
    it, the processes form a MULTI_CPU (gloo) group and gradients are averaged across them.
    Autocast: `mixed_precision` ("no", "bf16", "fp16": a GPU), else the
    ACCELERATE_MIXED_PRECISION variable (`kexue run --mixed-precision`), else none.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    # `kexue run --mixed-precision` and `accelerate launch --mixed_precision` set this variable;
    # an explicit argument (an image recipe's `amp`) wins over it.
    precision = kwargs.pop("mixed_precision", None) or os.environ.get(
        "ACCELERATE_MIXED_PRECISION", "no"
    )
    if precision == "fp16" and not torch.cuda.is_available():
        raise ValueError("mixed precision fp16 needs a GPU; on a CPU use bf16 or no")
    # accelerate keeps one precision per process; several runs in one process (`kexue
    # reproduce`, a notebook) may each ask for their own. The process group is kept.
    if AcceleratorState._shared_state.get("_mixed_precision", precision) != precision:
        AcceleratorState._reset_state()
    return Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=precision, **kwargs)


# ----------------------------------------------------------------------------- configs
def _convert(name: str, text: str, typ: Any) -> Any:
    """Convert the command-line `text` for field `name` to `typ` (bool, int, float, str, tuple)."""
    kind = typ if isinstance(typ, type) else None
    if isinstance(typ, str):  # postponed annotations: "int", "float", "tuple[int, ...]"
        kind = {"int": int, "float": float, "str": str, "bool": bool}.get(typ)
        if kind is None and typ.startswith("tuple"):
            inner = typ[typ.index("[") + 1 : typ.index(",") if "," in typ else -1].strip()
            elem = {"int": int, "float": float, "str": str}.get(inner, str)
            parts = [p for p in text.replace(" ", "").strip("()[]").split(",") if p]
            try:
                return tuple(elem(p) for p in parts)
            except ValueError:
                raise ValueError(
                    f"--set {name}={text}: expected a comma-separated list of {inner}"
                ) from None
    if kind is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {name}={text}: expected a boolean (true/false)")
    if kind in (int, float, str):
        try:
            return kind(text)
        except ValueError:
            raise ValueError(f"--set {name}={text}: expected {kind.__name__}") from None
    return text


def param(
    default: Any,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: Iterable[Any] | None = None,
) -> Any:
    """A Config field with a range or a set of choices, checked by `resolve_config`.

    `min`/`max` are inclusive bounds (for a tuple, on each element); `choices` lists the allowed
    values (for a tuple, of each element). Fields without `param` get the default rules of
    `field_rules`.
    """
    meta: dict[str, Any] = {}
    if min is not None:
        meta["min"] = min
    if max is not None:
        meta["max"] = max
    if choices is not None:
        meta["choices"] = tuple(choices)
    return field(default=default, metadata=meta)


# Names of integer fields that count something (steps, sizes, widths): at least 1.
_COUNT = re.compile(
    r"(^|_)(steps|epochs|iters|batch|size|dim|dims|hidden|width|depth|heads|layers|blocks|every|"
    r"seeds|repeats|replicates|draws|trials|samples|couplings|routings|maxlen|accum|n|d|emb|"
    r"dense|filters|channels)($|_)"
)


def field_rules(f: Any) -> dict[str, Any]:
    """The range or choices of a Config field: its `param` metadata, else rules from its name.

    Default rules, which hold for every recipe's Config: a seed is ≥ 0; an integer that counts
    (steps, epochs, sizes, `n_*`, ... but not warm-up lengths) is ≥ 1 when its default is; any
    other non-negative number stays non-negative; a learning rate (`lr`, `*_lr`) is > 0 (given
    as min = the smallest positive float); dropout-like rates lie in [0, 1].
    """
    if f.metadata:
        return dict(f.metadata)
    default = f.default
    sample = default[0] if isinstance(default, tuple) and default else default
    if isinstance(sample, bool) or not isinstance(sample, (int, float)):
        return {}
    name = f.name
    if name == "seed":
        return {"min": 0}
    if re.search(r"(^|_)lrs?($|_)", name):
        return {"min": 5e-324}
    if re.search(r"(^|_)(dropout|dropconnect|keep|top_p)($|_)", name):
        return {"min": 0.0, "max": 1.0}
    if isinstance(sample, int) and sample >= 1 and _COUNT.search(name) and "warmup" not in name:
        return {"min": 1}
    if sample >= 0:
        return {"min": 0}
    return {}


def _check_value(name: str, value: Any, rules: Mapping[str, Any]) -> None:
    items = value if isinstance(value, tuple) else (value,)
    for item in items:
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"--set {name}: {item} is not a finite number")
        if "choices" in rules and item not in rules["choices"]:
            valid = ", ".join(map(str, rules["choices"]))
            hint = did_you_mean(str(item), [str(c) for c in rules["choices"]])
            raise ValueError(f"--set {name}={item}: not one of {valid}{hint}")
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            lo, hi = rules.get("min"), rules.get("max")
            if lo is not None and item < lo:
                bound = "> 0" if lo == 5e-324 else f">= {lo}"
                raise ValueError(f"--set {name}={item}: must be {bound}")
            if hi is not None and item > hi:
                raise ValueError(f"--set {name}={item}: must be <= {hi}")


def resolve_config(
    config_cls: type,
    budget_overrides: Mapping[str, Any] | None = None,
    sets: Iterable[str] = (),
    **extra: Any,
) -> Any:
    """Build a frozen Config: defaults, then the budget's overrides, then `key=value` strings.

    Every value set from the command line is checked against `field_rules` (ranges, choices).

    Raises:
        ValueError: an unknown key (the message lists the valid ones), a value of the wrong type
            or out of its range.
    """
    valid = {f.name: f for f in fields(config_cls)}

    def known(key: str) -> str:
        if key not in valid:
            hint = did_you_mean(key, valid)
            raise ValueError(f"unknown config key {key!r}{hint}; valid: {', '.join(valid)}")
        return key

    values: dict[str, Any] = {}
    for source in (budget_overrides or {}, extra):
        for key, value in source.items():
            values[known(key)] = value
    checked = dict(extra)
    for item in sets:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        key = known(key.strip())
        values[key] = checked[key] = _convert(key, text.strip(), valid[key].type)
    for key, value in checked.items():
        _check_value(key, value, field_rules(valid[key]))
    return config_cls(**values)


def config_dict(cfg: Any) -> dict[str, Any]:
    return asdict(cfg) if is_dataclass(cfg) else dict(cfg)


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True)
class DataSpec:
    """What a recipe's `--data PATH` is: the Config field it fills and the format it reads.

    Attributes:
        field: the Config field that `--data` sets (a path, or None for the default data).
        format: the layout the recipe reads, in words (shown by `kexue show` and in errors).
        default: where the data comes from without `--data`.
    """

    field: str
    format: str
    default: str


def data_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """File count, total bytes and a hash of the listing (relative path and size of each file).

    Recorded in a run folder's config.json, so that resuming a run on other data is refused.
    Hidden paths are left out. Contents are not hashed: a 30 GB corpus would take minutes; a
    changed size or name is the cheap signal that the data is not the same.
    """
    root = Path(path).resolve()
    # Hidden files and folders are not data: kexue's own image cache (`.kexue-cache`) lives
    # there, and writing it must not make the run's data look changed on resume.
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )  # fmt: skip
    digest = hashlib.sha256()
    total = counted = 0
    for f in files:
        try:
            size = f.stat().st_size
        except OSError:  # vanished or unreadable since the listing: not part of the data
            continue
        total += size
        counted += 1
        rel = f.name if f == root else f.relative_to(root).as_posix()
        digest.update(f"{rel}\t{size}\n".encode())
    return {
        "path": str(root),
        "files": counted,
        "bytes": total,
        "listing_sha256": digest.hexdigest(),
    }


# ----------------------------------------------------------------------------- claims
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
}


CLAIM_KINDS = ("article", "goal")


@dataclass(frozen=True)
class Claim:
    """A statement of the article checked against a metric of the run.

    Attributes:
        text: the claim in words.
        metric: key of the recipe's metrics.
        op: comparison, one of >=, <=, >, <, ==.
        threshold: the bar (from the issue or the article; never lowered to pass).
        budgets: the budgets at which the claim is judged (smoke is never judged).
        kind: "article" for a statement the article makes (or a number it reports), "goal" for
            an aim beyond the article or parity with a peer library. Identities and bookkeeping
            are not claims at all: they are unit tests.
        interval: judge on a confidence bound, not the point estimate: the run records
            `metric_lo` and `metric_hi` (`kexue.stats.record_interval`), and the claim passes
            only when the bound on the pass side clears the bar (the lower bound for > and >=,
            the upper for < and <=). For small evaluations (under ~500 items, or one seed).
        when: Config values the claim is about, as (field, value) pairs: a run with other
            values (another model arm that does not measure it) is not judged on it.
    """

    text: str
    metric: str
    op: str
    threshold: float
    budgets: tuple[str, ...] = ("full",)
    kind: str = "article"
    interval: bool = False
    when: tuple[tuple[str, Any], ...] = ()

    def applies(self, config: Mapping[str, Any]) -> bool:
        """Whether a run with this Config (a mapping of its fields) is judged on the claim."""
        return all(config.get(key, value) == value for key, value in self.when)

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"claim op {self.op!r} not in {sorted(_OPS)}")
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"claim kind {self.kind!r} not in {CLAIM_KINDS}")
        if self.interval and self.op == "==":
            raise ValueError("an interval claim needs an inequality, not ==")

    @property
    def bound_key(self) -> str | None:
        """The metric whose value decides the claim: the interval's bound on the pass side."""
        if not self.interval:
            return None
        return f"{self.metric}_lo" if self.op in (">", ">=") else f"{self.metric}_hi"


@dataclass(frozen=True)
class Reported:
    """A number the article reports, shown beside kexue's measurement of the same quantity in
    docs/articles.md and `kexue show`, each labelled with the setting that produced it (the
    article fine-tuned pretrained checkpoints on the full data sets; CI's recipes train tiny
    models from scratch on offline proxies). It is context, never a claim: the settings differ.

    Attributes:
        quantity: what is measured, e.g. "SPO F1 (relation extraction)".
        value: the article's number.
        setting: how the article got it, e.g. "article: RoBERTa-wwm-ext base, DuIE 2.0 test".
        metric: the recipe's metric for the same quantity.
        ours: kexue's setting for that metric, e.g. "kexue: tiny BERT from scratch, proxy".
    """

    quantity: str
    value: float
    setting: str
    metric: str
    ours: str


def judge_claims(
    claims: Iterable[Claim],
    metrics: Mapping[str, float],
    budget: str,
    *,
    missing: str = "fail",
) -> list[dict[str, Any]]:
    """Judge every claim declared for `budget`; a non-finite metric fails, and so does an
    interval claim whose run recorded no interval.

    A missing metric fails (`missing="fail"`, for the recipes' own data) or is "not measured"
    (`missing="unmeasured"`, pass None: for a recipe's DATA_CLAIMS on the user's data, whose
    metrics need what a user's folder may lack, e.g. class subfolders for class coverage).
    """
    if missing not in ("fail", "unmeasured"):
        raise ValueError(f"missing must be 'fail' or 'unmeasured', got {missing!r}")
    out = []
    for c in claims:
        if budget not in c.budgets:
            continue
        measured = metrics.get(c.metric)
        interval = None
        decisive = measured
        if c.interval:
            lo, hi = metrics.get(f"{c.metric}_lo"), metrics.get(f"{c.metric}_hi")
            interval = None if lo is None or hi is None else [float(lo), float(hi)]
            decisive = metrics.get(c.bound_key)  # type: ignore[arg-type]
        ok = (
            decisive is not None
            and math.isfinite(float(decisive))
            and _OPS[c.op](float(decisive), c.threshold)
        )
        record = {
            "text": c.text,
            "kind": c.kind,
            "metric": c.metric,
            "op": c.op,
            "threshold": c.threshold,
            "measured": None if measured is None else float(measured),
            "pass": None if measured is None and missing == "unmeasured" else bool(ok),
        }
        if c.interval:
            record["interval"] = interval
        out.append(record)
    return out


STATEMENT_STATUSES = ("claim", "test", "untestable", "fails")


@dataclass(frozen=True)
class Statement:
    """A checkable statement of the article and where the project checks it.

    Attributes:
        text: the statement, paraphrased from the article (with its number where it gives one).
        status: "claim" (a recipe claim judges it; `where` is the claim's metric), "test" (a
            unit test checks it; `where` is the test's node id, e.g.
            "tests/stats/test_hsic.py::test_biased_matches_article"), "untestable" (cannot be
            checked offline or at this scale; `where` says why) or "fails" (measured and it
            does not reproduce here; `where` says what was measured and why).
        where: see `status`.
    """

    text: str
    status: str
    where: str

    def __post_init__(self) -> None:
        if self.status not in STATEMENT_STATUSES:
            raise ValueError(f"statement status {self.status!r} not in {STATEMENT_STATUSES}")
        if not self.where:
            raise ValueError(f"statement {self.text!r} needs `where` (metric, test or reason)")


def statements_doc(doc: str | None, statements: Iterable[Statement]) -> str:
    """A recipe's docstring with its article's checkable statements appended, so `help()` and
    `kexue show` list each statement and where it is checked."""
    labels = {
        "claim": "claim on",
        "test": "unit test",
        "untestable": "not testable:",
        "fails": "fails here:",
    }
    lines = ["", "Checkable statements of the article:"]
    for s in statements:
        lines.append(f"    - {s.text} [{labels[s.status]} {s.where}]")
    return (doc or "").rstrip() + "\n" + "\n".join(lines) + "\n"


def claims_summary(claims: Iterable[Mapping[str, Any]]) -> str:
    """'article 3/4 · goal 1/1': passed over judged, per kind (records without a kind are
    article claims; a claim whose `pass` is None was not judged and is not counted)."""
    counts: dict[str, list[int]] = {}
    for c in claims:
        if c.get("pass") is None:
            continue
        tally = counts.setdefault(c.get("kind", "article"), [0, 0])
        tally[0] += bool(c["pass"])
        tally[1] += 1
    return " · ".join(f"{k} {p}/{n}" for k in CLAIM_KINDS if k in counts for p, n in [counts[k]])


# ----------------------------------------------------------------------------- checkpoints
class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def _flatten(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor of a nested state by a reference; collect the tensors."""
    if isinstance(obj, torch.Tensor):
        key = prefix or "_"
        # safetensors refuses shared storage and non-contiguous views.
        tensors[key] = obj.detach().cpu().clone().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, Mapping):
        items = [[k, _flatten(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]
        # Keys may be ints (optimizer states); keep their type.
        return {"__dict__": [[k, v] for k, v in items]}
    if isinstance(obj, (list, tuple)):
        seq = [_flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
        return {"__tuple__": seq} if isinstance(obj, tuple) else seq
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot checkpoint a {type(obj).__name__} at {prefix or 'top level'}")


def _unflatten(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: _unflatten(v, tensors) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def _state_of(obj: Any) -> Any:
    if isinstance(obj, torch.Generator):
        return {"generator_state": obj.get_state()}
    if isinstance(obj, np.random.Generator):
        return {"numpy_state": json.dumps(obj.bit_generator.state)}
    if hasattr(obj, "state_dict"):
        return obj.state_dict()
    return obj  # plain data (dicts, numbers)


def _restore(obj: Any, state: Any) -> None:
    if isinstance(obj, torch.Generator):
        obj.set_state(state["generator_state"])
    elif isinstance(obj, np.random.Generator):
        obj.bit_generator.state = json.loads(state["numpy_state"])
    elif hasattr(obj, "load_state_dict"):
        obj.load_state_dict(state)
    elif isinstance(obj, dict):
        obj.clear()
        obj.update(state)
    else:
        raise TypeError(f"cannot restore a {type(obj).__name__}; pass a dict or a stateful object")


def _all_finite(tensors: Mapping[str, torch.Tensor]) -> bool:
    return all(
        bool(torch.isfinite(t).all()) for t in tensors.values() if torch.is_floating_point(t)
    )


class RunDir:
    """The folder of one run, and the recipe's handle on logging and checkpoints.

    Args:
        path: the run folder (created).
        is_main: only the main process writes files.
        checkpoint_every: `maybe_checkpoint` saves every this many steps ...
        checkpoint_seconds: ... or when this many seconds passed since the last save.
        budget: the budget the run was started with (recipes may read it).
        data: a user-supplied data path (`--data`), or None.
        progress: show a progress bar per phase on stderr (`progress`); by default only when
            stderr is a terminal. Only the main process ever shows one.
        say: where one-line notes ("resuming from step N of M") go; None keeps quiet.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        is_main: bool = True,
        checkpoint_every: int = 500,
        checkpoint_seconds: float = 60.0,
        budget: str = "full",
        data: str | None = None,
        progress: bool | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.is_main = is_main
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.budget = budget
        self.data = data
        self.history: list[dict[str, float]] = []
        self.resumed_from: int | None = None
        self.next_step = 0  # the step `log_next` records; `restore` moves it to the checkpoint
        self._last_save = time.monotonic()
        if progress is None:
            progress = sys.stderr.isatty()
        self.show_progress = bool(progress) and is_main
        self.say = say if is_main else None
        self.phase: tuple[str, int] | None = None  # (name, total) of the loop `progress` wraps
        self.checkpoint_step: int | None = None  # the step of the last checkpoint written/read
        if is_main:
            self.path.mkdir(parents=True, exist_ok=True)

    # -- progress
    def progress(self, steps: Iterable[int], desc: str, total: int | None = None) -> Iterable[int]:
        """Wrap a training loop's steps in a progress bar (step, rate, ETA) on stderr.

        `steps` is usually `range(start, stop)` of a resumed loop: the bar then starts at
        `start` of `stop`. The phase's name and length ride in the next checkpoint, so a resumed
        run can say "resuming from step N of M (desc)".
        """
        if isinstance(steps, range):
            total, initial = steps.stop, steps.start
        else:
            initial = 0
        self.phase = (desc, int(total) if total is not None else -1)
        if not self.show_progress:
            yield from steps
            return
        from tqdm.auto import tqdm

        # Some pseudo-terminals report 0 columns, where a dynamic bar draws nothing.
        width = shutil.get_terminal_size(fallback=(100, 24)).columns
        bar = tqdm(
            steps, desc=desc, total=total, initial=initial, unit="step", dynamic_ncols=width > 0,
            ncols=None if width > 0 else 100, leave=False, file=sys.stderr, mininterval=0.5,
        )  # fmt: skip
        try:
            yield from bar
        finally:
            bar.close()

    # -- files
    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, obj: Any) -> None:
        if self.is_main:
            atomic_write_json(self.path / name, obj)

    def write_text(self, name: str, text: str) -> None:
        if self.is_main:
            atomic_write_text(self.path / name, text)

    def write_bytes(self, name: str, data: bytes) -> None:
        if self.is_main:
            atomic_write_bytes(self.path / name, data)

    def write_weights(self, name: str, tensors: Mapping[str, torch.Tensor]) -> None:
        """Save weights (e.g. a `state_dict`) as one safetensors file, atomically; tied tensors
        are copied apart (safetensors refuses shared storage)."""
        if self.is_main:
            from safetensors.torch import save as save_tensors

            weights = {k: v.detach().cpu().clone() for k, v in tensors.items()}
            atomic_write_bytes(self.path / name, save_tensors(weights))

    def save_figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure as PNG atomically (rendered in memory, then renamed).

        A bare `matplotlib.figure.Figure` (what the recipes make) needs no pyplot; a figure a
        user made with pyplot is closed, since pyplot keeps every open figure alive otherwise.
        """
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        self.write_bytes(name, buf.getvalue())
        plt = sys.modules.get("matplotlib.pyplot")  # never imported here: it picks a backend
        if plt is not None:
            plt.close(fig)  # a no-op for a figure pyplot does not manage
        return self.path / name

    # -- history
    def log(self, step: int, **values: float) -> None:
        """Record one row of history; raise `NonFiniteLossError` if any value is NaN/inf."""
        row = {"step": int(step)}
        for key, value in values.items():
            value = float(value)
            if not math.isfinite(value):
                ckpt = self.path / CHECKPOINT
                kept = (
                    f"the last good checkpoint ({ckpt}) is kept and a re-run resumes from it"
                    if ckpt.exists()
                    else "no checkpoint had been written yet"
                )
                raise NonFiniteLossError(
                    f"{key} = {value} at step {step}; stopping: {kept}. "
                    f"Lower the learning rate or change the seed."
                )
            row[key] = value
        self.history.append(row)

    def log_next(self, **values: float) -> None:
        """`log` at a running step counter, for recipes made of several parts whose rows are
        numbered one after another; `save_checkpoint(out.next_step, state)` saves at it."""
        self.log(self.next_step, **values)
        self.next_step += 1

    def write_history(self) -> None:
        if not self.history:
            return
        keys: list[str] = []
        for row in self.history:
            keys += [k for k in row if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.history)
        self.write_text("history.csv", buf.getvalue())

    # -- checkpoints
    def save_checkpoint(self, step: int, objects: Mapping[str, Any]) -> None:
        """Save the state of `objects` (modules, optimizers, generators, dicts) as of `step`.

        `step` is the number of completed steps: a resumed loop starts at `step`. A state with a
        NaN/inf tensor is refused, so the previous checkpoint stays the last good one.
        """
        if not self.is_main:
            return
        tensors: dict[str, torch.Tensor] = {}
        skeleton = {name: _flatten(_state_of(obj), name, tensors) for name, obj in objects.items()}
        if not _all_finite(tensors):
            raise NonFiniteLossError(
                f"non-finite weights or optimizer state at step {step}; stopping: the last good "
                f"checkpoint ({self.path / CHECKPOINT}) is kept. Lower the learning rate or "
                f"change the seed."
            )
        meta = {
            "phase": json.dumps(self.phase),
            "step": json.dumps(int(step)),
            "state": json.dumps(skeleton),
            "history": json.dumps(self.history),
        }
        self.write_bytes(CHECKPOINT, st_save(tensors, metadata=meta))
        self.write_history()
        self._last_save = time.monotonic()
        self.checkpoint_step = int(step)

    def maybe_checkpoint(self, step: int, objects: Mapping[str, Any]) -> None:
        """Checkpoint after `step` completed steps if enough steps or seconds have passed."""
        due = step % self.checkpoint_every == 0
        late = time.monotonic() - self._last_save >= self.checkpoint_seconds
        if due or late:
            self.save_checkpoint(step, objects)

    def restore(self, objects: Mapping[str, Any]) -> int:
        """Load the folder's checkpoint into `objects`; return the step to resume from (0 if none).

        Raises:
            ValueError: the checkpoint names objects this run does not have (a different recipe).
        """
        path = self.path / CHECKPOINT
        if not path.exists():
            return 0
        raw = path.read_bytes()
        tensors = st_load(raw)
        from safetensors import safe_open  # metadata lives in the header

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = json.loads(meta["state"])
        missing = set(objects) - set(state)
        if missing:
            raise ValueError(
                f"{path}: checkpoint has no state for {sorted(missing)}; it belongs to another "
                f"run. Use a fresh --out folder."
            )
        for name, obj in objects.items():
            _restore(obj, _unflatten(state[name], tensors))
        step = int(json.loads(meta["step"]))
        self.history = [row for row in json.loads(meta["history"]) if row["step"] < step]
        self.resumed_from = step
        self.checkpoint_step = step
        self.next_step = step
        if self.say is not None:
            phase = json.loads(meta.get("phase", "null"))
            if phase and phase[1] >= 0:
                self.say(f"resuming from step {step} of {phase[1]} ({phase[0]})")
            else:
                self.say(f"resuming from step {step}")
        return step

    @property
    def last_step(self) -> int | None:
        """The last step logged to the history, or None before the first."""
        return self.history[-1]["step"] if self.history else None


class Parts:
    """The finished parts of a recipe made of several (arms, seeds, sets), for resuming.

    A part's values go into `results`, a dict checkpointed with the rest of `state`; `finish`
    adds them, marks the part done and saves a checkpoint, so a resumed run skips the finished
    parts and finds their values. The loop stays in the recipe::

        results: dict[str, object] = {}
        state = {"results": results, "rng": g}
        out.restore(state)
        parts = Parts(out, results, state)
        for name in arms:
            if not parts.done(name):
                ...  # train the arm
                parts.finish(name, {f"{name}_loss": loss})
            metrics[f"{name}_loss"] = results[f"{name}_loss"]

    Args:
        out: the run folder (checkpoints go there, at `out.next_step`).
        results: the finished parts' values; must be one of `state`'s values.
        state: everything the recipe checkpoints (as for `RunDir.save_checkpoint`).
    """

    def __init__(self, out: RunDir, results: dict[str, Any], state: Mapping[str, Any]) -> None:
        if not any(obj is results for obj in state.values()):
            raise ValueError("results must be one of the state's values, or it is not saved")
        self.out = out
        self.results = results
        self.state = state

    def done(self, key: str) -> bool:
        """Whether part `key` finished (in this process or before a resume)."""
        return f"_done_{key}" in self.results

    def finish(self, key: str, values: Mapping[str, Any]) -> None:
        """Add part `key`'s values to the results, mark it done and checkpoint the state."""
        self.results.update(values)
        self.results[f"_done_{key}"] = 1.0
        self.out.save_checkpoint(self.out.next_step, self.state)


def prepare_arms(
    acc: Any, models: dict[str, Any], opts: dict[str, Any], g: torch.Generator, out: RunDir
) -> tuple[dict[str, Any], int]:
    """Prepare each model with its optimiser for the accelerator (in place in `models` and
    `opts`) and restore the run's state `{"model_k": …, "opt_k": …, "rng": g}` from `out`.

    Returns:
        (state, start): the state to checkpoint and the step to resume from (0 when fresh).
    """
    for k in models:
        models[k], opts[k] = acc.prepare(models[k], opts[k])
    state = {**{f"model_{k}": m for k, m in models.items()},
             **{f"opt_{k}": o for k, o in opts.items()}, "rng": g}  # fmt: skip
    return state, out.restore(state)


def start_parts(
    seed: int, out: RunDir
) -> tuple[torch.Generator, Any, Parts, dict[str, Any], dict[str, Any]]:
    """The scaffold of a recipe made of resumable parts (arms, seeds, sets), restored.

    Seeds everything, makes the accelerator, gives each process its own stream
    (`seed * 1000 + process index`), restores `{"results": results, "rng": g}` from the run
    folder's checkpoint (rows are numbered on across the parts: `out.log_next`) and wraps it in
    `Parts`. The loops stay in the recipe.

    Returns:
        (g, acc, parts, results, state): the generator, the accelerator, the `Parts`, its
        results (the finished parts' values) and the checkpointed state.
    """
    g = seed_everything(seed)
    acc = make_accelerator()
    g.manual_seed(seed * 1000 + acc.process_index)
    results: dict[str, Any] = {}  # finished parts (checkpointed); a resume skips them
    state: dict[str, Any] = {"results": results, "rng": g}
    out.restore(state)
    return g, acc, Parts(out, results, state), results, state
