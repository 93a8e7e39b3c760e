"""seq theme: kexue's beam search (with a KV cache) against Hugging Face `generate` at real sizes,
ON-LSTM against nn.LSTM, the capsule layer against a global-average-pooling head.

1. GPT-2-sized decoder (12 layers, 768 wide, V = 50257, random weights from `GPT2Config()`):
   greedy and beams 3, 5, no length penalty (HF length_penalty = 0, early_stopping = True;
   kexue stop = 'complete'). Arms: kexue `causal_lm_step` with the model's KV cache, HF
   `generate` with its cache, kexue without a cache (re-runs the prefix; reference).
   Identical sequences: every prompt decoded to its natural end (≤ --new tokens) by kexue (cache)
   and HF, and by kexue without a cache.
2. BERT-base-sized UniLM (12 layers, 768 wide, V = 21128, `BertForMaskedLM`): `unilm_step` with
   and without its cache on a --src-token source. HF has no UniLM decoding, so its peer is
   `generate` (with cache) on the same-sized BERT built as a causal decoder (`BertLMHeadModel`,
   is_decoder=True), on which kexue's `causal_lm_step` also runs (identical-sequence check).
   Throughput forces --new (--new-unilm) tokens (min length = max length). Arms take turns in
   each repeat and are timed in CPU seconds of this process (the machine is shared; wall time
   inflates with other jobs); tables give medians. One torch thread.
3. ON-LSTM (Python loop over time) vs fused nn.LSTM of the same width: train tokens/s.
4. Capsule (3 routings) vs CNN+GAP on 8×8 digits: train images/s.

Run: python benchmarks/seq.py [--prompts 4] [--repeats 3] [--new 32] [--src 64] [--new-unilm 16]
     [--parts gpt2 unilm onlstm capsule]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from _timing import median_seconds

from kexue.bert import unilm_step
from kexue.nn import ONLSTM, Capsule
from kexue.seq import Hypothesis, beam_search, causal_lm_step, greedy_search


def _cpu_medians(arms: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median CPU seconds per arm; one untimed warm-up each, then the arms take turns in every
    repeat so that a burst of load on the shared machine hits all of them alike."""
    for fn in arms.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(repeats):
        for name, fn in arms.items():
            t0 = time.process_time()
            fn()
            times[name].append(time.process_time() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def _kexue(step: Any, prompt: list[int], k: int, new: int, end: int, min_len: int = 0
           ) -> Hypothesis:  # fmt: skip
    if k == 1:
        return greedy_search(step, prompt, new, end, min_len=min_len)
    return beam_search(step, prompt, k, new, end, min_len=min_len, stop="complete")


def _kexue_ids(step: Any, prompt: list[int], k: int, new: int, end: int) -> list[int]:
    h = _kexue(step, prompt, k, new, end)
    return prompt + h.tokens + ([end] if h.finished else [])


def _hf_ids(model: Any, prompt: list[int], k: int, new: int, end: int, min_len: int = 0
            ) -> list[int]:  # fmt: skip
    x = torch.tensor([prompt])
    out = model.generate(
        x, attention_mask=torch.ones_like(x), num_beams=k, do_sample=False,
        max_new_tokens=new, min_new_tokens=min_len, length_penalty=0.0, early_stopping=True,
        use_cache=True, eos_token_id=end, pad_token_id=0,
    )[0].tolist()  # fmt: skip
    return out[: out.index(end, len(prompt)) + 1] if end in out[len(prompt) :] else out


def bench_gpt2(n_prompts: int, repeats: int, new: int) -> None:
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    end = 50256
    model = GPT2LMHeadModel(GPT2Config(pad_token_id=0)).eval()  # 124 M parameters
    with torch.no_grad():  # make the end token likely enough that some beams finish
        model.lm_head.weight[end] *= 3
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(0, end, (8,), generator=g).tolist() for _ in range(n_prompts)]
    cached, plain = causal_lm_step(model), causal_lm_step(model, cache=False)

    print(
        f"transformers {transformers.__version__}; GPT-2 size (12 layers, 768 wide, V = 50257, "
        f"random weights), 8-token prompts, {new} new tokens, one thread"
    )
    print(
        "\n| beams | same tokens kexue (cache) vs HF | same tokens kexue cache vs no cache "
        "| kexue tok/s (cache) | HF generate tok/s (cache) | kexue / HF | kexue tok/s (no cache) |"
    )
    print("|---|---|---|---|---|---|---|")
    for k in (1, 3, 5):
        same_hf = same_nc = 0
        for pr in prompts:
            mine = _kexue_ids(cached, pr, k, new, end)
            same_hf += mine == _hf_ids(model, pr, k, new, end)
            same_nc += mine == _kexue_ids(plain, pr, k, new, end)
        pr = prompts[0]
        t = _cpu_medians(
            {
                "kexue": partial(_kexue, cached, pr, k, new, end, new),
                "hf": partial(_hf_ids, model, pr, k, new, end, new),
                "plain": partial(_kexue, plain, pr, k, new, end, new),
            },
            repeats,
        )
        print(
            f"| {k} | {same_hf}/{n_prompts} | {same_nc}/{n_prompts} | {new / t['kexue']:.1f} | "
            f"{new / t['hf']:.1f} | {t['hf'] / t['kexue']:.2f} | {new / t['plain']:.1f} |"
        )


