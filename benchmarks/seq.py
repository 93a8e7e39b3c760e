"""seq theme: kexue's beam search against Hugging Face `generate`, ON-LSTM against nn.LSTM,
the capsule layer against a global-average-pooling head.

1. Decoder: a tiny random GPT-2 (transformers, offline config), greedy and beam k ∈ {3, 5}, 16 new
   tokens, no length penalty (HF length_penalty = 0, early_stopping = True). kexue's step function
   re-runs the model on the whole prefix (no KV cache); HF runs with and without its cache.
   Reports the fraction of sources where the two return the same tokens and the best sequence
   log-probability of each (kexue 'complete' policy), and tokens per second.
2. ON-LSTM (Python loop over time) vs fused nn.LSTM of the same width: train tokens/s.
3. Capsule (3 routings) vs CNN+GAP on 8×8 digits: train images/s.

Run: python benchmarks/seq.py [--sources 20] [--repeats 5]   (one thread)
"""

from __future__ import annotations

import argparse
import statistics
from typing import TYPE_CHECKING, Any

import torch
from _timing import median_seconds
from torch import Tensor

from kexue.nn import ONLSTM, Capsule
from kexue.seq import Hypothesis, beam_search, greedy_search

if TYPE_CHECKING:
    from transformers import GPT2LMHeadModel


def _logp(model: GPT2LMHeadModel, ids: list[int], prefix: int) -> float:
    x = torch.tensor([ids])
    with torch.no_grad():
        lp = model(x).logits.log_softmax(-1)[0]
    return float(sum(lp[t - 1, ids[t]] for t in range(prefix, len(ids))))


def bench_decoder(n_sources: int, repeats: int) -> None:
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    v, end, new = 64, 1, 16
    cfg = GPT2Config(vocab_size=v, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                     bos_token_id=0, eos_token_id=end, pad_token_id=0)  # fmt: skip
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # make the end token likely enough to matter
        model.lm_head.weight[end] *= 3
    g = torch.Generator().manual_seed(1)
    sources = [torch.randint(2, v, (4,), generator=g).tolist() for _ in range(n_sources)]

    def step(tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        with torch.no_grad():
            return model(tokens).logits[:, -1].log_softmax(-1), state

    def ours(src: list[int], k: int, min_len: int = 0) -> Hypothesis:
        if k == 1:
            return greedy_search(step, src, new, end, min_len=min_len)
        return beam_search(step, src, k, new, end, min_len=min_len, stop="complete")

    def hf(src: list[int], k: int, cache: bool = True, min_len: int = 0) -> list[int]:
        x = torch.tensor([src])
        return model.generate(
            x, attention_mask=torch.ones_like(x), num_beams=k, do_sample=False,
            max_new_tokens=new, min_new_tokens=min_len, length_penalty=0.0,
            early_stopping=True, use_cache=cache,
        )[0].tolist()  # fmt: skip

    print(
        f"transformers {transformers.__version__}; tiny GPT-2 (2 layers, 32 wide, V = {v}), "
        f"{new} new tokens, {n_sources} sources, one thread"
    )
    print(
        "\n| beams | same tokens as HF | mean log p kexue | mean log p HF "
        "| kexue tok/s (no cache) | HF tok/s (cache) | HF tok/s (no cache) |"
    )
    print("|---|---|---|---|---|---|---|")
    for k in (1, 3, 5):
        same, lk, lh = 0, [], []
        for src in sources:
            h = ours(src, k)
            mine = src + h.tokens + ([end] if h.finished else [])
            theirs = hf(src, k)
            if end in theirs[len(src) :]:
                theirs = theirs[: theirs.index(end, len(src)) + 1]
            same += mine == theirs
            lk.append(_logp(model, mine, len(src)))
            lh.append(_logp(model, theirs, len(src)))
        src = sources[0]
        t_ours = median_seconds(lambda src=src, k=k: ours(src, k, new), repeats, warmup=1)
        t_hf = median_seconds(lambda src=src, k=k: hf(src, k, True, new), repeats, warmup=1)
        t_hf0 = median_seconds(lambda src=src, k=k: hf(src, k, False, new), repeats, warmup=1)
        print(
            f"| {k} | {same}/{n_sources} | {statistics.mean(lk):.3f} | "
            f"{statistics.mean(lh):.3f} | {new / t_ours:.0f} | {new / t_hf:.0f} | "
            f"{new / t_hf0:.0f} |"
        )


def bench_onlstm(repeats: int) -> None:
    print("\n| model (2 layers, 128 wide, batch 32 × 40 steps) | train tokens/s |")
    print("|---|---|")
    torch.manual_seed(0)
    x = torch.randn(32, 40, 64)
    for name, net in (
        ("kexue ONLSTM (16 levels)", ONLSTM(64, 128, n_levels=16, num_layers=2)),
        ("torch nn.LSTM", torch.nn.LSTM(64, 128, 2, batch_first=True)),
    ):

        def go(net: torch.nn.Module = net) -> None:
            out = net(x)[0]
            out.sum().backward()

        print(f"| {name} | {32 * 40 / median_seconds(go, repeats, warmup=1):.0f} |")


def bench_capsule(repeats: int) -> None:
    print("\n| head on a 2-conv trunk (32 ch, 8×8, batch 64) | train images/s |")
    print("|---|---|")
    torch.manual_seed(0)
    x = torch.randn(64, 1, 8, 8)
    nn = torch.nn
    trunk = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU()
    )
    caps = Capsule(32, 10, 16, routings=3)
    gap = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))

    def run_caps() -> None:
        caps(trunk(x).flatten(2).transpose(1, 2)).norm(dim=-1).sum().backward()

    def run_gap() -> None:
        gap(trunk(x).mean((2, 3))).sum().backward()

    for name, fn in (("capsule (3 routings)", run_caps), ("CNN + GAP", run_gap)):
        print(f"| {name} | {64 / median_seconds(fn, repeats, warmup=1):.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    bench_decoder(args.sources, args.repeats)
    bench_onlstm(args.repeats)
    bench_capsule(args.repeats)


if __name__ == "__main__":
    main()
