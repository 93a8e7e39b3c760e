r"""Autoregressive decoding: greedy, beam search (two stop policies), top-k / top-p sampling, and
the synchronous bidirectional beam search, shared by every seq2seq model of the theme.

Article:  玩转Keras之seq2seq自动生成标题 — 苏剑林, 2018-09-01
URL:      https://kexue.fm/archives/5861
See also: seq2seq之双向解码 (https://kexue.fm/archives/6877) for `bidirectional_beam_search`;
          bert4keras `AutoRegressiveDecoder` (snippets.py) for the reference semantics.

Key equations::

    beam:   score(y_{≤t}) = Σ_{s≤t} log p(y_s | y_{<s}, x)     (no length normalisation by default)
            keep the k best of {score(y_{<t}) + log p(v | y_{<t}, x) : prefixes × v ∈ V}
    top-k:  keep the k most probable tokens, renormalise
    top-p:  sort descending, keep the minimal prefix with cumulative mass ≥ p, renormalise
    bi:     p_l2r(· | i) = mean_j p_l(· | L_i, R_j),   p_r2l(· | j) = mean_i p_r(· | L_i, R_j)

A step function is `step(tokens, state) -> (logp, state)`: tokens (N, t) are the N current
prefixes (the start tokens included), logp (N, V) the next-token log-probabilities, state any
tensor / tuple / list / dict of tensors whose leading dimension is N, a transformers `Cache`
(re-indexed in place by its `reorder_cache`, as `generate` does), or None; the decoder re-indexes
it by parent beam after every step (once: finished rows are dropped in the same selection).

KV cache: `causal_lm_step` (any HF causal LM, e.g. GPT-2) keeps the model's key/value cache as the
state, so a step runs the model on the one new token instead of the whole prefix; keys and values
of a position depend on earlier positions only (causal mask), so the cached logits are the
uncached ones up to float rounding. `kexue.bert.unilm_step` does the same for a UniLM BERT.

Stop policies: `'first_best'` (reference): stop as soon as the best-scoring hypothesis ends;
finished non-best hypotheses are dropped and the beam shrinks. `'complete'`: finished
hypotheses go to a pool; stop when the best finished score ≥ the best alive score (exact, since
increments are ≤ 0); returns the best of the pool — its score is never below `'first_best'`'s.

Deviations from the article:
    - the article's beam returns the first finished candidate it meets in ascending order (possibly
      the worst); here `'first_best'` returns the best one (bert4keras's later behaviour).
    - states are re-indexed by parent beam (bert4keras passes them through unchanged).
    - `length_penalty` α ranks finished hypotheses by score / |y|^α (0 = the article).
    - bidirectional: a direction whose beams have all finished keeps its best finished prefix,
      right-padded with `pad_id`, as context for the other (the reference keeps extending
      finished beams with a relabelled token, spec §2.5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "Hypothesis",
    "beam_search",
    "bidirectional_beam_search",
    "causal_lm_step",
    "greedy_search",
    "kv_cache",
    "reorder_state",
    "sample",
    "top_k_top_p_filter",
]

StepFn = Callable[[Tensor, Any], tuple[Tensor, Any]]


@dataclass(frozen=True)
class Hypothesis:
    tokens: list[int]  # generated tokens, start and end tokens excluded
    score: float  # Σ log p, the end token included when finished
    finished: bool


def reorder_state(state: Any, index: Tensor) -> Any:
    """Select rows `index` of every tensor in `state` (leading dimension = beam); a transformers
    `Cache` is re-indexed in place by its own `reorder_cache` and returned."""
    if state is None:
        return None
    if hasattr(state, "reorder_cache"):  # HF Cache: per-layer keys/values, (N, heads, t, d)
        state.reorder_cache(index)
        return state
    if isinstance(state, Tensor):
        return state.index_select(0, index)
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_state(s, index) for s in state)
    if isinstance(state, dict):
        return {k: reorder_state(v, index) for k, v in state.items()}
    return state


def _mask(logp: Tensor, banned: Tensor | None, end_id: int, allow_end: bool) -> Tensor:
    logp = logp.clone()
    if banned is not None:
        logp[:, banned] = -torch.inf
    if not allow_end:
        logp[:, end_id] = -torch.inf
    return logp


def _expand(tokens: Tensor, scores: Tensor, logp: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """One beam update: the k best (parent, token) pairs → (parents, new tokens, new scores)."""
    v = logp.shape[1]
    cand = (scores[:, None] + logp).reshape(-1)
    k = min(k, int(torch.isfinite(cand).sum()))
    top, idx = cand.topk(k)
    parents, new = idx // v, idx % v
    return parents, torch.cat([tokens[parents], new[:, None]], dim=1), top


def _lp(n: int, alpha: float) -> float:
    return float(max(n, 1)) ** alpha


def greedy_search(
    step: StepFn, start: Sequence[int], max_len: int, end_id: int,
    state: Any = None, banned: Sequence[int] = (), min_len: int = 0,
) -> Hypothesis:  # fmt: skip
    """Pick the most probable token at each step until `end_id` or `max_len` tokens."""
    tokens = torch.tensor([list(start)])
    ban = torch.tensor(list(banned), dtype=torch.long) if banned else None
    score = 0.0
    for t in range(max_len):
        logp, state = step(tokens, state)
        logp = _mask(logp, ban, end_id, t >= min_len)
        tok = int(logp[0].argmax())
        score += float(logp[0, tok])
        if tok == end_id:
            return Hypothesis(tokens[0, len(start) :].tolist(), score, True)
        tokens = torch.cat([tokens, torch.tensor([[tok]])], dim=1)
    return Hypothesis(tokens[0, len(start) :].tolist(), score, False)


def beam_search(
    step: StepFn, start: Sequence[int], beam_size: int, max_len: int, end_id: int,
    state: Any = None, banned: Sequence[int] = (), min_len: int = 0,
    stop: str = "first_best", length_penalty: float = 0.0,
) -> Hypothesis:  # fmt: skip
    """Beam search for one source (see the module docstring for `stop`)."""
    if stop not in ("first_best", "complete"):
        raise ValueError(f"unknown stop policy {stop!r}; valid: first_best, complete")
    s0 = len(start)
    tokens = torch.tensor([list(start)])
    scores = torch.zeros(1)
    ban = torch.tensor(list(banned), dtype=torch.long) if banned else None
    pool: list[Hypothesis] = []
    for t in range(max_len):
        logp, state = step(tokens, state)
        logp = _mask(logp, ban, end_id, t >= min_len)
        parents, tokens, scores = _expand(tokens, scores, logp, beam_size)
        ended = tokens[:, -1] == end_id
        if stop == "first_best" and length_penalty == 0.0 and bool(ended[scores.argmax()]):
            i = int(scores.argmax())
            return Hypothesis(tokens[i, s0:-1].tolist(), float(scores[i]), True)
        if stop == "complete" or length_penalty != 0.0:  # the reference drops them
            for i in torch.nonzero(ended).flatten().tolist():
                pool.append(Hypothesis(tokens[i, s0:-1].tolist(), float(scores[i]), True))
        alive = torch.nonzero(~ended).flatten()
        tokens, scores = tokens[alive], scores[alive]
        if len(alive) == 0:
            break
        state = reorder_state(state, parents[alive])  # one gather: parent beam, then alive rows
        if stop == "first_best" and pool:  # length-penalised first_best: ranked at the end
            best = max(pool, key=lambda h: h.score / _lp(len(h.tokens) + 1, length_penalty))
            pool = [best]
        if stop == "complete" and pool:
            best = max(h.score / _lp(len(h.tokens) + 1, length_penalty) for h in pool)
            if length_penalty == 0.0 and best >= float(scores.max()):
                break
    alive_h = [
        Hypothesis(tokens[i, s0:].tolist(), float(scores[i]), False) for i in range(len(scores))
    ]
    cands = pool + alive_h
    return max(cands, key=lambda h: h.score / _lp(len(h.tokens) + h.finished, length_penalty))


def kv_cache(model: Any) -> tuple[Any, str]:
    """An empty transformers `DynamicCache` and the forward keyword that takes it.

    transformers 5.x renamed `past_key_values` to `cache` (the old name warns on every call);
    the name the model's base `forward` declares is the one to pass.
    """
    import inspect

    from transformers import DynamicCache

    params = inspect.signature(model.base_model.forward).parameters
    return DynamicCache(), "cache" if "cache" in params else "past_key_values"


def causal_lm_step(model: Any, *, cache: bool = True) -> StepFn:
    """A step function for a HuggingFace causal LM (`GPT2LMHeadModel`, `BertLMHeadModel`, …).

    cache=True: the state is the model's KV cache (start from state None); each call runs the
    model on the tokens the cache has not seen (the new one after the first call), so a step
    costs one position instead of the whole prefix. cache=False re-runs the whole prefix and
    passes the state through (the reference the cached path must equal).
    """
    keyword = kv_cache(model)[1] if cache else ""

    @torch.no_grad()
    def step(tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        if not cache:
            return model(input_ids=tokens).logits[:, -1].log_softmax(-1), state
        if state is None:
            state = kv_cache(model)[0]
        past = state.get_seq_length()
        out = model(input_ids=tokens[:, past:], use_cache=True, **{keyword: state})
        return out.logits[:, -1].log_softmax(-1), state

    return step


def top_k_top_p_filter(
    logits: Tensor, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """Set to −inf every logit outside the top-k, then outside the top-p nucleus (the token
    crossing p is kept)."""
    logits = logits.clone()
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits[logits < kth] = -torch.inf
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = (cum - sorted_logits.softmax(-1)) >= top_p  # mass before this token already ≥ p
        drop_orig = torch.zeros_like(drop).scatter(-1, order, drop)
        logits[drop_orig] = -torch.inf
    return logits


def sample(
    step: StepFn, start: Sequence[int], n: int, max_len: int, end_id: int,
    generator: torch.Generator, state: Any = None, top_k: int | None = None,
    top_p: float | None = None, temperature: float = 1.0, banned: Sequence[int] = (),
    min_len: int = 0,
) -> list[Hypothesis]:  # fmt: skip
    """n random continuations (one step function call per step on the n alive rows)."""
    tokens = torch.tensor([list(start)] * n)
    scores = torch.zeros(n)
    state = reorder_state(state, torch.zeros(n, dtype=torch.long)) if state is not None else None
    ban = torch.tensor(list(banned), dtype=torch.long) if banned else None
    done: list[Hypothesis] = []
    s0 = len(start)
    for t in range(max_len):
        logp, state = step(tokens, state)
        logp = _mask(logp, ban, end_id, t >= min_len)
        logits = top_k_top_p_filter(logp / temperature, top_k, top_p)
        tok = torch.multinomial(logits.softmax(-1), 1, generator=generator)
        scores = scores + logp.gather(1, tok)[:, 0]
        tokens = torch.cat([tokens, tok], dim=1)
        ended = tok[:, 0] == end_id
        for i in torch.nonzero(ended).flatten().tolist():
            done.append(Hypothesis(tokens[i, s0:-1].tolist(), float(scores[i]), True))
        alive = torch.nonzero(~ended).flatten()
        tokens, scores, state = tokens[alive], scores[alive], reorder_state(state, alive)
        if len(alive) == 0:
            break
    return done + [
        Hypothesis(tokens[i, s0:].tolist(), float(scores[i]), False) for i in range(len(scores))
    ]


def bidirectional_beam_search(
    step: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]],
    beam_size: int, max_len: int, l2r: tuple[int, int], r2l: tuple[int, int],
    banned_l2r: Sequence[int] = (), banned_r2l: Sequence[int] = (), pad_id: int = 0,
) -> tuple[Hypothesis, str]:  # fmt: skip
    """Synchronous bidirectional beam search (seq2seq之双向解码).

    `step(L, R)` takes the paired prefixes L, R (N, t) (both directions advance together) and
    returns the two next-token *log*-probabilities (N, V). `l2r` / `r2l` are (start, end) ids.
    Each direction averages the other's k candidates in probability, then makes an ordinary beam
    update. Stops when a direction's best hypothesis has finished and its score ≥ the other
    direction's best; returns (hypothesis in left-to-right order, direction that won).
    """
    k = beam_size
    dirs = {
        "l2r": dict(start=l2r[0], end=l2r[1], banned=banned_l2r),
        "r2l": dict(start=r2l[0], end=r2l[1], banned=banned_r2l),
    }
    for d in dirs.values():
        d.update(tokens=torch.tensor([[d["start"]]]), scores=torch.zeros(1), pool=[])
        d["ban"] = torch.tensor(list(d["banned"]), dtype=torch.long) if d["banned"] else None

    def context(d: dict, t: int) -> Tensor:
        if len(d["tokens"]):
            return d["tokens"]
        best = max(d["pool"], key=lambda h: h.score)
        seq = [d["start"], *best.tokens, d["end"]]
        return torch.tensor([seq + [pad_id] * (t - len(seq))])[:, :t]

    def best_of(d: dict) -> tuple[float, bool]:
        alive = float(d["scores"].max()) if len(d["scores"]) else -torch.inf
        fin = max((h.score for h in d["pool"]), default=-torch.inf)
        return max(alive, fin), fin >= alive

    def result(name: str) -> tuple[Hypothesis, str]:
        d = dirs[name]
        hyps = d["pool"] + [
            Hypothesis(d["tokens"][i, 1:].tolist(), float(d["scores"][i]), False)
            for i in range(len(d["scores"]))
        ]
        h = max(hyps, key=lambda h: h.score)
        return (h if name == "l2r" else Hypothesis(h.tokens[::-1], h.score, h.finished)), name

    for t in range(max_len):
        cl, cr = context(dirs["l2r"], t + 1), context(dirs["r2l"], t + 1)
        nl, nr = len(cl), len(cr)
        lp_l, lp_r = step(cl.repeat_interleave(nr, 0), cr.repeat(nl, 1))
        p_l = lp_l.exp().reshape(nl, nr, -1).mean(1).log()
        p_r = lp_r.exp().reshape(nl, nr, -1).mean(0).log()
        for name, logp in (("l2r", p_l), ("r2l", p_r)):
            d = dirs[name]
            if not len(d["tokens"]):
                continue
            logp = _mask(logp, d["ban"], d["end"], True)
            _, d["tokens"], d["scores"] = _expand(d["tokens"], d["scores"], logp, k)
            ended = d["tokens"][:, -1] == d["end"]
            for i in torch.nonzero(ended).flatten().tolist():
                d["pool"].append(
                    Hypothesis(d["tokens"][i, 1:-1].tolist(), float(d["scores"][i]), True)
                )
            d["tokens"], d["scores"] = d["tokens"][~ended], d["scores"][~ended]
        (bl, fl), (br, fr) = best_of(dirs["l2r"]), best_of(dirs["r2l"])
        if fl and bl >= br:
            return result("l2r")
        if fr and br >= bl:
            return result("r2l")
    (bl, _), (br, _) = best_of(dirs["l2r"]), best_of(dirs["r2l"])
    return result("l2r" if bl >= br else "r2l")
