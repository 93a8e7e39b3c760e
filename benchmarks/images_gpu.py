"""Training throughput of the image models on a GPU: GAN-QP, WGAN-GP, Glow, f-VAE (issue 12).

Each arm trains for `--seconds` (after `--warmup` untimed iterations, where torch.compile
compiles) on the synthetic shapes set (`kexue.data.shapes_array` at ≤ 64 px, bilinearly upscaled
to 128 px) or on random pixels (`--data random`), held on the GPU as uint8 so that the numbers
are the models' own, not a loader's (benchmarks/images.py measures the loader). Variants
(`--variants`, comma-separated; `+` combines): fp32, bf16 (autocast), compile (torch.compile of
the networks or loss), e.g. `fp32,bf16,compile,bf16+compile`.

Arms, with the authors' networks and optimisers:
    gan-qp-64, gan-qp-128   QPGenerator / QPCritic (BatchNorm critic, full width 8·px), z 128,
                            batch 64, Adam(2e-4, β1 0.5), 2 critic steps per generator step,
                            gan_qp_d_loss (λ 10, L1) / gan_qp_g_loss  [bojone/gan-qp 128/]
    wgan-gp-128             the same generator; the critic without BatchNorm (the penalty is per
                            sample), wgan losses + 10·gradient_penalty, Adam(1e-4, (0.5, 0.9)),
                            5 critic steps per generator step (WGAN-GP's n_critic)
    glow-64                 kexue.flows.Glow (3, 64, 64): L 3, K 10, width 512, additive
                            coupling, shuffle permutation, zero-init actnorm (bojone/flow
                            glow.py at 64 px), batch 64, Adam 1e-4, NLL of dequantised pixels
    f-vae-64                FVAE: E = 3 × [squeeze → 12 residual steps], G its mirror, prior
                            Glow (192, 8, 8) L 3, K 12, width 256, additive (bojone/flow
                            f-VAEs.py at 128 px has L 4 on 16×16 codes: both end at 2×2),
                            batch 64, Adam 1e-4, negative ELBO

The GAN-QP article reports WGAN-GP 1.5× slower per step than GAN-QP at 128 px; the report
gives the measured ratio of milliseconds per critic step and per iteration at the same schedule.
images/s counts the real images a step consumes (critic steps for the GANs, as kimg counts).
With compile, the WGAN-GP critic stays eager: its penalty needs a double backward, which
compiled (AOTAutograd) graphs do not support; the table's note says so.

Run (GPU): .venv/bin/python benchmarks/images_gpu.py [--seconds 120] [--variants fp32,bf16,compile]
           [--arms gan-qp-64,...] [--data shapes|random] [--out docs/benchmarks_images_gpu.md]
     A 10-minute device slot fits about `--seconds 15` for all 5 arms × 3 variants
     (15 × (15 s + warm-up and compilation)); `--arms` and `--variants` narrow it.
     (CPU): .venv/bin/python benchmarks/images_gpu.py --smoke --out /tmp/gpu_smoke.md
            (tiny sizes, 2 steps: checks the wiring, measures nothing)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from _report import write_report
from torch import Tensor, nn

from kexue.data import dequantize_uint8, shapes_array
from kexue.flows import FVAE, Glow, decoder, encoder
from kexue.gan import (
    QPCritic,
    QPGenerator,
    gan_qp_d_loss,
    gan_qp_g_loss,
    gradient_penalty,
    wgan_d_loss,
    wgan_g_loss,
)

ARMS = ("gan-qp-64", "gan-qp-128", "wgan-gp-128", "glow-64", "f-vae-64")


@dataclass(frozen=True)
class Variant:
    name: str
    bf16: bool
    compile: bool


def _variants(text: str) -> list[Variant]:
    out = []
    for token in text.split(","):
        parts = set(token.strip().split("+"))
        if not parts <= {"fp32", "bf16", "compile"} or {"fp32", "bf16"} <= parts:
            sys.exit(f"unknown variant {token!r}: fp32, bf16, compile, joined by + (bf16+compile)")
        out.append(Variant(token.strip(), "bf16" in parts, "compile" in parts))
    return out


@dataclass
class Setup:
    device: torch.device
    variant: Variant
    smoke: bool
    backend: str

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, torch.bfloat16, enabled=self.variant.bf16)

    def place(self, module: nn.Module) -> nn.Module:
        module = module.to(self.device)
        if self.device.type == "cuda":  # tensor cores prefer NHWC convolutions
            module = module.to(memory_format=torch.channels_last)
        return module

    def wrap(self, fn: Callable) -> Callable:
        return torch.compile(fn, backend=self.backend) if self.variant.compile else fn


class _GAN:
    """One iteration = n_d critic steps then one generator step, each on a fresh real batch
    and fresh z (the GAN-QP code's loop); times the two phases separately."""

    def __init__(self, size: int, kind: str, setup: Setup, batch: int) -> None:
        width = 32 if setup.smoke else None  # None: the author's 8·size channels
        self.kind, self.setup, self.batch = kind, setup, batch
        self.n_d = 2 if kind == "qp" else 5
        self.g = setup.place(QPGenerator(size, 128, width=width))
        self.d = setup.place(QPCritic(size, width=width, norm="batch" if kind == "qp" else "none"))
        self.g_call, self.d_call = setup.wrap(self.g), setup.wrap(self.d)
        self.note = ""
        if kind == "gp" and setup.variant.compile and setup.backend != "eager":
            # the penalty differentiates the critic's input gradient again, and compiled
            # (AOTAutograd) graphs have no double backward: the critic stays eager
            self.d_call = self.d
            self.note = "critic not compiled (torch.compile has no double backward)"
        lr, betas = (2e-4, (0.5, 0.999)) if kind == "qp" else (1e-4, (0.5, 0.9))
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=lr, betas=betas)
        self.params = sum(p.numel() for m in (self.g, self.d) for p in m.parameters())
        self.times = [0.0, 0.0]  # seconds in critic steps, in generator steps
        self.steps = [0, 0]

    def _z(self) -> Tensor:
        return torch.randn(self.batch, 128, device=self.setup.device)

    def iteration(self, real: Iterator[Tensor]) -> float:
        t0 = time.perf_counter()
        self.d.requires_grad_(True)
        for _ in range(self.n_d):
            x = next(real)
            with self.setup.autocast():
                with torch.no_grad():
                    fake = self.g_call(self._z())
                d_real, d_fake = self.d_call(x), self.d_call(fake)
                if self.kind == "qp":
                    loss = gan_qp_d_loss(d_real.float(), d_fake.float(), x, fake.float())
                else:
                    loss = wgan_d_loss(d_real.float(), d_fake.float())
                    loss = loss + 10 * gradient_penalty(self.d_call, x, fake.float())
            self.opt_d.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_d.step()
        t1 = _sync(self.setup.device)
        self.d.requires_grad_(False)
        with self.setup.autocast():
            fake = self.g_call(self._z())
            if self.kind == "qp":
                loss = gan_qp_g_loss(self.d_call(next(real)).float(), self.d_call(fake).float())
            else:
                loss = wgan_g_loss(self.d_call(fake).float())
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        t2 = _sync(self.setup.device)
        self.times[0] += t1 - t0
        self.times[1] += t2 - t1
        self.steps[0] += self.n_d
        self.steps[1] += 1
        return float(loss.detach())

    def images(self, iterations: int) -> int:
        return iterations * self.n_d * self.batch


