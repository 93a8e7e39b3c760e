"""Flows side by side: kexue's RealNVP and Glow against nflows, normflows, zuko and FrEIA
(spec flows.md §6.2; issue 5 item 4).

Run:   nice -n 10 .venv/bin/python benchmarks/flows.py --seeds 5 --out docs/benchmarks_flows.md
       [--track toy digits glow] [--only NAME-SUBSTRING ...] [--json raw.json]
Needs: pip install --no-deps nflows==0.14 normflows==1.7.3 zuko==1.6.0 FrEIA==0.2 (extra
       [bench]; --no-deps keeps torch as it is). Libraries that do not import are skipped.

Tracks (same data objects, seeds, float32, one thread, Adam 1e-3, no schedule):
  toy     RealNVP-8, MLP hidden (64, 64) ReLU, on FFJORD's 8 Gaussians (50k train / 20k test),
          batch 256, 1000 steps; held-out NLL in nats.
  digits  RealNVP-8 on flattened 8×8 digits (D = 64), hidden (256, 256), batch 128, 500 steps,
          w = (x+u)/17 − ½ (50 fixed dequantisation draws of the 1,200 training images);
          test bits/dim (4 noise draws). No early stopping: final and best evaluation reported.
  glow    Glow-mini on 1×8×8 digits (same data): squeeze → 8 × [ActNorm → 1×1 conv (LU) →
          affine coupling, net Conv3×3(64) → ReLU → Conv1×1(64) → ReLU → zero-init Conv3×3] →
          factor out half → squeeze → 8 steps; batch 128, 800 steps. Peers: nflows
          (SqueezeTransform, ActNorm, OneByOneConvolution, AffineCouplingTransform,
          MultiscaleCompositeTransform; N(0, I) on factored-out halves) and normflows (GlowBlock,
          Squeeze, Merge, GlowBase learned per-channel prior per level, MultiscaleFlow). FrEIA 0.2
          has no learned 1×1 convolution (only Fixed1x1Conv) and needs a GraphINN for splits, and
          zuko has no image flows: both are left out of this track.
Matched scale parametrisations: kexue runs with its default (atan clamp + ActNorm), with the
RealNVP paper's λ·tanh + ActNorm, and once with each peer's scale function (nflows
sigmoid(ŝ+2)+1e-3, normflows exp, zuko soft clip, FrEIA atan clamp — kexue's "softclamp" has
FrEIA's bound ±2 with slope 1 at 0, FrEIA's slope is 1.27) without ActNorm, so differences come
from the implementations. normflows' MaskedAffineFlow has
separate s and t networks: its hidden width is reduced to match the parameter count (reported).
FrEIA's GLOWCouplingBlock holds two couplings, so 4 blocks = 8 couplings.
Measured: held-out NLL at equal steps and at equal training time (the shortest total training
time of all entries of a track), training steps/s (median of 3 windows, first 20 steps excluded),
sampling samples/s (batch 1000), max round-trip error on the test set, parameter count; mean ±
std over seeds. Times are the training thread's CPU time (time.thread_time), not wall-clock: on
a shared machine wall time depends on what else runs; on an idle machine with one thread the
two agree. Evaluation time is excluded.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from kexue.data import DIGIT_LEVELS, toy2d
from kexue.flows import Glow, RealNVP, dequantize_uniform
from kexue.recipes import _flows


@dataclass
class Entry:
    """A trainable density model behind a uniform interface."""

    module: nn.Module
    log_prob: Callable[[torch.Tensor], torch.Tensor]
    sample: Callable[[int], torch.Tensor]
    round_trip: Callable[[torch.Tensor], torch.Tensor]


def _kexue(dim: int, hidden: tuple[int, ...], scale_fn: str, actnorm: bool) -> Entry:
    m = RealNVP(dim, n_couplings=8, hidden=hidden, scale_fn=scale_fn, actnorm=actnorm)
    return Entry(m, m.log_prob, lambda n: m.sample(n), lambda x: m.inverse(m(x)[0])[0])


def _nflows(dim: int, hidden: tuple[int, ...]) -> Entry:
    from nflows.distributions import StandardNormal
    from nflows.flows import Flow
    from nflows.nn.nets import MLP
    from nflows.transforms import AffineCouplingTransform, CompositeTransform

    class Net(nn.Module):  # nflows' MLP takes no context argument; its coupling passes one
        def __init__(self, a: int, b: int) -> None:
            super().__init__()
            self.mlp = MLP((a,), (b,), list(hidden))

        def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
            return self.mlp(x)

    layers = []
    for i in range(8):
        mask = torch.tensor([1 if (j + i) % 2 else -1 for j in range(dim)])
        layers.append(AffineCouplingTransform(mask, Net))
    t = CompositeTransform(layers)
    f = Flow(t, StandardNormal([dim]))
    return Entry(f, f.log_prob, lambda n: f.sample(n), lambda x: t.inverse(t(x)[0])[0])


def _normflows(dim: int, hidden: tuple[int, ...]) -> Entry:
    import normflows as nf

    flows = []
    for i in range(8):
        b = torch.tensor([(j + i) % 2 for j in range(dim)], dtype=torch.float32)
        s = nf.nets.MLP([dim, *hidden, dim], init_zeros=True)
        t = nf.nets.MLP([dim, *hidden, dim], init_zeros=True)
        flows.append(nf.flows.MaskedAffineFlow(b, t, s))
    m = nf.NormalizingFlow(nf.distributions.DiagGaussian(dim, trainable=False), flows)
    return Entry(m, m.log_prob, lambda n: m.sample(n)[0], lambda x: m.forward(m.inverse(x)))


def _zuko(dim: int, hidden: tuple[int, ...]) -> Entry:
    import zuko

    f = zuko.flows.RealNVP(dim, transforms=8, hidden_features=hidden)

    def round_trip(x: torch.Tensor) -> torch.Tensor:
        t = f().transform
        return t.inv(t(x))

    return Entry(f, lambda x: f().log_prob(x), lambda n: f().sample((n,)), round_trip)


def _freia(dim: int, hidden: tuple[int, ...]) -> Entry:
    import FrEIA.framework as Ff
    import FrEIA.modules as Fm

    def subnet(c_in: int, c_out: int) -> nn.Module:
        sizes = [c_in, *hidden, c_out]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
        return nn.Sequential(*layers)

    inn = Ff.SequenceINN(dim)
    for _ in range(4):
        inn.append(Fm.GLOWCouplingBlock, subnet_constructor=subnet, clamp=2.0)

    def log_prob(x: torch.Tensor) -> torch.Tensor:
        z, ljd = inn(x)
        return -0.5 * z.pow(2).sum(1) - 0.5 * dim * math.log(2 * math.pi) + ljd

    return Entry(
        inn,
        log_prob,
        lambda n: inn(torch.randn(n, dim), rev=True)[0],
        lambda x: inn(inn(x)[0], rev=True)[0],
    )


def _conv_net(c_in: int, c_out: int, width: int) -> nn.Module:
    """Glow's coupling net for the peers: Conv3×3 → ReLU → Conv1×1 → ReLU → zero-init Conv3×3."""
    from kexue.flows import conv_net

    return conv_net(c_in, c_out, width)