def bench_unilm(n_prompts: int, repeats: int, new: int, src_len: int) -> None:
    import transformers
    from transformers import BertConfig, BertForMaskedLM, BertLMHeadModel

    transformers.logging.set_verbosity_error()
    v, cls, sep = 21128, 101, 102  # the Chinese BERT vocabulary and its [CLS], [SEP]
    torch.manual_seed(0)
    unilm = BertForMaskedLM(BertConfig(vocab_size=v)).eval()  # 102 M parameters
    torch.manual_seed(0)
    causal = BertLMHeadModel(BertConfig(vocab_size=v, is_decoder=True)).eval()
    for m in (unilm, causal):  # make [SEP] likely enough that some beams finish
        with torch.no_grad():
            m.cls.predictions.decoder.weight[sep] *= 3
    g = torch.Generator().manual_seed(1)
    sources = [
        [cls, *torch.randint(672, 7992, (src_len - 2,), generator=g).tolist(), sep]
        for _ in range(n_prompts)
    ]  # ids 672–7991: CJK characters in the Chinese BERT vocabulary
    n = len(sources[0])
    cached, plain = unilm_step(unilm, n), unilm_step(unilm, n, cache=False)
    c_step = causal_lm_step(causal)

    print(
        f"\nBERT-base size (12 layers, 768 wide, V = {v}, random weights), {n}-token sources "
        f"([CLS] src [SEP]), {new} new tokens, one thread. UniLM: BertForMaskedLM under the "
        "UniLM mask; causal: BertLMHeadModel (is_decoder=True), the nearest model HF generate runs"
    )
    print(
        "\n| beams | UniLM same tokens cache vs no cache | UniLM max abs Δ log p "
        "| UniLM kexue tok/s (cache) | UniLM kexue tok/s (no cache) "
        "| causal same tokens kexue vs HF | causal kexue tok/s (cache) "
        "| causal HF generate tok/s (cache) | causal kexue / HF |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for k in (1, 3, 5):
        same_nc = same_hf = 0
        dlogp = 0.0
        for src in sources:
            a, b = _kexue(cached, src, k, new, sep), _kexue(plain, src, k, new, sep)
            same_nc += (a.tokens, a.finished) == (b.tokens, b.finished)
            dlogp = max(dlogp, abs(a.score - b.score))
            same_hf += _kexue_ids(c_step, src, k, new, sep) == _hf_ids(causal, src, k, new, sep)
        src = sources[0]
        t = _cpu_medians(
            {
                "unilm": partial(_kexue, cached, src, k, new, sep, new),
                "plain": partial(_kexue, plain, src, k, new, sep, new),
                "causal": partial(_kexue, c_step, src, k, new, sep, new),
                "hf": partial(_hf_ids, causal, src, k, new, sep, new),
            },
            repeats,
        )
        print(
            f"| {k} | {same_nc}/{n_prompts} | {dlogp:.1e} | {new / t['unilm']:.1f} | "
            f"{new / t['plain']:.1f} | {same_hf}/{n_prompts} | {new / t['causal']:.1f} | "
            f"{new / t['hf']:.1f} | {t['hf'] / t['causal']:.2f} |"
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
    parser.add_argument("--prompts", type=int, default=4, help="prompts for identical sequences")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new", type=int, default=32, help="new tokens per sequence")
    parser.add_argument("--src", type=int, default=64, help="UniLM source length")
    parser.add_argument("--new-unilm", type=int, default=16, help="UniLM new tokens")
    parser.add_argument("--parts", nargs="+", default=["gpt2", "unilm", "onlstm", "capsule"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    if "gpt2" in args.parts:
        bench_gpt2(args.prompts, args.repeats, args.new)
    if "unilm" in args.parts:
        bench_unilm(args.prompts, args.repeats, args.new_unilm, args.src)
    if "onlstm" in args.parts:
        bench_onlstm(args.repeats)
    if "capsule" in args.parts:
        bench_capsule(args.repeats)


if __name__ == "__main__":
    main()