class _Likelihood:
    """One iteration = one Adam step on a density model's loss (Glow's NLL, f-VAE's −ELBO)."""

    def __init__(self, model: nn.Module, loss: Callable[[Tensor], Tensor], setup: Setup,
                 batch: int) -> None:  # fmt: skip
        self.model, self.setup, self.batch = setup.place(model), setup, batch
        self.loss = setup.wrap(loss)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.note = ""
        self.times, self.steps = [0.0, 0.0], [0, 0]

    def iteration(self, real: Iterator[Tensor]) -> float:
        t0 = time.perf_counter()
        with self.setup.autocast():
            loss = self.loss(next(real)).float()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.times[0] += _sync(self.setup.device) - t0
        self.steps[0] += 1
        return float(loss.detach())

    def images(self, iterations: int) -> int:
        return iterations * self.batch


def _glow(size: int, smoke: bool) -> Glow:
    levels, depth, width = (2, 1, 8) if smoke else (3, 10, 512)
    return Glow((3, size, size), levels=levels, depth=depth, width=width, coupling="additive",
                permutation="shuffle", actnorm_ddi=False)  # fmt: skip


def _fvae(size: int, smoke: bool) -> FVAE:
    # the author's prior has 4 levels on 16×16×192 codes (128 px), ending at 2×2; at 64 px the
    # codes are 8×8×192 and 3 levels end at the same 2×2
    squeezes, res, levels, depth, width = (2, 1, 2, 1, 8) if smoke else (3, 12, 3, 12, 256)
    channels = [3 * 4**i for i in range(squeezes)]  # 3, 12, 48: each squeeze quadruples them
    # the author's residual steps keep the channel count: hidden width = the squeezed channels
    enc = nn.Sequential(*[encoder(c, res, 4 * c) for c in channels])
    dec = nn.Sequential(*[decoder(c, res, 4 * c) for c in reversed(channels)])
    h = (4 * channels[-1], size // 2**squeezes, size // 2**squeezes)
    prior = Glow(h, levels=levels, depth=depth, width=width, coupling="additive",
                 permutation="shuffle", actnorm_ddi=False, squeeze_first=False)  # fmt: skip
    return FVAE(enc, dec, prior)


def _build(arm: str, setup: Setup) -> tuple[object, int, str]:
    """(trainer, image side, how pixels enter: "unit" [−1, 1], "dequant" [0, 1) or
    "dequant_unit" (dequantised, then [−1, 1]))."""
    kind, size = arm.rsplit("-", 1)
    size = int(size) // (8 if setup.smoke else 1)  # smoke: 8 or 16 px
    if kind in ("gan-qp", "wgan-gp"):
        return _GAN(size, "qp" if kind == "gan-qp" else "gp", setup, 64), size, "unit"
    if kind == "glow":
        model = _glow(size, setup.smoke)
        return _Likelihood(model, lambda x: model.nll(x), setup, 64), size, "dequant"
    size = max(size, 16)  # two squeezes and a 2-level prior need ≥ 16 px
    model = _fvae(size, setup.smoke)
    return _Likelihood(model, lambda x: model.neg_elbo(x).mean(), setup, 64), size, "dequant_unit"


@functools.cache
def _data(kind: str, n: int, size: int) -> Tensor:
    """(n, 3, size, size) uint8, made once per size: the shapes (drawn at ≤ 64 px) or noise."""
    if kind == "random":
        g = torch.Generator().manual_seed(0)
        return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    images, _ = shapes_array(n, size=min(size, 64), seed=0)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    if size > 64:
        x = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False)
        x = x.round().clamp(0, 255).to(torch.uint8)
    return x