def _kexue_glow(width: int, **kw: object) -> Entry:
    m = Glow((1, 8, 8), levels=2, depth=8, width=width, **kw)
    return Entry(m, m.log_prob, lambda n: m.sample(n), lambda x: m.inverse(m(x)[0])[0])


def _nflows_glow(width: int) -> Entry:
    from nflows.distributions import StandardNormal
    from nflows.flows import Flow
    from nflows.transforms import (
        ActNorm,
        AffineCouplingTransform,
        CompositeTransform,
        MultiscaleCompositeTransform,
        OneByOneConvolution,
        SqueezeTransform,
    )

    mct = MultiscaleCompositeTransform(2, split_dim=1)
    c, h, w = 1, 8, 8
    for _ in range(2):
        squeeze = SqueezeTransform()
        c, h, w = squeeze.get_output_shape(c, h, w)
        mask = torch.tensor([-1] * (c // 2) + [1] * (c - c // 2))  # condition on the first half
        layers: list[nn.Module] = [squeeze]
        for _ in range(8):
            layers += [
                ActNorm(c),
                OneByOneConvolution(c),
                AffineCouplingTransform(mask, lambda a, b: _NflowsNet(_conv_net(a, b, width))),
            ]
        hidden = mct.add_transform(CompositeTransform(layers), (c, h, w))
        if hidden is not None:  # the last level returns None (nothing split off)
            c, h, w = hidden
    f = Flow(mct, StandardNormal([64]))

    def round_trip(x: torch.Tensor) -> torch.Tensor:
        return mct.inverse(mct(x)[0])[0]

    return Entry(f, f.log_prob, lambda n: f.sample(n), round_trip)


class _NflowsNet(nn.Module):
    """nflows' coupling passes a context argument; the conv net takes none."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)


def _normflows_glow(width: int) -> Entry:
    import normflows as nf

    flows, merges, q0 = [], [], []
    for i in range(2):  # normflows lists levels in the generative direction, deepest first
        c = 2 ** (3 - i)
        flows.append([nf.flows.GlowBlock(c, width, split_mode="channel") for _ in range(8)])
        flows[-1].append(nf.flows.Squeeze())
        if i > 0:
            merges.append(nf.flows.Merge())
            q0.append(nf.distributions.GlowBase((2, 4, 4)))
        else:
            q0.append(nf.distributions.GlowBase((8, 2, 2)))
    m = nf.MultiscaleFlow(q0, flows, merges, class_cond=False)

    def round_trip(x: torch.Tensor) -> torch.Tensor:
        z, _ = m.inverse_and_log_det(x)
        return m.forward_and_log_det(z)[0]

    return Entry(m, lambda x: m.log_prob(x, None), lambda n: m.sample(n)[0], round_trip)


# name -> builder(dim, hidden) for the RealNVP tracks.
ENTRIES: dict[str, Callable[[int, tuple[int, ...]], Entry]] = {
    "kexue (atan clamp + ActNorm, default)": lambda d, h: _kexue(d, h, "softclamp", True),
    "kexue (tanh + ActNorm, paper)": lambda d, h: _kexue(d, h, "tanh", True),
    "kexue (nflows scale)": lambda d, h: _kexue(d, h, "nflows", False),
    "kexue (exp scale)": lambda d, h: _kexue(d, h, "exp", False),
    "kexue (zuko scale)": lambda d, h: _kexue(d, h, "zuko", False),
    "kexue (atan clamp)": lambda d, h: _kexue(d, h, "softclamp", False),
    "nflows 0.14": _nflows,
    "normflows 1.7.3": lambda d, h: _normflows(d, tuple({64: 45, 256: 160}[w] for w in h)),
    "zuko 1.6.0": _zuko,
    "FrEIA 0.2": _freia,
}

# name -> builder(dim, hidden) for the Glow-mini track (hidden = (width,)).
GLOW_ENTRIES: dict[str, Callable[[int, tuple[int, ...]], Entry]] = {
    "kexue Glow (default: conditional split prior)": lambda d, h: _kexue_glow(h[0]),
    "kexue Glow (unconditional split prior)": lambda d, h: _kexue_glow(
        h[0], split_prior="standard"
    ),
    "kexue Glow (nflows scale, unconditional)": lambda d, h: _kexue_glow(
        h[0], split_prior="standard", scale_fn="nflows"
    ),
    "nflows 0.14 (Glow)": lambda d, h: _nflows_glow(h[0]),
    "normflows 1.7.3 (Glow)": lambda d, h: _normflows_glow(h[0]),
}


@dataclass(frozen=True)
class Track:
    name: str
    dim: int
    hidden: tuple[int, ...]
    batch: int
    steps: int
    eval_every: int
    unit: str
    model: str
    entries: dict[str, Callable[[int, tuple[int, ...]], Entry]]


TRACKS = {
    "toy": Track("toy", 2, (64, 64), 256, 1000, 100, "nats", "RealNVP-8", ENTRIES),
    "digits": Track("digits", 64, (256, 256), 128, 500, 100, "bits/dim", "RealNVP-8", ENTRIES),
    "glow": Track(
        "glow", 64, (64,), 128, 800, 100, "bits/dim", "Glow-mini (L=2, K=8)", GLOW_ENTRIES
    ),
}


def _data(track: Track, seed: int) -> tuple[torch.Tensor, Callable[[Entry], float], torch.Tensor]:
    """Training data, a held-out evaluator, and a float test batch for the round trip."""
    if track.name == "toy":
        train = torch.from_numpy(toy2d("wide_eight_gaussians", 50_000, seed=seed))
        test = torch.from_numpy(toy2d("wide_eight_gaussians", 20_000, seed=10_000 + seed))

        def evaluate(e: Entry) -> float:
            with torch.no_grad():
                return float(-e.log_prob(test).mean())

        return train, evaluate, test
    d = _flows.digit_splits(seed)
    g = torch.Generator().manual_seed(seed)
    train = torch.cat([dequantize_uniform(d["train"], DIGIT_LEVELS, g) for _ in range(50)])
    test = _flows.dequantize_test(d["test"])
    if track.name == "glow":  # images (B, 1, 8, 8)

        def evaluate(e: Entry) -> float:
            with torch.no_grad():
                return _flows.bpd(e.log_prob, d["test"], 4, 2)

        return train, evaluate, test

    def evaluate_flat(e: Entry) -> float:
        with torch.no_grad():
            return _flows.bpd(lambda w: e.log_prob(w.flatten(1)), d["test"], 4, 2)

    return train.flatten(1), evaluate_flat, test.flatten(1)


def run_one(track: Track, name: str, seed: int) -> dict[str, float]:
    torch.manual_seed(seed)
    train, evaluate, test = _data(track, seed)
    entry = track.entries[name](track.dim, track.hidden)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(entry.module.parameters(), lr=1e-3)
    curve: list[tuple[float, float]] = []  # (training seconds, held-out value)
    step_times: list[float] = []
    failures = 0
    train_time = wall_time = 0.0
    for step in range(track.steps):
        x = train[torch.randint(len(train), (track.batch,), generator=g)]
        w0, t0 = time.perf_counter(), time.thread_time()
        loss = -entry.log_prob(x).mean()
        if not torch.isfinite(loss):
            failures += 1
            continue
        opt.zero_grad()
        loss.backward()
        opt.step()
        dt = time.thread_time() - t0
        wall_time += time.perf_counter() - w0
        train_time += dt
        if step >= 20:
            step_times.append(dt)
        if (step + 1) % track.eval_every == 0:
            entry.module.eval()
            curve.append((train_time, evaluate(entry)))
            entry.module.train()
    entry.module.eval()
    windows = np.array_split(np.array(step_times), 3)
    steps_per_s = statistics.median(len(w) / w.sum() for w in windows)
    with torch.no_grad():
        t0 = time.thread_time()
        for _ in range(3):
            entry.sample(1000)
        samples_per_s = 3000 / (time.thread_time() - t0)
        inv_err = float((entry.round_trip(test) - test).abs().max())
    return {
        "final": curve[-1][1],
        "best": min(v for _, v in curve),
        "curve": curve,
        "train_time": train_time,
        "wall_time": wall_time,
        "steps_per_s": steps_per_s,
        "samples_per_s": samples_per_s,
        "inverse_error": inv_err,
        "params": float(sum(p.numel() for p in entry.module.parameters())),
        "failures": float(failures),
    }


def _at_time(curve: list[tuple[float, float]], budget: float) -> float:
    done = [v for t, v in curve if t <= budget + 1e-9]
    return done[-1] if done else float("nan")


def _fmt(values: list[float], digits: int = 3) -> str:
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return "–"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def paired_rates(track: Track, names: list[str], rounds: int, block: int) -> dict[str, float]:
    """Training steps/s with the entries interleaved: `rounds` × (`block` steps of each entry).

    On a shared machine the load drifts over the minutes that the per-entry runs take; taking
    turns exposes every entry to the same load, so these rates compare libraries fairly. The
    first round (DDI, allocator warm-up) is not timed; the median over rounds is returned.
    """
    torch.manual_seed(0)
    train, _, _ = _data(track, 0)
    g = torch.Generator().manual_seed(0)
    entries = {n: track.entries[n](track.dim, track.hidden) for n in names}
    opts = {n: torch.optim.Adam(e.module.parameters(), lr=1e-3) for n, e in entries.items()}
    rates: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds + 1):
        for n, e in entries.items():
            batches = [
                train[torch.randint(len(train), (track.batch,), generator=g)] for _ in range(block)
            ]
            t0 = time.thread_time()
            for x in batches:
                loss = -e.log_prob(x).mean()
                opts[n].zero_grad()
                loss.backward()
                opts[n].step()
            if r:
                rates[n].append(block / (time.thread_time() - t0))
    return {n: statistics.median(v) for n, v in rates.items()}


def _is_peer(name: str) -> bool:
    return not name.startswith("kexue")


def table(
    track: Track, results: dict[str, list[dict]], paired: dict[str, float] | None = None
) -> list[str]:
    """Markdown rows for one track.

    Equal time: the time the fastest entry needs for all its steps; with `paired` rates an entry
    has then done rate × time steps and its last evaluation before that is reported; without,
    each run's own measured training time is used.
    """
    u = track.unit
    if paired:
        budget = min(track.steps / paired[n] for n in results)
        fastest = max(paired[n] for n in results if _is_peer(n))

        def at_budget(n: str, r: dict) -> float:
            k = int(budget * paired[n] + 1e-6) // track.eval_every
            return r["curve"][k - 1][1] if k >= 1 else float("nan")
    else:
        budget = min(min(r["train_time"] for r in rs) for rs in results.values())

        def at_budget(n: str, r: dict) -> float:
            return _at_time(r["curve"], budget)

    rate_cols = " train steps/s (paired) | × fastest peer |" if paired else ""
    lines = [
        f"### {track.name}: {track.model}, hidden {track.hidden}, {track.steps} steps, "
        f"batch {track.batch} (held-out {u}; equal time = {budget:.1f} s of training)",
        "",
        f"| library | {u} at {track.steps} steps | best over evals | {u} at {budget:.1f} s | "
        f"train steps/s (own run) |{rate_cols} samples/s | max inverse error | params | "
        "NaN steps |",
        "|---|---|---|---|---|" + ("---|---|" if paired else "") + "---|---|---|---|",
    ]
    for n, rs in results.items():
        rates = f" {paired[n]:.1f} | {paired[n] / fastest:.2f} |" if paired else ""
        lines.append(
            f"| {n} | {_fmt([r['final'] for r in rs])} | {_fmt([r['best'] for r in rs])} | "
            f"{_fmt([at_budget(n, r) for r in rs])} | "
            f"{_fmt([r['steps_per_s'] for r in rs], 0)} |{rates} "
            f"{_fmt([r['samples_per_s'] for r in rs], 0)} | "
            f"{max(r['inverse_error'] for r in rs):.1e} | "
            f"{int(rs[0]['params'])} | {int(sum(r['failures'] for r in rs))} |"
        )
    return [*lines, ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--track", nargs="+", default=list(TRACKS), choices=list(TRACKS))
    ap.add_argument("--only", nargs="*", default=None, help="substrings of entry names")
    ap.add_argument("--steps", type=int, default=None, help="override every track's steps")
    ap.add_argument("--paired", type=int, default=0, help="rounds of interleaved timing (0: off)")
    ap.add_argument("--block", type=int, default=20, help="steps per entry per paired round")
    ap.add_argument("--json", default=None, help="write the raw per-seed results here")
    ap.add_argument("--from-json", default=None, help="reuse the training results stored here")
    ap.add_argument("--out", default=None, help="write the markdown table here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    lines = [f"torch {torch.__version__}, 1 thread, {args.seeds} seeds (mean ± std).", ""]
    raw: dict[str, dict] = {}
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as f:
            raw = json.load(f)
    skipped: list[str] = []
    for tname in args.track:
        track = TRACKS[tname]
        if args.steps:
            track = replace(track, steps=args.steps, eval_every=max(1, args.steps // 5))
        names = []
        for name, build in track.entries.items():
            if args.only and not any(s in name for s in args.only):
                continue
            try:
                build(track.dim, track.hidden)
                names.append(name)
            except ImportError as exc:
                skipped.append(f"{name}: {exc}")
        results = raw.get(tname, {})
        for n in names:
            if n not in results:
                results[n] = [run_one(track, n, s) for s in range(args.seeds)]
                print(f"{tname} {n}: done", flush=True)
        results = {n: results[n] for n in names}
        paired = raw.get(f"{tname}:paired")
        if args.paired:
            paired = paired_rates(track, names, args.paired, args.block)
        raw[tname], raw[f"{tname}:paired"] = results, paired
        lines += table(track, results, paired)
        print("\n".join(table(track, results, paired)), flush=True)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(raw, f)
    if skipped:
        lines += ["Skipped (did not import): " + "; ".join(skipped), ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