def _stream(pixels: Tensor, batch: int, mode: str, setup: Setup) -> Iterator[Tensor]:
    g = torch.Generator(device=pixels.device).manual_seed(0)
    while True:
        idx = torch.randint(0, len(pixels), (batch,), device=pixels.device, generator=g)
        x = pixels[idx]
        if mode == "unit":
            x = x.float() / 127.5 - 1.0
        elif mode == "dequant":
            x = dequantize_uint8(x)
        else:  # "dequant_unit", the f-VAE: dequantised, then [−1, 1] as the author's x/255·2 − 1
            x = dequantize_uint8(x) * 2.0 - 1.0
        if setup.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        yield x


def _sync(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _measure(arm: str, variant: Variant, args: argparse.Namespace,
             device: torch.device) -> dict[str, object]:  # fmt: skip
    setup = Setup(device, variant, args.smoke, args.compile_backend)
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    trainer, size, mode = _build(arm, setup)
    pixels = _data(args.data, args.n_data, size).to(device)
    real = _stream(pixels, trainer.batch, mode, setup)
    for _ in range(args.warmup):  # compilation and cuDNN autotuning happen here
        trainer.iteration(real)
    trainer.times, trainer.steps = [0.0, 0.0], [0, 0]
    t0 = _sync(device)
    iterations, loss = 0, math.nan
    while True:
        loss = trainer.iteration(real)
        iterations += 1
        elapsed = time.perf_counter() - t0
        if iterations >= args.steps if args.steps else elapsed >= args.seconds:
            break
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    ms = [1000 * t / s if s else None for t, s in zip(trainer.times, trainer.steps, strict=True)]
    return {
        "arm": arm,
        "px": size,
        "batch": trainer.batch,
        "variant": variant.name,
        "it_s": iterations / elapsed,
        "img_s": trainer.images(iterations) / elapsed,
        "ms_step": ms[0],
        "ms_g": ms[1],
        "n_d": getattr(trainer, "n_d", None),
        "peak_mib": peak,
        "params_m": trainer.params / 1e6,
        "loss": loss,
        "iterations": iterations,
        "note": "; ".join(
            n for n in (trainer.note, "" if math.isfinite(loss) else "non-finite loss") if n
        ),  # fmt: skip
    }


def _cell(v: object, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="timed seconds per arm")
    parser.add_argument("--steps", type=int, default=0, help="timed iterations instead")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--variants", default="fp32,bf16,compile")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--data", choices=("shapes", "random"), default="shapes")
    parser.add_argument("--n-data", type=int, default=1024, help="images held on the device")
    parser.add_argument("--compile-backend", default="inductor")
    parser.add_argument("--smoke", action="store_true", help="CPU wiring check: tiny, 2 steps")
    parser.add_argument("--out", default="docs/benchmarks_images_gpu.md")
    args = parser.parse_args()
    arms = [a.strip() for a in args.arms.split(",")]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        sys.exit(f"unknown arms {unknown}; valid: {', '.join(ARMS)}")
    variants = _variants(args.variants)
    if args.smoke:
        args.steps, args.warmup, args.n_data = 2, 1, 32
        torch.set_num_threads(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu" and not args.smoke:
        print("images_gpu.py: no CUDA device, nothing measured (--smoke checks the wiring on a "
              "CPU)")  # fmt: skip
        return
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    rows = []
    for arm in arms:
        for variant in variants:
            try:
                row = _measure(arm, variant, args, device)
            except Exception as err:  # noqa: BLE001 - a failed variant is a result (e.g. OOM)
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                row = {"arm": arm, "variant": variant.name,
                       "error": f"{type(err).__name__}: {first[:160]}"}  # fmt: skip
            finally:
                if variant.compile:
                    torch._dynamo.reset()
            rows.append(row)
            print(row, file=sys.stderr, flush=True)
    _report(args, rows, device)


def _report(args: argparse.Namespace, rows: list[dict], device: torch.device) -> None:
    python = os.path.relpath(sys.executable) if sys.prefix != sys.base_prefix else "python"
    if device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
        cudnn = torch.backends.cudnn.version()
        where = f"GPU: **{gpu}** (CUDA {torch.version.cuda}, cuDNN {cudnn})"
    else:
        where = "CPU, **--smoke**: tiny sizes and 2 steps, a wiring check that measures nothing"
    lines = [
        "# Image models: training throughput on a GPU",
        "",
        f"Generated by `{python} benchmarks/images_gpu.py {shlex.join(sys.argv[1:])}` on "
        f"{datetime.date.today().isoformat()}; torch {torch.__version__}, python "
        f"{platform.python_version()}. {where}.",
        "",
        f"Data: {args.data} ({args.n_data} images held on the device as uint8; loading is "
        f"not timed). {args.warmup} untimed warm-up iterations, then "
        + (f"{args.steps} timed iterations." if args.steps else f"{args.seconds:g} s timed.")
        + " images/s = real images consumed per second (critic steps for the GANs); ms/step = "
        "one critic step (GANs) or one optimiser step (flows); ms/G = one generator step; peak "
        "memory = `torch.cuda.max_memory_allocated`.",
        "",
        "| arm | px | batch | variant | it/s | images/s | ms/step | ms/G | n_d | peak memory "
        "| params | last loss | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['arm']} | | | {r['variant']} | | | | | | | | | {r['error']} |")
            continue
        peak = "—" if r["peak_mib"] is None else f"{r['peak_mib']:,.0f} MiB"
        lines.append(
            f"| {r['arm']} | {r['px']} | {r['batch']} | {r['variant']} | {r['it_s']:.2f} "
            f"| {r['img_s']:,.0f} | {_cell(r['ms_step'], '.1f')} | {_cell(r['ms_g'], '.1f')} "
            f"| {_cell(r['n_d'], 'd')} | {peak} | {r['params_m']:.3g} M | {r['loss']:.4g} "
            f"| {r['note']} |"
        )
    lines += ["", "WGAN-GP against GAN-QP at 128 px (the article: WGAN-GP 1.5× the time):", ""]
    found = False
    for variant in dict.fromkeys(r["variant"] for r in rows):
        qp = [r for r in rows if r["arm"] == "gan-qp-128" and r["variant"] == variant]
        gp = [r for r in rows if r["arm"] == "wgan-gp-128" and r["variant"] == variant]
        if qp and gp and "error" not in qp[0] and "error" not in gp[0]:
            q, g = qp[0], gp[0]
            per_step = g["ms_step"] / q["ms_step"]
            same = (2 * g["ms_step"] + g["ms_g"]) / (2 * q["ms_step"] + q["ms_g"])
            lines.append(
                f"- {variant}: {per_step:.2f}× per critic step; {same:.2f}× per iteration at the "
                f"same schedule (2 critic steps + 1 generator step, from the measured step "
                f"times); {q['it_s'] / g['it_s']:.2f}× per iteration with WGAN-GP's "
                f"n_d = {g['n_d']}."
            )
            found = True
    if not found:
        lines.append("- not measured (both arms are needed, without errors).")
    lines.append("")
    write_report(args.out, lines)


if __name__ == "__main__":
    main()
